/**
 * The one adapter between uWS callbacks and async handlers. It applies the uWS rules for every
 * route: read the request synchronously, attach onAborted before any await, cap and copy the
 * body, answer inside cork, and never let an exception escape into a uWS callback.
 */
import type { HttpRequest, HttpResponse } from './uws.ts';
import type { BodyDeadlines } from './body-deadlines.ts';
import { BodyAborted, readBody } from './body.ts';
import { type StreamBody, streamReply } from './stream.ts';
import { BodyStream, type StreamLimits } from './body-stream.ts';
import { contentTypeOf, encodeBody, type Format } from './codec.ts';
import { ApiError } from '../../core/errors.ts';
import { ERROR_STATUS, RETRY_AFTER_SECONDS, statusLine } from './errors.ts';
import type { AccessLevel, RequestLog, Trace } from './request-log.ts';

/** What a handler sees: everything copied out of the uWS request up front. */
export interface Incoming {
  readonly method: string;
  readonly url: string;
  readonly query: string;
  readonly params: readonly string[];
  readonly contentType: string;
  readonly authorization: string;
  /** The client's address, for routes that asked for it (RouteOptions.address), else ''. */
  readonly remoteAddress: string;
  readonly body: Buffer;
  /** The request body as a stream, for a request RouteOptions.streamBody chose to stream (`body` is then empty). */
  readonly bodyStream?: BodyStream;
}

export interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly format?: Format;
  readonly headers?: Readonly<Record<string, string>>;
  /** A long body written as the client reads it (stream.ts), instead of `body`. */
  readonly stream?: StreamBody;
}

/** The request's credentials, for a check made before its body is read. */
export type Credentials = Pick<Incoming, 'authorization' | 'remoteAddress'>;

export interface RouteOptions {
  /** Number of `:param` segments in the pattern. */
  readonly params?: number;
  /** Body size cap in bytes; routes without it ignore any body. */
  readonly bodyCap?: number;
  /** Copy the client's address (admin routes budget wrong tokens per address). */
  readonly address?: boolean;
  /**
   * Throws (an ApiError) for a caller that may not use the route, before its body is read: a
   * stranger cannot make the gateway buffer a large body it would refuse anyway.
   */
  readonly authorize?: (c: Credentials) => void;
  /** Streams the request body (body-stream.ts) instead of buffering it when `when` says so for its Content-Type. */
  readonly streamBody?: StreamLimits & { readonly when: (contentType: string) => boolean };
  /**
   * Traces the request (request-log.ts): a request id, echoed as X-Request-Id, and an access
   * line at this level. Claims leave it unset: nothing is read, made or logged per claim.
   */
  readonly access?: AccessLevel;
}

export type Handler = (req: Incoming) => Reply | Promise<Reply>;

/** Counts requests between arrival and answer, for graceful shutdown. */
export class InFlight {
  count = 0;
  private idle: (() => void)[] = [];
  start(): void { this.count++; }
  end(): void {
    if (--this.count === 0) for (const f of this.idle.splice(0)) f();
  }
  /** Resolves when no request is in flight (or at once if none is). */
  drained(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((r) => this.idle.push(r));
  }
}

/** What every route of a process shares. */
export interface RouteEnv {
  readonly inFlight: InFlight;
  /** Access lines, unexpected errors and replies that could not be written. */
  readonly log: RequestLog;
  /** Deadlines of bodies being read (BODY_TIMEOUT_MS). */
  readonly deadlines: BodyDeadlines;
}

interface State {
  done: boolean;
  /** Close the connection after the answer: the body was not read to its end. */
  closeAfter?: boolean;
  /** Settles a body still being read when the client goes away. */
  abortBody?: () => void;
  /** Stops a streamed answer when the client goes away. */
  abortStream?: () => void;
  /** The request's id and access line, on a route with RouteOptions.access. */
  trace?: Trace;
}

const NO_BODY = Buffer.alloc(0);
// How long the rest of a streamed body answered early is read and dropped before the answer.
const LINGER_MS = 2_000;

/** A uWS route callback. */
export type RouteCallback = (res: HttpResponse, req: HttpRequest) => void;

