/**
 * End to end: the same HTTP load against a bare uWS hello server and against the real gateway
 * (with the real sink draining into MariaDB), once more with the sink stopped (what the sink
 * costs the claim path), then a check that MySQL holds exactly the coupons the gateway issued.
 */
import type { Config } from '../config/index.ts';
import { onCleanup } from '../tools/harness/cleanup.ts';
import { type CpuShare, cpuMeter } from '../tools/harness/cpu.ts';
import { haveWrk, type LoadResult, runAutocannon, runWrk } from '../tools/harness/http-load.ts';
import type { BenchOptions } from './options.ts';
import { type Child, spawnNode, waitForLog, waitForOutput } from '../tools/harness/processes.ts';
import { freePort } from '../core/ports.ts';
import { logsWith } from '../tools/harness/log-lines.ts';
import { type CommandDelta, commandMeter } from '../tools/harness/redis-stats.ts';
import { drained } from '../tools/harness/storage.ts';
import { benchConfig, type BenchStorage, childEnv, openBenchStorage, serverFacts, waitUntil, GUARDS_OFF } from '../tools/harness/bench-storage.ts';
import { judgeTemplate } from '../tools/verify/facts.ts';

export interface RunPair {
  readonly hello: LoadResult;
  readonly claim: LoadResult;
  readonly cpuHello: CpuShare[];
  readonly cpuClaim: CpuShare[];
  /** Redis commands sent during the claim run. */
  readonly redisClaim: CommandDelta[];
}

export interface Verification {
  readonly templateId: string;
  readonly issued: number;
  readonly rows: number;
  /** 2xx answers counted by the load tools (warm-ups included); in-flight answers at a run's end are not. */
  readonly counted2xx: number;
  readonly drainMs: number;
  /** The invariants (tools/verify/oracle.ts) over every row of the template. */
  readonly ok: boolean;
  readonly violations: readonly string[];
}

/** Measured runs of 1d, in the order they ran within each variant. */
export interface Toggle {
  readonly on: { result: LoadResult; cpu: CpuShare[] }[];
  readonly off: { result: LoadResult; cpu: CpuShare[] }[];
}

export interface E2eResult {
  readonly autocannon: RunPair;
  readonly wrk?: RunPair;
  readonly verify: Verification;
  readonly servers: { redisVersion: string; mariadbVersion: string };
  /** The autocannon claim run with the sink stopped (the gateway and Redis alone). */
  readonly noSink: { result: LoadResult; cpu: CpuShare[] };
  /** Sink-stopped runs against fresh gateways with metrics and logs on and off, alternated (toggleRuns). */
  readonly toggle: Toggle;
  /** The first sink's counters (from its progress log) after the claim runs, for rows per INSERT. */
  readonly sinkTotals?: { written: number; inserts: number };
  readonly failures: string[];
  /** Sub-stocks of the hot template: claims per call grow with the claims per second of each. */
  readonly subStocks: number;
}

// Per connection; with perUserLimit 100 that allows 10M claims at 100 connections, so the
// limit never refuses during a bounded run, while 100k distinct users keep the hashes realistic.
const USERS_PER_CONNECTION = 1000;
const PER_USER_LIMIT = 100;

