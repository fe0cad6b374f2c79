/**
 * The one table of answers the API gives besides success: error codes (`{ error, message? }`)
 * and claim refusals (`{ status }`), each with its HTTP status. Codes are a stable API.
 */

export const ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  template_not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  template_exists: 409,
  version_conflict: 409,
  request_conflict: 409,
  request_expired: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** A claim that was decided but did not issue: the body is `{ status }`. */
export const REFUSAL_STATUS = {
  limit_reached: 409,
  sold_out: 410,
  not_started: 403,
  ended: 403,
  paused: 403,
  not_eligible: 403,
} as const;

export type Refusal = keyof typeof REFUSAL_STATUS;

/** Errors with these codes tell the client when to come back. */
export const RETRY_AFTER_SECONDS: Partial<Record<ErrorCode, number>> = { rate_limited: 1, unavailable: 1 };

import { logThrottled } from '../../core/log.ts';

/** Thrown anywhere in a handler to answer with an error from the table. */
export class ApiError extends Error {
  constructor(readonly code: ErrorCode, message?: string) {
    super(message ?? code);
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone',
  413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests',
  500: 'Internal Server Error', 503: 'Service Unavailable',
};

/** "404 Not Found" for uWS writeStatus. */
export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? ''}`.trimEnd();
}

/**
 * Runs a storage call; any failure (down, timeout, OOM) becomes a 503, and an ApiError passes
 * as is. The driver's detail goes to the log, never to the client (it names schemas and columns).
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
