/**
 * The fault drill's oracle (drill/verify.ts) on hand-made facts: correct facts pass, and each
 * kind of broken fact is flagged. No services: the verifier is a pure function.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Attempt, CouponRow, DrillFacts, Outcome, StockFacts } from '../../drill/facts.ts';
import { verify } from '../../drill/verify.ts';
import type { ViolationKind } from '../../tools/verify/oracle.ts';

let clock = 1_000;

function attempt(templateId: string, userId: string, requestId: string, outcome: Outcome): Attempt {
  clock += 10;
  return { requestId, userId, templateId, gateway: 0, sentAt: clock - 5, endedAt: clock, outcome };
}
const issued = (templateId: string, userId: string, couponId: string, replayed = false): Outcome =>
  ({ kind: 'issued', couponId, replayed, userId, templateId });
const refused = (reason: string, status: number): Outcome => ({ kind: 'refused', status, reason });
const unavailable: Outcome = { kind: 'error', status: 503, code: 'unavailable' };
const timeout: Outcome = { kind: 'transport', error: 'timeout' };
const row = (templateId: string, userId: string, requestId: string, couponId: string): CouponRow =>
  ({ couponId, userId, templateId, requestId, conflicts: 0 });

/**
 * A drill where everything held: template A (stock 3, 1 per user) sold out, B (stock 5, 2 per
 * user) has 2 left. Includes a retry that replayed after a 503, a duplicate click, refusals, and
 * one coupon whose answer was lost (a timeout) and whose retries kept failing.
 */
function goodFacts(): DrillFacts {
  const attempts = [
    attempt('A', 'u1', 'r1', issued('A', 'u1', 'c1')),
    attempt('A', 'u1', 'r1', issued('A', 'u1', 'c1', true)),
    attempt('A', 'u2', 'r2', unavailable),
    attempt('A', 'u2', 'r2', issued('A', 'u2', 'c2', true)),
    attempt('A', 'u3', 'r3', timeout),
    attempt('A', 'u3', 'r3', unavailable),
    attempt('A', 'u4', 'r4', refused('sold_out', 410)),
    attempt('A', 'u1', 'r5', refused('limit_reached', 409)),
    attempt('B', 'u1', 'r6', issued('B', 'u1', 'c6')),
    attempt('B', 'u1', 'r7', issued('B', 'u1', 'c7')),
    attempt('B', 'u1', 'r8', refused('limit_reached', 409)),
    attempt('B', 'u2', 'r9', { kind: 'transport', error: 'network' }),
    attempt('B', 'u2', 'r9', refused('limit_reached', 409)),
  ];
  const rows = [
    row('A', 'u1', 'r1', 'c1'), row('A', 'u2', 'r2', 'c2'), row('A', 'u3', 'r3', 'c3'),
    row('B', 'u1', 'r6', 'c6'), row('B', 'u1', 'r7', 'c7'),
  ];
  const stock = new Map<string, StockFacts>([['A', { remaining: 0, pending: 1 }], ['B', { remaining: 3, pending: 0 }]]);
  return {
    templates: [{ id: 'A', totalStock: 3, perUserLimit: 1 }, { id: 'B', totalStock: 5, perUserLimit: 2 }],
    attempts, rows, stock, deadLetters: 0, backlog: 0, lossWindows: [],
  };
}

const kinds = (f: DrillFacts) => new Set(verify(f).violations.map((v) => v.kind));

function assertFlags(f: DrillFacts, ...expected: ViolationKind[]): void {
  const v = verify(f);
  const found = new Set(v.violations.map((x) => x.kind));
  for (const k of expected) assert.ok(found.has(k), `expected ${k}, got ${JSON.stringify(v.violations)}`);
}

test('correct facts pass and are counted', () => {
  const v = verify(goodFacts());
  assert.deepEqual(v.violations, []);
  assert.equal(v.requests, 9);
  assert.equal(v.attempts, 13);
  assert.equal(v.issued, 4, 'c1, c2, c6, c7 (c3 was never answered)');
  assert.deepEqual(v.errors, { 503: 2, timeout: 1, network: 1 });
  assert.equal(v.replayedAfterError, 1, 'r2: a 503, then its coupon');
  assert.equal(v.unansweredIssued, 1, 'c3: stored, its client only saw a timeout and a 503');
  assert.equal(v.lostAfterAck, 0);
  assert.equal(v.pending, 1);
});

test('over-issue: more coupons stored than the stock', () => {
  const f = goodFacts();
  const broken = { ...f, templates: [{ id: 'A', totalStock: 2, perUserLimit: 1 }, f.templates[1]!],
    stock: new Map([...f.stock, ['A', { remaining: -1, pending: 0 }]]) };
  assert.deepEqual(kinds(broken), new Set(['over_issue']));
});

test('over-limit: a user holds two coupons of a one-per-user template', () => {
  const f = goodFacts();
  const broken = { ...f, templates: [{ id: 'A', totalStock: 4, perUserLimit: 1 }, f.templates[1]!],
    attempts: [...f.attempts, attempt('A', 'u1', 'r10', issued('A', 'u1', 'c10'))],
    rows: [...f.rows, row('A', 'u1', 'r10', 'c10')] };
  assert.deepEqual(kinds(broken), new Set(['over_limit']));
});

