/**
 * The verdict of a run, as a pure function of the facts: what the clients were told (every 200
 * claim answer), what Redis says was issued, and what MySQL holds. facts.ts gathers them; tests
 * feed this deliberately broken facts. Checks the brief's invariants (section 4):
 * no over-issue, per-user limits, idempotent replays, and every coupon told "issued" stored
 * exactly once, with nothing stored that could not have been told.
 */
import { shardOfCoupon, shardOfUser, type ShardLayout } from '../core/shards.ts';

/** One template of the run, with its remaining stock read from Redis after the drain. */
export interface TemplateFacts {
  readonly id: string;
  readonly totalStock: number;
  readonly perUserLimit: number;
  /** Sum of the sub-stock counters. */
  readonly remaining: number;
}

/** A 200 claim answer: what was asked, and what the gateway said. */
export interface IssuedAnswer {
  readonly templateId: string;
  readonly userId: string;
  readonly requestId?: string;
  readonly couponId: string;
  readonly replayed: boolean;
  /** userId / templateId as echoed in the answer. */
  readonly toldUserId: string;
  readonly toldTemplateId: string;
}

/** A user coupon row of one of the run's templates, with the shard table it was found in. */
export interface CouponRow {
  readonly couponId: string;
  readonly userId: string;
  readonly templateId: string;
  readonly requestId: string;
  readonly db: number;
  readonly table: number;
}

export interface VerifyInput {
  readonly layout: ShardLayout;
  /** The wait for the sink: MySQL can only be compared once it has stored every record. */
  readonly drain: { readonly drained: boolean; readonly backlog: number; readonly ms: number };
  readonly templates: readonly TemplateFacts[];
  readonly answers: readonly IssuedAnswer[];
  readonly rows: readonly CouponRow[];
  /** Claims without a definite answer (no reply, timeout, 503): the only source of rows nobody was told about. */
  readonly uncertain: number;
  /** 200 claim answers whose body was not a claim answer. */
  readonly undecodable: number;
  /** soldout: the phase after the sell-out, which must be answered from memory. */
  readonly soldOutPhase?: {
    readonly seconds: number;
    /**
     * OBJECT IDLETIME at the phase's end of a reference key read just before the phase began,
     * and of each sub-stock key; null when Redis does not track idle time (LFU policy).
     */
    readonly idle: { readonly reference: number; readonly stock: readonly number[] } | null;
    readonly statuses: Readonly<Record<string, number>>;
  };
  /** mixed: coupons a sampled user was told "issued" that their listing did not show after the drain. */
  readonly listing?: { readonly users: number; readonly missing: readonly { userId: string; couponId: string }[] };
  /** dupes: the run must have exercised replays. */
  readonly expectReplays?: boolean;
}

export type ProblemKind = 'not-drained' | 'over-issue' | 'rows-mismatch' | 'user-limit' | 'missing-row' | 'duplicate-row'
  | 'untold-rows' | 'replay-mismatch' | 'coupon-reused' | 'wrong-answer' | 'row-mismatch' | 'misplaced-row'
  | 'not-from-memory' | 'listing' | 'scenario';

export interface Problem {
  readonly kind: ProblemKind;
  readonly templateId?: string;
  readonly message: string;
}

export interface TemplateTally {
  readonly id: string;
  readonly totalStock: number;
  readonly issued: number;
  readonly rows: number;
  /** Distinct coupons clients were told they got. */
  readonly told: number;
  readonly perUserLimit: number;
  /** Most rows any one user holds. */
  readonly maxPerUser: number;
}

export interface Verification {
  readonly ok: boolean;
  readonly problems: Problem[];
  readonly templates: TemplateTally[];
  readonly totals: { issued: number; rows: number; told: number; replays: number; untold: number; uncertain: number };
}

function countBy<T>(items: readonly T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of items) m.set(key(t), (m.get(key(t)) ?? 0) + 1);
  return m;
}

