/**
 * Overflow path of a gateway claim: the home sub-stock is empty and claim-home reserved the
 * user's slot. The steps are issuance/overflow.ts's (shared with grant jobs); here they run
 * through the gateway's breaker and answer as a claim.
 */
import { overflowTake, type OverflowDeps, settleReservation } from '../../issuance/overflow.ts';
import { type ClaimAnswer, type ClaimCtx, issued, refused, type ReservedCtx } from './answer.ts';
import { type ClaimDeps, stepCall } from './deps.ts';

/** The overflow's Redis calls through the gateway's breaker. */
export const overflowDeps = (d: ClaimDeps): OverflowDeps => ({
  commands: d.commands, step: (f) => stepCall(d, f), record: (f) => d.breaker.record(f),
});

/** Takes a coupon from another sub-stock for a reserved claim and settles the reservation. */
export async function takeOverflow(d: ClaimDeps, ctx: ReservedCtx): Promise<ClaimAnswer> {
  const r = await overflowTake(overflowDeps(d), ctx, ctx.c);
  return r === undefined ? refused('sold_out') : issued(ctx, r.couponId, r.replayed);
}

/** Confirms (couponId) or releases ('') a reservation (issuance/overflow.ts settleReservation); what a retry found settled, if it had been. */
export function settle(d: ClaimDeps, ctx: ClaimCtx, couponId: string): Promise<string | undefined> {
  return settleReservation(overflowDeps(d), ctx, couponId);
}
