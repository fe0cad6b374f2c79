/**
 * The drill's oracle: judges collected facts (facts.ts) against the invariants of the brief
 * (section 4) and every answer the clients received. Pure: no I/O, no clock.
 *
 * A claim request is identified by (template, user, request id): the driver sends each id for
 * one user and template only, and the sink stores the request id in the coupon row.
 */
import type { Attempt, DrillFacts, LossWindow } from './facts.ts';

export type ViolationKind =
  | 'over_issue' // more coupons of a template than its stock
  | 'over_limit' // a user holds more coupons of a template than its per-user limit
  | 'issued_missing' // a client was told "issued" and MySQL does not hold that coupon for it
  | 'extra_row' // a row no client was told about, and no unknown outcome explains it
  | 'duplicate_row' // a coupon id stored twice, or one request stored with two coupons
  | 'replay_mismatch' // one request answered with different coupons, or with a coupon and a refusal
  | 'stock_mismatch' // stored coupons + Redis remaining != total stock
  | 'dead_letter' // records the sink could not store
  | 'not_drained'; // the sink's backlog did not reach 0

export interface Violation {
  readonly kind: ViolationKind;
  readonly detail: string;
}

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

interface Request {
  readonly key: string;
  readonly attempts: Attempt[];
}

const claimKey = (templateId: string, userId: string, requestId: string) => `${templateId}|${userId}|${requestId}`;
const inWindow = (t: number, windows: readonly LossWindow[]) => windows.some((w) => t >= w.from && t <= w.to);
const unknownOutcome = (a: Attempt) => a.outcome.kind === 'error' || a.outcome.kind === 'transport';

function group<T>(items: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of items) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

