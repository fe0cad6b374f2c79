/**
 * Backpressure: samples how many stream entries (the records of one claim call each) the sink
 * has not acknowledged yet (all partitions). Above the bound, claims get 503 instead of growing
 * Redis memory without limit.
 */
import type { KeySpace } from '../lua/keys.ts';
import type { RedisClient } from '../lua/client.ts';
import { totalBacklog } from '../lua/backlog.ts';

export class BacklogMonitor {
  /** Last sampled total, or -1 before the first sample. */
  backlog = -1;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly redis: RedisClient, private readonly ks: KeySpace,
    private readonly group: string, private readonly max: number, private readonly pollMs: number) {}

  /** True while the backlog is above the bound. */
  get overloaded(): boolean {
    return this.backlog > this.max;
  }

  /** Takes one sample now, then keeps sampling in the background. */
  async start(): Promise<void> {
    await this.sample();
    const tick = () => {
      this.timer = setTimeout(() => void this.sample().finally(() => { if (this.timer) tick(); }), this.pollMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async sample(): Promise<void> {
    try {
      this.backlog = await totalBacklog(this.redis, this.ks, this.group);
    } catch {
      // Redis unreachable: claims fail on their own; keep the last sample.
    }
  }
}
