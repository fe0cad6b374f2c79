/**
 * Red packets against what the reconciler and the sink must catch or keep, on the real Redis,
 * MariaDB and sink: a budget tampered in Redis (raised: more cents given out than the budget;
 * lowered: cents gone that no packet holds), packets at the limits of the money rules (one packet
 * of 10^12 cents, every packet exactly the minimum), and a packet whose record went to the dead
 * letters and was re-driven: its amount survives every step.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { masters } from '../../lua/client.ts';
import * as keys from '../../lua/keys.ts';
import { budgetKey, deadKey } from '../../lua/keys.ts';
import { reconcileCtx } from '../../reconcile/context.ts';
import { reconcileOnce } from '../../reconcile/reconcile.ts';
import { createLog } from '../../sink/log.ts';
import { startSink } from '../../sink/sink.ts';
import type { Template } from '../../templates/model.ts';
import { storedCoupons } from '../../tools/verify/facts.ts';
import type { Told } from '../../tools/verify/oracle.ts';
import { drained, openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../support/claims.ts';
import { told } from '../support/packets.ts';
import { waitFor } from '../support/sink-fixtures.ts';

const env = testEnv({ SINK_BATCH_MAX_WAIT_MS: '20', SINK_TEMPLATE_WAIT_MS: '1000', SINK_RECLAIM_IDLE_MS: '200',
  SINK_RECLAIM_EVERY_MS: '100', ADMIT_GLOBAL_BURST: '1000000', ADMIT_TEMPLATE_BURST: '1000000' });
let s: Storage;
let rig: ClaimRig;
let stopSink: (() => Promise<void>) | undefined;

before(async () => {
  s = await openStorage(testConfig(env));
  rig = claimRig(s);
  const sink = await startSink(s.cfg, { redis: s.redis, mysql: s.mysql, log: createLog(() => undefined) });
  stopSink = () => sink.stop();
});
after(async () => {
  await stopSink?.();
  await s?.close();
});

const pass = () => reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));
const packet = (o: { packets: number; budget: number; minAmount: number; subStocks: number }) =>
  rig.template({ type: 'red_packet', value: 0, budget: o.budget, minAmount: o.minAmount, totalStock: o.packets, subStocks: o.subStocks,
    perUserLimit: 1 });

/** Every user of `users` claims `t` once with request id 'r-<user>'; the answers as the oracle takes them. */
async function claimAll(t: Template, users: readonly string[]): Promise<Told[]> {
  const out: Told[] = [];
  for (const u of users) {
    const a = await rig.service.claim({ userId: u, templateId: t.id, requestId: `r-${u}` });
    if (a.status === 200) out.push(told(t, u, `r-${u}`, a));
  }
  return out;
}

/** The reconciler's finding on `t` after the sink stored everything. */
async function findingOf(t: Template): Promise<string | undefined> {
  await waitFor(() => drained(s), 20_000, 'the sink stored every packet');
  const r = await pass();
  assert.equal(r.stalled, undefined);
  const f = r.counts.find((x) => x.templateId === t.id);
  assert.ok(f, 'the template was compared');
  return f.problem;
}

test('a budget raised in Redis behind the template: the packets give out more than the budget, and the reconciler says so', async () => {
  const t = await packet({ packets: 20, budget: 1_000, minAmount: 1, subStocks: 2 });
  await s.redis.incrby(budgetKey(rig.ks, t.id, 1), 500);
  const issued = await claimAll(t, Array.from({ length: 40 }, (_, i) => `up${i}`));
  assert.equal(issued.length, 20);
  assert.equal(issued.reduce((a, x) => a + x.amount!, 0), 1_500, 'the tampered budget was spent');
  assert.match(await findingOf(t) ?? '', /OVER-SPEND: 1500 cents given out of a budget of 1000/);
});

test('a budget lowered in Redis behind the template: cents no packet holds, and the reconciler says so', async () => {
  const t = await packet({ packets: 20, budget: 1_000, minAmount: 1, subStocks: 2 });
  await s.redis.decrby(budgetKey(rig.ks, t.id, 0), 200);
  const issued = await claimAll(t, Array.from({ length: 5 }, (_, i) => `down${i}`));
  assert.equal(issued.length, 5);
  assert.match(await findingOf(t) ?? '', /^200 cent\(s\) gone from the budget in Redis are in no packet/, 'the 200 cents gone from the budget are reported');
});

