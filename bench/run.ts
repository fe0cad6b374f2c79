/**
 * `make bench`: one bounded session on the local Redis and MariaDB (loopback only).
 *   1. end to end: bare uWS hello vs the real gateway + sink under the same HTTP load, then a
 *      check that MySQL holds exactly the coupons the gateway issued;
 *   2. sink: batched drain vs single-row autocommit INSERTs;
 *   3. micro-benchmarks of the claim hot path;
 *   4. bulk grants (`--only=grant`): a 1M-user grant job, grants/s and CPU per grant per process;
 *   5. checkout (`--only=checkout`): quote latency at a fixed rate, lock + confirm pairs/s and their CPU per process;
 *   6. topology (`--only=topology`, make bench TOPOLOGY=cluster): section 1's claim load on the Redis Cluster and
 *      MariaDB servers of make run TOPOLOGY=cluster, CPU µs per claim of every master, replica, server and sink.
 *   7. replica wait (`--only=wait`, make bench TOPOLOGY=cluster: on the same servers as section 6):
 *      REDIS_WAIT_REPLICAS 0 vs 1, claims/s, latency and CPU per claim.
 * Every figure sits next to its comparison run as a ratio; the machine is shared and noisy.
 * Cleans up what it started (children, keys, databases) even on failure or Ctrl-C, prints a
 * Markdown summary, writes it to .data/bench-latest.md, and exits non-zero if anything failed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { runCleanup } from '../tools/harness/cleanup.ts';
import { type E2eResult, runE2e } from './e2e.ts';
import { stopAutocannon } from '../tools/harness/http-load.ts';
import { type MicroResult, runMicro } from './micro.ts';
import { type BenchOptions, parseOptions } from './options.ts';
import { ROOT, stopAllChildren } from '../tools/harness/processes.ts';
import { machineFacts } from '../tools/harness/machine.ts';
import { renderSummary } from './report.ts';
import { runSinkBench, type SinkBenchResult } from './sink-bench.ts';
import { type GrantBenchResult, renderGrant, runGrantBench } from './grant-bench.ts';
import { type CheckoutBenchResult, renderCheckout, runCheckoutBench } from './checkout-bench.ts';
import { renderTopology, runTopologyBench, type TopologyBenchResult } from './topology-bench.ts';
import { renderWait, runWaitBench, type WaitBenchResult } from './wait-bench.ts';

const OUT_DIR = `${ROOT}.data`;
const OUT_FILE = `${OUT_DIR}/bench-latest.md`;

let interrupted = false;

/** Ctrl-C / SIGTERM / watchdog: stop the load, the children and the storage, then exit. */
async function abort(why: string, code: number): Promise<never> {
  if (interrupted) {
    console.error(`bench: ${why} again; exiting without finishing cleanup`);
    process.exit(code);
  }
  interrupted = true;
  console.error(`\nbench: ${why}; cleaning up`);
  stopAutocannon();
  await stopAllChildren();
  for (const f of await runCleanup(10_000)) console.error(f);
  process.exit(code);
}

/** Runs one section; an error becomes a failure line and the session goes on with the next. */
async function section<T>(name: string, failures: string[], f: () => Promise<T & { failures: string[] }>): Promise<T | undefined> {
  console.log(`\n== ${name}`);
  try {
    const r = await f();
    failures.push(...r.failures);
    return r;
  } catch (err) {
    failures.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  } finally {
    // each section leaves nothing running behind it, so the next one measures on a quiet box.
    await stopAllChildren();
    failures.push(...await runCleanup());
  }
}

/** Upper bound of a session: a stuck step can never keep loading the shared machine. */
function watchdogMs(o: BenchOptions): number {
  const load = (o.warmupS + o.durationS) * 2 + (o.wrk ? o.durationS * 2 : 0);
  const grant = o.sections.includes('grant') ? o.grantSeconds + 600 : 0;
  // hello, quotes, claims and pairs, each after a warm-up, plus the set-up and drains.
  const checkout = o.sections.includes('checkout') ? 4 * (o.warmupS + o.durationS) + 300 : 0;
  const topology = o.sections.includes('topology') ? o.warmupS + o.durationS + 300 : 0;
  const wait = o.sections.includes('wait') ? 2 * (o.warmupS + o.durationS) + 120 : 0;
  return (load + grant + checkout + topology + wait + 300) * 1000;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  process.on('SIGINT', () => void abort('interrupted', 130));
  process.on('SIGTERM', () => void abort('terminated', 143));
  setTimeout(() => void abort(`still running after ${watchdogMs(o) / 1000} s (watchdog)`, 1), watchdogMs(o)).unref();

  const started = performance.now();
  const machine = await machineFacts();
  console.log(`bench: ${machine.date}, nproc ${machine.nproc}, ${machine.cpuModel}, node ${machine.node}, ` +
    `load ${machine.loadStart}, ${machine.busyBefore.toFixed(2)} cores busy before start`);
  const failures: string[] = [];
  let e2e: E2eResult | undefined;
  let sink: SinkBenchResult | undefined;
  let micro: MicroResult | undefined;
  if (o.sections.includes('e2e')) e2e = await section('1. end to end', failures, () => runE2e(o));
  if (o.sections.includes('sink')) sink = await section('2. sink throughput', failures, () => runSinkBench(o));
  if (o.sections.includes('micro')) {
    micro = await section('3. micro-benchmarks', failures, async () => ({ ...(await runMicro(o)), failures: [] }));
  }

  let grant: GrantBenchResult | undefined;
  if (o.sections.includes('grant')) grant = await section('4. bulk grants', failures, () => runGrantBench(o));
  let checkout: CheckoutBenchResult | undefined;
  if (o.sections.includes('checkout')) checkout = await section('5. checkout', failures, () => runCheckoutBench(o));
  let topology: TopologyBenchResult | undefined;
  if (o.sections.includes('topology')) topology = await section('6. topology', failures, () => runTopologyBench(o));
  let wait: WaitBenchResult | undefined;
  if (o.sections.includes('wait')) wait = await section('7. replica wait', failures, () => runWaitBench(o));
  const summary = renderSummary(o, {
    machine, servers: e2e?.servers ?? sink?.servers ?? grant?.servers ?? checkout?.servers ?? topology?.servers, e2e, sink, micro, failures,
    seconds: (performance.now() - started) / 1000,
  });
  const md = [summary, ...(grant ? [renderGrant(grant)] : []), ...(checkout ? [renderCheckout(checkout)] : []),
    ...(topology ? [renderTopology(topology)] : []), ...(wait ? [renderWait(wait)] : [])].join('\n\n') + (grant || checkout || topology || wait ? '\n' : '');
  console.log(`\n${md}`);
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(OUT_FILE, md);
  console.log(`bench: summary written to .data/bench-latest.md`);
  if (failures.length > 0) {
    console.error(`\nbench: FAILED (${failures.length}):\n${failures.map((f) => `  - ${f}`).join('\n')}`);
    process.exit(1);
  }
  process.exit(0);
}

main().catch(async (err) => {
  console.error('bench: crashed:', err);
  await abort('crashed', 1);
});
