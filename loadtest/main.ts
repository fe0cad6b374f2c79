/**
 * `npm run loadtest -- <scenario> [options]`: drives a running gateway, then verifies.
 *   1. creates the scenario's templates through the admin API (ids carry a run id);
 *   2. sends the load (autocannon closed loop, or open loop at --rate) and records every answer;
 *   3. pauses the templates (there is no delete), waits for the sink to drain;
 *   4. verifies against the gateway's Redis and MySQL (loadConfig(): the gateway's env);
 *   5. prints a table, writes reports/<date>-<scenario>-<runid>/ (JSON + SVG charts).
 * Exit: 0 verified, 1 a violation or a failed run, 2 bad options or config.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { type Config, loadConfig } from '../config/index.ts';
import { AdminClient, checkReady, type CreatedTemplate } from './admin.ts';
import { runClosedLoop, stopClosedLoop } from './closed-loop.ts';
import { runFlowLoop, stopFlowLoop } from './flow-loop.ts';
import { checkListings, checkSameLayout, gatherFacts, markKeyClock, openStorage, remaining, stockIdle, type Storage, waitForDrain } from './facts.ts';
import { type LoadOptions, OptionError, parseOptions, usage } from './options.ts';
import { runOpenLoop, stopOpenLoop } from './open-loop.ts';
import { Collected, type PhaseResult, Recorder } from './recorder.ts';
import { pathChecks, renderTable, type RunReport, writeReport } from './report.ts';
import { claimRequest, decodeClaimAnswer, userAuth } from './requests.ts';
import type { RunContext } from './run-context.ts';
import { SCENARIO } from './scenarios.ts';
import { storageSpread } from './storage-spread.ts';
import { verify } from './verify.ts';
import { initLog } from '../core/log.ts';

// Lines of the libraries it runs (storage retries) say they are the load test's; its report is its own output.
initLog('loadtest');

const PROGRESS_EVERY_MS = 3_000;

/** Cleanup that must run however the run ends (Ctrl-C included): pause templates, close storage. */
let cleanup: (() => Promise<void>) | undefined;

function fail(code: number, message: string): never {
  console.error(`loadtest: ${message}`);
  process.exit(code);
}

/** Credentials never reach the report. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(unparsable)';
  }
}

/** Upper bound of the whole run: a stuck step never keeps loading a shared machine. */
function watchdogMs(o: LoadOptions): number {
  const loadS = o.durationS ?? (o.rate ? o.requests! / o.rate : o.requests! / 1000);
  // --drain-wait bounds the sink's drain, and grant's wait for its job before that.
  return Math.min(4 * 3600, 2 * loadS + 2 * o.drainWaitS + 300) * 1000;
}

