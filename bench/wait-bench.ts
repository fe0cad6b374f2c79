/**
 * The cost of REDIS_WAIT_REPLICAS (`--only=wait`, make bench TOPOLOGY=cluster), on the Redis
 * Cluster with replicas and the MariaDB servers the environment names (REDIS_CLUSTER_NODES,
 * MYSQL_SHARD_URLS: make run TOPOLOGY=cluster's, through scripts/services.sh topology-env):
 * the same autocannon claim load on a gateway with REDIS_WAIT_REPLICAS=0, then =1, and for each
 * the claims per second, p50/p99, and the CPU µs per issued claim of the gateway and of all
 * Redis nodes together (masters and replicas: the wait also costs the replicas their
 * acknowledgements), from /proc. The sink runs through both (its CPU is not the question).
 */
import { Redis } from 'ioredis';
import { onCleanup } from '../tools/harness/cleanup.ts';
import { type CpuShare, cpuMeter } from '../tools/harness/cpu.ts';
import { type LoadResult, runAutocannon } from '../tools/harness/http-load.ts';
import { spawnNode, waitForLog } from '../tools/harness/processes.ts';
import { childEnv, openBenchStorage, topologyBenchConfig, GUARDS_OFF } from '../tools/harness/bench-storage.ts';
import type { BenchOptions } from './options.ts';

export interface WaitRun {
  readonly replicas: number;
  readonly load: LoadResult;
  /** CPU µs per issued claim. */
  readonly gatewayUs: number;
  readonly redisUs: number;
}

export interface WaitBenchResult {
  readonly runs: WaitRun[];
  readonly nodes: number;
  readonly failures: string[];
}

const LIMITS = GUARDS_OFF;
const USERS_PER_CONNECTION = 200;

/** The pids of every Redis node of the cluster (INFO server of each). */
async function redisPids(nodes: readonly string[]): Promise<number[]> {
  return Promise.all(nodes.map(async (hp) => {
    const [host, port] = hp.split(':');
    const r = new Redis({ host, port: Number(port), lazyConnect: true });
    try {
      await r.connect();
      return Number(/process_id:(\d+)/.exec(await r.info('server'))?.[1]);
    } finally {
      r.disconnect();
    }
  }));
}

/** Runs the section. */
export async function runWaitBench(o: BenchOptions): Promise<WaitBenchResult> {
  const cfg = topologyBenchConfig('wait', LIMITS);
  const st = await openBenchStorage(cfg);
  onCleanup('wait storage', () => st.cleanup());
  const pids = await redisPids(cfg.redis.clusterNodes);
  const childVars = childEnv(cfg, LIMITS);
  const sink = spawnNode('sink', 'sink/main.ts', childVars);
  onCleanup('sink', () => sink.stop(15_000));
  await waitForLog(sink, 'running', 30_000);

  const runs: WaitRun[] = [];
  const failures: string[] = [];
  for (const replicas of [0, 1]) {
    const gateway = spawnNode(`gateway wait=${replicas}`, 'gateway/main.ts', { ...childVars, REDIS_WAIT_REPLICAS: String(replicas) });
    const stop = onCleanup(`gateway wait=${replicas}`, () => gateway.stop(15_000));
    const base = `http://127.0.0.1:${(await waitForLog(gateway, 'gateway listening', 30_000)).port}`;
    const r = await fetch(`${base}/v1/admin/templates`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${cfg.adminToken}` },
      body: JSON.stringify({ name: `wait-${replicas}`, type: 'direct', value: 100, totalStock: 5_000_000, perUserLimit: 100, subStocks: 16 }) });
    if (r.status !== 201) throw new Error(`wait: create template: ${r.status} ${await r.text()}`);
    const t = await r.json() as { id: string };
    const ac = (label: string, durationS: number) => runAutocannon({ label, url: `${base}/v1/claim`, path: '/v1/claim', templateId: t.id,
      connections: o.connections, durationS, usersPerConnection: USERS_PER_CONNECTION });
    if (o.warmupS > 0) await ac(`wait=${replicas} warm-up`, o.warmupS);
    const meter = cpuMeter({ gateway: { tree: gateway.proc.pid }, ...Object.fromEntries(pids.map((p, i) => [`redis ${i}`, p])) });
    const load = await ac(`wait=${replicas}`, o.durationS);
    const cpu: CpuShare[] = meter.finish();
    await stop();
    const us = (rows: CpuShare[]) => (rows.reduce((a, c) => a + c.cpuS, 0) * 1e6) / Math.max(1, load.ok2xx);
    runs.push({ replicas, load, gatewayUs: us(cpu.filter((c) => c.name === 'gateway')), redisUs: us(cpu.filter((c) => c.name.startsWith('redis '))) });
    if (load.non2xx > 0 || load.errors > 0) failures.push(`wait=${replicas}: ${load.non2xx} non-2xx (${JSON.stringify(load.statuses)}), ${load.errors} errors`);
    console.log(`wait: REDIS_WAIT_REPLICAS=${replicas}: ${load.rps.toFixed(0)} claims/s, p50 ${load.p50Ms.toFixed(2)} ms, p99 ${load.p99Ms.toFixed(2)} ms`);
  }
  return { runs, nodes: pids.length, failures };
}

/** The section's Markdown table. */
export function renderWait(r: WaitBenchResult): string {
  const rows = r.runs.map((x) => `| ${x.replicas} | ${x.load.rps.toFixed(0)} | ${x.load.p50Ms.toFixed(2)} | ${x.load.p99Ms.toFixed(2)} | `
    + `${x.gatewayUs.toFixed(1)} | ${x.redisUs.toFixed(1)} |`);
  return ['## Replica wait (REDIS_WAIT_REPLICAS)', '',
    `Same claim load on one gateway against a Redis Cluster of ${r.nodes} nodes (masters with replicas); CPU µs per issued claim from /proc.`, '',
    '| REDIS_WAIT_REPLICAS | claims/s | p50 ms | p99 ms | gateway µs/claim | Redis µs/claim (all nodes) |', '| --- | --- | --- | --- | --- | --- |',
    ...rows].join('\n');
}
