/**
 * The admin routes' gate: a bearer token compared in constant time, and a budget of wrong
 * tokens per client address. Once an address spent it, its admin calls get 429 without the
 * token being checked at all, so guessing costs time instead of only requests.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { TokenBucket } from '../admission.ts';
import { ApiError } from '../../core/errors.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

export interface GuardOptions {
  /** Wrong tokens an address may send at once. */
  readonly failureBurst: number;
  /** Wrong tokens per minute an address earns back. */
  readonly failuresPerMinute: number;
  /** Addresses remembered at most (the oldest is forgotten first), so memory stays bounded. */
  readonly maxAddresses: number;
}

export class AdminGuard {
  private readonly want: Buffer;
  private readonly failures = new Map<string, TokenBucket>();

  /** `what` names the token in the 401 ('admin', 'order service'). */
  constructor(token: string, private readonly o: GuardOptions, private readonly what = 'admin') {
    // Hashing first makes the comparison independent of the token's length.
    this.want = digest(token);
  }

  /** Throws 429 for an address out of budget, 401 for a missing or wrong token. */
  check(authorization: string, address: string, now: number): void {
    const spent = this.failures.get(address);
    if (spent && !spent.available(now)) throw new ApiError('rate_limited', `too many wrong ${this.what} tokens from this address`);
    const m = /^Bearer (\S+)$/.exec(authorization);
    if (m && timingSafeEqual(digest(m[1]!), this.want)) return;
    this.bucket(address, now).take(now);
    throw new ApiError('unauthorized', `missing or wrong ${this.what} token`);
  }

  private bucket(address: string, now: number): TokenBucket {
    let b = this.failures.get(address);
    if (!b) {
      if (this.failures.size >= this.o.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
      this.failures.set(address, (b = new TokenBucket(this.o.failuresPerMinute / 60, this.o.failureBurst, now)));
    }
    return b;
  }
}
