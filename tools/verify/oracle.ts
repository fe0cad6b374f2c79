/**
 * The one invariant oracle of the tools (brief, section 4): a pure function of what a run left
 * behind (templates, their remaining stock, the coupon rows in MySQL) and of what the clients
 * were told. The drill, the load test, the bench and the capacity calibration all judge with it;
 * each adds only the checks of its own scenario. No I/O, no clock.
 *
 * A claim request is identified by (template, user, request id); answers without a request id
 * (load-test claims that sent none) are identified by their position.
 */
import { shardOfCoupon, shardOfUser, type ShardLayout } from '../../core/shards.ts';
import { judgePackets } from './packets.ts';

export type ViolationKind =
  | 'not_drained' // the sink's backlog did not reach 0: MySQL is compared incomplete
  | 'over_issue' // more coupons of a template than its stock, stored, told or counted by Redis
  | 'over_limit' // a user holds, or was told, more coupons of a template than its limit
  | 'issued_missing' // a client was told "issued" and MySQL does not hold that coupon for its claim
  | 'extra_row' // a row no client was told about, and no unknown outcome explains it
  | 'duplicate_row' // a coupon id stored twice, or one request stored with two coupons
  | 'replay_mismatch' // one request answered with different coupons, or with a coupon and a refusal
  | 'coupon_reused' // one coupon told to two different claims
  | 'wrong_answer' // an answer that names another user or template, or is not a claim answer
  | 'misplaced_row' // a row outside the shard table its coupon id and user route to
  | 'stock_mismatch' // stored coupons + Redis remaining != total stock
  | 'packet_amount' // red packet: an amount below the minimum, over the budget, a sum short of it, or told otherwise than stored
  | 'dead_letter' // records the sink could not store
  | 'not_from_memory' // load test: sold-out claims that reached Redis
  | 'listing' // load test: a coupon told issued missing from its user's listing
  | 'scenario'; // a run that did not exercise what its scenario is for

export interface Violation {
  readonly kind: ViolationKind;
  readonly detail: string;
  readonly templateId?: string;
}

/** A template of the run, with the sum of its sub-stocks in Redis after the drain (null: a key is missing). */
export interface TemplateState {
  readonly id: string;
  readonly totalStock: number;
  readonly perUserLimit: number;
  readonly remaining: number | null;
  /** A red packet's budget and least amount (absent, or null, for other templates). */
  readonly budget?: number | null;
  readonly minAmount?: number | null;
  /** A red packet: the sum of its sub-stocks' budgets left in Redis (null: a key is missing; absent: not read). */
  readonly budgetLeft?: number | null;
}

/** A coupon row of the run's templates. */
export interface StoredCoupon {
  readonly couponId: string;
  readonly userId: string;
  readonly templateId: string;
  readonly requestId: string;
  /** A red packet's drawn amount in cents (the row's `amount`). */
  readonly amount?: number | null;
  /** Other claims that arrived with this coupon id (sink/writer.ts); anything but 0 is a clash. */
  readonly conflicts?: number;
  /** The shard table it was found in, when the tool read them one by one. */
  readonly shard?: { readonly db: number; readonly table: number };
}

/** An "issued" answer a client received. */
export interface Told {
  readonly templateId: string;
  readonly userId: string;
  readonly requestId?: string;
  readonly couponId: string;
  /** A red packet's amount as the answer gave it. */
  readonly amount?: number;
  readonly replayed: boolean;
  /** userId / templateId as the answer named them. */
  readonly toldUserId: string;
  readonly toldTemplateId: string;
  /** When it arrived (epoch ms), for the loss windows. */
  readonly at: number;
}

/** A span of time (epoch ms) whose "issued" answers may be missing: Redis lost its unsynced AOF tail. */
export interface LossWindow {
  readonly from: number;
  readonly to: number;
}

/** What a tool that keeps every attempt knows of each request besides its coupons. */
export interface RequestOutcomes {
  /** Keys of every request sent. */
  readonly sent: ReadonlySet<string>;
  /** Requests answered with a refusal at least once. */
  readonly refused: ReadonlySet<string>;
  /** Requests that got an error or no answer at least once. */
  readonly unknown: ReadonlySet<string>;
}

export interface Facts {
  readonly templates: readonly TemplateState[];
  readonly rows: readonly StoredCoupon[];
  readonly told: readonly Told[];
  /** Per request (the drill), or `uncertain`: claims without a definite answer (the load test, the bench). */
  readonly requests?: RequestOutcomes;
  readonly uncertain?: number;
  readonly lossWindows?: readonly LossWindow[];
  /** Unacknowledged stream records when the facts were read. */
  readonly backlog: number;
  readonly deadLetters?: number;
  /** With rows' shards: each row must sit where its coupon id and user route. */
  readonly layout?: ShardLayout;
}

