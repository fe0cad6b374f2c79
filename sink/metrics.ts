/**
 * The sink's /metrics registry (served by metrics-server.ts). Batches and INSERTs are observed
 * as they happen (a few per second); everything else is read at scrape time.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { GrantProgress } from './grant-runner.ts';
import type { Sink, SinkObserver, SinkStats } from './sink.ts';

/** What the sink process runs beside the sink itself, as /metrics reads them. */
export interface SinkJobs {
  readonly reconciler: { readonly passes: number; readonly failedPasses: number; readonly findings: number; readonly overIssued: number };
  readonly grants: { readonly running: number };
  readonly grantProgress: GrantProgress;
  readonly sweep: { readonly released: number };
}

export class SinkMetrics {
  readonly registry = new Registry();
  /** Hand it to startSink (sink.ts SinkDeps.observer). */
  readonly observer: SinkObserver;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const batches = new Histogram({ name: 'coupon_sink_batch_rows', help: 'Records per batch the sink writes.',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 4000, 8000, 20000], registers });
    const inserts = new Histogram({ name: 'coupon_sink_insert_duration_seconds', help: 'Time of one shard table\'s INSERT (rows and reminders), retries included.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers });
    this.observer = { batch: (rows) => batches.observe(rows), insert: (seconds) => inserts.observe(seconds) };
  }

  /** Registers the numbers read at scrape time from the running sink and its jobs. */
  watch(sink: Sink, jobs: SinkJobs): void {
    const registers = [this.registry];
    const total = (name: string, help: string, read: () => number) =>
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
    const stat = (name: string, help: string, key: keyof SinkStats) => total(name, help, () => sink.stats()[key]);
    stat('coupon_sink_rows_written_total', 'Coupon rows written to MySQL (a redelivered record counts again).', 'rowsWritten');
    stat('coupon_sink_inserts_total', 'Shard table INSERTs committed.', 'inserts');
    stat('coupon_sink_dead_letters_total', 'Records set aside in the dead-letter streams.', 'deadLettered');
    stat('coupon_sink_deferred_total', 'Records left pending because their template row was missing.', 'deferred');
    stat('coupon_sink_unreachable_total', 'Records left pending because their MySQL server was down (written once it answers; a record kept again counts again).', 'unreachable');
    new Gauge({ name: 'coupon_sink_mysql_servers_down', help: 'MySQL servers this sink has marked down; their records wait in the streams.', registers,
      collect() { this.set(sink.stats().serversDown); } });
    stat('coupon_sink_reclaimed_total', 'Stream entries taken over from a silent consumer (XAUTOCLAIM).', 'reclaimed');
    stat('coupon_sink_trimmed_total', 'Acknowledged entries trimmed from the streams.', 'trimmed');
    new Gauge({ name: 'coupon_sink_held_records', help: 'Records read and not yet written.', registers,
      collect() { this.set(sink.stats().held); } });
    new Gauge({
      name: 'coupon_stream_backlog_partition', help: 'Stream entries not yet acknowledged, per partition (read from Redis at scrape time).',
      labelNames: ['partition'], registers,
      async collect() {
        this.reset();
        (await sink.backlogs()).forEach((n, partition) => this.set({ partition: String(partition) }, n));
      },
    });
    new Counter({ name: 'coupon_reconcile_passes_total', help: 'Reconciler passes of this process, by result.', labelNames: ['result'], registers,
      collect() {
        this.reset();
        this.inc({ result: 'ok' }, jobs.reconciler.passes);
        this.inc({ result: 'failed' }, jobs.reconciler.failedPasses);
      } });
    new Gauge({ name: 'coupon_reconcile_findings', help: 'Lines needing attention that the last reconciler pass of this process found.', registers,
      collect() { this.set(jobs.reconciler.findings); } });
    // Apart from the findings: an over-issue is the one that pages someone at once.
    new Gauge({ name: 'coupon_reconcile_over_issued_templates', help: 'Templates whose coupons in MySQL exceed their total stock, at the last reconciler pass of this process.',
      registers, collect() { this.set(jobs.reconciler.overIssued); } });
    new Gauge({ name: 'coupon_grant_jobs_running', help: 'Bulk grant jobs this process runs now.', registers,
      collect() { this.set(jobs.grants.running); } });
    total('coupon_grant_users_total', 'Users decided by committed grant chunks of this process.', () => jobs.grantProgress.users);
    total('coupon_grant_issued_total', 'Coupons granted by committed grant chunks of this process.', () => jobs.grantProgress.granted);
    total('coupon_lock_sweep_released_total', 'Coupon locks released past COUPON_LOCK_TTL_MS.', () => jobs.sweep.released);
  }
}
