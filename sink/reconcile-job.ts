/**
 * The periodic reconciler inside the sink process. Every RECONCILE_RESTART_CHECK_MS it takes or
 * renews the lease (only the holder works) and looks at Redis's run id; it runs a pass every
 * RECONCILE_EVERY_MS, and at once when Redis restarted, to close that window as soon as it can.
 */
import type { Log } from './log.ts';
import { Lease } from '../reconcile/lease.ts';
import type { ReconcileCtx } from '../reconcile/context.ts';
import { reconcileOnce } from '../reconcile/reconcile.ts';
import { attention, notes, summary } from '../reconcile/report-lines.ts';
import { restartedSince } from '../reconcile/restart.ts';

// Template lines per kind per pass: a pass after a wide loss may find every template wrong, and
// the last line names the rest (`npm run reconcile -- --json` has all their numbers).
const LOG_TEMPLATE_LINES = 50;

export class ReconcileJob {
  private timer: NodeJS.Timeout | undefined;
  private lastPass = 0;
  private running: Promise<void> | undefined;
  private readonly lease: Lease;
  /** Passes done and failed since start, and the lines needing attention the last pass found (read by /metrics). */
  passes = 0;
  failedPasses = 0;
  findings = 0;
  /** Templates the last pass found with more coupons in MySQL than their total (read by /metrics). */
  overIssued = 0;

  constructor(private readonly c: ReconcileCtx, owner: string, private readonly log: Log) {
    this.lease = new Lease(c.redis, c.ks, owner, c.cfg.leaseMs);
  }

  /** Starts ticking. */
  start(): void {
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        if (this.timer) this.start();
      });
    }, this.c.cfg.restartCheckMs);
    this.timer.unref();
  }

  /** Stops ticking, lets a pass in progress finish and gives the lease back. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await this.lease.drop().catch(() => undefined);
  }

  private async tick(): Promise<void> {
    try {
      if (!(await this.lease.take()).ok) return;
      const due = Date.now() - this.lastPass >= this.c.cfg.everyMs;
      if (!due && !(await restartedSince(this.c)).restarted) return;
      this.lastPass = Date.now();
      const r = await reconcileOnce(this.c);
      this.passes++;
      this.findings = attention(r).length;
      this.overIssued = r.counts.filter((f) => f.mysqlIssued > f.total).length;
      this.log.info(summary(r));
      // Not rate-limited: a rate limit would fold other templates' lines into a skipped count.
      for (const line of attention(r, LOG_TEMPLATE_LINES)) this.log.alert(`reconcile: needs attention: ${line}`);
      for (const line of notes(r, LOG_TEMPLATE_LINES)) this.log.info(`reconcile: ${line}`);
    } catch (err) {
      this.failedPasses++;
      this.log.error('reconcile', 'reconcile pass failed; retried next time', err);
    }
  }
}
