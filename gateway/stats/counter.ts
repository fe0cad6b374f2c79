/**
 * Claim counting on the hot path: a Map lookup and two increments per claim, no Redis call.
 * A redemption is a claim of its code's template (code_used is one more reason).
 * Only claims for a template the cache returned are counted (an unknown id never is), so the
 * map holds at most one entry per cached template. The flusher (flusher.ts) takes the deltas.
 */
import type { ClaimAnswer } from '../claim/answer.ts';
import { ApiError, type ErrorCode } from '../../core/errors.ts';
import { type Refusal } from '../http/errors.ts';

/** Why a claim for a known template got no coupon, in the order the stats answer lists them. */
export const REJECT_REASONS = ['limit_reached', 'sold_out', 'not_started', 'ended', 'paused', 'not_eligible',
  'rate_limited', 'unavailable', 'code_used'] as const satisfies readonly (Refusal | ErrorCode)[];

export type RejectReason = (typeof REJECT_REASONS)[number];

/** Counter slots of a template: claims, issued coupons, then one per reject reason. */
export const CLAIMS = 0;
export const ISSUED = 1;
export const REASON_SLOT: ReadonlyMap<string, number> = new Map(REJECT_REASONS.map((r, i) => [r, 2 + i]));
export const SLOTS = 2 + REJECT_REASONS.length;

/** One template's counts, indexed by slot. */
export type Counts = Float64Array;

export class ClaimCounter {
  /** Counts not yet taken by the flusher, per template id. */
  readonly deltas = new Map<string, Counts>();

  /** Counts an answered claim: an issued coupon (a replay is not one) or a refusal. */
  answered(templateId: string, a: ClaimAnswer): void {
    if (a.status === 200) this.add(templateId, a.body.replayed === true ? undefined : ISSUED);
    else this.add(templateId, REASON_SLOT.get(a.body.status as string));
  }

  /** Counts a claim that ended in an error: rate_limited and unavailable are reasons, others only claims. */
  failed(templateId: string, err: unknown): void {
    this.add(templateId, err instanceof ApiError ? REASON_SLOT.get(err.code) : undefined);
  }

  private add(templateId: string, slot: number | undefined): void {
    let c = this.deltas.get(templateId);
    if (c === undefined) {
      c = new Float64Array(SLOTS);
      this.deltas.set(templateId, c);
    }
    c[CLAIMS]!++;
    if (slot !== undefined) c[slot]!++;
  }
}
