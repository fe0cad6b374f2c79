/**
 * `make bench TOPOLOGY=cluster` (`--only=topology`): section 1's claim load on the scaled-out
 * topology `make run TOPOLOGY=cluster` started (its Redis Cluster and MariaDB servers, from the
 * environment topology-env gives): a gateway and two sinks of its own on the bench's prefixes,
 * one autocannon run on a hot template, then CPU µs per claim of every process: the gateway, each
 * sink, each Redis master and replica, each MariaDB server. Every row is then judged by the
 * oracle. Bounded by --warmup and --duration, as section 1.
 */
import type { Cluster } from 'ioredis';
import { readFileSync } from 'node:fs';
import { onCleanup } from '../tools/harness/cleanup.ts';
import { type CpuShare, cpuMeter, type Metered } from '../tools/harness/cpu.ts';
import { runAutocannon, type LoadResult } from '../tools/harness/http-load.ts';
import { spawnNode, waitForLog } from '../tools/harness/processes.ts';
import { drained } from '../tools/harness/storage.ts';
import { type BenchStorage, childEnv, openBenchStorage, topologyBenchConfig, waitUntil, GUARDS_OFF } from '../tools/harness/bench-storage.ts';
import { judgeTemplate } from '../tools/verify/facts.ts';
import type { BenchOptions } from './options.ts';

export interface TopologyBenchResult {
  readonly claim: LoadResult;
  readonly cpu: CpuShare[];
  /** What each metered row is: 'redis master 127.0.0.1:7201', ... in the table's order. */
  readonly processes: readonly string[];
  readonly subStocks: number;
  readonly rows: number;
  readonly violations: readonly string[];
  readonly servers: { redisVersion: string; mariadbVersion: string };
  readonly failures: string[];
}

// The guards off, as in section 1: the bench measures the path.
const LIMITS = GUARDS_OFF;
const USERS_PER_CONNECTION = 1000;
const PER_USER_LIMIT = 100;
const SINKS = 2;

/** Each Redis node's row name and pid (INFO server), masters first; and the version. */
async function redisNodes(st: BenchStorage): Promise<{ rows: [string, number | undefined][]; version: string }> {
  const rows: [string, number | undefined][] = [];
  let version = '?';
  for (const role of ['master', 'slave'] as const) {
    for (const node of (st.redis as Cluster).nodes(role)) {
      const info = await node.info('server');
      const field = (k: string) => new RegExp(`^${k}:(.*)$`, 'm').exec(info)?.[1]?.trim();
      version = field('redis_version') ?? version;
      rows.push([`redis ${role === 'master' ? 'master' : 'replica'} ${node.options.host}:${node.options.port}`, Number(field('process_id')) || undefined]);
    }
  }
  return { rows, version };
}

/** Each MariaDB server's row name and pid (its pid file), and the version. */
async function mariadbServers(st: BenchStorage): Promise<{ rows: [string, number | undefined][]; version: string }> {
  const rows: [string, number | undefined][] = [];
  let version = '?';
  for (const pool of st.mysql.all) {
    const [res] = await pool.query('SELECT VERSION() AS v, @@pid_file AS f, @@port AS p');
    const r = (res as { v: string; f: string; p: number }[])[0]!;
    version = r.v;
    let pid: number | undefined;
    try {
      pid = Number(readFileSync(r.f, 'utf8').trim()) || undefined;
    } catch {
      pid = undefined;
    }
    rows.push([`mariadb 127.0.0.1:${r.p}`, pid]);
  }
  return { rows, version };
}

