/**
 * What the gateway logs about requests: every non-claim request carries a request id (the
 * client's X-Request-Id when it is sane, else one made here), echoed in the answer and put on
 * each line about it, with one access line per request (admin routes at info, the other public
 * ones at debug). Claims carry none of it, and are logged only when they fail unexpectedly,
 * sampled: the claim path stays as it was.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type Logger, RateLimit } from '../../core/log.ts';

/** The level of a route's access lines. */
export type AccessLevel = 'info' | 'debug';

/** A traced request: its id and what its access line says. */
export interface Trace {
  readonly id: string;
  readonly method: string;
  readonly path: string;
  readonly start: number;
  readonly level: AccessLevel;
}

// Ids from clients: 1-128 visible ASCII characters (no spaces, no control bytes: they go into
// a response header and a log line as they are).
const SANE_ID = /^[\x21-\x7e]{1,128}$/;
// Generated ids: a random prefix per process and a counter, unique across gateways and restarts
// without a random draw per request.
const PREFIX = randomBytes(6).toString('base64url');
let counter = 0;

/** The client's X-Request-Id when it is sane, else a new id. */
export function requestId(header: string): string {
  return SANE_ID.test(header) ? header : `${PREFIX}-${(++counter).toString(36)}`;
}

// Unexpected claim failures: at most this many lines a second, each with the count skipped before it.
const CLAIM_FAILURE_GAP_MS = 250;

/** The gateway's request lines, on its process logger. */
export class RequestLog {
  private readonly claimFailures = new RateLimit(CLAIM_FAILURE_GAP_MS);
  constructor(readonly logger: Logger) {}

  /** Starts tracing a request (read synchronously from its uWS request: method, path, X-Request-Id). */
  begin(method: string, path: string, header: string, level: AccessLevel): Trace {
    return { id: requestId(header), method: method.toUpperCase(), path, start: performance.now(), level };
  }

  /** The request's access line, once answered with `status`. */
  access(t: Trace, status: number): void {
    if (!this.logger.isLevelEnabled(t.level)) return;
    const ms = Math.round((performance.now() - t.start) * 10) / 10;
    try {
      this.logger[t.level]({ reqId: t.id, method: t.method, path: t.path, status, ms }, 'request');
    } catch {
      // a line stderr cannot take is dropped: the answer is out, and this runs in uWS callbacks.
    }
  }

  /**
   * An error answered 500: method, path and the error with its stack, and the request id of a
   * traced request; an untraced one (a claim) at most a few times a second, with a skipped count.
   */
  unexpected(t: Trace | undefined, method: string | undefined, path: string | undefined, err: unknown): void {
    if (t) {
      this.logger.error({ reqId: t.id, method: t.method, path: t.path, err }, 'unexpected error, answered 500');
      return;
    }
    const skipped = this.claimFailures.pass('claim');
    if (skipped === undefined) return;
    this.logger.error({ method: method?.toUpperCase(), path, err, ...(skipped > 0 ? { skipped } : {}) }, 'unexpected error, answered 500');
  }

  /** A reply that could not be written; sampled like unexpected() for an untraced request. */
  failed(t: Trace | undefined, msg: string, err: unknown): void {
    if (t) {
      this.logger.error({ reqId: t.id, method: t.method, path: t.path, err }, msg);
      return;
    }
    const skipped = this.claimFailures.pass(msg);
    if (skipped !== undefined) this.logger.error({ err, ...(skipped > 0 ? { skipped } : {}) }, msg);
  }
}
