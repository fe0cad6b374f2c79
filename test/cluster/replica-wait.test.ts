/**
 * REDIS_WAIT_REPLICAS=1 on the test topology, with one master's replica paused (SIGSTOP): the
 * claims homed on that master ran their script but no replica has it, so none is told "issued"
 * (503 replication_timeout, Retry-After); claims homed elsewhere are issued as usual. A retry of
 * an answer another connection stored must not be vouched for by this connection's WAIT either.
 * Once the replica resumes, the same request ids replay their coupons, the limit holds, and
 * MySQL's rows are exactly the coupons answered.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { couponIdPrefix } from '../../core/shards.ts';
import { Commands } from '../../lua/commands.ts';
import * as keys from '../../lua/keys.ts';
import { drained, testEnv } from '../../tools/harness/storage.ts';
import { createTemplate, http } from '../support/http.ts';
import { couponRows, waitFor } from '../support/sink-fixtures.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { healthy, servingKey, signalNode } from '../support/topology-faults.ts';
import { topologyEnv } from '../support/topology.ts';

const T = 'wait-t';
const SUB = 8;
const TOTAL = 400;
// No stats flush during the test: its writes on the gateway's connection would make any WAIT on
// it fail while the replica is paused, and hide whether a replay's own WAIT covers its answer.
const env = testEnv({ ...topologyEnv(), REDIS_WAIT_REPLICAS: '1', SINK_BATCH_MAX_WAIT_MS: '20',
  STATS_FLUSH_MS: '60000' });
let stack: Stack;

before(async () => {
  assert.ok(await healthy(), 'the topology is healthy before the test');
  stack = await openStack(env);
  await createTemplate(stack.gw.url, { id: T, name: T, type: 'direct', value: 100, totalStock: TOTAL, perUserLimit: 1, subStocks: SUB });
});
after(async () => {
  await stack?.close();
  assert.ok(await healthy(), 'the topology is left healthy');
});

const ks = () => ({ prefix: stack.s.cfg.redis.keyPrefix, partitions: stack.s.cfg.redis.partitions });
const claim = (userId: string, requestId: string) => http('POST', `${stack.gw.url}/v1/claim`, { userId, templateId: T, requestId });
const homeOf = (u: string) => {
  const home = keys.homeSubStock(T, u, SUB);
  const homePartition = keys.subStockPartition(ks(), T, home);
  return { home, homePartition, users: keys.usersKey(ks(), homePartition, T) };
};

test('a paused replica: its master\'s claims answer 503 replication_timeout, not issued; after it resumes they replay, nothing over-issued', async () => {
  // Users by the master their home sub-stock is on; the victim is the master of user u0's home.
  const users = Array.from({ length: 120 }, (_, i) => `u${i}`);
  const by = new Map<number, string[]>();
  let victim: Awaited<ReturnType<typeof servingKey>> | undefined;
  for (const u of users) {
    const at = await servingKey(homeOf(u).users);
    victim ??= at;
    by.set(at.master.port, [...(by.get(at.master.port) ?? []), u]);
  }
  const onVictim = by.get(victim!.master.port)!;
  const elsewhere = users.filter((u) => !onVictim.includes(u)).slice(0, 12);
  const [warm, direct, ...paused] = onVictim.slice(0, 14);
  assert.ok(paused.length >= 8 && elsewhere.length >= 8, 'users on the victim master and elsewhere');

  // The gateway's connection to the victim has written (and its replica acknowledged) before the pause.
  assert.equal((await claim(warm!, 'r')).status, 200);

  signalNode(victim!.replica.port, 'SIGSTOP');
  try {
    // Another connection (this test's client, waiting too) issues for `direct`: the script ran, its WAIT fails.
    const h = homeOf(direct!);
    const commands = new Commands(stack.s.redis, ks());
    await assert.rejects(commands.claimHome({ templateId: T, userId: direct!, requestId: 'r', remember: '1', perUserLimit: 1,
      home: h.home, homePartition: h.homePartition, shardPrefix: couponIdPrefix({ dbs: stack.s.cfg.mysql.shardDbs, tables: stack.s.cfg.mysql.shardTables }, direct!) }),
    (err: Error & { code?: string }) => err.code === 'replication_timeout');
    // Its retry through the gateway replays a write no replica has: the gateway's WAIT must not vouch for it.
    const replay = await claim(direct!, 'r');
    assert.equal(replay.status, 503, `a replay of an unreplicated answer: ${replay.raw.toString()}`);
    assert.equal(replay.json.error, 'replication_timeout');

    const [onIt, off] = await Promise.all([
      Promise.all(paused.map((u) => claim(u, 'r'))),
      Promise.all(elsewhere.map((u) => claim(u, 'r'))),
    ]);
    for (const r of onIt) {
      assert.equal(r.status, 503, r.raw.toString());
      assert.equal(r.json.error, 'replication_timeout');
      assert.equal(r.headers['retry-after'], '1');
      assert.equal(r.json.couponId, undefined);
    }
    for (const r of off) assert.equal(r.status, 200, `a claim on another master: ${r.raw.toString()}`);
  } finally {
    signalNode(victim!.replica.port, 'SIGCONT');
  }
  await waitFor(healthy, 20_000, 'the replica back in sync');

  // The same request ids replay what their scripts decided, now on the replica too.
  const issued = new Map<string, string>();
  for (const u of [warm!, direct!, ...paused, ...elsewhere]) {
    const r = await claim(u, 'r');
    assert.equal(r.status, 200, `${u}: ${r.raw.toString()}`);
    issued.set(u, r.json.couponId);
    const again = await claim(u, 'r');
    assert.equal(again.json.couponId, r.json.couponId, 'the same answer again');
    if ([direct!, ...paused].includes(u)) assert.equal(r.json.replayed, true, `${u} replays the coupon its first script issued`);
  }
  for (const u of [direct!, ...paused]) assert.equal((await claim(u, 'another')).status, 409, 'the per-user limit holds');

  await waitFor(() => drained(stack.s), 20_000, 'the sink to store every record');
  const rows = (await couponRows(stack.s)).filter((r) => r.template_id === T);
  assert.equal(rows.length, issued.size, 'one row per coupon answered, none more');
  for (const r of rows) assert.equal(issued.get(r.user_id), r.coupon_id, `row of ${r.user_id}`);
  let remaining = 0;
  for (let k = 0; k < SUB; k++) remaining += Number(await stack.s.redis.get(keys.stockKey(ks(), T, k)));
  assert.equal(remaining + rows.length, TOTAL, 'stock + issued = total');
});
