/**
 * The drill's verdict: its facts (facts.ts) judged by the one oracle (tools/verify/oracle.ts),
 * plus what the drill counts of its own: requests, attempts, errors by status, the requests
 * that got their coupon on a retry after an error, and reservations left pending. Pure.
 *
 * A claim request is identified by (template, user, request id): the driver sends each id for
 * one user and template only, and the sink stores the request id in the coupon row.
 */
import { claimKey, judge, type Told, type Violation } from '../tools/verify/oracle.ts';
import type { Attempt, DrillFacts } from './facts.ts';

export interface Verdict {
  /** Distinct claim requests (request ids). */
  readonly requests: number;
  readonly attempts: number;
  /** Distinct coupons the clients were told were issued to them. */
  readonly issued: number;
  /** Error answers and transport failures by HTTP status or failure ('timeout', 'network', 'aborted'). */
  readonly errors: Readonly<Record<string, number>>;
  /** Requests that got an error or no answer, then their coupon on a retry (the hard path, counted). */
  readonly replayedAfterError: number;
  /** Rows of requests whose every answer was an error or no answer (allowed, counted). */
  readonly unansweredIssued: number;
  /** "Issued" answers missing from MySQL inside a loss window (Redis lost its unsynced AOF tail). */
  readonly lostAfterAck: number;
  /** Reservations still pending settle in Redis. */
  readonly pending: number;
  readonly violations: readonly Violation[];
}

const unknownOutcome = (a: Attempt) => a.outcome.kind === 'error' || a.outcome.kind === 'transport';
const keyOf = (a: Attempt) => claimKey(a.templateId, a.userId, a.requestId);

/** Judges one drill's facts; `violations` is empty when every invariant held. */
export function verify(f: DrillFacts): Verdict {
  const told: Told[] = [];
  const sent = new Set<string>();
  const refused = new Set<string>();
  const unknown = new Set<string>();
  const attemptsOf = new Map<string, Attempt[]>();
  for (const a of f.attempts) {
    const key = keyOf(a);
    sent.add(key);
    attemptsOf.set(key, [...(attemptsOf.get(key) ?? []), a]);
    if (a.outcome.kind === 'issued') {
      told.push({ templateId: a.templateId, userId: a.userId, requestId: a.requestId, couponId: a.outcome.couponId,
        replayed: a.outcome.replayed, toldUserId: a.outcome.userId, toldTemplateId: a.outcome.templateId, at: a.endedAt,
        ...(a.outcome.amount === undefined ? {} : { amount: a.outcome.amount }) });
    } else if (a.outcome.kind === 'refused') refused.add(key);
    else unknown.add(key);
  }
  const v = judge({
    templates: f.templates.map((t) => ({ ...t, remaining: f.stock.get(t.id)?.remaining ?? null, budgetLeft: f.stock.get(t.id)?.budgetLeft })),
    rows: f.rows, told, requests: { sent, refused, unknown },
    lossWindows: f.lossWindows, backlog: f.backlog, deadLetters: f.deadLetters,
  });
  let replayedAfterError = 0;
  for (const attempts of attemptsOf.values()) {
    const firstUnknown = attempts.findIndex(unknownOutcome);
    if (firstUnknown >= 0 && attempts.slice(firstUnknown).some((a) => a.outcome.kind === 'issued' && a.outcome.replayed)) replayedAfterError++;
  }
  return {
    requests: sent.size, attempts: f.attempts.length, issued: v.told, errors: countErrors(f.attempts), replayedAfterError,
    unansweredIssued: v.unansweredIssued, lostAfterAck: v.lostAfterAck,
    pending: [...f.stock.values()].reduce((n, s) => n + s.pending, 0), violations: v.violations,
  };
}

function countErrors(attempts: readonly Attempt[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of attempts) {
    const k = a.outcome.kind === 'error' ? String(a.outcome.status) : a.outcome.kind === 'transport' ? a.outcome.error : undefined;
    if (k !== undefined) out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
