/** Recent claim rates of a template from the per-second buckets every gateway flushes (flusher.ts). */
import type { RedisClient } from '../../lua/client.ts';
import { type KeySpace, statsSecondKey } from '../../lua/keys.ts';

/**
 * Seconds a recent rate is averaged over. The current second is left out (its flush may not
 * have run yet), and gateways flush about once a second on timers of their own: five whole
 * seconds smooth a flush that lands one bucket early or late, and still follow a burst within
 * seconds (the stats route's 60 s rate does not).
 */
export const RECENT_S = 5;

export interface RecentRates {
  readonly claimsPerSecond: number;
  readonly issuedPerSecond: number;
}

/**
 * Claims and issued coupons per second over the `n` seconds that end with second `last` (epoch
 * seconds, as the flushing gateways' clocks name their buckets), to three decimals.
 */
export async function ratesOver(redis: RedisClient, ks: KeySpace, templateId: string, last: number, n: number): Promise<RecentRates> {
  // One key per command: they share a slot, but this reads the same on one Redis and on a cluster.
  const seconds = await Promise.all(Array.from({ length: n }, (_, i) => redis.hmget(statsSecondKey(ks, templateId, last - i), 'c', 'i')));
  let claims = 0;
  let issued = 0;
  for (const [c, i] of seconds) {
    claims += Number(c ?? 0);
    issued += Number(i ?? 0);
  }
  // Three decimals: one claim a minute still shows (0.017).
  const rate = (x: number) => Math.round((x / n) * 1000) / 1000;
  return { claimsPerSecond: rate(claims), issuedPerSecond: rate(issued) };
}

/** Claims and issued coupons per second over the RECENT_S whole seconds before `now`. */
export function readRecentRates(redis: RedisClient, ks: KeySpace, templateId: string, now: number): Promise<RecentRates> {
  return ratesOver(redis, ks, templateId, Math.floor(now / 1000) - 1, RECENT_S);
}
