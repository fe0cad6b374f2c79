/**
 * The failure budget of redemptions: a caller that sends invalid or used codes is slowed down.
 * Each user and each client address (an IPv6 one by its /64) has a token bucket of
 * REDEEM_FAILURE_BURST failures, earned back at REDEEM_FAILURES_PER_MINUTE; while either of the
 * two is empty, the caller's redemptions
 * get 429 too_many_failures before their code is even read. Guessing is hopeless anyway (2^-60 a
 * try, admission.ts's buckets shed floods): this only bounds what a guesser or a scraper of used
 * codes costs, per user and per address, so neither a botnet with one user nor one host cycling
 * users gets through unslowed.
 *
 * Buckets exist only for callers that failed, and at most REDEEM_FAILURE_KEYS of them: the one
 * that failed least recently is forgotten first, so a flood of made-up users or addresses costs
 * bounded memory (it can only make the budget forget older callers, never grow).
 */
import { TokenBucket } from './admission.ts';
import { ApiError } from '../core/errors.ts';

export interface FailureOptions {
  /** Failures a user or an address may have at once. */
  readonly failureBurst: number;
  /** Failures per minute earned back. */
  readonly failuresPerMinute: number;
  /** Users plus addresses remembered at most. */
  readonly maxKeys: number;
}

// uWS writes every address as 8 full groups of hex, an IPv4 one mapped ('0000:…:ffff:7f00:0001').
const FULL_V6_CHARS = 39;
const V4_MAPPED = '0000:0000:0000:0000:0000:ffff:';
// The first 4 groups: an IPv6 host is usually given a whole /64, so any one of its addresses is it.
const V6_PREFIX_CHARS = 19;

/** The part of a client address that names one host: an IPv6 address's /64, anything else whole. */
export function hostOf(address: string): string {
  return address.length === FULL_V6_CHARS && !address.startsWith(V4_MAPPED) ? address.slice(0, V6_PREFIX_CHARS) : address;
}

export class FailureBudget {
  // 'u<user>' and 'a<address>' in the order they last failed (a Map keeps insertion order).
  private readonly buckets = new Map<string, TokenBucket>();
  /** Seconds until an empty bucket holds one failure again: the Retry-After of a 429. */
  readonly retryAfterS: number;

  constructor(private readonly o: FailureOptions) {
    this.retryAfterS = Math.max(1, Math.ceil(60 / o.failuresPerMinute));
  }

  /** Throws 429 too_many_failures while the user's or the address's budget is spent. */
  check(userId: string, address: string, now: number): void {
    for (const key of [`u${userId}`, `a${hostOf(address)}`]) {
      const b = this.buckets.get(key);
      if (b && !b.available(now)) {
        throw new ApiError('too_many_failures', `too many invalid or used codes from this ${key[0] === 'u' ? 'user' : 'address'}: retry later`);
      }
    }
  }

  /** Spends one failure of the user's budget and one of the address's (owed when already spent). */
  failed(userId: string, address: string, now: number): void {
    for (const key of [`u${userId}`, `a${hostOf(address)}`]) {
      let b = this.buckets.get(key);
      if (b) this.buckets.delete(key);
      else {
        if (this.buckets.size >= this.o.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
        b = new TokenBucket(this.o.failuresPerMinute / 60, this.o.failureBurst, now);
      }
      // Into debt if need be: redemptions sent at once all pass check() before the first one
      // fails (a used code is known only after its Redis calls), and each must still be paid for.
      b.spend(now);
      this.buckets.set(key, b);
    }
  }

  /** Callers remembered (bounded by maxKeys). */
  get size(): number {
    return this.buckets.size;
  }
}
