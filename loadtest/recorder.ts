/**
 * Collects what the load generator saw, whichever driver sent the requests: latencies in HDR
 * histograms (overall, per request kind, per second), status counts, and every coupon a client
 * was told it got (the verifier's input). Shows its progress: a bar on a terminal, else a line every few seconds.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { progressBar } from '../cli/progress.ts';
import { codeRequestId } from '../core/ids.ts';
import type { BodyFormat } from './options.ts';
import {
  type BatchKey, type ClaimKey, decodeBatchAnswer, decodeClaimAnswer, decodeReason, type RedeemKey, type RequestKind, type RequestSpec,
} from './requests.ts';
import type { IssuedAnswer } from './verify.ts';

type Histogram = ReturnType<typeof hdr.build>;

/**
 * Microsecond histograms that grow past the initial range when needed: 3 significant digits for
 * the phase, 2 (1 %, a few KB each) for the per-second and progress windows.
 */
const newHistogram = (digits: 2 | 3 = 3): Histogram =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: digits, autoResize: true });

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface SecondStats {
  /** Seconds since the run started (start of this second). */
  readonly t: number;
  readonly responses: number;
  /** New coupons (200, not a replay). */
  readonly issued: number;
  readonly errors: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface CurvePoint {
  readonly percentile: number;
  readonly ms: number;
}

export interface KindStats {
  readonly latency: LatencySummary;
  readonly statuses: Record<string, number>;
  readonly curve: CurvePoint[];
}

export interface PhaseResult {
  readonly label: string;
  readonly driver: 'autocannon' | 'open-loop' | 'flows';
  readonly connections: number;
  /** Target rate of an open-loop phase. */
  readonly rate?: number;
  /** When the phase started, seconds since the run started. */
  readonly startS: number;
  readonly seconds: number;
  readonly sent: number;
  readonly answered: number;
  /** Socket errors and timeouts. */
  readonly errors: number;
  /** Open loop: scheduled requests never sent because the client fell too far behind. */
  readonly unsent: number;
  /** Open loop: the latest any request left its scheduled time, ms (client or connections saturated). */
  readonly maxSendLagMs?: number;
  /** The load generator's own event-loop delay: when high, latencies include the client's delays. */
  readonly clientLoopDelayMs: { readonly p99: number; readonly max: number };
  readonly statuses: Record<string, number>;
  readonly issued: number;
  readonly replayed: number;
  readonly latency: LatencySummary;
  readonly curve: CurvePoint[];
  readonly kinds: Partial<Record<RequestKind, KindStats>>;
  readonly perSecond: SecondStats[];
  /** The whole phase's histogram (µs), HDR compressed base64, for tools that read HDR logs. */
  readonly histogram: string;
}

/** What all phases of a run share: the verifier's view of the clients. */
export class Collected {
  /** Every 200 claim answer, replays included. */
  readonly answers: IssuedAnswer[] = [];
  /** Claims without a definite answer (no reply, timeout, 503): each may have issued a coupon nobody saw. */
  uncertain = 0;
  /** 200 claim answers whose body was not a claim answer. */
  undecodable = 0;
  /** Redemptions of codes that must be refused: their answers by status, and the codes a 200 answered. */
  readonly invalidCodes: { statuses: Record<string, number>; issued: string[] } = { statuses: {}, issued: [] };
  /** Redemptions refused 429 too_many_failures: the gateway's failure budget decided, not the code. */
  tooManyFailures = 0;
}

const ms = (us: number) => Math.round(us) / 1000;

function summary(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  return {
    count: h.totalCount, p50: ms(h.getValueAtPercentile(50)), p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)), p999: ms(h.getValueAtPercentile(99.9)), max: ms(h.maxValue), mean: ms(h.mean),
  };
}

/**
 * The percentile curve of a latency chart: points at 1 - 10^(-j/10) up to the resolution the
 * count allows, then the maximum.
 */
function curveOf(h: Histogram): CurvePoint[] {
  if (h.totalCount === 0) return [];
  const out: CurvePoint[] = [];
  const last = Math.log10(h.totalCount);
  for (let j = 0; j < last * 10; j++) {
    const percentile = 100 * (1 - 10 ** (-j / 10));
    out.push({ percentile, ms: ms(h.getValueAtPercentile(percentile)) });
  }
  out.push({ percentile: 100, ms: ms(h.maxValue) });
  return out;
}

interface Second { responses: number; issued: number; errors: number; hist: Histogram }