/** Judges one drill's facts; `violations` is empty when every invariant held. */
export function verify(f: DrillFacts): Verdict {
  const violations: Violation[] = [];
  const flag = (kind: ViolationKind, detail: string) => violations.push({ kind, detail });
  const requests = new Map<string, Request>();
  for (const a of f.attempts) {
    const key = claimKey(a.templateId, a.userId, a.requestId);
    let r = requests.get(key);
    if (!r) requests.set(key, (r = { key, attempts: [] }));
    r.attempts.push(a);
  }
  const rowsByCoupon = group(f.rows, (r) => r.couponId);
  const rowsByRequest = group(f.rows, (r) => claimKey(r.templateId, r.userId, r.requestId));

  // Answers: one coupon per request, for that request's user and template.
  const answered = new Map<string, { request: Request; at: number }>();
  let replayedAfterError = 0;
  for (const r of requests.values()) {
    const coupons = new Set<string>();
    for (const a of r.attempts) {
      if (a.outcome.kind !== 'issued') continue;
      coupons.add(a.outcome.couponId);
      if (a.outcome.userId !== a.userId || a.outcome.templateId !== a.templateId) {
        flag('replay_mismatch', `${r.key}: answered coupon ${a.outcome.couponId} for ${a.outcome.templateId}|${a.outcome.userId}`);
      }
      const prior = answered.get(a.outcome.couponId);
      if (prior && prior.request !== r) flag('replay_mismatch', `coupon ${a.outcome.couponId} answered to ${prior.request.key} and ${r.key}`);
      if (!prior || a.endedAt < prior.at) answered.set(a.outcome.couponId, { request: r, at: a.endedAt });
    }
    if (coupons.size > 1) flag('replay_mismatch', `${r.key}: answered with ${coupons.size} coupons (${[...coupons].join(', ')})`);
    const firstUnknown = r.attempts.findIndex(unknownOutcome);
    if (firstUnknown >= 0 && r.attempts.slice(firstUnknown).some((a) => a.outcome.kind === 'issued' && a.outcome.replayed)) replayedAfterError++;
  }

  // Every answered coupon is stored, once, for its request; unless Redis lost it in a window.
  const lost = new Set<string>();
  for (const [couponId, { request, at }] of answered) {
    const rows = rowsByCoupon.get(couponId) ?? [];
    if (rows.length === 0) {
      if (inWindow(at, f.lossWindows)) lost.add(couponId);
      else flag('issued_missing', `${request.key}: coupon ${couponId} answered "issued" but not in MySQL`);
    } else if (!rows.some((row) => claimKey(row.templateId, row.userId, row.requestId) === request.key)) {
      flag('issued_missing', `${request.key}: coupon ${couponId} is stored for another claim`);
    }
  }
  for (const [couponId, rows] of rowsByCoupon) {
    if (rows.length > 1) flag('duplicate_row', `coupon ${couponId} stored ${rows.length} times`);
    if (rows.some((r) => r.conflicts > 0)) flag('duplicate_row', `coupon ${couponId} met another claim (conflicts > 0)`);
  }

  // Every row is a coupon a client was told about, or one whose answer the client never got.
  let unansweredIssued = 0;
  for (const [key, rows] of rowsByRequest) {
    const coupons = new Set(rows.map((r) => r.couponId));
    if (coupons.size > 1) flag('duplicate_row', `${key}: one request stored with ${coupons.size} coupons`);
    const request = requests.get(key);
    if (!request) {
      flag('extra_row', `${key}: ${rows.length} row(s) of a request no client sent`);
      continue;
    }
    for (const couponId of coupons) {
      if (answered.get(couponId)?.request === request) continue;
      if (request.attempts.some((a) => a.outcome.kind === 'issued')) {
        flag('extra_row', `${key}: coupon ${couponId} stored, the client was told another`);
      } else if (request.attempts.some((a) => a.outcome.kind === 'refused')) {
        flag('replay_mismatch', `${key}: coupon ${couponId} stored, the client was refused`);
      } else if (request.attempts.some(unknownOutcome)) {
        unansweredIssued++;
      } else {
        flag('extra_row', `${key}: coupon ${couponId} stored without any answer`);
      }
    }
  }

  // Per template: stock and per-user limit, over rows and over answers (a lost row must not hide
  // it). A coupon lost with Redis's unsynced tail is nobody's: the user may claim it again.
  let pending = 0;
  for (const t of f.templates) {
    const rows = f.rows.filter((r) => r.templateId === t.id);
    const stored = new Set(rows.map((r) => r.couponId));
    const told = [...answered].filter(([c, a]) => a.request.attempts[0]!.templateId === t.id && !lost.has(c));
    if (stored.size > t.totalStock) flag('over_issue', `${t.id}: ${stored.size} coupons stored, stock ${t.totalStock}`);
    if (told.length > t.totalStock) flag('over_issue', `${t.id}: ${told.length} coupons answered, stock ${t.totalStock}`);
    checkLimit(t.id, t.perUserLimit, rows.map((r) => [r.userId, r.couponId]), 'stored', flag);
    checkLimit(t.id, t.perUserLimit, told.map(([c, a]) => [a.request.attempts[0]!.userId, c]), 'answered', flag);
    const st = f.stock.get(t.id);
    if (!st || st.remaining === null) {
      flag('stock_mismatch', `${t.id}: remaining stock unknown (sub-stock keys missing in Redis)`);
      continue;
    }
    pending += st.pending;
    if (st.remaining < 0) flag('over_issue', `${t.id}: remaining stock ${st.remaining}`);
    if (stored.size + st.remaining !== t.totalStock) {
      flag('stock_mismatch', `${t.id}: ${stored.size} stored + ${st.remaining} remaining != ${t.totalStock} total`);
    }
  }
  if (f.deadLetters > 0) flag('dead_letter', `${f.deadLetters} record(s) dead-lettered`);
  if (f.backlog > 0) flag('not_drained', `${f.backlog} record(s) still unacknowledged`);

  return {
    requests: requests.size,
    attempts: f.attempts.length,
    issued: answered.size,
    errors: countErrors(f.attempts),
    replayedAfterError,
    unansweredIssued,
    lostAfterAck: lost.size,
    pending,
    violations,
  };
}

/** Flags users holding more distinct coupons of a template than its limit. */
function checkLimit(templateId: string, limit: number, pairs: readonly [user: string, coupon: string][], what: string,
  flag: (kind: ViolationKind, detail: string) => void): void {
  const byUser = new Map<string, Set<string>>();
  for (const [user, coupon] of pairs) {
    let s = byUser.get(user);
    if (!s) byUser.set(user, (s = new Set()));
    s.add(coupon);
  }
  for (const [user, coupons] of byUser) {
    if (coupons.size > limit) flag('over_limit', `${templateId}|${user}: ${coupons.size} coupons ${what}, limit ${limit}`);
  }
}

function countErrors(attempts: readonly Attempt[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of attempts) {
    const k = a.outcome.kind === 'error' ? String(a.outcome.status) : a.outcome.kind === 'transport' ? a.outcome.error : undefined;
    if (k !== undefined) out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

