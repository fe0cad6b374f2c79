/** Reads a request body with a hard size cap and a deadline, copying chunks (uWS reuses their memory). */
import type { BodyDeadlines } from './body-deadlines.ts';
import type { HttpResponse } from './uws.ts';
import { ApiError } from '../../core/errors.ts';

const EMPTY = Buffer.alloc(0);

/** Thrown when the client went away before its body was complete. */
export class BodyAborted extends Error {}

export interface BodyLimits {
  /** Most bytes accepted. */
  readonly cap: number;
  /** Where the body's deadline is kept (BODY_TIMEOUT_MS). */
  readonly deadlines: BodyDeadlines;
}

/** Receives the body, or why there is none; called exactly once. */
export type BodyDone = (err: Error | undefined, body: Buffer) => void;

/**
 * Must be called synchronously inside the uWS handler (before any await). Fails with a 413
 * ApiError as soon as the declared or received size passes the cap, and with a 408 when the
 * body is not complete by its deadline; the caller then answers and closes the connection so
 * the rest of the body is never read. `onAbort` receives the function the caller's onAborted
 * handler must call, so an abandoned body settles instead of hanging. A callback, not a
 * promise: the claim path pays no promise and no microtask for its body.
 */
export function readBody(res: HttpResponse, contentLength: string, limits: BodyLimits,
  onAbort: (abort: () => void) => void, done: BodyDone): void {
  const { cap, deadlines } = limits;
  if (contentLength !== '') {
    const declared = /^\d{1,12}$/.test(contentLength) ? Number(contentLength) : NaN;
    if (Number.isNaN(declared)) return done(new ApiError('bad_request', 'invalid Content-Length'), EMPTY);
    if (declared > cap) return done(new ApiError('payload_too_large', `body is limited to ${cap} bytes`), EMPTY);
    if (declared === 0) return done(undefined, EMPTY);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const fail = (err: Error) => {
    settled = true;
    deadlines.done(deadline);
    done(err, EMPTY);
  };
  const deadline = deadlines.add(() => {
    if (!settled) fail(new ApiError('request_timeout', 'request body not received in time'));
  });
  onAbort(() => {
    if (!settled) fail(new BodyAborted('client aborted'));
  });
  res.onData((chunk, isLast) => {
    if (settled) return;
    size += chunk.byteLength;
    if (size > cap) {
      fail(new ApiError('payload_too_large', `body is limited to ${cap} bytes`));
      return;
    }
    // Buffer.from(ArrayBuffer) would alias memory uWS frees after this callback: copy.
    chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (isLast) {
      settled = true;
      deadlines.done(deadline);
      done(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    }
  });
}
