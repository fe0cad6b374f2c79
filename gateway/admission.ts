/**
 * Admission in front of Redis: a global token bucket per process and one per template, so a
 * flood is shed with 429 before it costs a Redis call.
 */
import type { Config } from '../config/index.ts';

/** Classic token bucket; time in milliseconds from any monotonic clock. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(private readonly ratePerSec: number, private readonly burst: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    if (!this.available(now)) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Takes one token even when there is none: the bucket goes into debt, and available() stays
   * false until the debt is earned back (for costs known only after the work was admitted).
   */
  spend(now: number): void {
    this.available(now);
    this.tokens -= 1;
  }

  /** True when a token could be taken now (takes none). */
  available(now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSec) / 1000);
      this.last = now;
    }
    return this.tokens >= 1;
  }
}

export class Admission {
  private readonly global: TokenBucket;
  // Only templates that exist get a bucket (the caller checks), so this is bounded by templates.
  private readonly perTemplate = new Map<string, TokenBucket>();
  /** Claims refused by the process-wide bucket, and by a template's (read by /metrics). */
  refusedGlobal = 0;
  refusedTemplate = 0;

  constructor(private readonly cfg: Config['admission'], now: number) {
    this.global = new TokenBucket(cfg.globalRps, cfg.globalBurst, now);
  }

  /** One token from the process-wide bucket. */
  admitGlobal(now: number): boolean {
    if (this.global.take(now)) return true;
    this.refusedGlobal++;
    return false;
  }

  /** One token from the template's bucket. */
  admitTemplate(templateId: string, now: number): boolean {
    let b = this.perTemplate.get(templateId);
    if (!b) this.perTemplate.set(templateId, (b = new TokenBucket(this.cfg.templateRps, this.cfg.templateBurst, now)));
    if (b.take(now)) return true;
    this.refusedTemplate++;
    return false;
  }
}
