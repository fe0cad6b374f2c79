/**
 * Backpressure: samples how many issuance records the sink has not acknowledged yet (all
 * partitions). Above the bound, claims get 503 instead of growing Redis memory without limit.
 */
import { allStreamKeys, type KeySpace } from '../lua/keys.ts';
import type { RedisClient } from '../lua/client.ts';

/** Unacknowledged entries of one stream for `group`: lag + pending, or the length if unread. */
export async function streamBacklog(redis: RedisClient, key: string, group: string): Promise<number> {
  let groups: unknown[];
  try {
    groups = (await redis.xinfo('GROUPS', key)) as unknown[];
  } catch (err) {
    if (/no such key/i.test(String(err))) return 0;
    throw err;
  }
  for (const g of groups as unknown[][]) {
    const f: Record<string, unknown> = {};
    for (let i = 0; i + 1 < g.length; i += 2) f[String(g[i])] = g[i + 1];
    if (f.name !== group) continue;
    // lag is null when Redis cannot tell (e.g. after deletions): fall back to the length.
    if (f.lag === null || f.lag === undefined) return Number(await redis.xlen(key));
    return Number(f.lag) + Number(f.pending);
  }
  return Number(await redis.xlen(key));
}

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
      const parts = await Promise.all(allStreamKeys(this.ks).map((k) => streamBacklog(this.redis, k, this.group)));
      this.backlog = parts.reduce((a, b) => a + b, 0);
    } catch {
      // Redis unreachable: claims fail on their own; keep the last sample.
    }
  }
}
