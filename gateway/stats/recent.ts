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

const rate = (n: number) => Math.round((n / RECENT_S) * 1000) / 1000;

/** Claims and issued coupons per second over the RECENT_S whole seconds before `now`. */
export async function readRecentRates(redis: RedisClient, ks: KeySpace, templateId: string, now: number): Promise<RecentRates> {
  const current = Math.floor(now / 1000);
  const seconds = await Promise.all(Array.from({ length: RECENT_S },
    (_, i) => redis.hmget(statsSecondKey(ks, templateId, current - 1 - i), 'c', 'i')));
  let claims = 0;
  let issued = 0;
  for (const [c, i] of seconds) {
    claims += Number(c ?? 0);
    issued += Number(i ?? 0);
  }
  return { claimsPerSecond: rate(claims), issuedPerSecond: rate(issued) };
}