test('one packet of 10^12 cents, and 1,000 packets of exactly the minimum 10^9: amounts exact in answers, replays and rows', async () => {
  const one = await packet({ packets: 1, budget: 1e12, minAmount: 1, subStocks: 1 });
  const flat = await packet({ packets: 1_000, budget: 1e12, minAmount: 1e9, subStocks: 4 });
  const a = await claimAll(one, ['whale', 'late']);
  assert.deepEqual(a.map((x) => x.amount), [1e12]);
  const b = await claimAll(flat, Array.from({ length: 1_001 }, (_, i) => `f${i}`));
  assert.equal(b.length, 1_000);
  assert.ok(b.every((x) => x.amount === 1e9), 'every packet exactly the minimum');
  for (const x of [...a, ...b.slice(0, 20)]) {
    const r = await rig.service.claim({ userId: x.userId, templateId: x.templateId, requestId: x.requestId });
    assert.deepEqual([r.body.couponId, r.body.amount, r.body.replayed], [x.couponId, x.amount, true]);
  }
  const verdict = await judgeAfterSink(s, rig.ks, [one, flat], { told: [...a, ...b] });
  assert.deepEqual(verdict.violations, []);
  assert.equal(await findingOf(flat), undefined);
});

test('a packet dead-lettered (its template row gone) and re-driven keeps its amount in MySQL and in replays', async () => {
  const t = await packet({ packets: 10, budget: 10_007, minAmount: 3, subStocks: 1 });
  const table = `\`${s.cfg.mysql.dbPrefix}_main\`.coupon_template`;
  const [[row]] = await s.mysql.main.query(`SELECT * FROM ${table} WHERE id = ?`, [t.id]) as unknown as [Record<string, unknown>[]];
  await s.mysql.main.query(`DELETE FROM ${table} WHERE id = ?`, [t.id]);
  const [x] = await claimAll(t, ['lost']);
  assert.ok(x && x.amount! >= 3);
  const dead = deadKey(rig.ks, Number(x.couponId.split('.')[2]));
  await waitFor(async () => (await s.redis.xlen(dead)) === 1, 15_000, 'the record dead-lettered');
  await s.mysql.main.query(`INSERT INTO ${table} SET ?`, [row]);
  const r = await pass();
  assert.equal(r.redriven, 1);
  await waitFor(async () => (await storedCoupons(s.mysql, s.cfg.mysql.dbPrefix, { dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables },
    { ids: [t.id] })).length === 1, 15_000, 'the re-driven packet stored');
  const rows = await storedCoupons(s.mysql, s.cfg.mysql.dbPrefix, { dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables }, { ids: [t.id] });
  assert.deepEqual([rows[0]!.couponId, rows[0]!.amount], [x.couponId, x.amount]);
  const again = await rig.service.claim({ userId: 'lost', templateId: t.id, requestId: 'r-lost' });
  assert.deepEqual([again.body.couponId, again.body.amount], [x.couponId, x.amount]);
  assert.equal(await findingOf(t), undefined);
});

/**
 * Redis came back from an AOF that missed `lost` (the sink stored them already): their stock and
 * budget are back in their sub-stocks, their users forgot them, and its run is a new one.
 */
async function restartForgetting(t: Template, lost: readonly Told[]): Promise<void> {
  const subOf = new Map(Array.from({ length: t.subStocks }, (_, k) => [keys.subStockPartition(rig.ks, t.id, k), k]));
  for (const x of lost) {
    const k = subOf.get(Number(x.couponId.split('.')[2]))!;
    await s.redis.incrby(keys.stockKey(rig.ks, t.id, k), 1);
    await s.redis.incrby(budgetKey(rig.ks, t.id, k), x.amount!);
    const home = keys.subStockPartition(rig.ks, t.id, keys.homeSubStock(t.id, x.userId, t.subStocks));
    await s.redis.hdel(keys.usersKey(rig.ks, home, t.id), x.userId, `${x.userId}|${x.requestId}`);
  }
  await s.redis.set(keys.reconcileRunKey(rig.ks), 'a-run-before-the-crash');
  for (const node of masters(s.redis)) await node.script('FLUSH');
}

test('a repair pass right after the restart (the forgotten packets younger than its clock margin) still takes them out', async () => {
  const t = await packet({ packets: 30, budget: 3_001, minAmount: 2, subStocks: 2 });
  const first = await claimAll(t, Array.from({ length: 20 }, (_, i) => `rs${i}`));
  await waitFor(() => drained(s), 20_000, 'the sink stored the packets');
  // A restart lost the last second, and the reconciler's next pass (every second) comes at once.
  const lost = first.slice(-5);
  await restartForgetting(t, lost);
  const r = await pass();
  assert.equal(r.restarted, true);
  const f = r.counts.find((x) => x.templateId === t.id);
  assert.deepEqual([f?.missingInRedis, f?.shaved, f?.problem], [5, 5, undefined]);
  // The claims that follow share out what is left: no packet sold twice, the budget exact.
  const rest = await claimAll(t, Array.from({ length: 20 }, (_, i) => `rt${i}`));
  assert.equal(rest.length, 10, 'exactly the packets left');
  assert.equal([...first, ...rest].reduce((a, x) => a + x.amount!, 0), t.budget);
});
