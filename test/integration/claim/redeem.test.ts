/**
 * POST /v1/redeem's handler and the redemption flow on the real Redis and MariaDB: a code
 * redeems once, a retry of its user replays, a race of 100 users on one code issues one coupon,
 * limits and sold-out leave the code unused, and invalid codes spend the caller's budget.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { codeRequestId } from '../../../core/ids.ts';
import { Commands } from '../../../lua/commands.ts';
import * as keys from '../../../lua/keys.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import type { Told } from '../../../tools/verify/oracle.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../../support/claims.ts';
import { codeRig, type CodeRig } from '../../support/codes.ts';

let s: Storage;
let rig: ClaimRig;
let codes: CodeRig;
before(async () => {
  s = await openStorage(testConfig({ CLAIM_PENDING_WAIT_MS: '3000' }));
  rig = claimRig(s);
  codes = codeRig(s, rig.service);
});
after(() => s?.close());

const stockOf = async (templateId: string, k: number) => Number(await s.redis.get(keys.stockKey(rig.ks, templateId, k)));
/** The mark of code number n of a template: '<user>|<coupon>', or null while it is unused. */
const markOf = (t: { id: string; subStocks: number }, n: number) =>
  s.redis.hget(keys.codeMarksKey(rig.ks, t.id, n % t.subStocks), String(n));

test('a code redeems once: issued, its user replays it, another user gets code_used', async () => {
  const t = await rig.template({ totalStock: 10, perUserLimit: 5 });
  const { codes: [code], numbers: [n] } = await codes.codes(t.id, 3);
  const first = await codes.redeem({ userId: 'alice', code });
  assert.equal(first.status, 200);
  assert.deepEqual(Object.keys(first.body).sort(), ['couponId', 'status', 'templateId', 'userId']);
  assert.deepEqual([first.body.status, first.body.templateId, first.body.userId], ['issued', t.id, 'alice']);
  // Typed loosely, with a request id of its own: the same code, the same redemption.
  const again = await codes.redeem({ userId: 'alice', code: code!.toLowerCase().replace(/-/g, ' '), requestId: 'x1' });
  assert.deepEqual(again, { status: 200, body: { ...first.body, replayed: true }, headers: undefined });
  const other = await codes.redeem({ userId: 'bob', code });
  assert.deepEqual([other.status, other.body], [409, { status: 'code_used' }]);
  assert.equal(await markOf(t, n!), `alice|${first.body.couponId}`);
  assert.equal(await stockOf(t.id, 0), 9);
  // The user's entry at home: one coupon held, the code's request answered.
  const home = keys.subStockPartition(rig.ks, t.id, 0);
  assert.deepEqual(await s.redis.hgetall(keys.usersKey(rig.ks, home, t.id)),
    { alice: '1', [`alice|${codeRequestId(n!)}`]: first.body.couponId }, "bob's released slot leaves nothing behind");
});

test('100 users redeem one code at once: one coupon, 99 code_used, the stock down by exactly one', async () => {
  const t = await rig.template({ totalStock: 50, subStocks: 4, perUserLimit: 1 });
  const { codes: [code], numbers: [n] } = await codes.codes(t.id, 1);
  const k = n! % 4;
  const before = await stockOf(t.id, k);
  const users = Array.from({ length: 100 }, (_, i) => `racer${i}`);
  const answers = await Promise.all(users.map((userId) => codes.redeem({ userId, code })));
  const won = answers.filter((a) => a.status === 200);
  assert.equal(won.length, 1);
  assert.equal(answers.filter((a) => a.status === 409 && a.body.status === 'code_used').length, 99);
  assert.equal(await stockOf(t.id, k), before - 1);
  const others = await Promise.all([0, 1, 2, 3].filter((j) => j !== k).map((j) => stockOf(t.id, j)));
  assert.equal(others.reduce((a, b) => a + b, 0) + before, 50, 'no other sub-stock moved');
  let pending = 0;
  for (let p = 0; p < rig.ks.partitions; p++) pending += await s.redis.zcard(keys.pendingKey(rig.ks, p));
  assert.equal(pending, 0, 'every reservation settled');
  const w = won[0]!.body;
  const told: Told[] = [{ templateId: t.id, userId: w.userId, requestId: codeRequestId(n!), couponId: w.couponId, replayed: false,
    toldUserId: w.userId, toldTemplateId: w.templateId, at: Date.now() }];
  const verdict = await judgeAfterSink(s, rig.ks, [t], { told });
  assert.deepEqual(verdict.violations, []);
  assert.equal(verdict.templates[0]!.rows, 1);
});

test('a user at the limit gets limit_reached and the code stays unused; another user redeems it', async () => {
  const t = await rig.template({ totalStock: 10, perUserLimit: 1 });
  assert.equal((await rig.service.claim({ userId: 'full', templateId: t.id })).status, 200);
  const { codes: [code], numbers: [n] } = await codes.codes(t.id, 1);
  const r = await codes.redeem({ userId: 'full', code });
  assert.deepEqual([r.status, r.body], [409, { status: 'limit_reached' }]);
  assert.equal(await markOf(t, n!), null);
  assert.equal(await stockOf(t.id, 0), 9);
  const ok = await codes.redeem({ userId: 'fresh', code });
  assert.equal(ok.status, 200);
  assert.equal(await markOf(t, n!), `fresh|${ok.body.couponId}`);
});

