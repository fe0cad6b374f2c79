/** What a claim is about and what it answers: the leaf types and answers of the claim path. */
import { ApiError } from '../../core/errors.ts';
import type { CachedTemplate } from '../cache/template-cache.ts';
import { type Refusal, REFUSAL_STATUS } from '../http/errors.ts';

export interface ClaimInput {
  readonly userId: string;
  readonly templateId: string;
  readonly requestId?: string;
}

export interface ClaimAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** Everything one claim needs to know about where its keys are. */
export interface ClaimCtx {
  readonly c: CachedTemplate;
  readonly userId: string;
  /** The client's request id, or a generated one starting with '~'. */
  readonly requestId: string;
  /** '1' when the client sent the request id, so its answer is kept for replays. */
  readonly remember: '0' | '1';
  readonly home: number;
  readonly homePartition: number;
  readonly shardPrefix: string;
}

/** A claim whose home sub-stock was empty: its slot is reserved under this token. */
export interface ReservedCtx extends ClaimCtx {
  readonly token: string;
}

/** Answer of a claim that issued (or replayed) a coupon. */
export function issued(ctx: ClaimCtx, couponId: string, replayed = false): ClaimAnswer {
  const body: Record<string, unknown> = { status: 'issued', couponId, templateId: ctx.c.template.id, userId: ctx.userId };
  if (replayed) body.replayed = true;
  return { status: 200, body };
}

/** The 503 of a claim that met a Redis restarted and not yet repaired from MySQL (lua/fenced.ts). */
export const restarted = () =>
  new ApiError('unavailable', 'Redis restarted and is being repaired from MySQL: claims resume within seconds');

/** Answer of a claim that was decided without a coupon. */
export function refused(status: Refusal): ClaimAnswer {
  return { status: REFUSAL_STATUS[status], body: { status } };
}