async function run(o: LoadOptions, cfg: Config, argv: readonly string[]): Promise<boolean> {
  const st: Storage = await openStorage(cfg);
  const admin = new AdminClient(o.adminUrl, cfg.adminToken);
  let paused: { paused: number; failed: string[] } | undefined;
  const pause = async () => {
    if (paused) return paused;
    if (admin.created.length === 0) return (paused = { paused: 0, failed: [] });
    const failed = await admin.pauseAll(admin.created);
    paused = { paused: admin.created.length - failed.length, failed };
    console.log(`cleanup: paused the run's ${paused.paused} templates (the API has no delete; their coupons stay in MySQL)`);
    for (const f of failed) console.error(`cleanup: could not pause ${f}`);
    return paused;
  };
  let closing: Promise<void> | undefined;
  cleanup = () => (closing ??= (async () => {
    await pause().catch((err) => console.error(`cleanup: ${(err as Error).message}`));
    await st.close();
  })());

  await checkSameLayout(st);
  await checkReady(o.url);
  const runId = randomBytes(3).toString('hex');
  const idPrefix = `lt-${runId}-`;
  const scenario = SCENARIO[o.scenario];
  const startedAt = new Date().toISOString();
  console.log(`loadtest ${o.scenario} (${scenario.summary}), run ${runId}, gateway ${o.url}, ` +
    `${o.rate ? `open loop at ${o.rate}/s` : 'closed loop (autocannon)'}, ${o.format} bodies`);
  const specs = scenario.templates(o, idPrefix);
  console.log(`creating ${specs.length} template${specs.length === 1 ? '' : 's'} ${idPrefix}* (stock ${o.stock} each)`);
  const templates: CreatedTemplate[] = await admin.createAll(specs);

  const collected = new Collected();
  const phases: PhaseResult[] = [];
  const runT0 = performance.now();
  const auth = userAuth(cfg.userTokenSecrets);
  const ctx: RunContext = {
    o, runId, templates, auth, cfg, admin, collected,
    phase: async (label, w, bound, closedLoop) => {
      const open = o.rate !== undefined && !closedLoop;
      console.log(`phase ${label}: ${open ? `open loop at ${o.rate}/s` : 'closed loop'}, ` +
        `${bound.durationS !== undefined ? `${bound.durationS} s` : `${bound.requests} requests`}, up to ${o.connections} connections`);
      const rec = new Recorder(label, collected, runT0);
      rec.startProgress(PROGRESS_EVERY_MS, bound);
      const r = open
        ? rec.finish({ driver: 'open-loop', connections: o.connections, rate: o.rate, ...await runOpenLoop(o.url, w, bound, o.connections, o.rate!, rec) })
        : rec.finish({ driver: 'autocannon', connections: await runClosedLoop(o.url, w, bound, o.connections, rec) });
      phases.push(r);
      return r;
    },
    flows: async (label, flow, bound) => {
      console.log(`phase ${label}: closed loop of ${o.connections} flows at a time, ` +
        `${bound.durationS !== undefined ? `${bound.durationS} s` : `${bound.requests} requests`}`);
      const rec = new Recorder(label, collected, runT0);
      rec.startProgress(PROGRESS_EVERY_MS, bound);
      const r = rec.finish({ driver: 'flows', connections: await runFlowLoop(o.url, flow, bound, o.connections, rec) });
      phases.push(r);
      return r;
    },
    waitForStored: async () => {
      console.log(`waiting for the sink to store the claimed coupons (up to ${o.drainWaitS} s)`);
      return (await waitForDrain(st, o.drainWaitS * 1000)).drained;
    },
    checkoutSources: { mysql: st.mysql, dbPrefix: cfg.mysql.dbPrefix, layout: st.layout, origin: o.url, auth },
    claimOnce: async (key) => {
      const req = claimRequest(key, 'json', auth);
      const res = await fetch(`${o.url}${req.path}`, { method: 'POST', headers: req.headers, body: req.body?.toString(), signal: AbortSignal.timeout(10_000) });
      const body = Buffer.from(await res.arrayBuffer());
      // its coupon, if any, is one the verifier must find; an unknown outcome may have issued one.
      const a = res.status === 200 ? decodeClaimAnswer(body, 'json') : undefined;
      if (a) collected.answers.push({ ...key, couponId: a.couponId, replayed: a.replayed, toldUserId: a.userId, toldTemplateId: a.templateId });
      else if (res.status === 200 || res.status >= 500) collected.uncertain++;
      return res.status;
    },
    remaining: (t) => remaining(st, t),
    markKeyClock: (t) => markKeyClock(st, t),
    stockIdle: (t) => stockIdle(st, t),
  };
  const checks = await scenario.run(ctx);
  const cleaned = await pause();

  console.log(`waiting for the sink to store every issued coupon (up to ${o.drainWaitS} s)`);
  const drain = await waitForDrain(st, o.drainWaitS * 1000);
  const facts = await gatherFacts(st, templates, idPrefix);
  const listing = checks.listingSample ? await checkListings(o.url, collected.answers, checks.listingSample, auth) : undefined;
  const verification = verify({
    layout: st.layout, drain, templates: facts.templates, answers: collected.answers, rows: facts.rows,
    uncertain: collected.uncertain, undecodable: collected.undecodable,
    soldOutPhase: checks.soldOutPhase, expectReplays: checks.expectReplays, listing, codes: checks.codes, grant: checks.grant,
    checkout: checks.checkout,
  });
  const report: RunReport = {
    runId, scenario: o.scenario, summary: scenario.summary, startedAt, finishedAt: new Date().toISOString(), options: o, argv,
    machine: { nproc: availableParallelism(), cpu: cpus()[0]?.model, node: process.version, loadavg: loadavg() },
    storage: {
      keyPrefix: cfg.redis.keyPrefix, dbPrefix: cfg.mysql.dbPrefix, partitions: cfg.redis.partitions,
      shardDbs: cfg.mysql.shardDbs, shardTables: cfg.mysql.shardTables,
      redis: cfg.redis.clusterNodes.length ? cfg.redis.clusterNodes : redact(cfg.redis.url), mysql: redact(cfg.mysql.url),
      ...(cfg.mysql.shardUrls.length > 0 ? { mysqlShards: cfg.mysql.shardUrls.map(redact) } : {}),
    },
    templates, phases, drain, verification, cleanup: cleaned,
    checks: { soldOutPhase: checks.soldOutPhase, listing, expectReplays: checks.expectReplays, ...pathChecks(checks) },
    spread: await storageSpread(st, templates, facts.rows),
  };
  console.log(`\n${renderTable(report)}`);
  const dir = writeReport(o.outDir, report, collected.answers, o.charts);
  console.log(`report: ${dir}/`);
  return verification.ok;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let o: LoadOptions | null;
  try {
    o = parseOptions(argv);
  } catch (err) {
    if (err instanceof OptionError) fail(2, `${err.message}\n(npm run loadtest -- --help for usage)`);
    throw err;
  }
  if (!o) {
    console.log(usage());
    return;
  }
  let cfg: Config;
  try {
    cfg = loadConfig();
  } catch (err) {
    fail(2, `configuration: ${(err as Error).message}`);
  }
  const abort = async (why: string, code: number) => {
    console.error(`\nloadtest: ${why}; stopping the load and cleaning up`);
    stopClosedLoop();
    stopOpenLoop();
    stopFlowLoop();
    await cleanup?.();
    process.exit(code);
  };
  process.once('SIGINT', () => void abort('interrupted', 130));
  process.once('SIGTERM', () => void abort('terminated', 143));
  setTimeout(() => void abort(`still running after ${watchdogMs(o) / 1000} s (watchdog)`, 1), watchdogMs(o)).unref();
  let ok: boolean;
  try {
    ok = await run(o, cfg, argv);
  } catch (err) {
    await cleanup?.();
    fail(1, `error: ${(err as Error).message}`);
  }
  await cleanup?.();
  process.exit(ok ? 0 : 1);
}

await main();