test("sold out: only when every sub-stock is; the code stays unused and unheld; stock back, it redeems", async () => {
  const t = await rig.template({ totalStock: 4, subStocks: 2, perUserLimit: 1 });
  const { codes: [code], numbers: [n] } = await codes.codes(t.id, 1);
  const k = n! % 2;
  await s.redis.set(keys.stockKey(rig.ks, t.id, 0), 0);
  await s.redis.set(keys.stockKey(rig.ks, t.id, 1), 0);
  const r = await codes.redeem({ userId: 'late', code });
  assert.deepEqual([r.status, r.body], [410, { status: 'sold_out' }]);
  assert.equal(await markOf(t, n!), null, 'the hold was released');
  assert.equal(await s.redis.zcard(keys.codeHoldsKey(rig.ks, keys.subStockPartition(rig.ks, t.id, k))), 0);
  // The slot reserved at home was released: the user may redeem when stock comes back.
  const change = await new Commands(s.redis, rig.ks).stockChange(t.id, k, 'back', 1, 60_000);
  assert.equal(change[0], 15);
  // A gateway that has not seen every sub-stock empty (this one learns of stock changes by the
  // template's announced version, which this raw change skips).
  const ok = await codeRig(s, claimRig(s).service).redeem({ userId: 'late', code });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(await stockOf(t.id, k), 0);
});

test('invalid codes are 404 and spend the budget of the user and of the address; 429 until earned back', async () => {
  const t = await rig.template({ totalStock: 10, perUserLimit: 5 });
  const { codes: [good] } = await codes.codes(t.id, 1);
  // 3 failures at once, one earned back every 100 ms.
  const strict = codeRig(s, rig.service, { failureBurst: 3, failuresPerMinute: 600 });
  const forged = `${good!.slice(0, -1)}${good!.endsWith('0') ? '1' : '0'}`;
  for (const code of ['0000-0000-0000-0000-0000', forged, 'not a code']) {
    const r = await strict.redeem({ userId: 'guesser', code }, { address: '10.0.0.1' });
    assert.deepEqual([r.status, r.body], [404, { error: 'invalid_code' }], code);
  }
  const slowed = await strict.redeem({ userId: 'guesser', code: good }, { address: '10.0.0.9' });
  assert.equal(slowed.status, 429, 'the user, from another address, even with a good code');
  assert.equal(slowed.body.error, 'too_many_failures');
  assert.equal(slowed.headers?.['Retry-After'], '1');
  const viaAddress = await strict.redeem({ userId: 'someone-else', code: good }, { address: '10.0.0.1' });
  assert.equal(viaAddress.status, 429, 'the address, for another user');
  await sleep(150);
  const back = await strict.redeem({ userId: 'guesser', code: good }, { address: '10.0.0.9' });
  assert.equal(back.status, 200, JSON.stringify(back.body));
  // A used code spends the budget too (scraping used codes is not free).
  for (let i = 0; i < 3; i++) assert.equal((await strict.redeem({ userId: 'scraper', code: good }, { address: `10.1.0.${i}` })).status, 409);
  assert.equal((await strict.redeem({ userId: 'scraper', code: good }, { address: '10.2.0.1' })).status, 429);
});

test('a code of a batch number nobody made, or a serial past its batch, is invalid_code', async () => {
  const t = await rig.template({ totalStock: 10 });
  const { numbers: [n] } = await codes.codes(t.id, 2);
  const past = codes.signer.code(n! + 2);
  const unknownBatch = codes.signer.code(n! + 2 ** 20 * 1000);
  for (const code of [past, unknownBatch]) assert.deepEqual((await codes.redeem({ userId: 'u', code })).body, { error: 'invalid_code' });
});

test('bad redeem bodies get clear errors with stable codes', async () => {
  const cases: [unknown, number, string, RegExp][] = [
    [{ userId: 'u' }, 400, 'bad_request', /code: required/],
    [{ userId: 'u', code: 12345 }, 400, 'bad_request', /code: required/],
    [{ userId: 'u', code: '' }, 400, 'bad_request', /code: required/],
    [{ userId: 'u', code: 'A'.repeat(65) }, 400, 'bad_request', /at most 64/],
    [{ code: 'AAAA' }, 400, 'bad_request', /userId: required/],
    [{ userId: 'u', code: 'AAAA', extra: true }, 400, 'bad_request', /extra: unknown field/],
    [{ userId: 'u', code: 'AAAA', requestId: 'a b' }, 400, 'bad_request', /requestId/],
    [['u', 'AAAA'], 400, 'bad_request', /body: must be a JSON object/],
  ];
  for (const [body, status, error, message] of cases) {
    const r = await codes.redeem(body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.body.error, error, JSON.stringify(body));
    assert.match(String(r.body.message), message, JSON.stringify(body));
  }
  const text = await codes.redeem(Buffer.from('u AAAA'), { contentType: 'text/plain' });
  assert.deepEqual([text.status, text.body.error], [415, 'unsupported_media_type']);
  const junk = await codes.redeem(Buffer.from('{"userId":'));
  assert.deepEqual([junk.status, junk.body.error], [400, 'bad_request']);
});
