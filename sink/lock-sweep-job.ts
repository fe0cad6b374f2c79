/** Runs checkout/lock-sweep.ts every LOCK_SWEEP_MS in the sink: stale coupon locks return to unused. */
import type { Config } from '../config/index.ts';
import type { MysqlPools } from '../core/mysql.ts';
import { sweepLocks } from '../checkout/lock-sweep.ts';
import type { Log } from './log.ts';

export class LockSweepJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Locks released since start (read by /metrics). */
  released = 0;

  constructor(private readonly mysql: MysqlPools, private readonly cfg: Config, private readonly log: Log) {}

  /** Starts sweeping. */
  start(): void {
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        if (this.timer) this.start();
      });
    }, this.cfg.checkout.lockSweepMs);
    this.timer.unref();
  }

  /** Stops and waits for a sweep in progress. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async tick(): Promise<void> {
    try {
      const n = await sweepLocks(this.mysql, this.cfg.mysql, Date.now());
      this.released += n;
      if (n > 0) this.log.info(`released ${n} coupon lock(s) past COUPON_LOCK_TTL_MS`);
    } catch (err) {
      this.log.error('lock-sweep', 'releasing stale coupon locks failed (next sweep retries)', err);
    }
  }
}
