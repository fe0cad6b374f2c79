/**
 * Overflow path (brief, section 5): the home sub-stock is empty and claim-home reserved the
 * user's slot. Try the other sub-stocks in a fresh random order, skipping ones known empty, then
 * confirm or release the reservation on the home partition. Shared by the gateway's claims and
 * the sink's grant jobs (sink/grant-chunk.ts): both issue through the same scripts.
 */
import { ApiError } from '../core/errors.ts';
import { logThrottled } from '../core/log.ts';
import { ScriptCode, type ScriptReply } from '../lua/codes.ts';
import type { Commands, HomeClaim, ReservedClaim } from '../lua/commands.ts';
import { type EmptyMarks, isSoldOut, markEmpty } from './sub-stocks.ts';

/** How the caller runs the overflow's Redis calls (the gateway: through its breaker). */
export interface OverflowDeps {
  readonly commands: Commands;
  /** A take: a failure of any kind throws (the reservation stays pending on purpose). */
  step<T>(f: () => Promise<T>): Promise<T>;
  /** A settle attempt: failures are retried here, then logged. */
  record<T>(f: () => Promise<T>): Promise<T>;
}

/** A coupon the overflow took (or found settled before it: `replayed`), or undefined when sold out. */
export type OverflowResult = { readonly couponId: string; readonly replayed: boolean } | undefined;

/** The 503 of a claim that met a Redis restarted and not yet repaired from MySQL (lua/fenced.ts). */
export const restarted = () =>
  new ApiError('unavailable', 'Redis restarted and is being repaired from MySQL: claims resume within seconds');

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

/** What the takes of an overflow got: a coupon ('' if none), and why none when not for want of stock. */
export interface Taken {
  readonly couponId: string;
  readonly stopped?: ScriptCode.Fenced | ScriptCode.Released;
}

/**
 * Takes a coupon from the sub-stocks not known empty, in a random order, for a reserved claim;
 * settles nothing (redemptions bind their code's hold first: gateway/claim/redeem.ts).
 */
export async function takeElsewhere(d: OverflowDeps, ctx: ReservedClaim, marks: EmptyMarks): Promise<Taken> {
  for (const k of candidates(marks.empty)) {
    // A failure here leaves the reservation pending on purpose: whether this take ran is
    // unknown, and the record (which carries the request id) is what settles it later.
    const [code, value]: ScriptReply = await d.step(() => d.commands.claimTake(ctx, k));
    if (code === ScriptCode.Issued) return { couponId: String(value) };
    if (code === ScriptCode.Fenced || code === ScriptCode.Released) return { couponId: '', stopped: code };
    if (code === ScriptCode.StockMissing) break;
    markEmpty(marks, k);
  }
  return { couponId: '' };
}

/**
 * Takes a coupon from another sub-stock for a reserved claim and settles the reservation.
 * Throws an `unavailable` ApiError when nothing was taken for another reason than want of stock.
 */
export async function overflowTake(d: OverflowDeps, ctx: ReservedClaim, marks: EmptyMarks): Promise<OverflowResult> {
  const taken = await takeElsewhere(d, ctx, marks);
  const settled = await settleReservation(d, ctx, taken.couponId);
  return overflowAnswer(ctx, marks, taken, settled);
}

/**
 * The outcome of an overflow whose settle found `settled` (settleReservation): the coupon taken,
 * or the one settled before, or undefined when sold out; throws `unavailable` otherwise.
 */
export function overflowAnswer(ctx: HomeClaim, marks: EmptyMarks, taken: Taken, settled: string | undefined): OverflowResult {
  const { couponId, stopped } = taken;
  if (settled !== undefined && settled !== couponId && settled !== '') {
    // The entry was settled with another coupon before us: that is the answer replays give,
    // so it is the answer now (idempotency); ours, if any, is logged as an extra issue.
    if (couponId !== '') logThrottled('settle-conflict', 'error', 'reservation settled with another coupon',
      { templateId: ctx.templateId, userId: ctx.userId, ours: couponId, settled });
    return { couponId: settled, replayed: true };
  }
  if (couponId !== '') return { couponId, replayed: false };
  if (stopped === ScriptCode.Fenced) throw restarted();
  // This claim stalled so long that the reconciler took it for a dead gateway's and released
  // its slot: nothing was taken. The client gave up long ago; a retry claims afresh.
  if (stopped === ScriptCode.Released) throw new ApiError('unavailable', 'this claim stalled and was released: retry');
  if (isSoldOut(marks)) return undefined;
  throw new ApiError('unavailable', 'template stock is missing, retry shortly');
}

const SETTLE_ATTEMPTS = 3;

/**
 * Confirms (couponId) or releases ('') the reservation; the script is idempotent, so it is
 * retried. Returns what a retry found already settled, if it had been. If every attempt fails
 * the entry stays pending: the coupon, if any, is in the stream and still reaches MySQL, and
 * the record's request id is what settles the entry later.
 */
export async function settleReservation(d: OverflowDeps, ctx: HomeClaim, couponId: string): Promise<string | undefined> {
  for (let attempt = 1; attempt <= SETTLE_ATTEMPTS; attempt++) {
    try {
      const [code, current] = await d.record(() => d.commands.claimSettle(ctx, couponId));
      return code === ScriptCode.NotPending ? String(current ?? '') : undefined;
    } catch (err) {
      if (attempt === SETTLE_ATTEMPTS) {
        logThrottled('settle-failed', 'error', 'reservation left pending', { templateId: ctx.templateId, userId: ctx.userId, err });
      }
    }
  }
  return undefined;
}
