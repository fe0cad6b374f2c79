/**
 * The second step of a redemption (the first is claim-home's reserve-only mode, which checked
 * the user's limit and replays and reserved the slot at home): code-take, in the partition of
 * the sub-stock the code's number picks, checks the code's mark, takes the coupon, issues it and
 * marks the code in one script; then the reservation is confirmed or released at home, as the
 * overflow path does. A gateway that dies in between leaves the reservation pending with the
 * request id 'code:<number>' in the record, if one was issued: the reconciler settles it from
 * MySQL like any other (reconcile/reservations.ts), and the code's mark, set in the same script
 * as the issue, already holds.
 *
 * A code takes from its own sub-stock only: its mark and the stock it decrements must share a
 * slot to change in one script (Redis Cluster). When that sub-stock is empty the answer is
 * sold_out, even if another sub-stock has coupons left: give a template for codes few
 * sub-stocks (one, below 2,000 coupons, is the default), or stock to spare. The codes of a
 * batch spread evenly over the sub-stocks (consecutive numbers), as the stock does.
 */
import { ApiError } from '../../core/errors.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { markEmpty } from '../cache/template-cache.ts';
import { type ClaimAnswer, issued, refused, type ReservedCtx, restarted } from './answer.ts';
import { type ClaimDeps, stepCall } from './deps.ts';
import { settle } from './overflow.ts';

/** Redeems code number `code` for a reserved claim and settles the reservation. */
export async function takeCode(d: ClaimDeps, ctx: ReservedCtx, code: number): Promise<ClaimAnswer> {
  const k = code % ctx.c.template.subStocks;
  // A failure here leaves the reservation pending on purpose: whether the take ran is unknown,
  // and its record (which carries the request id) is what settles it later.
  const [rc, value] = await stepCall(d, () => d.commands.codeTake(ctx, k, code));
  const couponId = rc === ScriptCode.Issued || rc === ScriptCode.Replayed ? String(value) : '';
  const settled = await settle(d, ctx, couponId);
  // Settled before us (a retry, or the reconciler): what replays answer is the answer now.
  if (settled !== undefined && settled !== '' && settled !== couponId) return issued(ctx, settled, true);
  switch (rc) {
    case ScriptCode.Issued: return issued(ctx, couponId);
    case ScriptCode.Replayed: return issued(ctx, couponId, true);
    case ScriptCode.CodeUsed: return refused('code_used');
    case ScriptCode.Empty:
      markEmpty(ctx.c, k);
      return refused('sold_out');
    case ScriptCode.StockMissing: throw new ApiError('unavailable', 'template stock is missing, retry shortly');
    case ScriptCode.Fenced: throw restarted();
    // This redemption stalled so long that the reconciler released its slot: nothing was taken.
    case ScriptCode.Released: throw new ApiError('unavailable', 'this redemption stalled and was released: retry');
    default: throw new Error(`codeTake returned unknown code ${rc}`);
  }
}