export interface Verdict {
  readonly violations: Violation[];
  /** Distinct coupons told (lost ones included). */
  readonly told: number;
  readonly replays: number;
  /** Told coupons missing from MySQL inside a loss window (counted, not violations). */
  readonly lostAfterAck: number;
  /** Rows of requests whose every answer was an error or none (allowed, counted). */
  readonly unansweredIssued: number;
  /** Rows nobody was told about. */
  readonly untold: number;
  /** Per template: issued by Redis's count (null: unknown), rows, distinct coupons told, most rows of one user. */
  readonly templates: { id: string; issued: number | null; rows: number; told: number; maxPerUser: number }[];
}

/** The request key of an answer or a row. */
export const claimKey = (templateId: string, userId: string, requestId: string) => `${templateId}|${userId}|${requestId}`;

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

/** Judges the facts; `violations` is empty when every invariant held. */
export function judge(f: Facts): Verdict {
  const violations: Violation[] = [];
  const flag = (kind: ViolationKind, detail: string, templateId?: string) => violations.push({ kind, detail, templateId });
  if (f.backlog > 0) flag('not_drained', `${f.backlog} record(s) still unacknowledged: MySQL is compared before it holds them all`);
  if ((f.deadLetters ?? 0) > 0) flag('dead_letter', `${f.deadLetters} record(s) dead-lettered`);
  const ids = new Set(f.templates.map((t) => t.id));
  const rowsByCoupon = group(f.rows, (r) => r.couponId);
  const rowsByRequest = group(f.rows, (r) => claimKey(r.templateId, r.userId, r.requestId));

  // Rows: each coupon once, of a run's template, in the shard table it routes to.
  for (const [couponId, rows] of rowsByCoupon) {
    if (rows.length > 1) flag('duplicate_row', `coupon ${couponId} stored ${rows.length} times`, rows[0]!.templateId);
    if (rows.some((r) => (r.conflicts ?? 0) > 0)) flag('duplicate_row', `coupon ${couponId} met another claim (conflicts > 0)`, rows[0]!.templateId);
  }
  for (const r of f.rows) {
    if (!ids.has(r.templateId)) flag('extra_row', `row ${r.couponId} belongs to template ${r.templateId}, not one of this run's`);
    if (!f.layout || !r.shard) continue;
    const byId = shardOfCoupon(f.layout, r.couponId);
    const byUser = shardOfUser(f.layout, r.userId);
    if (!byId || byId.db !== r.shard.db || byId.table !== r.shard.table || byUser.db !== r.shard.db || byUser.table !== r.shard.table) {
      flag('misplaced_row', `coupon ${r.couponId} of user ${r.userId} is stored in shard ${r.shard.db}.${r.shard.table}`, r.templateId);
    }
  }
  for (const [key, rows] of rowsByRequest) {
    const coupons = new Set(rows.map((r) => r.couponId));
    if (coupons.size > 1) flag('duplicate_row', `${key}: one request stored with ${coupons.size} coupons`, rows[0]!.templateId);
  }

  // Answers: they name the claim, one coupon per request, one request per coupon, each stored.
  const requestOf = (t: Told, i: number) => (t.requestId === undefined ? `#${i}` : claimKey(t.templateId, t.userId, t.requestId));
  const claimsOfCoupon = new Map<string, Set<string>>();
  const couponsOfRequest = new Map<string, Set<string>>();
  const firstTold = new Map<string, Told & { key: string }>();
  f.told.forEach((t, i) => {
    const key = requestOf(t, i);
    if (t.toldUserId !== t.userId || t.toldTemplateId !== t.templateId) {
      flag('wrong_answer', `${key}: answered coupon ${t.couponId} for ${t.toldTemplateId}|${t.toldUserId}`, t.templateId);
    }
    (claimsOfCoupon.get(t.couponId) ?? claimsOfCoupon.set(t.couponId, new Set()).get(t.couponId)!).add(key);
    if (t.requestId !== undefined) (couponsOfRequest.get(key) ?? couponsOfRequest.set(key, new Set()).get(key)!).add(t.couponId);
    const prior = firstTold.get(t.couponId);
    if (!prior || t.at < prior.at) firstTold.set(t.couponId, { ...t, key });
  });
  for (const [coupon, claims] of claimsOfCoupon) {
    if (claims.size > 1) flag('coupon_reused', `coupon ${coupon} was told to ${claims.size} claims: ${[...claims].join(', ')}`);
  }
  for (const [key, coupons] of couponsOfRequest) {
    if (coupons.size > 1) flag('replay_mismatch', `${key}: answered with ${coupons.size} coupons (${[...coupons].join(', ')})`, key.split('|')[0]);
    if (f.requests?.refused.has(key)) flag('replay_mismatch', `${key}: answered with coupon ${[...coupons][0]} and with a refusal`, key.split('|')[0]);
  }
  const lost = new Set<string>();
  const inWindow = (at: number) => (f.lossWindows ?? []).some((w) => at >= w.from && at <= w.to);
  for (const [couponId, t] of firstTold) {
    const rows = rowsByCoupon.get(couponId) ?? [];
    if (rows.length === 0) {
      if (inWindow(t.at)) lost.add(couponId);
      else flag('issued_missing', `${t.key}: coupon ${couponId} answered "issued" but not in MySQL`, t.templateId);
    } else if (!rows.some((r) => r.userId === t.userId && r.templateId === t.templateId &&
      (t.requestId === undefined || r.requestId === t.requestId))) {
      flag('issued_missing', `${t.key}: coupon ${couponId} is stored for another claim`, t.templateId);
    }
  }

  // Rows nobody was told about: only a claim whose outcome the client never learned explains one.
  let unansweredIssued = 0;
  let untold = 0;
  for (const [key, rows] of rowsByRequest) {
    for (const couponId of new Set(rows.map((r) => r.couponId))) {
      if (claimsOfCoupon.has(couponId)) continue;
      untold++;
      const r = f.requests;
      if (!r) continue;
      if (!r.sent.has(key)) flag('extra_row', `${key}: coupon ${couponId} stored for a request no client sent`, rows[0]!.templateId);
      else if (couponsOfRequest.has(key)) flag('extra_row', `${key}: coupon ${couponId} stored, the client was told another`, rows[0]!.templateId);
      else if (r.refused.has(key)) flag('replay_mismatch', `${key}: coupon ${couponId} stored, the client was refused`, rows[0]!.templateId);
      else if (r.unknown.has(key)) unansweredIssued++;
      else flag('extra_row', `${key}: coupon ${couponId} stored without any answer`, rows[0]!.templateId);
    }
  }
  if (!f.requests && untold > (f.uncertain ?? 0)) {
    flag('extra_row', `MySQL holds ${untold} coupons no client was told about, but only ${f.uncertain ?? 0} claims went without a definite answer`);
  }

  // Per template: the stock, and the per-user limit over rows and over answers (a lost row
  // must not hide a breach; a coupon lost with Redis's unsynced tail is nobody's).
  const templates: Verdict['templates'] = [];
  for (const t of f.templates) {
    const rows = f.rows.filter((r) => r.templateId === t.id);
    const stored = new Set(rows.map((r) => r.couponId));
    const told = [...firstTold.values()].filter((x) => x.templateId === t.id && !lost.has(x.couponId));
    const issued = t.remaining === null ? null : t.totalStock - t.remaining;
    if (stored.size > t.totalStock) flag('over_issue', `${stored.size} coupons stored, stock ${t.totalStock}`, t.id);
    if (told.length > t.totalStock) flag('over_issue', `${told.length} coupons told, stock ${t.totalStock}`, t.id);
    if (t.remaining === null) flag('stock_mismatch', 'remaining stock unknown (sub-stock keys missing in Redis)', t.id);
    else {
      if (t.remaining < 0) flag('over_issue', `remaining stock ${t.remaining}`, t.id);
      if (stored.size + t.remaining !== t.totalStock) {
        flag('stock_mismatch', `${stored.size} stored + ${t.remaining} remaining != ${t.totalStock} total`, t.id);
      }
    }
    const perUser = (pairs: [string, string][], what: string) => {
      let most = 0;
      for (const [user, coupons] of group(pairs, ([u]) => u)) {
        const n = new Set(coupons.map(([, c]) => c)).size;
        most = Math.max(most, n);
        if (n > t.perUserLimit) flag('over_limit', `user ${user}: ${n} coupons ${what}, limit ${t.perUserLimit}`, t.id);
      }
      return most;
    };
    if (t.budget !== undefined && t.budget !== null) {
      // every answer of the template, replays included: each must give its row's amount.
      judgePackets(t, rows, f.told.filter((x) => x.templateId === t.id), (detail) => flag('packet_amount', detail, t.id));
    }
    const maxPerUser = perUser(rows.map((r) => [r.userId, r.couponId]), 'stored');
    perUser(told.map((x) => [x.userId, x.couponId]), 'told');
    templates.push({ id: t.id, issued, rows: stored.size, told: told.length, maxPerUser });
  }

  return {
    violations, told: claimsOfCoupon.size, replays: f.told.filter((t) => t.replayed).length,
    lostAfterAck: lost.size, unansweredIssued, untold, templates,
  };
}
