/**
 * The product's stable error codes (the API answers `{ error: code, message? }`) and the error
 * that carries one. Every layer throws it: the template domain, storage calls, the HTTP layer.
 * Only the processes give it a meaning on the wire: gateway/http/errors.ts maps each code to
 * its HTTP status, in one table.
 */
import { logThrottled } from './log.ts';

const ERROR_CODES = [
  'bad_request', 'budget_too_small', 'unauthorized', 'forbidden', 'not_found', 'template_not_found', 'method_not_allowed',
  'request_timeout', 'template_exists', 'version_conflict', 'request_conflict', 'request_expired', 'stock_fixed',
  'payload_too_large', 'unsupported_media_type', 'rate_limited', 'internal', 'unavailable', 'replication_timeout',
  'grant_not_found', 'grant_state_conflict',
  'invalid_code', 'batch_conflict', 'too_many_failures',
  'coupon_not_found', 'coupon_locked', 'coupon_used', 'coupon_expired', 'not_applicable', 'order_cancelled',
  'lock_expired', 'not_locked', 'not_used', 'order_refunded',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error with a stable code, thrown anywhere to answer with it. */
export class ApiError extends Error {
  /** `details`: fields the answer carries beside error and message (e.g. why a cart does not qualify). */
  constructor(readonly code: ErrorCode, message?: string, readonly details?: Readonly<Record<string, unknown>>) {
    super(message ?? code);
  }
}

/**
 * Runs a storage call; any failure (down, timeout, OOM) becomes `unavailable`, and an ApiError
 * passes as is. The driver's detail goes to the log, never to the client (it names schemas and
 * columns).
 */
export async function orUnavailable<T>(what: 'redis' | 'mysql', f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    logThrottled(`${what}-failure`, 'warn', `${what} call failed`, { err });
    throw new ApiError('unavailable', 'storage unavailable, retry shortly');
  }
}