/** Runs section 1; failures of the checks are returned, errors of the set-up are thrown. */
export async function runE2e(o: BenchOptions): Promise<E2eResult> {
  const failures: string[] = [];
  const withWrk = o.wrk && haveWrk();
  if (o.wrk && !withWrk) console.log('e2e: /usr/bin/wrk not found; skipping the wrk runs');
  let counted2xx = 0;
  const ac = (label: string, url: string, templateId: string, durationS: number) => {
    console.log(`e2e: autocannon ${label}: ${o.connections} connections, ${durationS} s`);
    return runAutocannon({ label, url, path: new URL(url).pathname, templateId, connections: o.connections, durationS,
      usersPerConnection: USERS_PER_CONNECTION });
  };
  const wrk = (label: string, url: string, templateId: string) => {
    console.log(`e2e: wrk ${label}: ${o.connections} connections, ${o.durationS} s`);
    return runWrk(label, url, templateId, o.connections, o.durationS);
  };

  // 1a. bare uWS
  const hello = spawnNode('hello server', 'bench/hello-server.ts', {});
  const stopHello = onCleanup('hello server', () => hello.stop());
  const helloPort = (await waitForOutput(hello, /hello listening port=(\d+)/, 20_000))[1];
  const helloUrl = `http://127.0.0.1:${helloPort}/v1/claim`;
  if (o.warmupS > 0) await ac('hello warm-up', helloUrl, 'hello', o.warmupS);
  let m = cpuMeter({ 'hello server': hello.proc.pid, 'load generator': process.pid });
  const acHello = await ac('hello', helloUrl, 'hello', o.durationS);
  const acHelloCpu = m.finish();
  let wrkHello: LoadResult | undefined;
  let wrkHelloCpu: CpuShare[] = [];
  if (withWrk) {
    m = cpuMeter({ 'hello server': hello.proc.pid }, 'load generator');
    wrkHello = await wrk('hello', helloUrl, 'hello');
    wrkHelloCpu = m.finish();
  }
  await stopHello();

  // 1b. the real gateway and sink on the bench's own prefixes
  const cfg = benchConfig('e2e', GUARDS_OFF);
  const st = await openBenchStorage(cfg);
  onCleanup('e2e storage', () => st.cleanup());
  const facts = await serverFacts(st);
  let sink = await startSinkChild(cfg, o, failures);
  const gateway = spawnNode('gateway', 'gateway/main.ts', childEnv(cfg, GUARDS_OFF), { profileDir: o.profileDir });
  // registered after the sink, so it is stopped first: the sink then writes what is left.
  const stopGateway = onCleanup('gateway', () => gateway.stop(15_000));
  const gwPort = (await waitForLog(gateway, 'gateway listening', 30_000)).port;
  const base = `http://127.0.0.1:${gwPort}`;
  const auth = { authorization: `Bearer ${cfg.adminToken}` };

  const loadSeconds = 2 * (o.warmupS + o.durationS) + (withWrk ? o.durationS : 0);
  const totalStock = Math.min(1e9, Math.max(5_000_000, 200_000 * loadSeconds));
  const created = await fetch(`${base}/v1/admin/templates`, {
    method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', type: 'direct', value: 100, totalStock, perUserLimit: PER_USER_LIMIT, subStocks: o.subStocks }),
  });
  if (created.status !== 201) throw new Error(`create template: ${created.status} ${await created.text()}`);
  const { id: templateId, subStocks } = (await created.json()) as { id: string; subStocks: number };
  console.log(`e2e: template ${templateId} with ${totalStock} coupons in ${subStocks} sub-stocks, ${PER_USER_LIMIT} per user`);

  // The gateway's row sums its workers when GATEWAY_WORKERS > 1 (the supervisor's children).
  const servers = { gateway: { tree: gateway.proc.pid }, redis: facts.redisPid, mariadb: facts.mariadbPid };
  const claimUrl = `${base}/v1/claim`;
  const check = (r: LoadResult) => {
    counted2xx += r.ok2xx;
    if (r.ok2xx < 0.9 * r.responses) {
      failures.push(`${r.tool} ${r.label}: only ${r.ok2xx} of ${r.responses} answers were 2xx (${JSON.stringify(r.statuses)})`);
    }
    return r;
  };
  if (o.warmupS > 0) check(await ac('claim warm-up', claimUrl, templateId, o.warmupS));
  let cmds = await commandMeter(st.redis);
  m = cpuMeter({ ...servers, sink: sink.child.proc.pid, 'load generator': process.pid });
  const acClaim = check(await ac('claim', claimUrl, templateId, o.durationS));
  const acClaimCpu = m.finish();
  const acRedis = await cmds.finish();
  let wrkClaim: LoadResult | undefined;
  let wrkClaimCpu: CpuShare[] = [];
  let wrkRedis: CommandDelta[] = [];
  if (withWrk) {
    cmds = await commandMeter(st.redis);
    m = cpuMeter({ ...servers, sink: sink.child.proc.pid }, 'load generator');
    wrkClaim = check(await wrk('claim', claimUrl, templateId));
    wrkClaimCpu = m.finish();
    wrkRedis = await cmds.finish();
  }
  const sinkTotals = await sinkCounters(sink.child, 0);

  // 1c. the same autocannon load with the sink stopped: what the sink costs the claim path.
  await sink.stop();
  if (o.warmupS > 0) check(await ac('claim warm-up, sink stopped', claimUrl, templateId, o.warmupS));
  m = cpuMeter({ ...servers, 'load generator': process.pid });
  const acNoSink = check(await ac('claim, sink stopped', claimUrl, templateId, o.durationS));
  const noSink = { result: acNoSink, cpu: m.finish() };
  if (gateway.exited) failures.push(`gateway exited during the load:\n${gateway.tail().slice(-2000)}`);
  const toggle = await toggleRuns(cfg, o, facts, (url, label, s) => ac(label, url, templateId, s).then(check));
  // a fresh sink (new consumer) drains what piled up, as after a sink restart in production.
  sink = await startSinkChild(cfg, o, failures);

  const verify = await verifyRows(st, templateId, counted2xx, sink.child);
  if (!verify.ok) {
    failures.push(`MISMATCH: gateway says ${verify.issued} coupons issued, MySQL holds ${verify.rows} rows ` +
      `for template ${templateId}: ${verify.violations.slice(0, 5).join('; ')}`);
  }
  await stopGateway();
  if (gateway.proc.exitCode !== 0) failures.push(`gateway did not exit cleanly (code ${gateway.proc.exitCode}, signal ${gateway.proc.signalCode})`);
  await sink.stop();
  return {
    autocannon: { hello: acHello, claim: acClaim, cpuHello: acHelloCpu, cpuClaim: acClaimCpu, redisClaim: acRedis },
    wrk: wrkHello && wrkClaim
      ? { hello: wrkHello, claim: wrkClaim, cpuHello: wrkHelloCpu, cpuClaim: wrkClaimCpu, redisClaim: wrkRedis }
      : undefined,
    noSink, toggle, verify, servers: facts, sinkTotals, failures, subStocks,
  };
}

