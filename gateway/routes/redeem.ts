/**
 * POST /v1/redeem: a user redeems a code for a coupon of the code's template. The code is checked
 * first, in memory: a code whose MAC fails is 404 invalid_code without a Redis or MySQL call
 * (redemption/code-mac.ts). A valid one names its batch, and so its template (batch-cache.ts),
 * and is redeemed as a claim whose request id is the code's (claim/redeem.ts): the claim's
 * answers, plus 409 code_used when another user redeemed it. The body's `requestId` is checked
 * but adds nothing: the code itself makes a retry a replay. Invalid and used codes spend the
 * caller's failure budget (redeem-failures.ts).
 */
import { performance } from 'node:perf_hooks';
import { ApiError, orUnavailable } from '../../core/errors.ts';
import { verifyUserToken } from '../../core/user-token.ts';
import { batchOf, type CodeSigner, serialOf } from '../../redemption/code-mac.ts';
import type { BatchCache } from '../cache/batch-cache.ts';
import type { ClaimService } from '../claim/service.ts';
import { decodeBody, formatOf } from '../http/codec.ts';
import { errorReply, type Handler, type Reply } from '../http/route.ts';
import type { FailureBudget } from '../redeem-failures.ts';
import { checkRequestId, claimant } from './claim.ts';

const FIELDS = new Set(['userId', 'code', 'requestId']);
// Far above a code with any spacing people type (code-format.ts), far below the body cap.
const CODE_MAX_CHARS = 64;

export interface RedeemDeps {
  readonly service: ClaimService;
  readonly signer: CodeSigner;
  readonly batches: BatchCache;
  readonly failures: FailureBudget;
  /** With secrets, the user comes from a signed token (as for claims). */
  readonly tokenSecrets: readonly string[];
}

/** Validates a redemption body: the claim's user rules, and a code that is a short string. */
export function parseRedeem(o: unknown, tokenUser?: string): { userId: string; code: string } {
  const body = claimant(o, FIELDS, tokenUser);
  checkRequestId(body.requestId);
  const code = body.code;
  if (typeof code !== 'string' || code.length === 0 || code.length > CODE_MAX_CHARS) {
    throw new ApiError('bad_request', `code: required, a redemption code (XXXX-XXXX-XXXX-XXXX-XXXX), at most ${CODE_MAX_CHARS} characters`);
  }
  return { userId: body.userId as string, code };
}

/** The redeem route handler. */
export function redeemHandler(d: RedeemDeps): Handler {
  return async (req): Promise<Reply> => {
    const format = formatOf(req.contentType, true);
    try {
      const tokenUser = d.tokenSecrets.length > 0 ? verifyUserToken(d.tokenSecrets, req.authorization, Date.now() / 1000) : undefined;
      const { userId, code } = parseRedeem(decodeBody(req.body, format), tokenUser);
      d.failures.check(userId, req.remoteAddress, performance.now());
      const failed = () => d.failures.failed(userId, req.remoteAddress, performance.now());
      const n = d.signer.verify(code);
      if (n === undefined) {
        failed();
        throw new ApiError('invalid_code');
      }
      // Only codes we minted get here: their batch exists, unless it was made under another database.
      const batch = await orUnavailable('mysql', () => d.batches.get(batchOf(n)));
      if (!batch || serialOf(n) >= batch.count) {
        failed();
        throw new ApiError('invalid_code');
      }
      const answer = await d.service.redeem(userId, batch.templateId, n);
      if (answer.body.status === 'code_used') failed();
      return { ...answer, format };
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const reply = errorReply(err);
      return err.code === 'too_many_failures'
        ? { ...reply, format, headers: { 'Retry-After': String(d.failures.retryAfterS) } }
        : { ...reply, format };
    }
  };
}