/** Checks the facts; `ok` is false when any problem was found. */
export function verify(f: VerifyInput): Verification {
  const problems: Problem[] = [];
  const add = (kind: ProblemKind, message: string, templateId?: string) => problems.push({ kind, message, templateId });
  const byTemplate = new Map(f.templates.map((t) => [t.id, t]));
  if (!f.drain.drained) {
    add('not-drained', `the sink did not store ${f.drain.backlog} records within ${Math.round(f.drain.ms / 1000)} s: ` +
      'is it running on the same KEY_PREFIX? (the row checks below compare against an incomplete MySQL)');
  }

  // Rows: each coupon id once, in the shard its id and its user route to, of a known template.
  const rowsByCoupon = new Map<string, CouponRow[]>();
  for (const r of f.rows) {
    const list = rowsByCoupon.get(r.couponId);
    if (list) list.push(r);
    else rowsByCoupon.set(r.couponId, [r]);
    const byId = shardOfCoupon(f.layout, r.couponId);
    const byUser = shardOfUser(f.layout, r.userId);
    if (!byId || byId.db !== r.db || byId.table !== r.table || byUser.db !== r.db || byUser.table !== r.table) {
      add('misplaced-row', `coupon ${r.couponId} of user ${r.userId} is stored in shard ${r.db}.${r.table}`, r.templateId);
    }
    if (!byTemplate.has(r.templateId)) add('row-mismatch', `row ${r.couponId} belongs to template ${r.templateId}, not one of this run's`);
  }
  for (const [id, list] of rowsByCoupon) {
    if (list.length > 1) add('duplicate-row', `coupon ${id} is stored ${list.length} times (${list.map((r) => `${r.db}.${r.table}`).join(', ')})`, list[0]!.templateId);
  }

  // Answers: echo the claim, one coupon per request id, one claim per coupon, each stored once.
  const claimsOfCoupon = new Map<string, Set<string>>();
  const couponsOfRequest = new Map<string, Set<string>>();
  const toldByTemplate = new Map<string, Map<string, string>>(); // template -> coupon -> user
  const missing = new Set<string>();
  f.answers.forEach((a, i) => {
    if (a.toldUserId !== a.userId || a.toldTemplateId !== a.templateId) {
      add('wrong-answer', `a claim of user ${a.userId} for ${a.templateId} was answered for user ${a.toldUserId}, template ${a.toldTemplateId}`, a.templateId);
    }
    const claim = a.requestId === undefined ? `#${i}` : `${a.templateId}|${a.userId}|${a.requestId}`;
    (claimsOfCoupon.get(a.couponId) ?? claimsOfCoupon.set(a.couponId, new Set()).get(a.couponId)!).add(claim);
    if (a.requestId !== undefined) {
      (couponsOfRequest.get(claim) ?? couponsOfRequest.set(claim, new Set()).get(claim)!).add(a.couponId);
    }
    const told = toldByTemplate.get(a.templateId) ?? toldByTemplate.set(a.templateId, new Map()).get(a.templateId)!;
    told.set(a.couponId, a.userId);
    const rows = rowsByCoupon.get(a.couponId);
    if (!rows) {
      // once per coupon, however often it was replayed.
      if (!missing.has(a.couponId)) add('missing-row', `coupon ${a.couponId} was told issued to user ${a.userId} but is not in MySQL`, a.templateId);
      missing.add(a.couponId);
      return;
    }
    const r = rows[0]!;
    if (r.userId !== a.userId || r.templateId !== a.templateId || (a.requestId !== undefined && r.requestId !== a.requestId)) {
      add('row-mismatch', `coupon ${a.couponId} was told to user ${a.userId} (${a.templateId}, request ${a.requestId ?? '-'}) ` +
        `but MySQL has it for user ${r.userId} (${r.templateId}, request ${r.requestId})`, a.templateId);
    }
  });
  for (const [coupon, claims] of claimsOfCoupon) {
    if (claims.size > 1) add('coupon-reused', `coupon ${coupon} was told to ${claims.size} different claims`);
  }
  for (const [claim, coupons] of couponsOfRequest) {
    if (coupons.size > 1) add('replay-mismatch', `request ${claim} was answered with ${coupons.size} different coupons: ${[...coupons].join(', ')}`, claim.split('|')[0]);
  }

  // Per template: issued (Redis) within stock, rows = issued, users within their limit.
  const tallies: TemplateTally[] = [];
  const rowsOfTemplate = countBy(f.rows, (r) => r.templateId);
  const rowsOfUser = countBy(f.rows, (r) => `${r.templateId}|${r.userId}`);
  for (const t of f.templates) {
    const issued = t.totalStock - t.remaining;
    const rows = rowsOfTemplate.get(t.id) ?? 0;
    const told = toldByTemplate.get(t.id) ?? new Map<string, string>();
    if (t.remaining < 0 || issued > t.totalStock) add('over-issue', `issued ${issued} of a stock of ${t.totalStock} (remaining ${t.remaining})`, t.id);
    if (rows !== issued) add('rows-mismatch', `MySQL holds ${rows} rows but Redis says ${issued} coupons were issued`, t.id);
    if (told.size > issued) add('over-issue', `clients were told ${told.size} distinct coupons but Redis says ${issued} were issued`, t.id);
    let maxPerUser = 0;
    for (const [key, n] of rowsOfUser) {
      if (!key.startsWith(`${t.id}|`)) continue;
      maxPerUser = Math.max(maxPerUser, n);
      if (n > t.perUserLimit) add('user-limit', `user ${key.slice(t.id.length + 1)} holds ${n} coupons (limit ${t.perUserLimit})`, t.id);
    }
    for (const [user, n] of countBy([...told.values()], (u) => u)) {
      if (n > t.perUserLimit) add('user-limit', `user ${user} was told ${n} different coupons (limit ${t.perUserLimit})`, t.id);
    }
    tallies.push({ id: t.id, totalStock: t.totalStock, issued, rows, told: told.size, perUserLimit: t.perUserLimit, maxPerUser });
  }

  // Rows nobody was told about can only come from claims whose answer was lost or uncertain.
  const untold = [...rowsByCoupon.keys()].filter((id) => !claimsOfCoupon.has(id)).length;
  if (untold > f.uncertain) {
    add('untold-rows', `MySQL holds ${untold} coupons no client was told about, but only ${f.uncertain} claims went without a definite answer`);
  }
  if (f.undecodable > 0) add('wrong-answer', `${f.undecodable} answers with status 200 were not claim answers`);

  if (f.soldOutPhase) checkSoldOut(f.soldOutPhase, add);
  if (f.listing && f.listing.missing.length > 0) {
    const m = f.listing.missing;
    add('listing', `${m.length} coupons told issued were missing from their user's listing after the drain ` +
      `(${f.listing.users} users checked), e.g. ${m.slice(0, 3).map((x) => `${x.userId}: ${x.couponId}`).join(', ')}`);
  }
  const replays = f.answers.filter((a) => a.replayed).length;
  if (f.expectReplays && replays === 0) add('scenario', 'no answer was a replay: the run did not exercise retried request ids');

  const issuedTotal = tallies.reduce((s, t) => s + t.issued, 0);
  return {
    ok: problems.length === 0, problems, templates: tallies,
    totals: { issued: issuedTotal, rows: f.rows.length, told: claimsOfCoupon.size, replays, untold, uncertain: f.uncertain },
  };
}

