/**
 * Retry with exponential backoff, for the sink's MySQL and Redis calls. The sink never acks a
 * record it has not written, so on failure it waits and tries again instead of giving up; only
 * shutdown (the abort signal) ends the wait, leaving the records pending for another consumer.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown when the abort signal fired while retrying: the work was not done. */
export class Abandoned extends Error {
  constructor() {
    super('abandoned at shutdown');
  }
}

export interface RetryOptions {
  /** Cap of the doubling delay. */
  readonly maxMs: number;
  /** Aborting ends the retries with Abandoned. */
  readonly signal: AbortSignal;
  /** Gives up after this many attempts (default: never) by rethrowing the last error. */
  readonly maxAttempts?: number;
  /** Rethrows at once an error for which this returns true (no retry in place). */
  readonly giveUp?: (err: unknown) => boolean;
  /** Called before each wait. */
  readonly onError: (err: unknown, attempt: number, delayMs: number) => void;
}

const FIRST_DELAY_MS = 50;

/**
 * Runs `fn` until it succeeds, waiting 50 ms, 100 ms, ... up to `maxMs` between attempts. The
 * first attempt runs even after the abort: the ack of rows that did commit must still be tried.
 */
export async function retry<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  let delay = Math.min(FIRST_DELAY_MS, o.maxMs);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if ((o.maxAttempts !== undefined && attempt >= o.maxAttempts) || o.giveUp?.(err)) throw err;
      if (o.signal.aborted) throw new Abandoned();
      o.onError(err, attempt, delay);
      await abortableSleep(delay, o.signal);
      if (o.signal.aborted) throw new Abandoned();
      delay = Math.min(delay * 2, o.maxMs);
    }
  }
}

/** Sleeps `ms`, or less when `signal` aborts (resolves either way; callers check the signal). */
export async function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // aborted: the caller looks at the signal and decides.
  }
}
