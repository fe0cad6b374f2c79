/**
 * The scaled-out topology under claims (issue 15): a real gateway and two sinks in one consumer
 * group on the Redis Cluster (3 masters) and the two MariaDB servers. A hot template's sub-stocks
 * sit on every master and its coupons are taken from each; rows land on both servers, each in
 * the database and table the user's shard routing names; after the drain MySQL holds exactly
 * the coupons the clients were told about, and both sinks wrote some. Then a sink is killed -9
 * with records in hand: the survivor takes them over (XAUTOCLAIM) and nothing is lost or
 * written twice. The load test's report of the split over masters and servers is checked too.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type KeySpace, streamKey, subStockPartition } from '../../lua/keys.ts';
import { shardOfUser } from '../../core/shards.ts';
import { judgeTemplate } from '../../tools/verify/facts.ts';
import { storageSpread } from '../../loadtest/storage-spread.ts';
import { drained, openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';
import { createTemplate } from '../support/http.ts';
import { parseSamples, spawnMetricsSink, sum } from '../support/prometheus.ts';
import { type GatewayProc, type Proc, spawnGateway } from '../support/processes.ts';
import { pendingTotal, waitFor } from '../support/sink-fixtures.ts';
import { testTopology, topologyEnv } from '../support/topology.ts';
import { claimRain, idWithSplit, keysOn, partitionMasters, rowsByServer } from '../support/topology-load.ts';

// A consumer silent for a second is presumed dead: the kill test's survivor takes over quickly.
const env = testEnv({ ...topologyEnv(), SINK_RECLAIM_IDLE_MS: '1000', SINK_RECLAIM_EVERY_MS: '200' });
const SUB_STOCKS = 6;

let s: Storage;
let ks: KeySpace;
let gw: GatewayProc;
const sinks = new Map<string, { sink: Proc; url: string }>();

/** A sink process of the group, named `name`, with `extra` settings. */
async function startSink(name: string, extra: Record<string, string> = {}): Promise<void> {
  sinks.set(name, await spawnMetricsSink({ ...env, SINK_CONSUMER: name, ...extra }));
}

/** A counter of a sink's /metrics. */
async function sinkCounter(name: string, metric: string): Promise<number> {
  const res = await fetch(`${sinks.get(name)!.url}/metrics`);
  return sum(parseSamples(await res.text()), metric);
}

/** Entries each consumer of the group holds unacknowledged, over every partition. */
async function pendingByConsumer(): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (let p = 0; p < ks.partitions; p++) {
    const [, , , consumers] = await s.redis.xpending(streamKey(ks, p), s.cfg.redis.streamGroup) as
      [number, string | null, string | null, [string, string][] | null];
    for (const [name, n] of consumers ?? []) m.set(name, (m.get(name) ?? 0) + Number(n));
  }
  return m;
}

before(async () => {
  s = await openStorage(testConfig(env));
  ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  await startSink('sink-a');
  await startSink('sink-b');
  gw = await spawnGateway(env);
});

after(async () => {
  await gw?.stop();
  for (const { sink } of sinks.values()) await sink.stop();
  await s?.close();
});

