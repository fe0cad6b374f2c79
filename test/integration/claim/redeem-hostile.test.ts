/**
 * Redemption codes under hostile use, on the real Redis and MariaDB: one user firing one code
 * with many request ids at once, one user firing many codes past their limit at once, codes of a
 * paused template, and a code refused sold out by a gateway that then sees its template topped
 * up. Each must leave one coupon per code at most, and every code nobody got usable later.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { codeRequestId } from '../../../core/ids.ts';
import { Commands } from '../../../lua/commands.ts';
import * as keys from '../../../lua/keys.ts';
import { parsePatch } from '../../../templates/rules.ts';
import { changeStock } from '../../../templates/stock.ts';
import { StockLedger } from '../../../templates/stock-ledger.ts';
import type { Template } from '../../../templates/model.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import type { Told } from '../../../tools/verify/oracle.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../../support/claims.ts';
import { codeRig, type CodeRig } from '../../support/codes.ts';

let s: Storage;
let rig: ClaimRig;
let codes: CodeRig;
before(async () => {
  s = await openStorage(testConfig({ CLAIM_PENDING_WAIT_MS: '5000' }));
  rig = claimRig(s);
  codes = codeRig(s, rig.service);
});
after(() => s?.close());

const markOf = (t: { id: string; subStocks: number }, n: number) =>
  s.redis.hget(keys.codeMarksKey(rig.ks, t.id, n % t.subStocks), String(n));
const stockOf = async (t: Template) => {
  let sum = 0;
  for (let k = 0; k < t.subStocks; k++) sum += Number(await s.redis.get(keys.stockKey(rig.ks, t.id, k)));
  return sum;
};
const toldOf = (t: Template, n: number, b: Record<string, any>): Told => ({ templateId: t.id, userId: b.userId,
  requestId: codeRequestId(n), couponId: b.couponId, replayed: b.replayed === true, toldUserId: b.userId, toldTemplateId: b.templateId,
  at: Date.now() });

/** Applies a PATCH body to a template and lets the rig's gateway cache see the new version. */
async function patch(t: Template, body: Record<string, unknown>): Promise<void> {
  const next = await rig.store.update(t.id, parsePatch(body, { partitions: rig.ks.partitions, defaultValidDays: 7, audienceMax: 10 }), Date.now());
  assert.equal(await rig.cache.notice(t.id, next.version), true);
}

test('one user sends one code 100 times at once with 100 request ids: one coupon, every answer names it', async () => {
  const t = await rig.template({ totalStock: 20, subStocks: 2, perUserLimit: 5 });
  const { codes: [code], numbers: [n] } = await codes.codes(t.id, 1);
  const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => codes.redeem({ userId: 'eager', code, requestId: `r${i}` })));
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [200], JSON.stringify(answers.find((a) => a.status !== 200)));
  const ids = new Set(answers.map((a) => a.body.couponId));
  assert.equal(ids.size, 1, 'one coupon');
  assert.equal(answers.filter((a) => a.body.replayed !== true).length, 1, 'issued once, replayed 99 times');
  assert.equal(await stockOf(t), 19);
  assert.equal(await markOf(t, n!), `eager|${[...ids][0]}`);
  const verdict = await judgeAfterSink(s, rig.ks, [t], { told: answers.map((a) => toldOf(t, n!, a.body)) });
  assert.deepEqual(verdict.violations, []);
  assert.equal(verdict.templates[0]!.rows, 1);
});

