/** POST /v1/claim: JSON or msgpack in, the same format out. */
import { verifyUserToken } from '../../core/user-token.ts';
import type { ClaimInput } from '../claim/answer.ts';
import type { ClaimService } from '../claim/service.ts';
import { isMap, notAMap } from '../../core/bodies.ts';
import { decodeBody, formatOf } from '../http/codec.ts';
import { ApiError } from '../../core/errors.ts';
import { errorReply, type Handler, type Reply } from '../http/route.ts';
import { codeOfRequest, isId } from '../../core/ids.ts';

const FIELDS = new Set(['userId', 'templateId', 'requestId']);

/**
 * Validates a claim body: a map of known fields only, ids of 1-64 chars of [A-Za-z0-9_.:-]. With a
 * user token, the user is the token's: a body userId may repeat it, never name someone else.
 */
export function parseClaim(o: unknown, tokenUser?: string): ClaimInput {
  const body = claimant(o, FIELDS, tokenUser);
  if (!isId(body.templateId)) throw new ApiError('bad_request', 'templateId: required, 1-64 characters of [A-Za-z0-9_.:-]');
  checkRequestId(body.requestId);
  return body as unknown as ClaimInput;
}

/**
 * The part every claim body shares: a map of `fields` only, and its user: the token's when
 * there is one (a body userId may repeat it, never name someone else), else a valid body userId.
 */
export function claimant(o: unknown, fields: ReadonlySet<string>, tokenUser?: string): Record<string, unknown> {
  if (!isMap(o)) throw notAMap(fields, true);
  for (const k of Object.keys(o)) if (!fields.has(k)) throw new ApiError('bad_request', `${k}: unknown field`);
  if (tokenUser !== undefined) {
    if (o.userId !== undefined && o.userId !== tokenUser) throw new ApiError('forbidden', 'userId: not the user of the token');
    o.userId = tokenUser;
  }
  if (!isId(o.userId)) throw new ApiError('bad_request', 'userId: required, 1-64 characters of [A-Za-z0-9_.:-]');
  return o;
}

/** An optional request id must be a valid id, and not one a redemption uses. */
export function checkRequestId(requestId: unknown): void {
  if (requestId !== undefined && !isId(requestId)) throw new ApiError('bad_request', 'requestId: 1-64 characters of [A-Za-z0-9_.:-]');
  // Repairs from MySQL read a row with this request id as the redemption of code <n> and mark
  // the code: a client's claim must never carry one (code numbers are guessable).
  if (requestId !== undefined && codeOfRequest(requestId) !== undefined) {
    throw new ApiError('bad_request', 'requestId: "code:<number>" is reserved for redemptions');
  }
}

/** The claim route handler; with `tokenSecrets`, claims need a user token (auth/user-token.ts). */
export function claimHandler(service: ClaimService, tokenSecrets: readonly string[]): Handler {
  return async (req): Promise<Reply> => {
    const format = formatOf(req.contentType, true);
    try {
      const tokenUser = tokenSecrets.length > 0 ? verifyUserToken(tokenSecrets, req.authorization, Date.now() / 1000) : undefined;
      const answer = await service.claim(parseClaim(decodeBody(req.body, format), tokenUser));
      return { ...answer, format };
    } catch (err) {
      // Errors answer in the client's format too, so a msgpack client can always decode them.
      if (err instanceof ApiError) return { ...errorReply(err), format };
      throw err;
    }
  };
}
