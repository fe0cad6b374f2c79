/**
 * Overflow path (brief, section 5): the home sub-stock is empty and claim-home reserved the
 * user's slot. Try the other sub-stocks in a fresh random order, skipping ones known empty, then
 * confirm or release the reservation on the home partition.
 */
import { ScriptCode } from '../lua/codes.ts';
import * as keys from '../lua/keys.ts';
import { type ClaimAnswer, type ClaimCtx, type ClaimDeps, issued, redisCall, refused } from './claim.ts';
import { ApiError } from './http/errors.ts';
import { isSoldOut, markEmpty } from './templates/cache.ts';

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
export async function takeOverflow(d: ClaimDeps, ctx: ClaimCtx): Promise<ClaimAnswer> {
  const { ks, redis } = d;
  const id = ctx.c.template.id;
  let couponId = '';
  for (const k of candidates(ctx.c.empty)) {
    const p = keys.subStockPartition(ks, id, k);
    // A failure here leaves the reservation pending on purpose: whether this take issued is
    // unknown, and the record (which carries the request id) is what settles it later.
    const [code, value] = await redisCall(() => redis.claimTake(keys.stockKey(ks, id, k), keys.seqKey(ks, p),
      keys.streamKey(ks, p), id, ctx.userId, ctx.requestId, ctx.shardPrefix, p, ctx.homePartition));
    if (code === ScriptCode.Issued) {
      couponId = String(value);
      break;
    }
    if (code === ScriptCode.StockMissing) break;
    markEmpty(ctx.c, k);
  }

  const h = ctx.homePartition;
  let settled: [ScriptCode, (string | number)?];
  try {
    settled = await redis.claimSettle(keys.usersKey(ks, h, id), keys.pendingKey(ks, h), id, ctx.userId,
      ctx.requestId, couponId, ctx.remember);
  } catch {
    // The coupon (if any) is already in the stream and will reach MySQL; the reservation
    // is left for reconciliation. The answer below is still the truth.
    settled = [ScriptCode.Settled];
  }
  if (settled[0] === ScriptCode.NotPending && settled[1]) {
    // Someone settled it first (reconciliation): its answer is the answer.
    return issued(ctx, String(settled[1]), couponId === '');
  }
  if (couponId !== '') return issued(ctx, couponId);
  if (isSoldOut(ctx.c)) return refused('sold_out');
  throw new ApiError('unavailable', 'template stock is missing in Redis');
}
