/**
 * The one table of answers the API gives besides success: error codes (`{ error, message? }`,
 * core/errors.ts) and claim refusals (`{ status }`), each with its HTTP status. Codes are a
 * stable API.
 */
import type { ErrorCode } from '../../core/errors.ts';

export const ERROR_STATUS = {
  bad_request: 400,
  budget_too_small: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  template_not_found: 404,
  grant_not_found: 404,
  coupon_not_found: 404,
  // a redemption code that is not one of ours (its MAC fails) or names no batch's code.
  invalid_code: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  template_exists: 409,
  version_conflict: 409,
  request_conflict: 409,
  request_expired: 409,
  grant_state_conflict: 409,
  stock_fixed: 409,
  // checkout (checkout/tcc.ts): another order holds the coupon; it is used; the order was
  // cancelled before its lock arrived; its lock ran out; it is not locked, or not used, by that
  // order; the order's use of it was refunded.
  coupon_locked: 409,
  coupon_used: 409,
  order_cancelled: 409,
  lock_expired: 409,
  not_locked: 409,
  not_used: 409,
  order_refunded: 409,
  // past its use window.
  coupon_expired: 410,
  // a code batch id reused for another template or count.
  batch_conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  // the cart does not qualify for the coupon; the answer says why (`reason`).
  not_applicable: 422,
  rate_limited: 429,
  // too many invalid or used codes from this user or address: slowed down, not shed for load.
  too_many_failures: 429,
  internal: 500,
  unavailable: 503,
  // REDIS_WAIT_REPLICAS: the call ran but too few replicas acknowledged it in time; a retry with
  // the same request id replays (and waits again).
  replication_timeout: 503,
} as const satisfies Record<ErrorCode, number>;

/** A claim that was decided but did not issue: the body is `{ status }`. */
export const REFUSAL_STATUS = {
  limit_reached: 409,
  sold_out: 410,
  not_started: 403,
  ended: 403,
  paused: 403,
  not_eligible: 403,
  // a redemption code another user redeemed (the same user gets its coupon again, replayed).
  code_used: 409,
} as const;

export type Refusal = keyof typeof REFUSAL_STATUS;

/** Errors with these codes tell the client when to come back. */
export const RETRY_AFTER_SECONDS: Partial<Record<ErrorCode, number>> = { rate_limited: 1, unavailable: 1, replication_timeout: 1 };

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone',
  422: 'Unprocessable Entity',
  413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests',
  500: 'Internal Server Error', 503: 'Service Unavailable',
};

/** "404 Not Found" for uWS writeStatus. */
export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? ''}`.trimEnd();
}
