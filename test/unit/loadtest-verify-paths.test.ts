/**
 * The load test's verifier on the codes and grant paths, fed deliberately broken facts: a code
 * that issued twice, an invalid code that issued or was not refused 404, a grant row the job did
 * not count, a listed user lost or both granted and refused. A correct run of each must pass.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { codeRequestId } from '../../core/ids.ts';
import { couponIdPrefix, shardOfUser } from '../../core/shards.ts';
import { grantRequestId } from '../../issuance/grant-model.ts';
import { type CouponRow, type IssuedAnswer, type ProblemKind, verify, type VerifyInput } from '../../loadtest/verify.ts';
import type { CodeFacts, GrantFacts } from '../../loadtest/verify-paths.ts';

const layout = { dbs: 2, tables: 4 };
const T = 'lt-abc123-0';
let seq = 2_000_000;

/** A coupon of `requestId` for `userId`, routed to the user's shard as the gateway mints them. */
function coupon(userId: string, requestId: string): { answer: IssuedAnswer; row: CouponRow } {
  const couponId = `${couponIdPrefix(layout, userId)}.3.${seq++}`;
  const s = shardOfUser(layout, userId);
  return {
    answer: { templateId: T, userId, requestId, couponId, replayed: false, toldUserId: userId, toldTemplateId: T },
    row: { couponId, userId, templateId: T, requestId, db: s.db, table: s.table },
  };
}

const base = (stock: number, issued: number): Pick<VerifyInput, 'layout' | 'drain' | 'templates' | 'uncertain' | 'undecodable'> => ({
  layout, drain: { drained: true, backlog: 0, ms: 5 }, uncertain: 0, undecodable: 0,
  templates: [{ id: T, totalStock: stock, perUserLimit: 1, remaining: stock - issued }],
});

const kinds = (f: VerifyInput): ProblemKind[] => [...new Set(verify(f).problems.map((p) => p.kind))].sort();

/** codes: stock 5, codes 100..104; u1 redeemed 100 (and again: a replay), u2 101; u3 lost 101 (code_used, no row). */
function codesRun(): VerifyInput & { answers: IssuedAnswer[]; rows: CouponRow[]; codes: CodeFacts } {
  const a = coupon('u1', codeRequestId(100));
  const b = coupon('u2', codeRequestId(101));
  return {
    ...base(5, 2), answers: [a.answer, { ...a.answer, replayed: true }, b.answer], rows: [a.row, b.row],
    codes: { templateId: T, numbers: [100, 101, 102, 103, 104], invalid: { statuses: { 404: 6 }, issued: [] }, tooManyFailures: 0 },
  };
}

test('codes: a correct run passes', () => {
  const v = verify(codesRun());
  assert.deepEqual(v.problems, []);
  assert.equal(v.totals.replays, 1);
});

test('codes: one code that issued two coupons to two users is code_reused', () => {
  const f = codesRun();
  // u3 was told code 101 too, and MySQL holds it: the stock and the limit still hold, only the code broke.
  const again = coupon('u3', codeRequestId(101));
  const broken = { ...f, ...base(5, 3), answers: [...f.answers, again.answer], rows: [...f.rows, again.row] };
  assert.deepEqual(kinds(broken), ['code_reused']);
  assert.match(verify(broken).problems[0]!.detail, /code number 101 issued 2 coupons/);
  // the same when nobody was told (an unanswered redemption), which the oracle alone lets pass.
  assert.deepEqual(kinds({ ...broken, answers: f.answers, uncertain: 1 }), ['code_reused']);
});

test('codes: a coupon for a code the batch does not hold, or an invalid code answered 200 or not 404', () => {
  const f = codesRun();
  const outside = coupon('u4', codeRequestId(105));
  assert.deepEqual(kinds({ ...f, ...base(5, 3), rows: [...f.rows, outside.row], uncertain: 1 }), ['invalid_code']);
  assert.deepEqual(kinds({ ...f, codes: { ...f.codes, invalid: { statuses: { 404: 5, 200: 1 }, issued: ['ABCD-EFGH'] } } }), ['invalid_code']);
  assert.deepEqual(kinds({ ...f, codes: { ...f.codes, invalid: { statuses: { 404: 5, 409: 1 }, issued: [] } } }), ['invalid_code']);
  assert.equal(verify({ ...f, codes: { ...f.codes, invalid: { statuses: { 404: 5, 429: 1 }, issued: [] } } }).ok, true,
    'a 429 is decided before the code is read');
});

