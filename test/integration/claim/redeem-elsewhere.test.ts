/**
 * A code whose own sub-stock is empty is redeemed from another sub-stock (gateway/claim/redeem.ts,
 * lua/code-take-6.lua holds the code meanwhile): never sold_out while the template has stock, a
 * race of 100 users on such a code issues one coupon, and a template with uneven sub-stocks
 * redeems code after code until its whole stock is gone, then sold_out.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { codeRequestId } from '../../../core/ids.ts';
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
const markOf = (t: { id: string; subStocks: number }, n: number) =>
  s.redis.hget(keys.codeMarksKey(rig.ks, t.id, n % t.subStocks), String(n));
/** Holds standing in every partition. */
async function holds(): Promise<number> {
  let n = 0;
  for (let p = 0; p < rig.ks.partitions; p++) n += await s.redis.zcard(keys.codeHoldsKey(rig.ks, p));
  return n;
}
async function pending(): Promise<number> {
  let n = 0;
  for (let p = 0; p < rig.ks.partitions; p++) n += await s.redis.zcard(keys.pendingKey(rig.ks, p));
  return n;
}
/** Moves sub-stock k's coupons to sub-stock j (the total stays: the oracle still balances). */
async function emptyInto(templateId: string, k: number, j: number): Promise<void> {
  const moved = await stockOf(templateId, k);
  await s.redis.set(keys.stockKey(rig.ks, templateId, k), 0);
  await s.redis.incrby(keys.stockKey(rig.ks, templateId, j), moved);
}
const toldOf = (a: { body: any }, n: number): Told => ({ templateId: a.body.templateId, userId: a.body.userId, requestId: codeRequestId(n),
  couponId: a.body.couponId, replayed: false, toldUserId: a.body.userId, toldTemplateId: a.body.templateId, at: Date.now() });

test("a code whose sub-stock is empty is redeemed from another: marked in its own partition, replayed, then code_used", async () => {
  const t = await rig.template({ totalStock: 6, subStocks: 3, perUserLimit: 2 });
  const { codes: [code], numbers: [n] } = await codes.codes(t.id, 1);
  const k = n! % 3;
  await emptyInto(t.id, k, (k + 1) % 3);
  const first = await codes.redeem({ userId: 'eve', code });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(await markOf(t, n!), `eve|${first.body.couponId}`);
  assert.equal(await stockOf(t.id, k), 0);
  const others = await Promise.all([0, 1, 2].filter((j) => j !== k).map((j) => stockOf(t.id, j)));
  assert.equal(others[0]! + others[1]!, 5, 'one coupon taken from another sub-stock');
  const again = await codes.redeem({ userId: 'eve', code });
  assert.deepEqual([again.status, again.body.couponId, again.body.replayed], [200, first.body.couponId, true]);
  assert.deepEqual((await codes.redeem({ userId: 'mallory', code })).body, { status: 'code_used' });
  assert.equal(await holds(), 0);
  assert.equal(await pending(), 0);
  const verdict = await judgeAfterSink(s, rig.ks, [t], { told: [toldOf(first, n!)] });
  assert.deepEqual(verdict.violations, []);
  assert.equal(verdict.templates[0]!.rows, 1);
});

test('100 users race one code whose sub-stock is empty: one coupon; the others code_used, or 503 then code_used on retry', async () => {
  const t = await rig.template({ totalStock: 60, subStocks: 4, perUserLimit: 1 });
  const { codes: [code], numbers: [n] } = await codes.codes(t.id, 1);
  await emptyInto(t.id, n! % 4, (n! + 1) % 4);
  const before = (await Promise.all([0, 1, 2, 3].map((j) => stockOf(t.id, j)))).reduce((a, b) => a + b, 0);
  const users = Array.from({ length: 100 }, (_, i) => `hold-racer${i}`);
  const answers = await Promise.all(users.map((userId) => codes.redeem({ userId, code })));
  const won = answers.filter((a) => a.status === 200);
  assert.equal(won.length, 1, JSON.stringify(answers.filter((a) => a.status !== 409 && a.status !== 503).map((a) => a.body)));
  const busy = answers.map((a, i) => [a, users[i]!] as const).filter(([a]) => a.status === 503);
  for (const [a] of busy) {
    assert.equal(a.body.error, 'unavailable');
    assert.equal(a.headers?.['Retry-After'], '1');
  }
  assert.equal(answers.filter((a) => a.status === 409 && a.body.status === 'code_used').length + busy.length, 99);
  // The code is bound by now: every 503 retried is code_used.
  for (const [, userId] of busy) assert.deepEqual((await codes.redeem({ userId, code })).body, { status: 'code_used' });
  const after = (await Promise.all([0, 1, 2, 3].map((j) => stockOf(t.id, j)))).reduce((a, b) => a + b, 0);
  assert.equal(after, before - 1);
  assert.equal(await markOf(t, n!), `${won[0]!.body.userId}|${won[0]!.body.couponId}`);
  assert.equal(await holds(), 0);
  assert.equal(await pending(), 0, 'every reservation settled');
  const verdict = await judgeAfterSink(s, rig.ks, [t], { told: [toldOf(won[0]!, n!)] });
  assert.deepEqual(verdict.violations, []);
  assert.equal(verdict.templates[0]!.rows, 1);
});

test('uneven sub-stocks: every code redeems until the whole stock is gone, never sold_out early; then sold_out', async () => {
  const t = await rig.template({ totalStock: 30, subStocks: 4, perUserLimit: 1 });
  // All the stock in one sub-stock: the codes of the three others must all take from it.
  for (let j = 0; j < 4; j++) await s.redis.set(keys.stockKey(rig.ks, t.id, j), j === 2 ? 30 : 0);
  const { codes: list, numbers } = await codes.codes(t.id, 40);
  const answers = await Promise.all(list.map((code, i) => codes.redeem({ userId: `uneven${i}`, code })));
  const statuses = answers.map((a) => a.status);
  assert.equal(statuses.filter((x) => x === 200).length, 30, JSON.stringify(answers.filter((a) => a.status !== 200).map((a) => a.body)));
  assert.equal(statuses.filter((x) => x === 410).length, 10);
  for (let j = 0; j < 4; j++) assert.equal(await stockOf(t.id, j), 0);
  // Each code is marked by its own redemption, the sold-out ones not at all.
  for (let i = 0; i < list.length; i++) {
    const a = answers[i]!;
    assert.equal(await markOf(t, numbers[i]!), a.status === 200 ? `uneven${i}|${a.body.couponId}` : null);
  }
  assert.equal(await holds(), 0);
  assert.equal(await pending(), 0);
  const told = answers.flatMap((a, i) => (a.status === 200 ? [toldOf(a, numbers[i]!)] : []));
  const verdict = await judgeAfterSink(s, rig.ks, [t], { told });
  assert.deepEqual(verdict.violations, []);
  assert.equal(verdict.templates[0]!.rows, 30);
});
