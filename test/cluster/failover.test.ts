/**
 * A Redis master killed (kill -9) under claims, REDIS_WAIT_REPLICAS=1, with a sink process
 * running its reconciler: the replica is promoted (cluster failover, nobody involved) and stays
 * fenced until the reconciler repaired it from MySQL; claims to its slots answer 503 for a few
 * seconds, then resume. Just before the kill the replica's link is cut and the sink paused (a
 * network blip, a busy box), so the master dies with acknowledged writes nobody else has: with
 * the wait none of them was answered "issued"; without it they are lost answers and stock sold
 * twice. Afterwards every coupon answered is in Redis and MySQL, and issued + remaining = total.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { couponIdPrefix } from '../../core/shards.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { Commands } from '../../lua/commands.ts';
import * as keys from '../../lua/keys.ts';
import { openStorage, type Storage, testConfig, testEnv, drained } from '../../tools/harness/storage.ts';
import { createTemplate, http } from '../support/http.ts';
import { type GatewayProc, type Proc, spawnEntry, spawnGateway } from '../support/processes.ts';
import { couponRows, waitFor } from '../support/sink-fixtures.ts';
import { clusterNodes, redisCli } from '../support/topology.ts';
import { healthy, masterPortOf, restoreTopology, servingKey, signalNode } from '../support/topology-faults.ts';
import { topologyEnv } from '../support/topology.ts';

const T = 'fo-t';
const SUB = 8;
const TOTAL = 100_000;
const env = testEnv({
  ...topologyEnv(), REDIS_WAIT_REPLICAS: '1', SINK_BATCH_MAX_WAIT_MS: '20',
  // records the sink read but could not acknowledge on the dead master are read again within seconds.
  SINK_RECLAIM_IDLE_MS: '3000', SINK_RECLAIM_EVERY_MS: '500',
  // the reconciler notices the new master within a second and passes quickly (drill/main.ts does the same).
  RECONCILE_RESTART_CHECK_MS: '300', RECONCILE_EVERY_MS: '1000', RECONCILE_PENDING_AGE_MS: '2000',
});
let s: Storage;
let gw: GatewayProc;
let sink: Proc;

before(async () => {
  assert.ok(await healthy(), 'the topology is healthy before the test');
  s = await openStorage(testConfig(env));
  gw = await spawnGateway(env);
  sink = spawnEntry('sink/main.ts', env);
  await createTemplate(gw.url, { id: T, name: T, type: 'direct', value: 100, totalStock: TOTAL, perUserLimit: 1, subStocks: SUB });
  // The sink is up and storing before anything fails (a sink that cannot start exits).
  assert.equal((await http('POST', `${gw.url}/v1/claim`, { userId: 'first', templateId: T, requestId: 'r-first' })).status, 200);
  await waitFor(async () => (await couponRows(s)).length === 1, 20_000, 'the sink to store the first coupon');
});
after(async () => {
  await gw?.stop();
  await sink?.stop();
  // a failed test may have left a node down: the next file needs the whole topology.
  if (!(await healthy())) await restoreTopology();
  await s?.close();
});

const ks = () => ({ prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions });
const usersKeyOf = (u: string) => keys.usersKey(ks(), keys.subStockPartition(ks(), T, keys.homeSubStock(T, u, SUB)), T);

/** A claim of a user homed on the master at `port`, straight through the fence (not the gateway): its reply or error code. */
async function fenceProbe(port: number): Promise<unknown> {
  let u = '';
  for (let i = 0; (await masterPortOf(usersKeyOf(u = `fence${i}`))) !== port; i++);
  const home = keys.homeSubStock(T, u, SUB);
  try {
    return await new Commands(s.redis, ks()).claimHome({ templateId: T, userId: u, requestId: 'fence', remember: '1', perUserLimit: 1,
      home, homePartition: keys.subStockPartition(ks(), T, home), shardPrefix: couponIdPrefix({ dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables }, u) });
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

/** Claims by `workers` clients for fresh users until stopped, each retried with its request id until answered. */
function claimers(workers: number) {
  const issued = new Map<string, string>();
  const refusals: string[] = [];
  const unavailable = new Map<string, number>();
  let next = 0;
  let stop = false;
  let giveUpAt = Infinity;
  const one = async (u: string) => {
    for (;;) {
      if (Date.now() > giveUpAt) return refusals.push(`${u}: no answer but 503 until the end`);
      const r = await http('POST', `${gw.url}/v1/claim`, { userId: u, templateId: T, requestId: `r-${u}` });
      if (r.status === 200) return issued.set(u, r.json.couponId);
      if (r.status !== 503) return refusals.push(`${u}: ${r.status} ${r.raw.toString()}`);
      unavailable.set(r.json.error, (unavailable.get(r.json.error) ?? 0) + 1);
      await sleep(50);
    }
  };
  const done = Promise.all(Array.from({ length: workers }, async () => {
    while (!stop) {
      await one(`u${next++}`);
      await sleep(10);
    }
  }));
  return { issued, refusals, unavailable, stop: () => { stop = true; giveUpAt = Date.now() + 5000; return done; } };
}

test('kill -9 a master under claims: its replica is promoted and repaired, claims resume, no answer lost, nothing sold twice', async () => {
  const victim = await servingKey(usersKeyOf('u0'));
  const load = claimers(8);
  let resumedMs = 0;
  try {
    await sleep(1000);
    // The replica and the sink fall behind, then the master dies with writes only it has. On
    // loopback a paused replica still gets every write in its socket buffer: the master also
    // drops the link, so what it writes next exists nowhere else.
    signalNode(victim.replica.port, 'SIGSTOP');
    sink.child.kill('SIGSTOP');
    try {
      await redisCli(victim.master.port, 'client', 'kill', 'type', 'replica');
      await sleep(600);
      signalNode(victim.master.port, 'SIGKILL');
    } finally {
      signalNode(victim.replica.port, 'SIGCONT');
      sink.child.kill('SIGCONT');
    }
    const killedAt = Date.now();
    await waitFor(async () => (await clusterNodes(victim.replica.port)).some((n) => n.port === victim.replica.port && n.role === 'master'),
      20_000, 'the replica promoted');
    const promotedMs = Date.now() - killedAt;
    // The promoted replica has none of the fenced scripts (SCRIPT LOAD is not replicated), and
    // they are loaded only once its own run is recorded as repaired: a claim on it before the
    // repair does not run (a script that ran would fail its WAIT instead: no replica yet).
    const runId = /run_id:(\w+)/.exec(await redisCli(victim.replica.port, 'info', 'server'))![1]!;
    let early = await fenceProbe(victim.replica.port);
    // until this client sees the new master (its slot table is read again), the probe reaches no node.
    for (let i = 0; i < 20 && typeof early === 'string' && early !== 'replication_timeout'; i++) {
      await sleep(100);
      early = await fenceProbe(victim.replica.port);
    }
    if (!((await s.redis.get(keys.reconcileRunKey(ks()))) ?? '').split(',').includes(runId)) {
      assert.deepEqual(early, [ScriptCode.Fenced], 'a claim ran on the promoted replica before its repair');
    }
    // The old master comes back as the new one's replica (with the wait, the new master needs one).
    await restoreTopology();
    const restoredMs = Date.now() - killedAt;
    // Claims on the promoted master's slots resume once the reconciler repaired it.
    const probe = await (async () => {
      for (let i = 0; ; i++) if ((await servingKey(usersKeyOf(`p${i}`))).master.port === victim.replica.port) return `p${i}`;
    })();
    let last = '';
    await waitFor(async () => {
      const r = await http('POST', `${gw.url}/v1/claim`, { userId: probe, templateId: T, requestId: 'probe' });
      last = r.raw.toString();
      return r.status !== 503;
    }, 20_000, 'claims on the promoted master').catch((err: unknown) => {
      const lines = (log: string) => log.split('\n').filter((l) => !/redis call failed|progress|XREADGROUP|ack|trim|XAUTOCLAIM/.test(l)).join('\n');
      process.stdout.write(`# last answer: ${last}\n# gateway:\n${lines(gw.log())}\n# sink:\n${lines(sink.log())}\n`);
      throw err;
    });
    resumedMs = Date.now() - killedAt;
    process.stdout.write(`# promoted after ${promotedMs} ms, topology restored after ${restoredMs} ms\n`);
    await sleep(500);
  } finally {
    await load.stop();
  }
  assert.deepEqual(load.refusals, [], 'every claim was issued or retried');
  assert.ok(load.issued.size > 50, `claims went on: ${load.issued.size}`);
  assert.ok([...load.unavailable.values()].reduce((a, b) => a + b, 0) > 0, 'claims on the dead master answered 503 meanwhile');
  process.stdout.write(`# failover: ${load.issued.size} issued, 503s by code ${JSON.stringify(Object.fromEntries(load.unavailable))}, `
    + `claims resumed ${resumedMs} ms after the kill\n`);

  // Every coupon answered is known to Redis (its replay) and stored once in MySQL.
  await waitFor(() => drained(s), 20_000, 'the sink to store every record');
  const rows = (await couponRows(s)).filter((r) => r.template_id === T);
  const rowOf = new Map(rows.map((r) => [r.coupon_id, r]));
  const lost: string[] = [];
  for (const [u, couponId] of load.issued) {
    if ((await s.redis.hget(usersKeyOf(u), `${u}|r-${u}`)) !== couponId || rowOf.get(couponId)?.user_id !== u) lost.push(u);
  }
  assert.deepEqual(lost, [], `${lost.length} answers issued that Redis or MySQL lost`);
  const perUser = new Map<string, number>();
  for (const r of rows) perUser.set(r.user_id, (perUser.get(r.user_id) ?? 0) + 1);
  assert.deepEqual([...perUser].filter(([, n]) => n > 1), [], 'one coupon per user');
  // After a reconciler pass on the drained streams, the stock adds up: nothing sold twice.
  await waitFor(async () => {
    let remaining = 0;
    for (let k = 0; k < SUB; k++) remaining += Number(await s.redis.get(keys.stockKey(ks(), T, k)));
    const stored = (await couponRows(s)).filter((r) => r.template_id === T).length;
    return stored <= TOTAL && remaining + stored === TOTAL;
  }, 10_000, 'issued + remaining = total');
});
