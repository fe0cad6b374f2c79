/**
 * Overflow path (brief, section 5): the home sub-stock is empty and claim-home reserved the
 * user's slot. Try the other sub-stocks in a fresh random order, skipping ones known empty, then
 * confirm or release the reservation on the home partition.
 */
import { ApiError } from '../../core/errors.ts';
import { logThrottled } from '../../core/log.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { isSoldOut, markEmpty } from '../cache/template-cache.ts';
import { type ClaimAnswer, type ClaimCtx, issued, refused, type ReservedCtx, restarted } from './answer.ts';
import { type ClaimDeps, stepCall } from './deps.ts';

/** Fisher-Yates shuffle of the sub-stocks not known to be empty. */
function candidates(empty: Uint8Array): number[] {
  const out: number[] = [];
  for (let k = 0; k < empty.length; k++) if (empty[k] === 0) out.push(k);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Takes a coupon from another sub-stock for a reserved claim and settles the reservation. */
export async function takeOverflow(d: ClaimDeps, ctx: ReservedCtx): Promise<ClaimAnswer> {
  const id = ctx.templateId;
  let couponId = '';
  // Why no coupon was taken when it was not for want of stock.
  let stopped: ScriptCode.Fenced | ScriptCode.Released | undefined;
  for (const k of candidates(ctx.c.empty)) {
    // A failure here leaves the reservation pending on purpose: whether this take ran is
    // unknown, and the record (which carries the request id) is what settles it later.
    const [code, value] = await stepCall(d, () => d.commands.claimTake(ctx, k));
    if (code === ScriptCode.Issued) {
      couponId = String(value);
      break;
    }
    if (code === ScriptCode.Fenced || code === ScriptCode.Released) {
      stopped = code;
      break;
    }
    if (code === ScriptCode.StockMissing) break;
    markEmpty(ctx.c, k);
  }

  const settled = await settle(d, ctx, couponId);
  if (settled !== undefined && settled !== couponId && settled !== '') {
    // The entry was settled with another coupon before us: that is the answer replays give,
    // so it is the answer now (idempotency); ours, if any, is logged as an extra issue.
    if (couponId !== '') logThrottled('settle-conflict', 'error', 'reservation settled with another coupon',
      { templateId: id, userId: ctx.userId, ours: couponId, settled });
    return issued(ctx, settled, true);
  }
  if (couponId !== '') return issued(ctx, couponId);
  if (stopped === ScriptCode.Fenced) throw restarted();
  // This claim stalled so long that the reconciler took it for a dead gateway's and released
  // its slot: nothing was taken. The client gave up long ago; a retry claims afresh.
  if (stopped === ScriptCode.Released) throw new ApiError('unavailable', 'this claim stalled and was released: retry');
  if (isSoldOut(ctx.c)) return refused('sold_out');
  throw new ApiError('unavailable', 'template stock is missing, retry shortly');
}

const SETTLE_ATTEMPTS = 3;

/**
 * Confirms (couponId) or releases ('') the reservation; the script is idempotent, so it is
 * retried. Returns what a retry found already settled, if it had been. If every attempt fails
 * the entry stays pending: the coupon, if any, is in the stream and still reaches MySQL, and
 * the record's request id is what settles the entry later.
 */
export async function settle(d: ClaimDeps, ctx: ClaimCtx, couponId: string): Promise<string | undefined> {
  for (let attempt = 1; attempt <= SETTLE_ATTEMPTS; attempt++) {
    try {
      const [code, current] = await d.breaker.record(() => d.commands.claimSettle(ctx, couponId));
      return code === ScriptCode.NotPending ? String(current ?? '') : undefined;
    } catch (err) {
      if (attempt === SETTLE_ATTEMPTS) {
        logThrottled('settle-failed', 'error', 'reservation left pending', { templateId: ctx.templateId, userId: ctx.userId, err });
      }
    }
  }
  return undefined;
}