test('one user at limit 1 sends 10 codes at once: one coupon; the 9 others stay usable and go to other users', async () => {
  const t = await rig.template({ totalStock: 50, subStocks: 1, perUserLimit: 1 });
  const { codes: list, numbers } = await codes.codes(t.id, 10);
  const answers = await Promise.all(list.map((code) => codes.redeem({ userId: 'greedy', code })));
  assert.equal(answers.filter((a) => a.status === 200).length, 1, JSON.stringify(answers.map((a) => a.body.status)));
  assert.equal(answers.filter((a) => a.status === 409 && a.body.status === 'limit_reached').length, 9);
  const won = answers.findIndex((a) => a.status === 200);
  const told: Told[] = [toldOf(t, numbers[won]!, answers[won]!.body)];
  for (let i = 0; i < list.length; i++) {
    if (i === won) continue;
    assert.equal(await markOf(t, numbers[i]!), null, `code ${i} unused`);
    const r = await codes.redeem({ userId: `later${i}`, code: list[i] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    told.push(toldOf(t, numbers[i]!, r.body));
  }
  assert.equal(await stockOf(t), 40);
  const verdict = await judgeAfterSink(s, rig.ks, [t], { told });
  assert.deepEqual(verdict.violations, []);
});

test('a paused template: its code is refused paused and stays unused; resumed, the code redeems', async () => {
  const t = await rig.template({ totalStock: 5, subStocks: 1, perUserLimit: 1 });
  const { codes: [code], numbers: [n] } = await codes.codes(t.id, 1);
  await patch(t, { status: 'paused' });
  const r = await codes.redeem({ userId: 'waiting', code });
  assert.deepEqual([r.status, r.body], [403, { status: 'paused' }]);
  assert.equal(await markOf(t, n!), null);
  await patch(t, { status: 'active' });
  const ok = await codes.redeem({ userId: 'waiting', code });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  // Paused again, the code's own user still gets the coupon back (a replay outranks the pause).
  await patch(t, { status: 'paused' });
  const again = await codes.redeem({ userId: 'waiting', code });
  assert.deepEqual([again.status, again.body.couponId, again.body.replayed], [200, ok.body.couponId, true]);
});

test('sold out on a one-sub-stock template, seen so by this gateway, then topped up: the code redeems', async () => {
  const t = await rig.template({ totalStock: 1, subStocks: 1, perUserLimit: 1 });
  assert.equal((await rig.service.claim({ userId: 'first', templateId: t.id })).status, 200);
  const { codes: [code], numbers: [n] } = await codes.codes(t.id, 1);
  for (let i = 0; i < 2; i++) {
    // The second answer comes from memory: this gateway saw every sub-stock empty.
    const r = await codes.redeem({ userId: 'patient', code });
    assert.deepEqual([r.status, r.body], [410, { status: 'sold_out' }]);
  }
  assert.equal(await markOf(t, n!), null);
  const d = { commands: new Commands(s.redis, rig.ks), store: rig.store, live: rig.store.live, ledger: new StockLedger(s.mysql, s.cfg.mysql) };
  const up = await changeStock(d, t.id, 1, 'restock-1', Date.now());
  assert.equal(await rig.cache.notice(t.id, up.template.version), true);
  const ok = await codes.redeem({ userId: 'patient', code });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(await markOf(t, n!), `patient|${ok.body.couponId}`);
});

test('retrying the creation of a batch (same batchId) burns no batch number: there are only 2^20 of them', async () => {
  const t = await rig.template({ totalStock: 10, subStocks: 1 });
  const tag = `burn-${Date.now()}`;
  const first = await codes.batches.create(`${tag}-a`, t.id, 5, Date.now());
  assert.equal(first.created, true);
  // An operator's retries, one after another and all at once: each answers the same batch.
  for (let i = 0; i < 5; i++) assert.deepEqual(await codes.batches.create(`${tag}-a`, t.id, 5, Date.now()), { ...first, created: false });
  const racing = await Promise.all(Array.from({ length: 5 }, () => codes.batches.create(`${tag}-a`, t.id, 5, Date.now())));
  assert.ok(racing.every((r) => r.batch.batchNo === first.batch.batchNo));
  const next = await codes.batches.create(`${tag}-b`, t.id, 5, Date.now());
  assert.equal(next.batch.batchNo, first.batch.batchNo + 1, 'the next batch takes the next number');
});