/** Users `${tag}0` .. `${tag}${n - 1}`. */
const users = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag}${i}`);

test('a hot template split 3/2/1 over 3 masters, 2 servers: coupons from every master, rows where routing says, exactly once, both sinks', async () => {
  const topo = testTopology()!;
  const seed = Number(topo.nodes[0]!.split(':')[1]);
  const masterOf = await partitionMasters(ks, seed);
  const masters = [...new Set(masterOf)].sort();
  assert.equal(masters.length, 3, 'the partitions are spread over 3 masters');
  // an uneven split, as hot templates often get: 3 sub-stocks on one master, 2 and 1 on the others.
  const id = idWithSplit(ks, masterOf, 'hot-', [3, 2, 1]);
  const t = await createTemplate(gw.url, { id, name: 'hot', type: 'direct', value: 100, totalStock: 2400, perUserLimit: 1, subStocks: SUB_STOCKS });
  assert.equal(t.subStocks, SUB_STOCKS);

  const rain = await claimRain(gw.url, id, users('u', 3000), 32);
  assert.equal(rain.uncertain, 0, `answers: ${JSON.stringify([...rain.statuses])}`);
  assert.equal(rain.told.size, 2400, 'the whole stock was told issued');

  // Redis: each master holds the sub-stock keys its slots name, and coupons were taken from each.
  for (const port of masters) {
    const keys = await keysOn(port, `${ks.prefix}:*:stock:${id}:*`);
    const expected = Array.from({ length: SUB_STOCKS }, (_, k) => k)
      .filter((k) => masterOf[subStockPartition(ks, id, k)] === port).map((k) => `:stock:${id}:${k}`).sort();
    assert.deepEqual(keys.map((k) => k.slice(k.indexOf(':stock:'))).sort(), expected, `stock keys on master ${port}`);
  }
  const issuedOn = new Map<number, number>();
  for (const couponId of rain.told.keys()) {
    const port = masterOf[Number(couponId.split('.')[2])]!;
    issuedOn.set(port, (issuedOn.get(port) ?? 0) + 1);
  }
  // sold out: each sub-stock gave all its 400 coupons, so a master issued 400 per sub-stock on it.
  const onMaster = (p: number) => Array.from({ length: SUB_STOCKS }, (_, k) => k).filter((k) => masterOf[subStockPartition(ks, id, k)] === p).length;
  for (const port of masters) assert.equal(issuedOn.get(port) ?? 0, 400 * onMaster(port), `coupons taken from master ${port}: ${JSON.stringify([...issuedOn])}`);
  console.log(`claims per master: ${masters.map((p) => `${p} ${issuedOn.get(p) ?? 0}`).join(', ')}`);

  await waitFor(() => drained(s), 30_000, 'the sinks to drain');
  const layout = { dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables };
  const rows = await rowsByServer(topo.mysqlUrls, s.cfg.mysql.dbPrefix, layout, id);
  for (const r of rows) {
    const home = shardOfUser(layout, r.userId);
    assert.deepEqual({ server: r.server, db: r.db, table: r.table },
      { server: home.db % topo.mysqlUrls.length, db: home.db, table: home.table }, `row of ${r.userId} (${r.couponId})`);
    assert.ok(r.couponId.startsWith(`${r.db}.${r.table}.`), `coupon id ${r.couponId} names its shard`);
  }
  const perServer = topo.mysqlUrls.map((_, i) => rows.filter((r) => r.server === i).length);
  assert.ok(perServer.every((n) => n > 0), `rows on every server: ${perServer.join(', ')}`);
  console.log(`rows per server: ${perServer.join(', ')}`);

  const ids = rows.map((r) => r.couponId).sort();
  assert.equal(new Set(ids).size, ids.length, 'no coupon written twice');
  assert.deepEqual(ids, [...rain.told.keys()].sort(), 'MySQL holds exactly the coupons told issued');
  assert.ok(rows.every((r) => rain.told.get(r.couponId) === r.userId), 'each row is its told user\'s');
  assert.deepEqual((await judgeTemplate(s, id)).violations, []);
  // the load test's report (loadtest/storage-spread.ts) tells the same split.
  const spread = await storageSpread({ cfg: s.cfg, redis: s.redis, mysql: s.mysql, ks, layout, close: async () => {} }, [t],
    rows.map((r) => ({ couponId: r.couponId, userId: r.userId, templateId: id, requestId: '', db: r.db, table: r.table })));
  assert.deepEqual(spread?.masters?.map((m) => [m.master, m.subStocks, m.issued]),
    masters.map((p) => [`127.0.0.1:${p}`, onMaster(p), issuedOn.get(p)]));
  assert.deepEqual(spread?.servers?.map((v) => v.rows), perServer);
  const written = await Promise.all(['sink-a', 'sink-b'].map((n) => sinkCounter(n, 'coupon_sink_rows_written_total')));
  console.log(`rows written by sink-a, sink-b: ${written.join(', ')}`);
  assert.ok(written.every((n) => n > 0), `both sinks wrote rows: ${written.join(', ')}`);
});

test('a sink killed -9 with records in hand mid-load: the survivor takes them over, nothing lost or written twice', async () => {
  // The victim holds every record it reads (a minute's batch): the worst moment to die.
  await sinks.get('sink-a')!.sink.stop();
  await startSink('victim', { SINK_BATCH_MAX_WAIT_MS: '60000', SINK_BATCH_MAX_ROWS: '10000' });
  const reclaimedBefore = await sinkCounter('sink-b', 'coupon_sink_reclaimed_total');
  const t = await createTemplate(gw.url, { name: 'kill', type: 'direct', value: 100, totalStock: 1500, perUserLimit: 1, subStocks: SUB_STOCKS });
  const all = users('k', 2000);
  // the first half of the rain, the kill while the victim holds records, the second half.
  let rain = await claimRain(gw.url, t.id, all.slice(0, 1000), 32);
  await waitFor(async () => ((await pendingByConsumer()).get('victim') ?? 0) > 0, 10_000, 'the victim to hold records');
  const held = (await pendingByConsumer()).get('victim')!;
  const victim = sinks.get('victim')!.sink;
  victim.child.kill('SIGKILL');
  assert.equal(await victim.stop(), null, 'the victim died by the signal');
  const killedAt = Date.now();
  rain = await claimRain(gw.url, t.id, all.slice(1000), 32, rain);
  assert.equal(rain.uncertain, 0, `answers: ${JSON.stringify([...rain.statuses])}`);
  assert.equal(rain.told.size, 1500, 'the whole stock was told issued');

  await waitFor(async () => await drained(s) && await pendingTotal(s) === 0, 30_000, 'the survivor to drain everything');
  const tookMs = Date.now() - killedAt;
  const reclaimed = (await sinkCounter('sink-b', 'coupon_sink_reclaimed_total')) - reclaimedBefore;
  console.log(`victim held ${held} entries at the kill; sink-b reclaimed ${reclaimed}; drained ${tookMs} ms after the kill`);
  assert.ok(reclaimed >= held, `sink-b reclaimed ${reclaimed} entries, the victim held ${held}`);
  assert.deepEqual([...await pendingByConsumer()].filter(([, n]) => n > 0), [], 'nothing left pending');

  const topo = testTopology()!;
  const rows = await rowsByServer(topo.mysqlUrls, s.cfg.mysql.dbPrefix, { dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables }, t.id);
  const ids = rows.map((r) => r.couponId).sort();
  assert.equal(new Set(ids).size, ids.length, 'no coupon written twice');
  assert.deepEqual(ids, [...rain.told.keys()].sort(), 'MySQL holds exactly the coupons told issued');
  assert.deepEqual((await judgeTemplate(s, t.id)).violations, []);
});
