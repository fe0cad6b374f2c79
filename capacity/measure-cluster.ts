/**
 * Calibration, Redis Cluster: the real claim-home script through the ioredis Cluster client (as
 * the gateway calls it with REDIS_CLUSTER_NODES) against clusters of 1, 2, 3 ... masters of this
 * tool's own (cluster-servers.ts), short runs repeated in rounds that visit every cluster in
 * turn, so a burst of other work on the shared box lands on every size alike. Per run: claims/s,
 * each master's claims (its EVALSHA calls, INFO commandstats: the clusters are private) and CPU
 * (/proc, per redis-server), the replicas' CPU, and this client's.
 */
import { type Config, loadConfigWith } from '../config/index.ts';
import { createRedis, masters, type RedisClient, waitReady } from '../lua/client.ts';
import { Commands } from '../lua/commands.ts';
import type { KeySpace } from '../lua/keys.ts';
import { onCleanup } from '../tools/harness/cleanup.ts';
import { cpuMeter } from '../tools/harness/cpu.ts';
import { commandMeter } from '../tools/harness/redis-stats.ts';
import { deleteKeys } from '../tools/harness/storage.ts';
import type { ClusterRedisRun, MasterShare } from './cluster-file.ts';
import { masterPorts, type RunningCluster } from './cluster-servers.ts';
import { check, COMMAND_TIMEOUT_MS, groupCalls, IN_FLIGHT, resetStock, WARMUP_MS } from './measure-redis.ts';

/** A section's config on a cluster: its own key and database prefix, one MariaDB server (MYSQL_URL). */
export function clusterConfig(cluster: RunningCluster, name: string, extra: Record<string, string> = {}): Config {
  return loadConfigWith({ APP_ENV: 'local', KEY_PREFIX: name, DB_PREFIX: name, MYSQL_SHARD_URLS: '',
    REDIS_CLUSTER_NODES: cluster.nodes.join(','), ...extra });
}

/** One cluster's claim client and its runs; `close` deletes its keys. */
export interface ClusterProbe {
  run(round: number): Promise<ClusterRedisRun>;
  close(): Promise<void>;
}

const portOf = (node: RedisClient) => Number((node as { options: { port: number } }).options.port);

/** Connects to `cluster` on `cfg`'s prefix; each run decides claims in calls of `groupSize` for `seconds`. */
export async function clusterProbe(cluster: RunningCluster, cfg: Config, seconds: number, groupSize: number): Promise<ClusterProbe> {
  const redis = createRedis({ ...cfg.redis, autoPipelining: false, commandTimeoutMs: COMMAND_TIMEOUT_MS },
    { offlineQueue: true, name: 'capacity' });
  let stopped = false;
  let active: Promise<unknown> = Promise.resolve();
  // Ctrl-C in a run: the workers stop first, or a claim in flight would write behind the deletion.
  const close = onCleanup(`redis keys on ${cluster.spec.name}`, async () => {
    stopped = true;
    await active.catch(() => undefined);
    await deleteKeys(redis, `${cfg.redis.keyPrefix}:*`).finally(() => redis.disconnect());
  });
  // without a listener ioredis prints every failed slot refresh with its stack; the last one explains a failed start.
  let lastError = '';
  redis.on('error', (err: Error) => { lastError = err.message; });
  await waitReady(redis, 10_000).catch((err: Error) => { throw new Error(`${cluster.spec.name}: ${err.message} (${lastError})`); });
  const ks: KeySpace = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
  const commands = new Commands(redis, ks);
  const masterList = masterPorts(cluster.spec);
  const replicaList = cluster.spec.ports.filter((p) => !masterList.includes(p));

  const run = async (round: number): Promise<ClusterRedisRun> => {
    await resetStock(redis, cfg);
    const calls = groupCalls(cfg, commands, groupSize);
    let next = 0;
    const worker = async (until: number) => {
      while (!stopped && performance.now() < until) check(await commands.run(calls[next++ % calls.length]!), groupSize);
    };
    const fleet = (until: number) => (active = Promise.all(Array.from({ length: IN_FLIGHT }, () => worker(until))));
    await fleet(performance.now() + WARMUP_MS);
    const nodes = masters(redis);
    const cmds = await Promise.all(nodes.map((n) => commandMeter(n)));
    const meter = cpuMeter({ client: process.pid,
      ...Object.fromEntries(cluster.spec.ports.map((p) => [String(p), cluster.pids[p]])) });
    const before = next;
    const t0 = performance.now();
    await fleet(t0 + seconds * 1000);
    const wall = (performance.now() - t0) / 1000;
    const cpu = meter.finish();
    const evalsha = await Promise.all(cmds.map(async (c) => (await c.finish()).find((x) => x.command === 'evalsha')?.calls ?? 0));
    if (stopped) throw new Error('the cluster run was stopped');
    const cpuOf = (p: number) => {
      const v = cpu.find((c) => c.name === String(p))!.cpuS;
      return Number.isFinite(v) ? v : null;
    };
    const perMaster: MasterShare[] = masterList.map((port) => {
      const i = nodes.findIndex((n) => portOf(n) === port);
      const claims = i < 0 ? 0 : evalsha[i]! * groupSize;
      const cpuS = cpuOf(port);
      return { port, claims, cpuS, usPerClaim: cpuS !== null && claims > 0 ? cpuS * 1e6 / claims : null };
    });
    const claims = (next - before) * groupSize;
    const sum = (ports: number[]) => (ports.some((p) => cpuOf(p) === null) ? null : ports.reduce((s, p) => s + cpuOf(p)!, 0));
    const mastersCpuS = sum(masterList);
    const replicasCpuS = replicaList.length === 0 ? null : sum(replicaList);
    return {
      masters: masterList.length, replicas: cluster.spec.replicas, round, groupSize, calls: next - before, claims, seconds: wall,
      claimsPerS: claims / wall, perMaster, mastersCpuS,
      usPerClaim: mastersCpuS === null ? null : mastersCpuS * 1e6 / claims,
      claimsPerMasterCpuS: mastersCpuS ? claims / mastersCpuS : null,
      replicasCpuS, replicaUsPerClaim: replicasCpuS === null ? null : replicasCpuS * 1e6 / claims,
      clientCores: cpu.find((c) => c.name === 'client')!.cores,
    };
  };
  return { run, close };
}

/** One line per run for the console. */
export function clusterRunLine(r: ClusterRedisRun): string {
  const us = (v: number | null) => (v === null ? '?' : v.toFixed(1));
  const shares = r.perMaster.map((m) => `${m.port} ${Math.round(100 * m.claims / Math.max(1, r.claims))} % at ${us(m.usPerClaim)} µs`);
  return `cluster: ${r.masters} master${r.masters === 1 ? '' : 's'}${r.replicas ? ` + ${r.replicas} replica each` : ''}, ` +
    `round ${r.round}: ${Math.round(r.claimsPerS)} claims/s, ${us(r.usPerClaim)} µs of master CPU per claim ` +
    `(${shares.join(', ')})${r.replicaUsPerClaim === null ? '' : `, replicas ${us(r.replicaUsPerClaim)} µs per claim`}, ` +
    `client ${r.clientCores.toFixed(2)} cores`;
}