/** One phase's recording. */
export class Recorder {
  private readonly hist = newHistogram();
  private readonly kindHists = new Map<RequestKind, { hist: Histogram; statuses: Record<string, number> }>();
  private readonly seconds = new Map<number, Second>();
  private readonly statuses: Record<string, number> = {};
  private sentCount = 0;
  private answered = 0;
  // Claims one request carries, the most seen in this phase's requests (a batch: its templates):
  // a request without an answer may have issued that many.
  private claimsPerRequest = 1;
  private errors = 0;
  private issued = 0;
  private replayed = 0;
  private readonly createdAt = performance.now();
  /** First request sent / last response or error: the phase's measured window. */
  private firstSentAt: number | undefined;
  private lastEventAt = 0;
  private window = { hist: newHistogram(2), responses: 0, at: performance.now() };
  private stopProgress = (): void => undefined;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });

  /** `runT0` is the run's start (performance.now()), so phases line up on one time axis. */
  constructor(readonly label: string, private readonly collected: Collected, private readonly runT0: number) {
    this.loopDelay.enable();
  }

  /** The load started at `t` (performance.now()): the driver's own set-up before it is not part of the phase. */
  loadStarted(t: number): void {
    this.firstSentAt = t;
  }

  /** A request left the client. */
  sent(): void {
    this.firstSentAt ??= performance.now();
    this.sentCount++;
  }

  /** A complete response; `latencyMs` measured by the driver, `atMs` = performance.now() at completion. */
  response(spec: RequestSpec, status: number, body: Buffer, latencyMs: number, atMs: number): void {
    this.answered++;
    if (spec.batch) this.claimsPerRequest = Math.max(this.claimsPerRequest, spec.batch.templateIds.length);
    this.lastEventAt = atMs;
    const us = Math.max(1, Math.round(latencyMs * 1000));
    this.hist.recordValue(us);
    this.window.hist.recordValue(us);
    this.window.responses++;
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
    let k = this.kindHists.get(spec.kind);
    if (!k) this.kindHists.set(spec.kind, (k = { hist: newHistogram(), statuses: {} }));
    k.hist.recordValue(us);
    k.statuses[status] = (k.statuses[status] ?? 0) + 1;
    const sec = this.second(atMs);
    sec.responses++;
    sec.hist.recordValue(us);
    if (spec.batch) return this.batchResponse(spec.batch, status, body, spec, sec);
    if (spec.redeem) return this.redeemResponse(spec.redeem, status, body, spec.format, sec);
    if (spec.kind === 'claim' && spec.claim) this.claimResponse(spec.claim, status, body, spec.format, sec);
  }

  /** A claim's answer: a 200 is a coupon the verifier must find, a 503 an outcome nobody knows. */
  private claimResponse(key: ClaimKey, status: number, body: Buffer, format: BodyFormat, sec: Second): void {
    if (status === 503) this.collected.uncertain++;
    if (status !== 200) return;
    const a = decodeClaimAnswer(body, format);
    if (!a) {
      this.collected.undecodable++;
      this.collected.uncertain++;
      return;
    }
    if (a.replayed) this.replayed++;
    else {
      this.issued++;
      sec.issued++;
    }
    this.collected.answers.push({
      templateId: key.templateId, userId: key.userId, requestId: key.requestId,
      couponId: a.couponId, replayed: a.replayed, toldUserId: a.userId, toldTemplateId: a.templateId,
      ...(a.amount === undefined ? {} : { amount: a.amount }),
    });
  }

  /**
   * A redemption: a valid code's answer is a claim's whose request id is the code's (every
   * redemption of one code is one request, core/ids.ts); an invalid code's is only counted, as
   * anything but 404 is the verifier's to report.
   */
  private redeemResponse(key: RedeemKey, status: number, body: Buffer, format: BodyFormat, sec: Second): void {
    if (status === 429 && decodeReason(body, format) === 'too_many_failures') this.collected.tooManyFailures++;
    if (key.number !== undefined) {
      this.claimResponse({ templateId: key.templateId, userId: key.userId, requestId: codeRequestId(key.number) }, status, body, format, sec);
      return;
    }
    const inv = this.collected.invalidCodes;
    inv.statuses[status] = (inv.statuses[status] ?? 0) + 1;
    if (status === 200) inv.issued.push(key.code);
  }

  /**
   * A batch answer: each template's result is a claim's. A batch without a definite answer
   * (503, no reply) leaves every template uncertain; a template that answered an error
   * (`unavailable`, `internal`) leaves that one uncertain.
   */
  private batchResponse(key: BatchKey, status: number, body: Buffer, spec: RequestSpec, sec: Second): void {
    if (status === 503) this.collected.uncertain += key.templateIds.length;
    if (status !== 200) return;
    const results = decodeBatchAnswer(body, spec.format);
    if (!results) {
      this.collected.undecodable++;
      this.collected.uncertain += key.templateIds.length;
      return;
    }
    for (const [i, r] of results.entries()) {
      if (r.status === 'unavailable' || r.status === 'internal') this.collected.uncertain++;
      if (r.status !== 'issued') continue;
      if (r.replayed) this.replayed++;
      else {
        this.issued++;
        sec.issued++;
      }
      this.collected.answers.push({
        templateId: key.templateIds[i] ?? '', userId: key.userId, requestId: key.requestId,
        couponId: r.couponId!, replayed: r.replayed, toldUserId: key.userId, toldTemplateId: r.templateId,
        ...(r.amount === undefined ? {} : { amount: r.amount }),
      });
    }
  }

  /** A socket error or timeout (the request got no answer). */
  error(atMs: number): void {
    this.errors++;
    this.lastEventAt = atMs;
    this.second(atMs).errors++;
  }

  /**
   * Shows the phase's progress until finish(): a bar (seconds or requests of the phase) on a
   * terminal, else a line every `everyMs`.
   */
  startProgress(everyMs: number, bound: { durationS?: number; requests?: number }): void {
    const bar = progressBar(`  ${this.label}`, bound.durationS ?? bound.requests ?? 0, bound.durationS !== undefined ? 's' : 'requests');
    const tick = () => {
      const now = performance.now();
      const w = this.window;
      const rate = w.responses / ((now - w.at) / 1000);
      const p99 = w.hist.totalCount ? ms(w.hist.getValueAtPercentile(99)) : 0;
      const elapsedS = (now - (this.firstSentAt ?? now)) / 1000;
      const figures = `responses ${this.answered.toLocaleString('en-US')} (${Math.round(rate).toLocaleString('en-US')}/s)  ` +
        `issued ${this.issued.toLocaleString('en-US')}  p99 ${p99.toFixed(2)} ms  errors ${this.errors}`;
      if (bar.shown) bar.update(bound.durationS !== undefined ? Math.floor(elapsedS) : this.answered, { detail: figures });
      else console.log(`  ${this.label}  ${elapsedS.toFixed(1)} s  ${figures}`);
      this.window = { hist: newHistogram(2), responses: 0, at: now };
    };
    // the bar's window is a few per second, so its rate and p99 move with the load.
    const timer = setInterval(tick, bar.shown ? 500 : everyMs);
    timer.unref();
    this.stopProgress = () => {
      clearInterval(timer);
      bar.stop();
    };
  }

  /** Closes the phase: unanswered requests count as uncertain claims (a batch: each of its templates). */
  finish(meta: { driver: PhaseResult['driver']; connections: number; rate?: number; unsent?: number; maxSendLagMs?: number }): PhaseResult {
    this.stopProgress();
    this.loopDelay.disable();
    const start = this.firstSentAt ?? this.createdAt;
    // time from the first send to the last answer: the set-up of the driver is not load.
    const seconds = Math.max(0.001, (Math.max(this.lastEventAt, start) - start) / 1000);
    this.collected.uncertain += Math.max(0, this.sentCount - this.answered) * this.claimsPerRequest;
    const kinds: Partial<Record<RequestKind, KindStats>> = {};
    for (const [kind, k] of this.kindHists) kinds[kind] = { latency: summary(k.hist), statuses: k.statuses, curve: curveOf(k.hist) };
    const perSecond = [...this.seconds.entries()].sort((a, b) => a[0] - b[0]).map(([t, s]) => {
      const l = summary(s.hist);
      return { t, responses: s.responses, issued: s.issued, errors: s.errors, p50: l.p50, p90: l.p90, p99: l.p99, max: l.max };
    });
    return {
      label: this.label, driver: meta.driver, connections: meta.connections, rate: meta.rate,
      startS: (start - this.runT0) / 1000, seconds,
      sent: this.sentCount, answered: this.answered, errors: this.errors, unsent: meta.unsent ?? 0,
      maxSendLagMs: meta.maxSendLagMs,
      clientLoopDelayMs: { p99: this.loopDelay.percentile(99) / 1e6, max: this.loopDelay.max / 1e6 },
      statuses: this.statuses, issued: this.issued, replayed: this.replayed,
      latency: summary(this.hist), curve: curveOf(this.hist), kinds, perSecond,
      histogram: hdr.encodeIntoCompressedBase64(this.hist),
    };
  }

  private second(atMs: number): Second {
    const t = Math.floor((atMs - this.runT0) / 1000);
    let s = this.seconds.get(t);
    if (!s) this.seconds.set(t, (s = { responses: 0, issued: 0, errors: 0, hist: newHistogram(2) }));
    return s;
  }
}
