/**
 * Red packets across the repairs of Redis from MySQL, on the real Redis and MariaDB: a Redis
 * restarted from an AOF that lost its last second forgets packets the sink already stored (their
 * decrements, their budget, their users); the reconciler's pass lowers each sub-stock and its
 * budget back to what MySQL shows; later a rebuild rewrites them from MySQL. Claims go on
 * between the repairs, and the packets still sum to the budget exactly when the last one goes:
 * nothing sold twice, no cent given twice, every forgotten packet replayed with its amount. On one
 * Redis and on the 3-master Redis Cluster (started by `make test`; without it that test fails).
 * (The restart is played the way test/system/hostile-restart-repair.test.ts plays it.)
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { loadConfigWith } from '../../../config/index.ts';
import { masters } from '../../../lua/client.ts';
import { ApiError } from '../../../core/errors.ts';
import * as keys from '../../../lua/keys.ts';
import { reconcileCtx } from '../../../reconcile/context.ts';
import { reconcileOnce } from '../../../reconcile/reconcile.ts';
import { createLog } from '../../../sink/log.ts';
import { startSink } from '../../../sink/sink.ts';
import { rebuildDeps, rebuildTemplate } from '../../../templates/rebuild/rebuild.ts';
import { drained, openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import type { Told } from '../../../tools/verify/oracle.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../../support/claims.ts';
import { assertExact, type Packet, packetTemplates, rain, replayAll, unevenUsers } from '../../support/packets.ts';
import { templateState } from '../../../tools/verify/facts.ts';
import { waitFor } from '../../support/sink-fixtures.ts';

const ENV = { REDIS_COMMAND_TIMEOUT_MS: '5000', ADMIT_GLOBAL_BURST: '1000000', ADMIT_TEMPLATE_BURST: '1000000',
  CLAIM_PENDING_WAIT_MS: '3000', RECONCILE_RESTART_WINDOW_MS: '60000' };

let s: Storage;
let rig: ClaimRig;
const opened: Storage[] = [];

/** Opens the storage of one case (one Redis, or the cluster's nodes). */
async function open(env: Record<string, string>): Promise<void> {
  s = await openStorage(testConfig({ ...ENV, ...env }));
  opened.push(s);
  rig = claimRig(s);
}
after(async () => {
  for (const st of opened) await st.close();
});

/**
 * Redis comes back from an AOF that missed `lost` (stored by the sink already): their sub-stocks
 * and budgets hold them again, their users and answers are gone, a new run, no scripts.
 */
async function restartForgetting(t: { id: string; subStocks: number }, lost: readonly Told[]): Promise<void> {
  const subOf = new Map(Array.from({ length: t.subStocks }, (_, k) => [keys.subStockPartition(rig.ks, t.id, k), k]));
  for (const x of lost) {
    const k = subOf.get(Number(x.couponId.split('.')[2]))!;
    await s.redis.incrby(keys.stockKey(rig.ks, t.id, k), 1);
    await s.redis.incrby(keys.budgetKey(rig.ks, t.id, k), x.amount!);
    const home = keys.subStockPartition(rig.ks, t.id, keys.homeSubStock(t.id, x.userId, t.subStocks));
    await s.redis.hdel(keys.usersKey(rig.ks, home, t.id), x.userId, `${x.userId}|${x.requestId}`);
  }
  await s.redis.set(keys.reconcileRunKey(rig.ks), 'a-run-before-the-crash');
  for (const node of masters(s.redis)) await node.script('FLUSH');
}

/** Redis's sub-stocks and budgets account for exactly the packets `issued` so far: the rest of the stock and of the budget. */
async function assertLeft(t: Packet, issued: readonly Told[]): Promise<void> {
  const state = await templateState(s.redis, rig.ks, t);
  const cents = issued.reduce((a, x) => a + x.amount!, 0);
  assert.deepEqual([state.remaining, state.budgetLeft], [t.totalStock - issued.length, t.budget - cents], 'stock and budget left in Redis');
}

/** Redis lost the template's sub-stock and budget keys (data lost, or any doubt: what `npm run rebuild` is for). */
async function loseKeys(t: Packet): Promise<void> {
  for (let k = 0; k < t.subStocks; k++) await s.redis.del(keys.stockKey(rig.ks, t.id, k), keys.budgetKey(rig.ks, t.id, k));
}

/** The case: a rain, a restart that forgets, its repair, more claims, lost keys and a rebuild, the rest of the rain. */
async function restartAndRebuild(): Promise<void> {
  const { t, side } = await packetTemplates(rig, { packets: 2_000, budget: 500_003, minAmount: 5, subStocks: 8 });
  const sink = await startSink(s.cfg, { redis: s.redis, mysql: s.mysql, log: createLog(() => undefined) });
  let stopped = false;
  try {
    const first = await rain(rig, t, side.id, unevenUsers(t, 'ra', 1_200));
    assert.equal(first.length, 1_200);
    await waitFor(() => drained(s), 20_000, 'the sink stored the first packets');
    // No wait: a pass that sees a restart takes its T beyond the clock margin itself (reconcile.ts).
    const lost = first.slice(-40);
    await restartForgetting(t, lost);
    await assert.rejects(rig.service.claim({ userId: 'fenced', templateId: t.id, requestId: 'x' }),
      (e) => e instanceof ApiError && e.code === 'unavailable', 'claims are fenced until the repair');

    const pass = await reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));
    assert.equal(pass.restarted, true);
    const finding = pass.counts.find((f) => f.templateId === t.id);
    assert.deepEqual([finding?.missingInRedis, finding?.shaved, finding?.problem], [40, 40, undefined]);
    await assertLeft(t, first);
    const replays = await replayAll(rig, t, side.id, lost);

    const second = await rain(rig, t, side.id, unevenUsers(t, 'rb', 400));
    assert.equal(second.length, 400);
    await loseKeys(t);
    const report = await rebuildTemplate(rebuildDeps(s.cfg, s.redis, s.mysql, { drainTimeoutMs: 20_000, progress: () => undefined }), t.id);
    assert.deepEqual([report.outcome, report.remaining, report.message], ['rebuilt', 400, undefined]);
    await assertLeft(t, [...first, ...second]);

    const third = await rain(rig, t, side.id, unevenUsers(t, 'rc', 700));
    assert.equal(third.length, 400, 'exactly what was left');
    const all = [...first, ...second, ...third];
    assertExact(t, all);
    await sink.stop();
    stopped = true;
    const verdict = await judgeAfterSink(s, rig.ks, [t], { told: [...all, ...replays], uncertain: 0 });
    assert.deepEqual(verdict.violations, []);
  } finally {
    if (!stopped) await sink.stop();
  }
}

test('one Redis: a restart that forgot stored packets, its repair, then a rebuild: the packets still sum to the budget exactly', async () => {
  await open({});
  await restartAndRebuild();
});

test('Redis Cluster: the same, with sub-stocks and budgets on several masters', async () => {
  const nodes = loadConfigWith({}).test.clusterNodes;
  assert.ok(nodes.length >= 3, 'TEST_REDIS_CLUSTER_NODES is not set: run through `make test`, which starts the cluster');
  await open({ REDIS_CLUSTER_NODES: nodes.join(',') });
  await restartAndRebuild();
});
