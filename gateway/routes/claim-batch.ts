/**
 * POST /v1/claim/batch: one user claims several templates in one request (a "claim all" button).
 * Each template is decided exactly as a single claim of it would be (its own limit, stock and
 * window; not all or nothing), concurrently, so the claims join the turn's groups (group
 * commit). The request id is the client's for each of them: answers are kept per template, so
 * a retry of the batch replays every coupon it issued.
 */
import { verifyUserToken } from '../../core/user-token.ts';
import type { ClaimService } from '../claim/service.ts';
import { checkRequestId, claimant } from './claim.ts';
import { decodeBody, formatOf } from '../http/codec.ts';
import { ApiError } from '../../core/errors.ts';
import { errorReply, type Handler, type Reply } from '../http/route.ts';
import { isId } from '../../core/ids.ts';
import { logThrottled } from '../../core/log.ts';
import type { ClaimAnswer } from '../claim/answer.ts';

const FIELDS = new Set(['userId', 'templateIds', 'requestId']);
/** Templates one batch may name. */
export const BATCH_MAX = 20;

export interface BatchInput {
  readonly userId: string;
  readonly templateIds: readonly string[];
  readonly requestId?: string;
}

/** Validates a batch body as parseClaim does a claim's, with 1-20 distinct template ids. */
export function parseBatch(body: unknown, tokenUser?: string): BatchInput {
  const o = claimant(body, FIELDS, tokenUser);
  checkRequestId(o.requestId);
  const ids = o.templateIds;
  if (!Array.isArray(ids) || ids.length < 1 || ids.length > BATCH_MAX) {
    throw new ApiError('bad_request', `templateIds: required, a list of 1-${BATCH_MAX} template ids`);
  }
  ids.forEach((id, i) => {
    if (!isId(id)) throw new ApiError('bad_request', `templateIds[${i}]: 1-64 characters of [A-Za-z0-9_.:-]`);
  });
  // ids are byte strings: 'A' and 'a' are two templates.
  if (new Set(ids).size !== ids.length) throw new ApiError('bad_request', 'templateIds: each template at most once');
  return { userId: o.userId as string, templateIds: ids as string[], requestId: o.requestId as string | undefined };
}

/** One template's result: its claim answer's body, or the error code a single claim would answer. */
function result(templateId: string, a: ClaimAnswer): Record<string, unknown> {
  const { status, couponId, amount, replayed } = a.body;
  return { templateId, status, ...(couponId === undefined ? {} : { couponId }), ...(amount === undefined ? {} : { amount }),
    ...(replayed ? { replayed } : {}) };
}

/** The batch route handler; with `tokenSecrets`, the user comes from a signed token. */
export function claimBatchHandler(service: ClaimService, tokenSecrets: readonly string[]): Handler {
  return async (req): Promise<Reply> => {
    const format = formatOf(req.contentType, true);
    try {
      const tokenUser = tokenSecrets.length > 0 ? verifyUserToken(tokenSecrets, req.authorization, Date.now() / 1000) : undefined;
      const b = parseBatch(decodeBody(req.body, format), tokenUser);
      const results = await Promise.all(b.templateIds.map((templateId) =>
        service.claim({ userId: b.userId, templateId, requestId: b.requestId }).then((a) => result(templateId, a), (err: unknown) => {
          // A storage failure, a rate limit or an unknown template concerns this template only;
          // so does a bug, logged: the coupons of the other templates are still reported.
          if (err instanceof ApiError) return { templateId, status: err.code };
          logThrottled('claim-batch', 'error', 'claim of a batch failed', { templateId, err });
          return { templateId, status: 'internal' };
        })));
      return { status: 200, body: { results }, format };
    } catch (err) {
      if (err instanceof ApiError) return { ...errorReply(err), format };
      throw err;
    }
  };
}
