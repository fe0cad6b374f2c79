/** Reads a template's claim stats, as every gateway flushed them, from Redis. */
import type { RedisClient } from '../../lua/client.ts';
import { type KeySpace, statsTotalsKey } from '../../lua/keys.ts';
import { REJECT_REASONS, type RejectReason } from './counter.ts';
import { ratesOver } from './recent.ts';

/** Rates are averaged over this many seconds. */
export const WINDOW_S = 60;

export interface ClaimStats {
  readonly rejected: Record<RejectReason, number>;
  readonly claimsPerSecond: number;
  readonly issuedPerSecond: number;
  readonly windowSeconds: number;
}

/** Rejections since the template was created and rates over the last WINDOW_S seconds up to `now`. */
export async function readClaimStats(redis: RedisClient, ks: KeySpace, templateId: string, now: number): Promise<ClaimStats> {
  // Buckets are named by the flushing gateway's clock: clocks a second apart shift one bucket.
  const [totals, rates] = await Promise.all([
    redis.hgetall(statsTotalsKey(ks, templateId)),
    ratesOver(redis, ks, templateId, Math.floor(now / 1000), WINDOW_S),
  ]);
  const rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, Number(totals[r] ?? 0)])) as Record<RejectReason, number>;
  return { rejected, ...rates, windowSeconds: WINDOW_S };
}
