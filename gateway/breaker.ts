/**
 * Circuit breaker in front of the claim path's Redis calls. A dead Redis fails calls at once,
 * but a hung one (paused, or a network that swallows packets) makes every call wait the command
 * timeout, and each of those calls may still run when Redis wakes up: a claim the client was
 * told 503 for, whose coupon is then issued anyway. Once calls fail, the breaker stops sending
 * new claims for a cool-down, answers them 503 at once, then lets one probe call through and
 * closes when it succeeds.
 *
 * It only refuses a call before it is sent, so a refused claim never ran and its 503 is as true
 * as any other; a step of a claim already under way (overflow take, settle) is never refused,
 * only counted (`record`), so the breaker never leaves a reservation half done.
 */
import { performance } from 'node:perf_hooks';
import { ApiError } from '../core/errors.ts';

export interface BreakerOptions {
  /** Failures within one window that open the breaker (if they are half of its calls or more). */
  readonly failures: number;
  readonly windowMs: number;
  /** How long an open breaker refuses calls before it lets a probe through. */
  readonly coolDownMs: number;
}

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;

/** Opens after repeated failures; a success of the probe call closes it again. */
export class Breaker {
  private state = CLOSED;
  private calls = 0;
  private failed = 0;
  private windowStart: number;
  /** OPEN: when a probe may go. HALF_OPEN: when the probe in flight counts as lost. */
  private until = 0;
  /** Failed calls and openings since start (read by /metrics). */
  failures = 0;
  opens = 0;

  /** `onChange` hears every opening (true) and closing (false), for the log; `clock` is in ms. */
  constructor(private readonly o: BreakerOptions, private readonly onChange: (open: boolean) => void = () => {},
    private readonly clock: () => number = () => performance.now()) {
    this.windowStart = clock();
  }

  /** True unless closed: open, or half open with a probe under way. */
  get isOpen(): boolean {
    return this.state !== CLOSED;
  }

  /**
   * True while the breaker would refuse a call without a probe being due: a claim that would
   * otherwise wait behind a call in flight (gateway/claim/group-commit.ts) is refused at once.
   */
  refusing(): boolean {
    return this.state !== CLOSED && this.clock() < this.until;
  }

  /** Runs `f` unless the breaker is open (then throws a 503 without calling it); counts the outcome. */
  run<T>(f: () => Promise<T>): Promise<T> {
    if (this.state !== CLOSED && !this.admitProbe()) {
      return Promise.reject(new ApiError('unavailable', 'storage unavailable, retry shortly'));
    }
    return this.record(f);
  }

  /** Runs `f` whatever the state and counts the outcome (steps of a claim already under way). */
  async record<T>(f: () => Promise<T>): Promise<T> {
    let v: T;
    try {
      v = await f();
    } catch (err) {
      // An ApiError is an answer, not a storage failure.
      if (!(err instanceof ApiError)) this.failure();
      throw err;
    }
    this.success();
    return v;
  }

  private admitProbe(): boolean {
    const now = this.clock();
    if (now < this.until) return false;
    // OPEN and cooled down, or HALF_OPEN with a probe that never reported: one call goes.
    this.state = HALF_OPEN;
    this.until = now + this.o.coolDownMs;
    return true;
  }

  private success(): void {
    if (this.state === CLOSED) {
      this.calls++;
      return;
    }
    if (this.state === HALF_OPEN) this.close();
    // OPEN: a call sent before the breaker opened; the probe decides.
  }

  private failure(): void {
    this.failures++;
    const now = this.clock();
    if (this.state === HALF_OPEN) {
      this.open(now);
      return;
    }
    if (this.state === OPEN) return;
    if (now - this.windowStart >= this.o.windowMs) {
      this.windowStart = now;
      this.calls = 0;
      this.failed = 0;
    }
    this.calls++;
    this.failed++;
    if (this.failed >= this.o.failures && this.failed * 2 >= this.calls) this.open(now);
  }

  private open(now: number): void {
    const wasClosed = this.state === CLOSED;
    this.state = OPEN;
    this.until = now + this.o.coolDownMs;
    if (!wasClosed) return;
    this.opens++;
    this.onChange(true);
  }

  private close(): void {
    this.state = CLOSED;
    this.windowStart = this.clock();
    this.calls = 0;
    this.failed = 0;
    this.onChange(false);
  }
}
