/**
 * The load test's verifier on deliberately broken facts: each broken invariant must be reported
 * as its own kind of violation, and a correct run must pass (pure function, no services).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { couponIdPrefix, shardOfUser } from '../../core/shards.ts';
import { type CouponRow, type IssuedAnswer, type ProblemKind, verify, type VerifyInput } from '../../loadtest/verify.ts';

const layout = { dbs: 2, tables: 4 };
const T = 'lt-abc123-0';
let seq = 1_000_000;

/** A coupon for `userId` with an id that routes to the user's shard, as the gateway mints them. */
function coupon(userId: string, requestId = `~g${seq}`): { answer: IssuedAnswer; row: CouponRow } {
  const couponId = `${couponIdPrefix(layout, userId)}.3.${seq++}`;
  const s = shardOfUser(layout, userId);
  return {
    answer: { templateId: T, userId, requestId: requestId.startsWith('~') ? undefined : requestId, couponId, replayed: false,
      toldUserId: userId, toldTemplateId: T },
    row: { couponId, userId, templateId: T, requestId, db: s.db, table: s.table },
  };
}

/** A correct run: stock 5, limit 2; u1 got two coupons (one by request r1, replayed once), u2 and u3 one each. */
function correct(): VerifyInput & { answers: IssuedAnswer[]; rows: CouponRow[] } {
  const c = [coupon('u1', 'r1'), coupon('u1'), coupon('u2'), coupon('u3')];
  const replay = { ...c[0]!.answer, replayed: true };
  return {
    layout, drain: { drained: true, backlog: 0, ms: 10 },
    templates: [{ id: T, totalStock: 5, perUserLimit: 2, remaining: 1 }],
    answers: [...c.map((x) => x.answer), replay], rows: c.map((x) => x.row), uncertain: 0, undecodable: 0,
  };
}

const kinds = (f: VerifyInput): ProblemKind[] => [...new Set(verify(f).problems.map((p) => p.kind))].sort();

test('a correct run passes, with tallies that add up', () => {
  const v = verify(correct());
  assert.deepEqual(v.problems, []);
  assert.equal(v.ok, true);
  assert.deepEqual(v.templates, [{ id: T, totalStock: 5, issued: 4, rows: 4, told: 4, perUserLimit: 2, maxPerUser: 2 }]);
  assert.equal(v.totals.replays, 1);
});

test('over-issue: Redis stock below zero and more coupons than stock', () => {
  const f = correct();
  const extra = [coupon('u4'), coupon('u5')];
  const broken = { ...f, templates: [{ ...f.templates[0]!, remaining: -1 }],
    answers: [...f.answers, ...extra.map((x) => x.answer)], rows: [...f.rows, ...extra.map((x) => x.row)] };
  assert.deepEqual(kinds(broken), ['over_issue']);
  assert.equal(verify(broken).ok, false);
});

test('a user over the per-user limit (in MySQL and in what clients were told)', () => {
  const f = correct();
  const third = coupon('u1');
  const broken = { ...f, templates: [{ ...f.templates[0]!, remaining: 0 }],
    answers: [...f.answers, third.answer], rows: [...f.rows, third.row] };
  assert.deepEqual(kinds(broken), ['over_limit']);
  assert.equal(verify(broken).problems.length, 2, 'once from the rows, once from the answers');
});

test('a coupon told issued but missing from MySQL', () => {
  const f = correct();
  const broken = { ...f, rows: f.rows.slice(1) };
  assert.deepEqual(kinds(broken), ['issued_missing', 'stock_mismatch']);
  assert.equal(verify(broken).problems.filter((p) => p.kind === 'issued_missing').length, 1, 'the replay does not repeat it');
});

test('an extra MySQL row nobody was told about: a violation unless a claim went unanswered', () => {
  const f = correct();
  const ghost = coupon('u4');
  const broken = { ...f, templates: [{ ...f.templates[0]!, remaining: 0 }], rows: [...f.rows, ghost.row] };
  assert.deepEqual(kinds(broken), ['extra_row']);
  assert.equal(verify({ ...broken, uncertain: 1 }).ok, true, 'one claim without an answer may have issued it');
  assert.deepEqual(kinds({ ...f, rows: [...f.rows, ghost.row], uncertain: 1 }), ['stock_mismatch'], 'but never more rows than Redis issued');
});

test('a duplicate row of one coupon', () => {
  const f = correct();
  const broken = { ...f, rows: [...f.rows, { ...f.rows[2]! }] };
  assert.ok(kinds(broken).includes('duplicate_row'));
});

test('a replay answered with a different coupon', () => {
  const f = correct();
  const other = coupon('u1', 'r1');
  const broken = { ...f, answers: [...f.answers, { ...other.answer, replayed: true }] };
  assert.ok(kinds(broken).includes('replay_mismatch'));
});