/** Wraps an async handler as a uWS route callback. */
export function route(env: RouteEnv, opts: RouteOptions, handler: Handler): RouteCallback {
  const { inFlight, log, deadlines } = env;
  const access = opts.access;
  const limits = opts.bodyCap === undefined ? undefined : { cap: opts.bodyCap, deadlines };
  return (res, req) => {
    const state: State = { done: false };
    res.onAborted(() => {
      state.done = true;
      state.abortBody?.();
      state.abortStream?.();
    });
    inFlight.start();
    // A streamed request body (opts.streamBody), answered before its end (a bad line): its rest is
    // dropped for up to LINGER_MS before the answer (body-stream.ts close), then closed if still coming.
    let bodyStream: BodyStream | undefined;
    let head: Omit<Incoming, 'body'> | undefined;
    // Each request ends through exactly one of these two: its answer is sent, its count released.
    const ok = (reply: Reply) => {
      if (bodyStream && !bodyStream.complete) state.closeAfter = true;
      // A streamed answer is in flight until its last byte is out, or its client gone.
      if (reply.stream && !state.done) {
        state.done = true;
        const trace = state.trace;
        try {
          state.abortStream = streamReply(res, () => writeHead(res, reply, reply.stream!.contentType, trace?.id), reply.stream,
            () => inFlight.end(), (msg, err) => log.failed(trace, msg, err));
        } catch (err) {
          log.failed(trace, 'reply failed', err);
          inFlight.end();
          return;
        }
        if (trace) log.access(trace, reply.status);
        return;
      }
      let status: number | undefined;
      try {
        status = send(res, state, reply, state.closeAfter === true, log);
      } catch (err) {
        log.failed(state.trace, 'reply failed', err);
      }
      inFlight.end();
      if (state.trace && status !== undefined) log.access(state.trace, status);
    };
    const failed = (err: unknown) => {
      if (bodyStream && !bodyStream.complete) state.closeAfter = true;
      let status: number | undefined;
      try {
        status = sendError(res, state, err, log, head, state.closeAfter);
      } catch (e) {
        log.failed(state.trace, 'reply failed', e);
      }
      inFlight.end();
      if (state.trace && status !== undefined) log.access(state.trace, status);
    };
    try {
      const params: string[] = [];
      for (let i = 0; i < (opts.params ?? 0); i++) params.push(req.getParameter(i) ?? '');
      head = {
        method: req.getMethod(),
        url: req.getUrl(),
        query: req.getQuery() ?? '',
        params,
        contentType: req.getHeader('content-type'),
        authorization: req.getHeader('authorization'),
        remoteAddress: opts.address ? Buffer.from(res.getRemoteAddressAsText()).toString() : '',
      };
      if (access !== undefined) state.trace = log.begin(head.method, head.url, req.getHeader('x-request-id'), access);
      opts.authorize?.(head);
    } catch (err) {
      // Failed before the body was read: close, or its bytes would be parsed as a request.
      state.closeAfter = opts.bodyCap !== undefined;
      failed(err);
      return;
    }
    const run = (body: Buffer, stream?: BodyStream) => {
      let reply: Reply | Promise<Reply>;
      try {
        // the buffered requests (every claim) keep the shape they always had: no bodyStream field.
        reply = handler(stream ? { ...head!, body, bodyStream: stream } : { ...head!, body });
      } catch (err) {
        if (!stream) {
          failed(err);
          return;
        }
        reply = Promise.reject(err);
      }
      if (stream) {
        // The answer waits until the body is read or dropped (at most LINGER_MS).
        const settle = () => stream.close(LINGER_MS).catch(() => undefined);
        Promise.resolve(reply).then((r) => settle().then(() => ok(r)), (err: unknown) => settle().then(() => failed(err)));
      } else if (reply instanceof Promise) reply.then(ok, failed);
      else ok(reply);
    };
    if (opts.streamBody?.when(head.contentType)) {
      const s = new BodyStream(res, opts.streamBody);
      bodyStream = s;
      state.abortBody = () => s.abort();
      run(NO_BODY, s);
      return;
    }
    if (limits === undefined) {
      run(NO_BODY);
      return;
    }
    let length: string;
    try {
      length = singleContentLength(req);
    } catch (err) {
      state.closeAfter = true;
      failed(err);
      return;
    }
    readBody(res, length, limits, (abort) => { state.abortBody = abort; }, (err, body) => {
      if (err === undefined) {
        run(body);
        return;
      }
      // A body that failed (too large, too slow, bad length) may still be arriving: close.
      state.closeAfter = true;
      failed(err);
    });
  };
}

