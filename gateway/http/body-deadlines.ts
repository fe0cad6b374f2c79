/**
 * Deadlines of request bodies still arriving (slowloris), checked by one interval timer. uWS
 * drops a body still arriving after 8-12 s, silently and at a time nobody configured; this gives
 * a configured deadline and a 408. One Set entry per body costs ~60 ns where a setTimeout and
 * clearTimeout per request cost ~800 ns, and most bodies arrive with their headers.
 */

/** A body being read: `expire` runs once if it is still pending at its deadline. */
export interface Waiting {
  readonly tick: number;
  readonly expire: () => void;
}

export class BodyDeadlines {
  private readonly pending = new Set<Waiting>();
  private readonly ticks: number;
  private readonly timer: NodeJS.Timeout;
  private tick = 0;

  /** A body expires between `timeoutMs` and 1.25 x `timeoutMs` after it was added. */
  constructor(timeoutMs: number) {
    const tickMs = Math.max(10, Math.ceil(timeoutMs / 4));
    this.ticks = Math.ceil(timeoutMs / tickMs);
    this.timer = setInterval(() => this.sweep(), tickMs).unref();
  }

  /** Starts the deadline of one body; pass the result to done() when the body ends first. */
  add(expire: () => void): Waiting {
    const w = { tick: this.tick, expire };
    this.pending.add(w);
    return w;
  }

  /** The body completed (or failed) before its deadline. */
  done(w: Waiting): void {
    this.pending.delete(w);
  }

  /** Stops the timer (shutdown). */
  stop(): void {
    clearInterval(this.timer);
  }

  private sweep(): void {
    this.tick++;
    // Insertion order is age order: stop at the first body that still has time.
    for (const w of this.pending) {
      if (this.tick - w.tick <= this.ticks) break;
      this.pending.delete(w);
      w.expire();
    }
  }
}