/** The sold-out phase: only sold_out (or rate_limited) answers, and no sub-stock touched by a claim script. */
function checkSoldOut(p: NonNullable<VerifyInput['soldOutPhase']>, add: (k: ProblemKind, m: string) => void): void {
  const other = Object.entries(p.statuses).filter(([s]) => s !== '410' && s !== '429');
  if (other.length > 0) add('not-from-memory', `after the sell-out some claims were not answered sold_out: ${other.map(([s, n]) => `${s}: ${n}`).join(', ')}`);
  if (p.idle === null) {
    add('not-from-memory', 'cannot check: Redis does not track key idle time under an LFU maxmemory-policy');
    return;
  }
  // Redis stamps a key with its seconds clock when a command reads or writes it. A sub-stock
  // last touched before the reference key was read is at least as idle as the reference; one
  // a claim script touched during the phase (in a later second) is less idle. Comparing the two
  // keys needs no allowance for the clock's coarseness or for Redis refreshing it late.
  const ref = p.idle.reference;
  if (ref < 1) {
    add('not-from-memory', `cannot check: Redis's key clock advanced ${ref} s over a ${p.seconds.toFixed(1)} s phase`);
    return;
  }
  p.idle.stock.forEach((idle, k) => {
    if (idle < ref) {
      add('not-from-memory', `sub-stock ${k} was touched ${ref - idle} s into the ${ref} s the sold-out phase lasted ` +
        `by Redis's clock (idle ${idle} s, reference ${ref} s): a claim script ran`);
    }
  });
}
