/**
 * The faults of the scaled-out drill (make drill TOPOLOGY=cluster), each injected while the load
 * runs and repaired: a Redis master killed (its replica promoted), a sink killed, the MariaDB
 * server of shard 1 stopped, slots moved to a new master. Roles are read from the cluster at the
 * fault, never assumed: an earlier drill's failover swapped a master and its replica.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppProcess } from './apps.ts';
import { busiestMaster, clusterNodes, evalshaCalls, onNode, ownerOf, subStockSlots } from './cluster-nodes.ts';
import { moveSlots } from './cluster-reshard.ts';
import type { ClusterServices } from './cluster-services.ts';
import type { Probe } from './collect.ts';
import { type FaultResult, sinkKill } from './faults.ts';
import type { Attempt } from './facts.ts';
import type { ClusterDrillName } from './options.ts';
import { templatesOf } from './phase.ts';
import type { KeySpace } from '../lua/keys.ts';

export interface ClusterFaultCtx {
  readonly cluster: ClusterServices;
  readonly ks: KeySpace;
  readonly probe: Probe;
  readonly sinks: readonly AppProcess[];
  readonly sinkConsumers: readonly string[];
  /** The gateways' BACKLOG_MAX, for the note of mysql-server-stop. */
  readonly backlogMax: number;
  /** Filled by a failover: the killed master's sub-stocks ('<template>|<k>'), so the run can time the outage of their claims. */
  readonly killed: { subStocks?: ReadonlySet<string>; at?: number };
}

// node-timeout is 5 s: the replica is promoted within about that plus an election.
const PROMOTE_LIMIT_MS = 30_000;
// the reconciler (every second in the drill) repairs the promoted run, then opens the fence.
const REPAIR_LIMIT_MS = 30_000;
// Replication is asynchronous: the last writes the killed master acknowledged may not have
// reached its replica. An answer this close before the kill (or arriving just after it) may be
// missing from what the promoted replica holds; without REDIS_WAIT_REPLICAS that is allowed,
// counted and reported (lost after ack), never hidden.
const REPLICATION_WINDOW_BEFORE_MS = 3_000;
// On loopback a replica receives every write within a millisecond and the sinks read the streams
// within a batch wait, so a plain kill loses nothing and shows nothing. The drill makes the
// worst case happen: a replica lagging (a slow network, a busy replica) and the sinks behind
// (a burst): it pauses the replica and the sinks, cuts the replica's link on the master (the
// writes the master acknowledges from then on reach no replica: none sits in a socket buffer),
// waits this long with claims running, then kills the master and resumes the others; the
// replica is promoted without those writes, and no sink read them.
const REPLICA_LAG_MS = 1_000;
const REPLICATION_WINDOW_AFTER_MS = 1_000;
const MYSQL_DOWN_MS = 6_000;
const BACKLOG_SAMPLE_MS = 250;
// a shard db 0 coupon answered while the other server is down is stored within this long
// (the drill's sinks wait up to 200 ms to fill a batch).
const SHARD0_LAG_MS = 1_500;
// after the move, claims must reach the new master within this long (the fence opens first).
const TRAFFIC_LIMIT_MS = 30_000;

const ports = (c: ClusterFaultCtx) => [...c.cluster.o.redisPorts, c.cluster.o.sparePort];

