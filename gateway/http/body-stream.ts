/**
 * A request body read as a stream, for uploads too large to hold (a grant's user list, up to
 * hundreds of MB). uWS hands over chunks as they arrive; each is copied (uWS reuses its memory)
 * and queued. Above `highWater` queued bytes the socket is paused (res.pause: uWS stops reading
 * it, TCP flow control then slows the client) until the consumer has taken the queue below half
 * of it: memory stays bounded however fast the client sends and however slow the consumer (MySQL)
 * is. A body that sends nothing for `idleMs` while not paused by us fails with a 408.
 */
import { ApiError } from '../../core/errors.ts';
import { BodyAborted } from './body.ts';
import type { HttpResponse } from './uws.ts';

export interface StreamLimits {
  /** Most bytes queued before the socket is paused. */
  readonly highWater: number;
  /** A body silent this long (not counting our pauses) fails with 408. */
  readonly idleMs: number;
}

export class BodyStream {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private paused = false;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private idle: NodeJS.Timeout | undefined;
  // Set while the rest of a body answered early is dropped: called when it ended.
  private dropped: (() => void) | undefined;
  /** True once the last chunk arrived (or the body failed): the connection may be kept. */
  get complete(): boolean {
    return this.ended;
  }

  /** Must be constructed synchronously in the uWS handler: it attaches onData. */
  constructor(private readonly res: HttpResponse, private readonly limits: StreamLimits) {
    this.armIdle();
    res.onData((chunk, isLast) => {
      if (this.failure) {
        if (isLast) {
          this.ended = true;
          this.dropped?.();
        }
        return;
      }
      if (chunk.byteLength > 0) {
        this.queue.push(Buffer.from(new Uint8Array(chunk)));
        this.queued += chunk.byteLength;
      }
      if (isLast) {
        this.ended = true;
        clearTimeout(this.idle);
      } else if (this.queued > limits.highWater && !this.paused) {
        this.paused = true;
        clearTimeout(this.idle);
        res.pause();
      } else if (!this.paused) this.armIdle();
      this.signal();
    });
  }

  /** The next chunk, or null at the end; rejects when the body failed or the client went away. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      if (this.failure) throw this.failure;
      const chunk = this.queue.shift();
      if (chunk) {
        this.queued -= chunk.length;
        if (this.paused && this.queued <= this.limits.highWater / 2) {
          this.paused = false;
          this.armIdle();
          this.res.resume();
        }
        return chunk;
      }
      if (this.ended) return null;
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
  }

  /** The client went away (the route's onAborted): the consumer's next call rejects. */
  abort(): void {
    this.fail(new BodyAborted('client aborted'));
    this.dropped?.();
  }

  /**
   * Stops reading before the answer is sent: the rest of a body still arriving is dropped as it
   * comes, for `lingerMs` at most. Resolves when the body ended (the connection may be kept), or
   * the time is up or the body failed (the route then closes it). Closing at once instead, with
   * unread bytes, makes the kernel reset the connection, and a client still sending (Node's http
   * client) loses the answer, e.g. the 400 naming a bad line.
   */
  async close(lingerMs: number): Promise<void> {
    clearTimeout(this.idle);
    if (this.ended || this.failure) {
      this.failure ??= new BodyAborted('body no longer read');
      return;
    }
    this.failure = new BodyAborted('body no longer read');
    this.queue.length = 0;
    this.queued = 0;
    if (this.paused) {
      this.paused = false;
      this.res.resume();
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, lingerMs);
      this.dropped = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    clearTimeout(this.idle);
    this.signal();
  }

  private signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private armIdle(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.fail(new ApiError('request_timeout', 'request body stalled')), this.limits.idleMs);
    this.idle.unref();
  }
}