test('one coupon told to two claims, an answer for the wrong user, a row in the wrong shard', () => {
  const f = correct();
  assert.ok(kinds({ ...f, answers: [...f.answers, { ...f.answers[2]! }] }).includes('coupon_reused'));
  assert.deepEqual(kinds({ ...f, answers: f.answers.map((a, i) => (i === 1 ? { ...a, toldUserId: 'u9' } : a)) }), ['wrong_answer']);
  const row = f.rows[3]!;
  assert.deepEqual(kinds({ ...f, rows: [...f.rows.slice(0, 3), { ...row, table: (row.table + 1) % layout.tables }] }), ['misplaced_row']);
  assert.deepEqual(kinds({ ...f, undecodable: 1 }), ['wrong_answer']);
});

test('a sink that did not drain fails the run', () => {
  assert.deepEqual(kinds({ ...correct(), drain: { drained: false, backlog: 7, ms: 120_000 } }), ['not_drained']);
});

test('sold-out phase: fails if a sub-stock was touched or a claim was not answered sold_out', () => {
  const f = correct();
  const good = { seconds: 3.4, idle: { reference: 3, stock: [5, 3] }, statuses: { 410: 900, 429: 3 } };
  assert.equal(verify({ ...f, soldOutPhase: good }).ok, true);
  assert.deepEqual(kinds({ ...f, soldOutPhase: { ...good, idle: { reference: 3, stock: [5, 2] } } }), ['not_from_memory']);
  assert.deepEqual(kinds({ ...f, soldOutPhase: { ...good, statuses: { 410: 900, 503: 1 } } }), ['not_from_memory']);
  assert.deepEqual(kinds({ ...f, soldOutPhase: { ...good, idle: null } }), ['not_from_memory'], 'unverifiable is not a pass');
  assert.deepEqual(kinds({ ...f, soldOutPhase: { ...good, idle: { reference: 0, stock: [0] } } }), ['not_from_memory'], 'nor is a clock that did not move');
});

test('scenario expectations: replays exercised, listings complete', () => {
  const f = correct();
  assert.equal(verify({ ...f, expectReplays: true }).ok, true);
  assert.deepEqual(kinds({ ...f, answers: f.answers.filter((a) => !a.replayed), expectReplays: true }), ['scenario']);
  assert.deepEqual(kinds({ ...f, listing: { users: 3, missing: [{ userId: 'u1', couponId: f.rows[0]!.couponId }] } }), ['listing']);
});

/** `correct()` as a red packet: budget 100, min 10; amounts 40, 10, 30, 20 and 0 left (stock 4, all issued). */
function packets(): VerifyInput & { answers: IssuedAnswer[]; rows: CouponRow[] } {
  const f = correct();
  const amounts = [40, 10, 30, 20];
  const of = new Map(f.rows.map((r, i) => [r.couponId, amounts[i]!]));
  return {
    ...f, templates: [{ id: T, totalStock: 4, perUserLimit: 2, remaining: 0, budget: 100, minAmount: 10, budgetLeft: 0 }],
    rows: f.rows.map((r) => ({ ...r, amount: of.get(r.couponId)! })),
    answers: f.answers.map((a) => ({ ...a, amount: of.get(a.couponId)! })),
  };
}

test('red packets: a correct run passes; a short sum, an amount below the minimum, a replay or row of another amount do not', () => {
  assert.deepEqual(verify(packets()).problems, []);
  const f = packets();
  const first = f.rows[0]!.couponId;
  const short = { ...f, rows: f.rows.map((r, i) => (i === 0 ? { ...r, amount: 39 } : r)),
    answers: f.answers.map((a) => (a.couponId === first ? { ...a, amount: 39 } : a)) };
  assert.deepEqual(kinds(short), ['packet_amount'], 'all packets issued, 99 of 100 cents');
  const over = { ...f, templates: [{ ...f.templates[0]!, budgetLeft: 5 }] };
  assert.deepEqual(kinds(over), ['packet_amount'], 'Redis keeps budget the rows already hold');
  const below = { ...f, rows: f.rows.map((r, i) => (i === 1 ? { ...r, amount: 9 } : i === 0 ? { ...r, amount: 41 } : r)) };
  assert.deepEqual(kinds(below), ['packet_amount'], 'a packet below the minimum (and its answer differs)');
  const replay = { ...f, answers: f.answers.map((a) => (a.replayed ? { ...a, amount: 41 } : a)) };
  assert.deepEqual(kinds(replay), ['packet_amount'], 'a replay with another amount');
  const none = { ...f, rows: f.rows.map((r, i) => (i === 2 ? { ...r, amount: null } : r)) };
  assert.deepEqual(kinds(none), ['packet_amount'], 'a row without an amount');
});
