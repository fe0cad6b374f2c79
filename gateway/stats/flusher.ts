/**
 * Writes the claim counts of this gateway to Redis every tick, so any gateway can answer the
 * stats of every template. Exactly once, even when Redis fails: the deltas of a template become
 * a numbered batch; a batch whose write failed (Redis down, timeout, lost reply) stays
 * outstanding and is resent unchanged, and the script skips a batch it has applied before.
 * New counts of that template wait in the counter until its outstanding batch has landed.
 */
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../../lua/client.ts';
import { Commands } from '../../lua/commands.ts';
import type { KeySpace } from '../../lua/keys.ts';
import { logThrottled } from '../../core/log.ts';
import { CLAIMS, type ClaimCounter, type Counts, ISSUED, REASON_SLOT } from './counter.ts';

/** Per-second buckets live two rate windows, then Redis drops them. */
export const SECOND_TTL_S = 120;
// A batch is resent only while its gateway lives and gets no reply from Redis; a day of
// markers covers any outage a gateway rides out, and markers of stopped gateways go away.
const APPLIED_TTL_S = 86_400;

interface Batch {
  readonly templateId: string;
  readonly seq: number;
  /** Epoch second the counts are booked under (when the batch was made). */
  readonly second: number;
  readonly counts: Counts;
}

export class StatsFlusher {
  /**
   * Names this process in the applied markers; a restart starts a new sequence under a new id.
   * The random part keeps ids apart; a worker's name in front (w<index>-<pid>) says whose it is.
   */
  readonly gatewayId: string;
  private seq = 0;
  /** Batches made but not known to be written, by template id (at most one each). */
  private readonly outstanding = new Map<string, Batch>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  private readonly commands: Commands;

  constructor(redis: RedisClient, ks: KeySpace, private readonly counter: ClaimCounter, private readonly everyMs: number,
    name?: string) {
    this.commands = new Commands(redis, ks);
    const random = randomBytes(8).toString('base64url');
    this.gatewayId = name === undefined ? random : `${name}-${random}`;
  }

  /** Flushes every `everyMs` in the background (never two flushes at once). */
  start(): void {
    this.timer = setTimeout(() => {
      this.running = this.flush().finally(() => {
        this.running = undefined;
        if (this.timer) this.start();
      });
    }, this.everyMs);
    this.timer.unref();
  }

  /** Stops the ticks and flushes once more (graceful shutdown). */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await this.flush();
  }

  /** Writes the counts taken so far plus every outstanding batch; never throws. */
  async flush(now = Date.now()): Promise<void> {
    for (const id of [...this.counter.deltas.keys()]) {
      if (this.outstanding.has(id)) continue;
      const counts = this.counter.take(id)!;
      this.outstanding.set(id, { templateId: id, seq: ++this.seq, second: Math.floor(now / 1000), counts });
    }
    const batches = [...this.outstanding.values()];
    const results = await Promise.allSettled(batches.map((b) => this.write(b)));
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') this.outstanding.delete(batches[i]!.templateId);
      else logThrottled('stats-flush', 'warn', 'claim stats not written, kept for the next flush', { err: r.reason });
    });
  }

  private async write(b: Batch): Promise<void> {
    const reasons: (string | number)[] = [];
    for (const [reason, slot] of REASON_SLOT) if (b.counts[slot]! > 0) reasons.push(reason, b.counts[slot]!);
    // Written and Stale (applied by an earlier send whose reply was lost) both mean done.
    await this.commands.statsAdd({ templateId: b.templateId, second: b.second, gatewayId: this.gatewayId, seq: b.seq,
      claims: b.counts[CLAIMS]!, issued: b.counts[ISSUED]! }, SECOND_TTL_S, APPLIED_TTL_S, reasons);
  }
}
