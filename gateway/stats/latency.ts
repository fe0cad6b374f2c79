/**
 * Claim latency on the hot path: one comparison per bucket below the claim's and one increment,
 * no allocation and no library call. /metrics reads the buckets at scrape time
 * (gateway/metrics/claim-metrics.ts), as it reads the claim counts.
 */

/** Upper bounds in milliseconds: a claim takes ~1 ms, Redis's command timeout is 250 ms. */
export const LATENCY_BOUNDS_MS: readonly number[] = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000];

/** A fixed-bucket histogram of durations (non-cumulative counts; the last bucket is +Inf). */
export class LatencyBuckets {
  private readonly bounds = Float64Array.from(LATENCY_BOUNDS_MS);
  /** Claims per bucket; index bounds.length holds those above every bound. */
  readonly counts = new Float64Array(LATENCY_BOUNDS_MS.length + 1);
  /** Sum of every observed duration, in milliseconds. */
  sumMs = 0;

  /** Records one claim (or Redis call) that took `ms` milliseconds. */
  observe(ms: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && ms > b[i]!) i++;
    this.counts[i]!++;
    this.sumMs += ms;
  }
}

/** What METRICS_ENABLED=0 observes with: nothing, for the bench's run with metrics off. */
export class NoLatency extends LatencyBuckets {
  override observe(): void {}
}
