/**
 * Sink process entry: `node --import tsx sink/main.ts`. Drains the issuance streams into the
 * MySQL shards until SIGTERM/SIGINT, then writes and acks what it holds and exits 0. It also
 * runs the reconciler when it holds the lease (sink/reconcile-job.ts, reconcile/). Fatal
 * errors exit non-zero so a supervisor restarts it; unacked records survive in Redis.
 */
import { loadConfig } from '../config/index.ts';
import { initLog, processLog, shortErr } from '../core/log.ts';
import { createLog } from './log.ts';
import { openMysql } from '../core/mysql.ts';
import { reconcileCtx } from '../reconcile/context.ts';
import { ReconcileJob } from './reconcile-job.ts';
import { GrantJobs, grantRunDeps } from './grant-jobs.ts';
import { LockSweepJob } from './lock-sweep-job.ts';
import { createSinkRedis, startSink, type Sink } from './sink.ts';
import { SinkMetrics } from './metrics.ts';
import { startMetricsServer } from './metrics-server.ts';

// Until the config says otherwise: a bad configuration is logged with this role at info.
initLog('sink');
let log = createLog();

function fatal(what: string, err: unknown): never {
  // Whole, with its stack, and never rate-limited: the last line before the exit (written synchronously).
  processLog().fatal({ err }, `${what}; exiting`);
  process.exit(1);
}

// a stray rejection means some state may be wrong: die loudly, the supervisor restarts us and
// unacknowledged records are read again.
process.on('unhandledRejection', (err) => fatal('unhandled rejection', err));
process.on('uncaughtException', (err) => fatal('uncaught exception', err));

/** Logs rows/s and backlog at most once a second, and only when something is happening. */
function reportProgress(sink: Sink): NodeJS.Timeout {
  let lastRows = 0;
  let lastAt = Date.now();
  let lastLine = '';
  const timer = setInterval(() => {
    void (async () => {
      const now = Date.now();
      const st = sink.stats();
      const rate = Math.round(((st.rowsWritten - lastRows) * 1000) / Math.max(1, now - lastAt));
      lastRows = st.rowsWritten;
      lastAt = now;
      let backlog: number | undefined;
      let backlogErr: unknown;
      try {
        backlog = await sink.backlog();
      } catch (err) {
        backlogErr = shortErr(err);
      }
      const fields = { rowsPerSec: rate, backlog, backlogErr, written: st.rowsWritten, inserts: st.inserts,
        held: st.held, dead: st.deadLettered, deferred: st.deferred, reclaimed: st.reclaimed,
        unreachable: st.unreachable, serversDown: st.serversDown };
      const line = JSON.stringify(fields);
      // an idle sink prints once, not every second.
      if (rate > 0 || line !== lastLine) log.info('progress', fields);
      lastLine = line;
    })();
  }, 1000);
  timer.unref();
  return timer;
}

async function main(): Promise<void> {
  const cfg = loadConfig();
  initLog('sink', cfg.log.level);
  log = createLog();
  const redis = createSinkRedis(cfg);
  // ioredis reconnects by itself; the event only needs to be seen, not to crash the process.
  redis.on('error', (err: unknown) => log.error('redis', 'redis connection error', err));
  const mysql = openMysql(cfg.mysql);
  // Listening first: /healthz says 503 until the sink runs, and a busy port fails the start.
  const metrics = new SinkMetrics();
  let running = false;
  const server = await startMetricsServer(cfg.metrics.sinkHost, cfg.metrics.sinkPort, metrics.registry, () => running);
  // scripts, tests and the drill read the address of a free port (SINK_METRICS_PORT=0) from this line.
  log.info('metrics listening', { url: `http://${cfg.metrics.sinkHost}:${server.port}`, port: server.port });
  log.info('starting', { consumer: cfg.sink.consumer, group: cfg.redis.streamGroup, partitions: cfg.redis.partitions,
    keyPrefix: cfg.redis.keyPrefix, dbPrefix: cfg.mysql.dbPrefix, batchMaxRows: cfg.sink.batchMaxRows, batchMaxWaitMs: cfg.sink.batchMaxWaitMs });
  const sink = await startSink(cfg, { redis, mysql, log, observer: metrics.observer, onFatal: (err) => fatal('read loop ended', err) });
  const progress = reportProgress(sink);
  const rc = reconcileCtx(cfg, redis, mysql);
  const reconciler = new ReconcileJob(rc, cfg.sink.consumer, log);
  reconciler.start();
  // Bulk grant jobs run under the same lease as the reconciler (sink/grant-jobs.ts).
  const grantProgress = { users: 0, granted: 0 };
  const grants = new GrantJobs(grantRunDeps(cfg, rc, mysql, grantProgress), cfg.sink.consumer, cfg.reconcile.leaseMs, log);
  grants.start();
  const sweep = new LockSweepJob(mysql, cfg, log);
  sweep.start();
  metrics.watch(sink, { reconciler, grants, grantProgress, sweep });
  running = true;
  log.info('running');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      log.info('signalled again: exiting now; unacked records stay pending', { signal });
      process.exit(1);
    }
    stopping = true;
    running = false;
    log.info('draining: writing what is held, then exiting', { signal });
    void (async () => {
      // Grant runners first: their last chunk's records go to the streams the sink then drains.
      await grants.stop();
      await Promise.all([sink.stop(), reconciler.stop(), sweep.stop()]);
      clearInterval(progress);
      const st = sink.stats();
      log.info('stopped', { written: st.rowsWritten, dead: st.deadLettered, held: st.held });
      await Promise.all([mysql.close(), server.close()]);
      redis.disconnect();
      process.exit(0);
    })().catch((err) => fatal('shutdown failed', err));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err) => fatal('start-up failed', err));
