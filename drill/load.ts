/**
 * The drill's claim load: a fixed set of users claiming the drill's templates through the real
 * gateways, every attempt recorded (facts.ts). Each request carries a request id and is retried
 * with that same id after an error or no answer, the way a careful client retries; some are
 * sent twice at once, some users click twice, and some answered requests are sent again late:
 * all of it must come back consistent.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DrillClient } from './client.ts';
import type { Attempt, Outcome } from './facts.ts';

export interface LoadOptions {
  /** Base URLs of the gateways; every attempt picks one. */
  readonly gateways: readonly string[];
  readonly clients: number;
  readonly users: number;
  /** Client timeout of one attempt. */
  readonly timeoutMs: number;
  /** Attempts per request before the client gives up (its last answer stays unknown). */
  readonly maxAttempts: number;
  /** Pause of each client between two requests (sets the rate). */
  readonly thinkMs: number;
}

// Shares of the special sends (the rest are plain requests).
const DUPLICATE_SEND = 0.04; // one request id to two gateways at once (a client-side resend)
const DOUBLE_CLICK = 0.04; // two request ids of one user for one template at once
const LATE_REPLAY = 0.05; // of plain requests answered "issued", sent again: must replay the same coupon

const backoffMs = (n: number) => Math.min(50 * 2 ** n, 800) + Math.random() * 50;
const decided = (o: Outcome) => o.kind === 'issued' || o.kind === 'refused';
/** Worth a retry with the same request id: the outcome is unknown or the refusal is temporary. */
const retryable = (o: Outcome) =>
  (o.kind === 'transport' && o.error !== 'aborted') || (o.kind === 'error' && (o.status === 429 || o.status >= 500));

export class Load {
  /** Every attempt so far, in the order their outcomes arrived. */
  readonly attempts: Attempt[] = [];
  private readonly templates: { id: string; weight: number }[] = [];
  private running = false;
  private aborting = false;
  private loops: Promise<void>[] = [];
  private seq = 0;

  constructor(private readonly client: DrillClient, private readonly o: LoadOptions, private readonly requestPrefix: string) {}

  /** Adds a template to the mix (also while running): picked in proportion to `weight`. */
  add(templateId: string, weight: number): void {
    this.templates.push({ id: templateId, weight });
  }

  /** Starts the clients. */
  start(): void {
    if (this.templates.length === 0) throw new Error('load: no templates');
    this.running = true;
    this.loops = Array.from({ length: this.o.clients }, () => this.clientLoop());
  }

  /**
   * Stops starting requests and lets the ones under way finish their retries; after `boundMs`
   * the rest are cut off (recorded as 'aborted'). Resolves when every client has stopped.
   */
  async stop(boundMs: number): Promise<void> {
    this.running = false;
    const all = Promise.all(this.loops);
    const timer = setTimeout(() => {
      this.aborting = true;
      this.client.abortAll();
    }, boundMs);
    try {
      await all;
    } finally {
      clearTimeout(timer);
    }
  }

  /** True when stop() had to cut requests off. */
  get cutOff(): boolean {
    return this.aborting;
  }

  private async clientLoop(): Promise<void> {
    while (this.running) {
      const templateId = this.pickTemplate();
      const userId = `u${Math.floor(Math.random() * this.o.users)}`;
      const roll = Math.random();
      if (roll < DUPLICATE_SEND) {
        const rid = this.nextRequestId();
        await Promise.all([this.request(templateId, userId, rid, 0), this.request(templateId, userId, rid, 1)]);
      } else if (roll < DUPLICATE_SEND + DOUBLE_CLICK) {
        await Promise.all([this.request(templateId, userId, this.nextRequestId()), this.request(templateId, userId, this.nextRequestId())]);
      } else {
        const rid = this.nextRequestId();
        const out = await this.request(templateId, userId, rid);
        if (out.kind === 'issued' && Math.random() < LATE_REPLAY) {
          await this.request(templateId, userId, rid);
        }
      }
      await sleep(this.o.thinkMs);
    }
  }

  /** Sends one request until it is decided, retrying with the same request id. */
  private async request(templateId: string, userId: string, requestId: string, gatewayOffset?: number): Promise<Outcome> {
    let outcome: Outcome = { kind: 'transport', error: 'aborted' };
    for (let n = 0; n < this.o.maxAttempts && !this.aborting; n++) {
      const gateway = n === 0 && gatewayOffset !== undefined
        ? gatewayOffset % this.o.gateways.length
        : Math.floor(Math.random() * this.o.gateways.length);
      const sentAt = Date.now();
      outcome = await this.client.claim(this.o.gateways[gateway]!, userId, templateId, requestId, this.o.timeoutMs);
      this.attempts.push({ requestId, userId, templateId, gateway, sentAt, endedAt: Date.now(), outcome });
      if (decided(outcome) || !retryable(outcome)) return outcome;
      await sleep(backoffMs(n));
    }
    return outcome;
  }

  private pickTemplate(): string {
    const total = this.templates.reduce((s, t) => s + t.weight, 0);
    let r = Math.random() * total;
    for (const t of this.templates) {
      r -= t.weight;
      if (r < 0) return t.id;
    }
    return this.templates[this.templates.length - 1]!.id;
  }

  private nextRequestId(): string {
    return `${this.requestPrefix}.${(this.seq++).toString(36)}`;
  }
}