test('codes: a run the failure budget cut short, or without invalid codes, did not test what it is for', () => {
  const f = codesRun();
  assert.deepEqual(kinds({ ...f, codes: { ...f.codes, tooManyFailures: 3 } }), ['scenario']);
  assert.deepEqual(kinds({ ...f, codes: { ...f.codes, invalid: { statuses: {}, issued: [] } } }), ['scenario']);
});

/** grant: stock 4; the job listed g1-g4: g1, g2 granted, g3 limit_reached (a claim of the rain got there first), g4 sold_out. */
function grantRun(): VerifyInput & { answers: IssuedAnswer[]; rows: CouponRow[]; grant: GrantFacts } {
  const id = 'Gr4nt1d';
  const g1 = coupon('g1', grantRequestId(id));
  const g2 = coupon('g2', grantRequestId(id));
  const rain = coupon('g3', '~rain');
  const rainAnswer = { ...rain.answer, requestId: undefined };
  return {
    ...base(4, 3), answers: [rainAnswer], rows: [g1.row, g2.row, rain.row],
    grant: {
      grantId: id, templateId: T, listed: ['g1', 'g2', 'g3', 'g4'],
      job: { state: 'done', total: 4, granted: 2, refused: { limit_reached: 1, sold_out: 1, ended: 0, not_eligible: 0 }, failed: 0 },
      refusals: [{ userId: 'g3', reason: 'limit_reached' }, { userId: 'g4', reason: 'sold_out' }],
    },
  };
}

test('grant: a correct run passes, its coupons counted as told', () => {
  const v = verify(grantRun());
  assert.deepEqual(v.problems, []);
  assert.equal(v.totals.granted, 2);
  assert.equal(v.totals.untold, 0);
});

test('grant: an extra row of the grant is reported, whoever holds it', () => {
  const f = grantRun();
  const id = f.grant.grantId;
  // a refused user holding a grant coupon: the job counted 2, MySQL holds 3.
  const g4 = coupon('g4', grantRequestId(id));
  const refusedToo = { ...f, ...base(4, 4), rows: [...f.rows, g4.row] };
  assert.deepEqual(kinds(refusedToo), ['grant']);
  assert.match(verify(refusedToo).problems.map((p) => p.detail).join('\n'), /hold a coupon of the grant and are recorded refused: g4 \(sold_out\)/);
  // a user the job never listed.
  const stranger = coupon('z9', grantRequestId(id));
  assert.deepEqual(kinds({ ...f, ...base(4, 4), rows: [...f.rows, stranger.row] }), ['extra_row', 'grant']);
  // a second coupon of the grant for one user.
  const twice = coupon('g1', grantRequestId(id));
  assert.ok(kinds({ ...f, ...base(4, 4), rows: [...f.rows, twice.row] }).includes('grant'));
});

test('grant: a listed user lost, counts that do not add up, a job not done', () => {
  const f = grantRun();
  const lost = { ...f, grant: { ...f.grant, refusals: f.grant.refusals.slice(0, 1) } };
  assert.deepEqual(kinds(lost), ['grant']);
  assert.match(verify(lost).problems.map((p) => p.detail).join('\n'), /neither hold a coupon of the grant nor are refused: g4/);
  assert.deepEqual(kinds({ ...f, grant: { ...f.grant, job: { ...f.grant.job, granted: 3 } } }), ['grant']);
  assert.deepEqual(kinds({ ...f, grant: { ...f.grant, job: { ...f.grant.job, state: 'cancelled' } } }), ['grant']);
  assert.deepEqual(kinds({ ...f, grant: { ...f.grant, listed: [...f.grant.listed, 'g5'] } }), ['grant']);
});

test('grant: a row the sink lost is missing from the job\'s count', () => {
  const f = grantRun();
  assert.ok(kinds({ ...f, rows: f.rows.slice(1) }).includes('grant'));
});

test('grant: a failed user may hold a coupon, which the job does not count as granted', () => {
  const f = grantRun();
  const job = { ...f.grant.job, refused: { ...f.grant.job.refused, sold_out: 0 }, failed: 1 };
  const g4 = coupon('g4', grantRequestId(f.grant.grantId));
  const refusals = [{ userId: 'g3', reason: 'limit_reached' }, { userId: 'g4', reason: 'failed' }];
  assert.deepEqual(verify({ ...f, ...base(4, 4), rows: [...f.rows, g4.row], grant: { ...f.grant, job, refusals } }).problems, []);
  assert.deepEqual(verify({ ...f, ...base(4, 3), grant: { ...f.grant, job, refusals } }).problems, []);
});
