/** What a claim is about and what it answers: the leaf types and answers of the claim path. */
import type { HomeClaim, ReservedClaim } from '../../lua/commands.ts';
import { parseAnswer } from '../../lua/record.ts';
import type { CachedTemplate } from '../cache/template-cache.ts';
export { restarted } from '../../issuance/overflow.ts';
import { type Refusal, REFUSAL_STATUS } from '../http/errors.ts';

export interface ClaimInput {
  readonly userId: string;
  readonly templateId: string;
  readonly requestId?: string;
  /** A redemption: the code's number (redemption/code-mac.ts); the request id is then the code's. */
  readonly code?: number;
}

export interface ClaimAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** One claim under way: what its scripts need (lua/commands.ts), and its cached template. */
export interface ClaimCtx extends HomeClaim {
  readonly c: CachedTemplate;
}

/** A claim whose home sub-stock was empty: its slot is reserved under `token`. */
export interface ReservedCtx extends ClaimCtx, ReservedClaim {}

/**
 * Answer of a claim that issued (or replayed) a coupon; `answer` is what the script returned or
 * stored: the coupon id, and for a red packet ':<amount>' after it (lua/record.ts parseAnswer).
 */
export function issued(ctx: ClaimCtx, answer: string, replayed = false): ClaimAnswer {
  // Most coupons carry no amount: their answer is the coupon id itself (no parse, no object).
  if (ctx.minAmount === undefined && answer.indexOf(':') < 0) {
    const body: Record<string, unknown> = { status: 'issued', couponId: answer, templateId: ctx.templateId, userId: ctx.userId };
    if (replayed) body.replayed = true;
    return { status: 200, body };
  }
  const { couponId, amount } = parseAnswer(answer);
  const body: Record<string, unknown> = { status: 'issued', couponId, templateId: ctx.templateId, userId: ctx.userId };
  if (amount !== null) body.amount = amount;
  if (replayed) body.replayed = true;
  return { status: 200, body };
}

/** Answer of a claim that was decided without a coupon. */
export function refused(status: Refusal): ClaimAnswer {
  return { status: REFUSAL_STATUS[status], body: { status } };
}