/** Polls `check` every 100 ms until true; throws after `limitMs`. */
async function until(what: string, limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      if (await check()) return Date.now();
    } catch {
      // a node coming back: look again.
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitMs / 1000} s`);
    await sleep(100);
  }
}

const runIdOf = async (port: number) => /run_id:(\w+)/.exec(await onNode(port, (r) => r.info('server')))?.[1] ?? '?';

/** The drill's templates, the hot one first: the master holding most of their sub-stocks is the one hit. */
function drillTemplates(drill: string) {
  const { steady, hot } = templatesOf(drill);
  return [hot, ...steady];
}

/**
 * Kills -9 the master holding most of the drill's sub-stocks, its replica and the sinks behind
 * by REPLICA_LAG_MS of writes; the cluster promotes the replica;
 * the killed node is started again and rejoins as a replica; claims to its slots resume once
 * the reconciler has repaired the promoted run (until then the fence answers them 503).
 * `waitReplicas`: the gateways run with REDIS_WAIT_REPLICAS=1, so nothing acknowledged may be lost.
 */
async function masterFailover(c: ClusterFaultCtx, drill: string, waitReplicas: boolean): Promise<FaultResult> {
  const templates = drillTemplates(drill);
  const nodes = await clusterNodes(ports(c));
  const subs = await subStockSlots(ports(c), c.ks, templates);
  const victim = busiestMaster(nodes, subs, templates[0]!.id);
  const replica = nodes.find((n) => !n.master && n.masterId === victim.id && !n.failing);
  if (!replica) throw new Error(`${drill}: master ${victim.port} has no replica to promote`);
  const held = subs.filter((s) => ownerOf(nodes, s.slot)?.id === victim.id).length;
  const injectedAt = Date.now();
  await c.cluster.nodeSignal(replica.port, 'STOP');
  for (const s of c.sinks) s.freeze('SIGSTOP');
  try {
    await onNode(victim.port, (r) => r.call('CLIENT', 'KILL', 'TYPE', 'replica'));
    await sleep(REPLICA_LAG_MS);
    await c.cluster.nodeKill(victim.port);
  } finally {
    for (const s of c.sinks) s.freeze('SIGCONT');
    await c.cluster.nodeSignal(replica.port, 'CONT');
  }
  const killedAt = Date.now();
  const promotedAt = await until(`${drill}: replica ${replica.port} promoted`, PROMOTE_LIMIT_MS, async () => {
    const me = (await clusterNodes([replica.port])).find((n) => n.id === replica.id);
    return me !== undefined && me.master && me.slots.length > 0;
  });
  c.killed.subStocks = new Set(subs.filter((s) => ownerOf(nodes, s.slot)?.id === victim.id).map((s) => `${s.templateId}|${s.k}`));
  c.killed.at = killedAt;
  const promotedRun = await runIdOf(replica.port);
  // The old master rejoins as the new one's replica (with WAIT, claims there need it) while the
  // reconciler repairs the promoted run.
  const [rejoinedAt, repairedAt] = await Promise.all([
    c.cluster.nodesUp().then(() => Date.now()),
    until(`${drill}: the reconciler repaired the promoted run ${promotedRun}`, REPAIR_LIMIT_MS,
      async () => ((await c.probe.repairedRuns()) ?? '').split(',').includes(promotedRun)),
  ]);
  const s = (t: number) => ((t - killedAt) / 1000).toFixed(1);
  const lossWindows = waitReplicas ? [] : [{ from: injectedAt - REPLICATION_WINDOW_BEFORE_MS, to: killedAt + REPLICATION_WINDOW_AFTER_MS }];
  return { injectedAt, repairedAt: Math.max(rejoinedAt, repairedAt), lossWindows, stockRepair: true,
    note: `replica ${replica.port} and the sinks paused, the replica's link cut, ${REPLICA_LAG_MS} ms later master ${victim.port} (${held} of the drill's `
      + `${subs.length} sub-stocks) killed -9${waitReplicas ? ' with REDIS_WAIT_REPLICAS=1' : ''}; `
      + `replica ${replica.port} promoted after ${s(promotedAt)} s, the killed node rejoined as a replica after ${s(rejoinedAt)} s, `
      + `the reconciler repaired the promoted run (fence open) after ${s(repairedAt)} s` };
}

/**
 * Stops the MariaDB server of shard db 1 for MYSQL_DOWN_MS. Shard db 0 must keep being written
 * meanwhile: every shard db 0 coupon answered "issued" while the server was down, up to
 * SHARD0_LAG_MS before its return, must be stored before it returns (a failure otherwise); the
 * backlog grows; the stopped server's records land when it returns (the drain).
 */
async function mysqlServerStop(c: ClusterFaultCtx, drill: string, attempts: () => readonly Attempt[]): Promise<FaultResult> {
  const ids = drillTemplates(drill).map((t) => t.id);
  const injectedAt = Date.now();
  await c.cluster.mysql2Down();
  const stoppedAt = Date.now();
  let peak = 0;
  while (Date.now() - stoppedAt < MYSQL_DOWN_MS) {
    peak = Math.max(peak, await c.probe.backlog());
    await sleep(BACKLOG_SAMPLE_MS);
  }
  const stored = await c.probe.couponsInDb(0, ids);
  const upTo = Date.now() - SHARD0_LAG_MS;
  const told = attempts().flatMap((a) => (a.outcome.kind === 'issued' && a.sentAt >= stoppedAt && a.endedAt <= upTo
    && c.probe.dbOfCoupon(a.outcome.couponId) === 0 ? [a.outcome.couponId] : []));
  const missing = told.filter((id) => !stored.has(id)).length;
  await c.cluster.mysql2Up();
  const failures = missing === 0 && told.length > 0 ? [] : [`${drill}: ${missing} of the ${told.length} shard db 0 coupon(s) answered `
    + `while shard db 1's server was down were not stored ${SHARD0_LAG_MS} ms later: the sinks held back the other server's shards`];
  return { injectedAt, repairedAt: Date.now(), lossWindows: [], failures,
    note: `the second MariaDB (${c.cluster.o.mysql2Port}, shard db 1) stopped (SIGTERM by pid) for ${MYSQL_DOWN_MS / 1000} s: `
      + `${told.length - missing} of the ${told.length} shard db 0 coupons answered meanwhile (up to ${SHARD0_LAG_MS} ms before its return) `
      + `stored before it returned; backlog peaked at ${peak} (BACKLOG_MAX ${c.backlogMax})` };
}

/**
 * Adds a fourth master (redis-cli --cluster add-node) and moves to it, while claims run, the
 * slots of the drill's sub-stocks held by the master holding most of them; then waits for claims
 * to run there (its EVALSHA calls that succeed grow: the reconciler repaired its new run first).
 */
async function liveReshard(c: ClusterFaultCtx, drill: string): Promise<FaultResult> {
  const templates = drillTemplates(drill);
  await c.cluster.spareAdd();
  const nodes = await clusterNodes(ports(c));
  const spare = nodes.find((n) => n.port === c.cluster.o.sparePort);
  if (!spare?.master) throw new Error(`${drill}: node ${c.cluster.o.sparePort} did not join as a master`);
  const subs = await subStockSlots(ports(c), c.ks, templates);
  const source = busiestMaster(nodes, subs, templates[0]!.id);
  const slots = [...new Set(subs.filter((s) => ownerOf(nodes, s.slot)?.id === source.id).map((s) => s.slot))].sort((a, b) => a - b);
  const ok = async () => { const e = await evalshaCalls(spare.port); return e.calls - e.failed; };
  const injectedAt = Date.now();
  const moved = await moveSlots(source, spare, nodes.filter((n) => n.master), slots);
  const movedAt = Date.now();
  const servedAt = await until(`${drill}: claims on the new master ${spare.port}`, TRAFFIC_LIMIT_MS, async () => (await ok()) > 0);
  // a second's worth of the load on the new master, for the note.
  const at = await ok();
  await sleep(1_000);
  const after = await ok();
  const { failed } = await evalshaCalls(spare.port);
  return { injectedAt, repairedAt: servedAt, lossWindows: [],
    note: `node ${spare.port} added (redis-cli --cluster add-node); slots ${slots.join(', ')} (${moved.keys} keys) moved from master `
      + `${source.port} to it in ${(moved.ms / 1000).toFixed(1)} s while claims ran (a key at a time: ASK/TRYAGAIN); `
      + `its first claim ran ${((servedAt - movedAt) / 1000).toFixed(1)} s after the move; ${after - at} EVALSHA calls on it in the next second `
      + `(${failed} failed there in all: NOSCRIPT before the fence opened, TRYAGAIN)` };
}

/** The fault step of each cluster drill. */
export const CLUSTER_FAULTS: Readonly<Record<ClusterDrillName,
  (c: ClusterFaultCtx, drill: string, attempts: () => readonly Attempt[]) => Promise<FaultResult>>> = {
  'master-failover': (c, d) => masterFailover(c, d, false),
  'master-failover-wait': (c, d) => masterFailover(c, d, true),
  'sink-kill': (c) => sinkKill(c),
  'mysql-server-stop': mysqlServerStop,
  'live-reshard': liveReshard,
};
