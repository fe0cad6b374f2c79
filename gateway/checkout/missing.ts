/**
 * A coupon id whose row is not in MySQL: not stored yet (the sink is a moment behind the claim:
 * 503 with Retry-After) or not ours (404). A coupon id is `<db>.<table>.<partition>.<seq>`, and
 * a partition's sequence runs at the clock in microseconds (lua/includes/issue.lua): an id the
 * partition has minted (seq at or below its sequence) within CHECKOUT_STORE_WAIT_MS may be on
 * its way; any other id never was issued, or was long enough ago to be stored.
 */
import { ApiError, orUnavailable } from '../../core/errors.ts';
import type { RedisClient } from '../../lua/client.ts';
import { type KeySpace, seqKey } from '../../lua/keys.ts';

const ID = /^\d{1,4}\.\d{1,4}\.(\d{1,4})\.(\d{1,20})$/;
// Clocks of gateways and Redis may differ a little.
const SKEW_MS = 5_000;

/** The error for a missing coupon id: `unavailable` while it may still be stored, else `coupon_not_found`. */
export async function missingCoupon(redis: RedisClient, ks: KeySpace, couponId: string, now: number, waitMs: number): Promise<ApiError> {
  const gone = new ApiError('coupon_not_found', 'no such coupon');
  const m = ID.exec(couponId);
  if (!m) return gone;
  const partition = Number(m[1]);
  const seq = BigInt(m[2]!);
  const mintedMs = Number(seq / 1000n);
  if (partition >= ks.partitions || mintedMs < now - waitMs || mintedMs > now + SKEW_MS) return gone;
  const minted = await orUnavailable('redis', () => redis.get(seqKey(ks, partition)));
  if (minted === null || !/^\d{1,20}$/.test(minted) || seq > BigInt(minted)) return gone;
  return new ApiError('unavailable', 'the coupon was issued moments ago and is not stored yet: retry shortly');
}