/** A second gateway for 1d, with or without metrics and logs; silent prints no port to read, so each is given one. */
async function spawnVariant(cfg: Config, o: BenchOptions, label: string, extra: Record<string, string>): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawnNode(label, 'gateway/main.ts', { ...childEnv(cfg, GUARDS_OFF), PORT: String(port), ...extra }, { profileDir: o.profileDir });
  const stop = onCleanup(label, () => child.stop(15_000));
  const base = `http://127.0.0.1:${port}`;
  if (!await waitUntil(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 30_000)) {
    throw new Error(`${label} did not get ready:\n${child.tail().slice(-2000)}`);
  }
  return { url: `${base}/v1/claim`, pid: child.proc.pid!, stop };
}

/**
 * 1d. What metrics and logs cost: two fresh gateways on the same template, one as configured
 * (metrics on, LOG_LEVEL=info) and one with METRICS_ENABLED=0 LOG_LEVEL=silent, loaded in turn
 * twice (on, off, on, off) with the sink stopped, so drift on this shared box hits both alike.
 */
async function toggleRuns(cfg: Config, o: BenchOptions, facts: { redisPid?: number; mariadbPid?: number },
  load: (url: string, label: string, seconds: number) => Promise<LoadResult>): Promise<Toggle> {
  const gateways = {
    on: await spawnVariant(cfg, o, 'gateway, metrics and logs on', { METRICS_ENABLED: '1', LOG_LEVEL: 'info' }),
    off: await spawnVariant(cfg, o, 'gateway, metrics and logs off', { METRICS_ENABLED: '0', LOG_LEVEL: 'silent' }),
  };
  const out: Toggle = { on: [], off: [] };
  for (let round = 0; round < 2; round++) {
    for (const k of ['on', 'off'] as const) {
      const g = gateways[k];
      if (o.warmupS > 0 && round === 0) await load(g.url, `claim warm-up, metrics and logs ${k}`, o.warmupS);
      const m = cpuMeter({ gateway: { tree: g.pid }, redis: facts.redisPid, mariadb: facts.mariadbPid, 'load generator': process.pid });
      const result = await load(g.url, `claim, sink stopped, metrics and logs ${k} (round ${round + 1})`, o.durationS);
      out[k].push({ result, cpu: m.finish() });
    }
  }
  await Promise.all([gateways.on.stop(), gateways.off.stop()]);
  return out;
}

/** Waits for the sink to drain, then judges every row of the template against its stock (the one oracle). */
async function verifyRows(st: BenchStorage, templateId: string, counted2xx: number, sink: Child): Promise<Verification> {
  // claims answered just after a tool stopped are still finishing inside the gateway.
  await new Promise((r) => setTimeout(r, 500));
  const t0 = Date.now();
  console.log('e2e: waiting for the sink to drain');
  const isDrained = await waitUntil(() => drained(st), 120_000);
  const drainMs = Date.now() - t0;
  if (!isDrained) throw new Error(`the sink did not drain within 120 s; its output:\n${sink.tail().slice(-3000)}`);
  let v = await judgeTemplate(st, templateId);
  if (v.violations.length > 0) {
    // one more look before crying wolf: a straggler may have landed between the two reads.
    await new Promise((r) => setTimeout(r, 2_000));
    await waitUntil(() => drained(st), 30_000);
    v = await judgeTemplate(st, templateId);
  }
  const { issued, rows } = v.templates[0]!;
  console.log(`e2e: issued ${issued}, MySQL rows ${rows}, 2xx counted by the load tools ${counted2xx}`);
  return { templateId, issued: issued ?? 0, rows, counted2xx, drainMs, ok: v.violations.length === 0,
    violations: v.violations.map((x) => `${x.kind}: ${x.detail}`) };
}

/** Starts a sink child and waits until it reads; `stop()` is graceful and records a bad exit in `failures`. */
async function startSinkChild(cfg: Config, o: BenchOptions, failures: string[]): Promise<{ child: Child; stop(): Promise<void> }> {
  const child = spawnNode('sink', 'sink/main.ts', childEnv(cfg), { profileDir: o.profileDir });
  const stopNow = onCleanup('sink', () => child.stop(15_000));
  await waitForLog(child, 'running', 30_000);
  return {
    child,
    stop: async () => {
      await stopNow();
      if (child.proc.exitCode !== 0) failures.push(`sink did not exit cleanly (code ${child.proc.exitCode}, signal ${child.proc.signalCode})`);
    },
  };
}

/** The sink's `written` and `inserts` counters from its once-a-second progress line. */
async function sinkCounters(sink: Child, rows: number): Promise<{ written: number; inserts: number } | undefined> {
  const last = () => {
    const m = logsWith(sink.tail(), 'progress').at(-1);
    return m ? { written: Number(m.written), inserts: Number(m.inserts) } : undefined;
  };
  // the line is printed once a second: wait for the one that includes the last rows.
  const deadline = Date.now() + 3_000;
  while ((last()?.written ?? 0) < rows && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return last();
}
