/** Reads a template's claim stats, as every gateway flushed them, from Redis. */
import type { RedisClient } from '../../lua/client.ts';
import { type KeySpace, statsSecondKey, statsTotalsKey } from '../../lua/keys.ts';
import { REJECT_REASONS, type RejectReason } from './counter.ts';

/** Rates are averaged over this many seconds. */
export const WINDOW_S = 60;

export interface ClaimStats {
  readonly rejected: Record<RejectReason, number>;
  readonly claimsPerSecond: number;
  readonly issuedPerSecond: number;
  readonly windowSeconds: number;
}

// Three decimals: one claim a minute still shows (0.017).
const rate = (n: number) => Math.round((n / WINDOW_S) * 1000) / 1000;

/** Rejections since the template was created and rates over the last WINDOW_S seconds up to `now`. */
export async function readClaimStats(redis: RedisClient, ks: KeySpace, templateId: string, now: number): Promise<ClaimStats> {
  // Buckets are named by the flushing gateway's clock: clocks a second apart shift one bucket.
  const last = Math.floor(now / 1000);
  // One key per command: they share a slot, but this reads the same on one Redis and on a cluster.
  const [totals, seconds] = await Promise.all([
    redis.hgetall(statsTotalsKey(ks, templateId)),
    Promise.all(Array.from({ length: WINDOW_S }, (_, i) => redis.hmget(statsSecondKey(ks, templateId, last - i), 'c', 'i'))),
  ]);
  let claims = 0;
  let issued = 0;
  for (const [c, i] of seconds) {
    claims += Number(c ?? 0);
    issued += Number(i ?? 0);
  }
  const rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, Number(totals[r] ?? 0)])) as Record<RejectReason, number>;
  return { rejected, claimsPerSecond: rate(claims), issuedPerSecond: rate(issued), windowSeconds: WINDOW_S };
}
