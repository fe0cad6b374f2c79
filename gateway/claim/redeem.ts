/**
 * The second step of a redemption (the first is claim-home's reserve-only mode, which checked
 * the user's limit and replays and reserved the slot at home): code-take, in the partition of
 * the sub-stock k the code's number picks, checks the code's mark and, in one script, either
 * takes the coupon from k, issues it and marks the code, or (k empty) holds the code for this
 * reservation. A held code takes its coupon from the other sub-stocks as the overflow path does
 * (claim-take, same request id 'code:<number>'), then code-bind turns the hold into the mark (or
 * releases it: nothing taken); then the reservation is confirmed or released at home. The mark
 * and the stock of k share a slot; the other sub-stocks do not, hence the hold: while it stands
 * the code is this redemption's, and another user meeting it is answered 503 (retry), never
 * code_used unless the code ends bound.
 *
 * A gateway that dies in between leaves the reservation pending with the request id
 * 'code:<number>' in the record, if one was issued: the reconciler settles it from MySQL like
 * any other and binds or releases the hold with it (reconcile/reservations.ts); a hold whose
 * reservation is gone is resolved the same way (reconcile/code-holds.ts). A code taken from k
 * is marked in the same script as the issue, so its mark already holds.
 */
import { ApiError } from '../../core/errors.ts';
import { logThrottled } from '../../core/log.ts';
import { overflowAnswer, takeElsewhere } from '../../issuance/overflow.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { markEmpty } from '../cache/template-cache.ts';
import { type ClaimAnswer, issued, refused, type ReservedCtx, restarted } from './answer.ts';
import { type ClaimDeps, stepCall } from './deps.ts';
import { overflowDeps, settle } from './overflow.ts';

/** Redeems code number `code` for a reserved claim and settles the reservation. */
export async function takeCode(d: ClaimDeps, ctx: ReservedCtx, code: number): Promise<ClaimAnswer> {
  const k = code % ctx.c.template.subStocks;
  // A failure here leaves the reservation pending on purpose: whether the take ran is unknown,
  // and its record (which carries the request id) is what settles it later.
  const [rc, value] = await stepCall(d, () => d.commands.codeTake(ctx, k, code));
  if (rc === ScriptCode.CodeHeld) return redeemElsewhere(d, ctx, k, code);
  const couponId = rc === ScriptCode.Issued || rc === ScriptCode.Replayed ? String(value) : '';
  const settled = await settle(d, ctx, couponId);
  // Settled before us (a retry, or the reconciler): what replays answer is the answer now.
  if (settled !== undefined && settled !== '' && settled !== couponId) return issued(ctx, settled, true);
  switch (rc) {
    case ScriptCode.Issued: return issued(ctx, couponId);
    case ScriptCode.Replayed: return issued(ctx, couponId, true);
    case ScriptCode.CodeUsed: return refused('code_used');
    // Another redemption holds the code while it takes from another sub-stock: it ends bound
    // (then code_used) or free within moments.
    case ScriptCode.CodeBusy: throw new ApiError('unavailable', 'this code is being redeemed: retry shortly');
    case ScriptCode.StockMissing: throw new ApiError('unavailable', 'template stock is missing, retry shortly');
    case ScriptCode.Fenced: throw restarted();
    // This redemption stalled so long that the reconciler released its slot: nothing was taken.
    case ScriptCode.Released: throw new ApiError('unavailable', 'this redemption stalled and was released: retry');
    default: throw new Error(`codeTake returned unknown code ${rc}`);
  }
}

/** The code is held (its sub-stock k is empty): take from another sub-stock, bind or release the hold, settle. */
async function redeemElsewhere(d: ClaimDeps, ctx: ReservedCtx, k: number, code: number): Promise<ClaimAnswer> {
  markEmpty(ctx.c, k);
  // A failed take throws with the reservation and the hold left for the reconciler.
  const taken = await takeElsewhere(overflowDeps(d), ctx, ctx.c);
  await bindHold(d, ctx, k, code, taken.couponId);
  const r = overflowAnswer(ctx, ctx.c, taken, await settle(d, ctx, taken.couponId));
  return r === undefined ? refused('sold_out') : issued(ctx, r.couponId, r.replayed);
}

const BIND_ATTEMPTS = 3;

/**
 * Binds the hold to `couponId` or releases it (''); idempotent, so retried. If every attempt
 * fails the hold stays: the reconciler resolves it from MySQL (reconcile/code-holds.ts).
 */
async function bindHold(d: ClaimDeps, ctx: ReservedCtx, k: number, code: number, couponId: string): Promise<void> {
  for (let attempt = 1; attempt <= BIND_ATTEMPTS; attempt++) {
    try {
      const [rc, mark] = await d.breaker.record(() => d.commands.codeBind(ctx.templateId, k, code, ctx.userId, ctx.token, couponId));
      // Only a lost hold and another redemption since could bring this: it is logged, never hidden.
      if (rc === ScriptCode.CodeConflict) logThrottled('code-conflict', 'error', 'code bound otherwise', { templateId: ctx.templateId, code, couponId, mark });
      return;
    } catch (err) {
      if (attempt === BIND_ATTEMPTS) logThrottled('code-bind-failed', 'error', 'code hold left for the reconciler', { templateId: ctx.templateId, code, err });
    }
  }
}
