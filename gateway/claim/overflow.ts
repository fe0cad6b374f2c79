/**
 * Overflow path of a gateway claim: the home sub-stock is empty and claim-home reserved the
 * user's slot. The steps are issuance/overflow.ts's (shared with grant jobs); here they run
 * through the gateway's breaker and answer as a claim.
 */
import { overflowTake } from '../../issuance/overflow.ts';
import { type ClaimAnswer, issued, refused, type ReservedCtx } from './answer.ts';
import { type ClaimDeps, stepCall } from './deps.ts';

/** Takes a coupon from another sub-stock for a reserved claim and settles the reservation. */
export async function takeOverflow(d: ClaimDeps, ctx: ReservedCtx): Promise<ClaimAnswer> {
  const deps = { commands: d.commands, step: <T>(f: () => Promise<T>) => stepCall(d, f), record: <T>(f: () => Promise<T>) => d.breaker.record(f) };
  const r = await overflowTake(deps, ctx, ctx.c);
  return r === undefined ? refused('sold_out') : issued(ctx, r.couponId, r.replayed);
}