test('issued but missing: an answered coupon has no row', () => {
  const f = goodFacts();
  // Redis forgot it too (remaining back up), so only the lost answer is wrong.
  const broken = { ...f, rows: f.rows.filter((r) => r.couponId !== 'c6'),
    stock: new Map([...f.stock, ['B', { remaining: 4, pending: 0 }]]) };
  assert.deepEqual(kinds(broken), new Set(['issued_missing']));

  // inside a loss window (Redis lost its unsynced AOF tail) it is counted, not a violation
  const at = f.attempts.find((a) => a.requestId === 'r6')!.endedAt;
  const windowed = verify({ ...broken, lossWindows: [{ from: at - 1000, to: at }] });
  assert.deepEqual(windowed.violations, []);
  assert.equal(windowed.lostAfterAck, 1);

  // a coupon lost that way is nobody's: the user may claim again within the limit (B: 2 each)
  const again = { ...broken, lossWindows: [{ from: at - 1000, to: at }],
    attempts: [...broken.attempts, attempt('B', 'u1', 'r11', issued('B', 'u1', 'c11'))],
    rows: [...broken.rows, row('B', 'u1', 'r11', 'c11')], stock: new Map([...f.stock, ['B', { remaining: 3, pending: 0 }]]) };
  assert.deepEqual(verify(again).violations, []);
  // outside a window the lost answer counts: missing, and the user was told three coupons
  assert.deepEqual(kinds({ ...again, lossWindows: [] }), new Set(['issued_missing', 'over_limit']));

  // a row of that coupon for another claim is no row for this one
  const swapped = { ...f, rows: f.rows.map((r) => (r.couponId === 'c6' ? { ...r, requestId: 'other' } : r)) };
  assertFlags(swapped, 'issued_missing');
});

test('extra row: a coupon stored that no client was told about', () => {
  const f = goodFacts();
  const stock = new Map([...f.stock, ['B', { remaining: 2, pending: 0 }]]);
  assert.deepEqual(kinds({ ...f, rows: [...f.rows, row('B', 'u5', 'ghost', 'c99')], stock }), new Set(['extra_row']));
  // the client of r8 was refused, yet r8 holds a coupon: the refusal was a wrong answer
  assert.deepEqual(kinds({ ...f, rows: [...f.rows, row('B', 'u3', 'r8x', 'c98')], stock,
    attempts: [...f.attempts, attempt('B', 'u3', 'r8x', refused('sold_out', 410))] }), new Set(['replay_mismatch']));
});

test('duplicate row: one coupon stored twice, or one request stored with two coupons', () => {
  const f = goodFacts();
  assert.deepEqual(kinds({ ...f, rows: [...f.rows, row('A', 'u1', 'r1', 'c1')] }), new Set(['duplicate_row']));
  assertFlags({ ...f, rows: f.rows.map((r) => (r.couponId === 'c7' ? { ...r, conflicts: 1 } : r)) }, 'duplicate_row');
  const twice = { ...f, rows: [...f.rows, row('B', 'u1', 'r6', 'c66')], stock: new Map([...f.stock, ['B', { remaining: 2, pending: 0 }]]) };
  assertFlags(twice, 'duplicate_row');
});

test('replay mismatch: a retry answered with another coupon', () => {
  const f = goodFacts();
  const broken = { ...f, attempts: [...f.attempts, attempt('A', 'u1', 'r1', issued('A', 'u1', 'c1-other', true))] };
  assertFlags(broken, 'replay_mismatch');
  // an answer that names another user
  assertFlags({ ...f, attempts: [...f.attempts, attempt('B', 'u1', 'r7', issued('B', 'u9', 'c7', true))] }, 'wrong_answer');
  // a coupon, and a refusal for the same request
  assertFlags({ ...f, attempts: [...f.attempts, attempt('B', 'u1', 'r7', refused('sold_out', 410))] }, 'replay_mismatch');
});

test('stock, dead letters and an undrained backlog are flagged', () => {
  const f = goodFacts();
  assert.deepEqual(kinds({ ...f, stock: new Map([...f.stock, ['B', { remaining: 4, pending: 0 }]]) }), new Set(['stock_mismatch']));
  assert.deepEqual(kinds({ ...f, stock: new Map([...f.stock, ['B', { remaining: null, pending: 0 }]]) }), new Set(['stock_mismatch']));
  assert.deepEqual(kinds({ ...f, deadLetters: 2 }), new Set(['dead_letter']));
  assert.deepEqual(kinds({ ...f, backlog: 5 }), new Set(['not_drained']));
});

test('red packets: the drill passes amounts and budgets to the oracle, which flags a replay of another amount and a short sum', () => {
  const P = { id: 'P', totalStock: 2, perUserLimit: 1, budget: 50, minAmount: 5 };
  const told = (userId: string, couponId: string, amount: number, replayed = false): Outcome =>
    ({ kind: 'issued', couponId, replayed, userId, templateId: 'P', amount });
  const facts = (replayAmount: number, secondRow: number, budgetLeft: number): DrillFacts => ({
    templates: [P],
    attempts: [attempt('P', 'u1', 'p1', told('u1', 'k1', 20)), attempt('P', 'u1', 'p1', told('u1', 'k1', replayAmount, true)),
      attempt('P', 'u2', 'p2', told('u2', 'k2', 30))],
    rows: [{ ...row('P', 'u1', 'p1', 'k1'), amount: 20 }, { ...row('P', 'u2', 'p2', 'k2'), amount: secondRow }],
    stock: new Map([['P', { remaining: 0, pending: 0, budgetLeft }]]), deadLetters: 0, backlog: 0, lossWindows: [],
  });
  assert.deepEqual(verify(facts(20, 30, 0)).violations, []);
  assert.deepEqual(kinds(facts(21, 30, 0)), new Set(['packet_amount']), 'a replay answered another amount');
  assert.deepEqual(kinds(facts(20, 29, 1)), new Set(['packet_amount']), 'every packet issued, the sum short of the budget');
  assert.deepEqual(kinds(facts(20, 30, 3)), new Set(['packet_amount']), 'Redis keeps cents the rows already hold');
});