/**
 * The Content-Length header, refusing a request that has two of them or one next to chunked
 * encoding: proxies may read such a body differently from us (request smuggling).
 */
function singleContentLength(req: HttpRequest): string {
  let lengths = 0;
  let chunked = false;
  req.forEach((k) => {
    if (k === 'content-length') lengths++;
    else if (k === 'transfer-encoding') chunked = true;
  });
  if (lengths > 1 || (lengths === 1 && chunked)) {
    throw new ApiError('bad_request', 'ambiguous body length: several Content-Length headers, or one with chunked encoding');
  }
  return req.getHeader('content-length');
}

/** Builds the error reply of an ApiError. */
export function errorReply(err: ApiError): Reply {
  const retry = RETRY_AFTER_SECONDS[err.code];
  return {
    status: ERROR_STATUS[err.code],
    body: { error: err.code, ...(err.message === err.code ? {} : { message: err.message }), ...err.details },
    headers: retry === undefined ? undefined : { 'Retry-After': String(retry) },
  };
}

/** Answers a failed request; returns the status sent, or undefined for a client that went away mid-body. */
function sendError(res: HttpResponse, state: State, err: unknown, log: RequestLog, head: Pick<Incoming, 'method' | 'url'> | undefined,
  close = false): number | undefined {
  if (err instanceof BodyAborted) return undefined;
  if (err instanceof ApiError) return send(res, state, errorReply(err), close, log);
  log.unexpected(state.trace, head?.method, head?.url, err);
  return send(res, state, INTERNAL, close, log);
}

const INTERNAL: Reply = { status: 500, body: { error: 'internal' } };
const INTERNAL_PAYLOAD = encodeBody(INTERNAL.body, 'json');

/** Sends a reply (unless the client is gone); returns its status. */
function send(res: HttpResponse, state: State, reply: Reply, close: boolean, log: RequestLog): number {
  if (state.done) return reply.status;
  state.done = true;
  let format = reply.format ?? 'json';
  let payload: string | Buffer;
  try {
    payload = encodeBody(reply.body, format);
  } catch (err) {
    // A reply that cannot be encoded is our bug; the client still gets an answer.
    log.failed(state.trace, 'reply could not be encoded, answered 500', err);
    [reply, format, payload] = [INTERNAL, 'json', INTERNAL_PAYLOAD];
  }
  res.cork(() => {
    writeHead(res, reply, contentTypeOf(format), state.trace?.id);
    // A short error answer on a connection being closed anyway.
    if (close) {
      res.end(payload, true);
      return;
    }
    // tryEnd, unlike end(), never queues what the socket does not take in uWS's memory, and
    // the answer stays unfinished until it is written: uWS then terminates a connection whose
    // client sends another request without reading this one (end() would queue answer after
    // answer for a client that never reads), and closes it after ~10 s without progress.
    const start = res.getWriteOffset();
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    if (!res.tryEnd(payload, size)[1]) writeRest(res, payload, start);
  });
  return reply.status;
}

/** Writes the status line and the headers of a reply, with the request id of a traced request. */
function writeHead(res: HttpResponse, reply: Reply, contentType: string, requestId: string | undefined): void {
  res.writeStatus(statusLine(reply.status));
  res.writeHeader('Content-Type', contentType);
  if (requestId !== undefined) res.writeHeader('X-Request-Id', requestId);
  if (reply.headers) for (const [k, v] of Object.entries(reply.headers)) res.writeHeader(k, v);
}

/** Writes the rest of an answer as the client reads (the socket's onWritable). */
function writeRest(res: HttpResponse, payload: string | Buffer, start: number): void {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  res.onWritable((offset) => res.tryEnd(bytes.subarray(offset - start), bytes.length)[0]);
}
