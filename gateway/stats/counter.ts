/**
 * Claim counting on the hot path: a Map lookup and two increments per claim, no Redis call.
 * A redemption is a claim of its code's template (code_used is one more reason).
 * Only claims for a template the cache returned are counted (an unknown id never is), so the
 * map holds at most one entry per cached template. The flusher (flusher.ts) takes the deltas;
 * what it took stays summed here, so /metrics reads totals at scrape time (gateway/metrics/).
 */
import type { ClaimAnswer } from '../claim/answer.ts';
import { ApiError, type ErrorCode } from '../../core/errors.ts';
import { type Refusal } from '../http/errors.ts';

/** Why a claim for a known template got no coupon, in the order the stats answer lists them. */
export const REJECT_REASONS = ['limit_reached', 'sold_out', 'not_started', 'ended', 'paused', 'not_eligible',
  'rate_limited', 'unavailable', 'code_used'] as const satisfies readonly (Refusal | ErrorCode)[];

export type RejectReason = (typeof REJECT_REASONS)[number];

/** Counter slots of a template: claims, issued coupons, one per reject reason, replays, other errors. */
export const CLAIMS = 0;
export const ISSUED = 1;
export const REASON_SLOT: ReadonlyMap<string, number> = new Map(REJECT_REASONS.map((r, i) => [r, 2 + i]));
// Only this process reads the last two (/metrics); the flusher writes claims, issued and reasons.
export const REPLAYED = 2 + REJECT_REASONS.length;
export const FAILED = REPLAYED + 1;
export const SLOTS = FAILED + 1;

/** Outcome label of each slot but CLAIMS (gateway/metrics/claim-metrics.ts). */
export const OUTCOME_OF_SLOT: readonly (string | undefined)[] = [undefined, 'issued', ...REJECT_REASONS, 'replayed', 'error'];

/** Outcomes of claims refused before their template was known: never in a template's counts. */
export type EarlyOutcome = 'rate_limited' | 'template_not_found' | 'unavailable';

/** One template's counts, indexed by slot. */
export type Counts = Float64Array;

export class ClaimCounter {
  /** Counts not yet taken by the flusher, per template id. */
  readonly deltas = new Map<string, Counts>();
  /** Counts the flusher took, summed per template id since start. */
  private readonly taken = new Map<string, Counts>();
  /** Claims refused before their template was known, by outcome. */
  readonly early = new Map<EarlyOutcome, number>();

  /** Counts an answered claim: an issued coupon, a replay (not a new coupon) or a refusal. */
  answered(templateId: string, a: ClaimAnswer): void {
    if (a.status === 200) this.add(templateId, a.body.replayed === true ? REPLAYED : ISSUED);
    else this.add(templateId, REASON_SLOT.get(a.body.status as string) ?? FAILED);
  }

  /**
   * Counts a claim that ended in an error: rate_limited and unavailable are reasons, others
   * errors; replication_timeout (REDIS_WAIT_REPLICAS) is counted as unavailable: a 503 of storage.
   */
  failed(templateId: string, err: unknown): void {
    const code = err instanceof ApiError ? (err.code === 'replication_timeout' ? 'unavailable' : err.code) : undefined;
    this.add(templateId, (code === undefined ? undefined : REASON_SLOT.get(code)) ?? FAILED);
  }

  /** Counts a claim refused before its template was known (only refusal paths call this). */
  refusedEarly(outcome: EarlyOutcome): void {
    this.early.set(outcome, (this.early.get(outcome) ?? 0) + 1);
  }

  /** Removes a template's deltas for the flusher; they stay in the totals. */
  take(templateId: string): Counts | undefined {
    const c = this.deltas.get(templateId);
    if (c === undefined) return undefined;
    this.deltas.delete(templateId);
    let t = this.taken.get(templateId);
    if (t === undefined) this.taken.set(templateId, (t = new Float64Array(SLOTS)));
    for (let i = 0; i < SLOTS; i++) t[i]! += c[i]!;
    return c;
  }

  /** Every count since start per template (taken plus not yet taken): a new map, for /metrics. */
  totals(): Map<string, Counts> {
    const out = new Map<string, Counts>();
    for (const [id, t] of this.taken) out.set(id, Float64Array.from(t));
    for (const [id, c] of this.deltas) {
      const o = out.get(id);
      if (o === undefined) out.set(id, Float64Array.from(c));
      else for (let i = 0; i < SLOTS; i++) o[i]! += c[i]!;
    }
    return out;
  }

  private add(templateId: string, slot: number): void {
    let c = this.deltas.get(templateId);
    if (c === undefined) {
      c = new Float64Array(SLOTS);
      this.deltas.set(templateId, c);
    }
    c[CLAIMS]!++;
    c[slot]!++;
  }
}
