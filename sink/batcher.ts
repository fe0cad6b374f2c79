/**
 * Size-and-time batching (brief, section 6): a batch is due when it holds `maxRows` records or
 * its oldest record has waited `maxWaitMs`. Waiting to fill batches is what keeps the sink
 * cheap: 4-row INSERTs ate the gateway's CPU, ~175-row INSERTs did not. Pure logic, no I/O;
 * the caller passes the clock so tests need no timers.
 */
export class Batcher<T> {
  private items: T[] = [];
  // arrival time of each item, parallel to `items`, so a partial take keeps the right age.
  private times: number[] = [];

  constructor(readonly maxRows: number, readonly maxWaitMs: number) {
    if (!(maxRows >= 1)) throw new Error('Batcher: maxRows must be at least 1');
    if (!(maxWaitMs >= 0)) throw new Error('Batcher: maxWaitMs must be >= 0');
  }

  /** Records held. */
  get size(): number {
    return this.items.length;
  }

  /** True when at least one full batch is held (the caller stops reading more). */
  get full(): boolean {
    return this.items.length >= this.maxRows;
  }

  /** Adds one record that arrived at `now` (ms). */
  add(item: T, now: number): void {
    this.items.push(item);
    this.times.push(now);
  }

  /** True when a batch should be written now: full, or the oldest record waited long enough. */
  isDue(now: number): boolean {
    return this.msUntilDue(now) === 0;
  }

  /** Milliseconds until a batch is due: 0 if due now, Infinity when empty. */
  msUntilDue(now: number): number {
    if (this.items.length === 0) return Infinity;
    if (this.items.length >= this.maxRows) return 0;
    return Math.max(0, this.times[0]! + this.maxWaitMs - now);
  }

  /** Removes and returns the oldest records, at most `maxRows` of them. */
  take(): T[] {
    const n = Math.min(this.maxRows, this.items.length);
    this.times.splice(0, n);
    return this.items.splice(0, n);
  }
}