/** Runs the topology section. */
export async function runTopologyBench(o: BenchOptions): Promise<TopologyBenchResult> {
  const failures: string[] = [];
  const cfg = topologyBenchConfig('topo', LIMITS);
  const st = await openBenchStorage(cfg);
  onCleanup('topology storage', () => st.cleanup());
  const env = childEnv(cfg, { ...LIMITS, REDIS_CLUSTER_NODES: cfg.redis.clusterNodes.join(',') });
  const sinks = [];
  for (let i = 1; i <= SINKS; i++) {
    const sink = spawnNode(`sink ${i}`, 'sink/main.ts', { ...env, SINK_CONSUMER: `bench-sink-${i}` });
    onCleanup(`sink ${i}`, () => sink.stop(15_000));
    sinks.push(sink);
  }
  for (const sink of sinks) await waitForLog(sink, 'running', 30_000);
  const gateway = spawnNode('gateway', 'gateway/main.ts', env, { profileDir: o.profileDir });
  // registered after the sinks, so it is stopped first: the sinks then write what is left.
  onCleanup('gateway', () => gateway.stop(15_000));
  const base = `http://127.0.0.1:${(await waitForLog(gateway, 'gateway listening', 30_000)).port}`;
  const totalStock = Math.min(1e9, Math.max(5_000_000, 200_000 * (o.warmupS + o.durationS)));
  const created = await fetch(`${base}/v1/admin/templates`, {
    method: 'POST', headers: { authorization: `Bearer ${cfg.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench-topology', type: 'direct', value: 100, totalStock, perUserLimit: PER_USER_LIMIT, subStocks: o.subStocks }),
  });
  if (created.status !== 201) throw new Error(`create template: ${created.status} ${await created.text()}`);
  const { id: templateId, subStocks } = (await created.json()) as { id: string; subStocks: number };
  console.log(`topology: template ${templateId} with ${totalStock} coupons in ${subStocks} sub-stocks, ${SINKS} sinks`);

  const redis = await redisNodes(st);
  const mariadb = await mariadbServers(st);
  const metered: Record<string, Metered> = { gateway: { tree: gateway.proc.pid } };
  sinks.forEach((s, i) => { metered[`sink ${i + 1}`] = s.proc.pid; });
  for (const [name, pid] of [...redis.rows, ...mariadb.rows]) metered[name] = pid;
  metered['load generator'] = process.pid;
  const load = (label: string, durationS: number) => runAutocannon({ label, url: `${base}/v1/claim`, path: '/v1/claim', templateId,
    connections: o.connections, durationS, usersPerConnection: USERS_PER_CONNECTION });
  if (o.warmupS > 0) await load('claim warm-up', o.warmupS);
  console.log(`topology: autocannon claim: ${o.connections} connections, ${o.durationS} s`);
  const m = cpuMeter(metered);
  const claim = await load('claim', o.durationS);
  const cpu = m.finish();
  if (claim.ok2xx < 0.9 * claim.responses) failures.push(`topology: only ${claim.ok2xx} of ${claim.responses} answers were 2xx (${JSON.stringify(claim.statuses)})`);
  if (gateway.exited) failures.push(`topology: the gateway exited during the load:\n${gateway.tail().slice(-2000)}`);

  if (!(await waitUntil(() => drained(st), 120_000))) failures.push('topology: the sinks did not drain within 120 s');
  const v = await judgeTemplate(st, templateId);
  const violations = v.violations.map((x) => `${x.kind}: ${x.detail}`);
  if (violations.length > 0) failures.push(`topology: ${violations.slice(0, 3).join('; ')}`);
  console.log(`topology: ${claim.ok2xx} claims answered 2xx, MySQL rows ${v.templates[0]!.rows}`);
  return { claim, cpu, processes: Object.keys(metered), subStocks, rows: v.templates[0]!.rows, violations,
    servers: { redisVersion: redis.version, mariadbVersion: mariadb.version }, failures };
}

const fix = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '—');
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');

/** The section's Markdown: the claim rate, then every process's cores and CPU µs per issued claim. */
export function renderTopology(r: TopologyBenchResult): string {
  const claims = r.claim.ok2xx;
  const row = (c: CpuShare) => `| ${c.name} | ${fix(c.cores, 2)} | ${fix((c.cpuS / claims) * 1e6)} |`;
  const named = r.processes.map((n) => r.cpu.find((c) => c.name === n)!);
  const others = r.cpu.filter((c) => !r.processes.includes(c.name));
  const sum = (pick: (c: CpuShare) => number) => named.reduce((s, c) => s + (Number.isFinite(pick(c)) ? pick(c) : 0), 0);
  return [
    '## Topology: end to end on the Redis Cluster and the MariaDB servers (issue 15)', '',
    `Hot template of ${r.subStocks} sub-stocks, one gateway, 2 sinks in one group: ` +
      `**${int(claims / r.claim.seconds)} claims/s** (autocannon, p50 ${fix(r.claim.p50Ms, 2)} ms, p99 ${fix(r.claim.p99Ms, 2)} ms, ` +
      `${int(claims)} issued in ${fix(r.claim.seconds)} s). Redis ${r.servers.redisVersion}; MariaDB ${r.servers.mariadbVersion}.`,
    '', '| process | cores | CPU µs per issued claim |', '|---|---:|---:|',
    ...named.map(row), `| **sum of the above** | ${fix(sum((c) => c.cores), 2)} | ${fix((sum((c) => c.cpuS) / claims) * 1e6)} |`,
    ...others.map(row),
    '', `MySQL rows of the template: ${int(r.rows)}; oracle: ${r.violations.length === 0 ? 'no violation' : r.violations.join('; ')}.`,
  ].join('\n');
}
