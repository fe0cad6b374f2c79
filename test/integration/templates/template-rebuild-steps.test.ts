/**
 * The rebuild's steps in process (templates/rebuild/): what it does with reservations caught
 * between claim-home and claim-settle, and that it runs unchanged on Redis Cluster.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { loadConfigWith } from '../../../config/index.ts';
import { rebuildDeps, rebuildTemplate } from '../../../templates/rebuild/rebuild.ts';
import { ScriptCode } from '../../../lua/codes.ts';
import { homeSubStock, stockKey } from '../../../lua/keys.ts';
import { createLog } from '../../../sink/log.ts';
import { startSink } from '../../../sink/sink.ts';
import { claimRig } from '../../support/claims.ts';
import { userScripts } from '../../support/user-scripts.ts';
import { keySpace, layout, waitFor } from '../../support/sink-fixtures.ts';
import { openStorage, testConfig, drained } from '../../../tools/harness/storage.ts';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

const quiet = { log: createLog(() => undefined) };

test('reservations in flight survive a rebuild: unresolved ones are kept, resolved ones settle from MySQL', async () => {
  const cfg = testConfig({ SINK_BATCH_MAX_WAIT_MS: '20' });
  const s = await openStorage(cfg);
  cleanup.push(() => s.close());
  const ks = keySpace(cfg);
  const rig = claimRig(s);
  const t = await rig.template({ totalStock: 3, subStocks: 2, perUserLimit: 1 });
  const sink = await startSink(cfg, quiet);
  cleanup.push(() => sink.stop());
  const at = (userId: string) => userScripts(s.redis, ks, layout(cfg), t, userId);
  // Two users with the same home sub-stock, which looks empty: their claims reserve and overflow.
  const home = homeSubStock(t.id, 'alice', 2);
  const bob = Array.from({ length: 50 }, (_, i) => `bob${i}`).find((u) => homeSubStock(t.id, u, 2) === home)!;
  const a = at('alice');
  const b = at(bob);
  await s.redis.set(stockKey(ks, t.id, home), 0);
  await s.redis.set(stockKey(ks, t.id, 1 - home), 2);

  // bob's take ran before the rebuild but his settle had not: MySQL will hold his coupon.
  assert.equal((await b.claimHome('b1'))[0], ScriptCode.Reserved);
  const [taken, bobCoupon] = await b.take('b1');
  assert.equal(taken, ScriptCode.Issued);
  await waitFor(() => drained(s), 10_000, "bob's record in MySQL");
  // alice's reservation is still waiting for its take when the rebuild runs.
  assert.equal((await a.claimHome('a1'))[0], ScriptCode.Reserved);

  const report = await rebuildTemplate(rebuildDeps(cfg, s.redis, s.mysql, { drainTimeoutMs: 5000, progress: () => undefined }), t.id);
  assert.equal(report.outcome, 'rebuilt', report.message);
  assert.deepEqual({ issued: report.counts?.issued, kept: report.counts?.kept, remaining: report.remaining }, { issued: 1, kept: 1, remaining: 2 });
  assert.deepEqual(await a.users(), { alice: '1', 'alice#p': '1', 'alice|a1': 'P' }, 'alice keeps her reservation');
  assert.deepEqual(await a.pending(), [`${t.id}|alice|a1`]);
  assert.deepEqual(await b.users(), { [bob]: '1', [`${bob}|b1`]: bobCoupon }, "bob's answer comes from MySQL");
  assert.deepEqual(await b.pending(), [], "bob's reservation is settled");

  // alice's take lands after the rebuild: her settle still finds the reservation, and her limit counts it.
  const [code, aliceCoupon] = await a.take('a1');
  assert.equal(code, ScriptCode.Issued);
  assert.deepEqual(await a.settle('a1', String(aliceCoupon)), [ScriptCode.Settled]);
  assert.deepEqual(await a.claimHome('a2'), [ScriptCode.LimitReached]);
  assert.deepEqual(await a.claimHome('a1'), [ScriptCode.Replayed, aliceCoupon]);
  // bob's late settle finds his coupon already recorded.
  assert.deepEqual(await b.settle('b1', String(bobCoupon)), [ScriptCode.NotPending, bobCoupon]);
});

test('the rebuild runs unchanged on Redis Cluster', async () => {
  const nodes = loadConfigWith({}).test.clusterNodes;
  assert.ok(nodes.length >= 3, 'TEST_REDIS_CLUSTER_NODES is not set: run through `make test`, which starts the cluster');
  const cfg = testConfig({ REDIS_CLUSTER_NODES: nodes.join(','), SINK_BATCH_MAX_WAIT_MS: '20' });
  const s = await openStorage(cfg);
  cleanup.push(() => s.close());
  const rig = claimRig(s);
  const t = await rig.template({ totalStock: 60, subStocks: 4, perUserLimit: 1 });
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) =>
    rig.service.claim({ userId: `c${i}`, templateId: t.id, requestId: `r${i}` })));
  assert.ok(answers.every((a) => a.status === 200));
  const sink = await startSink(cfg, quiet);
  cleanup.push(() => sink.stop());

  const report = await rebuildTemplate(rebuildDeps(cfg, s.redis, s.mysql, { drainTimeoutMs: 10_000, progress: () => undefined }), t.id);
  assert.equal(report.outcome, 'rebuilt', report.message);
  assert.deepEqual({ issued: report.counts?.issued, users: report.counts?.users, replays: report.counts?.replays, remaining: report.remaining },
    { issued: 40, users: 40, replays: 40, remaining: 20 });
  assert.deepEqual(await rig.store.live.stock(t), { total: 60, remaining: 20, issued: 40 });
  const replay = await rig.service.claim({ userId: 'c7', templateId: t.id, requestId: 'r7' });
  assert.equal(replay.body.couponId, answers[7]!.body.couponId);
  assert.equal((await rig.service.claim({ userId: 'c7', templateId: t.id })).body.status, 'limit_reached');
});
