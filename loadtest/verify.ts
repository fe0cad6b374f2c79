/**
 * The verdict of a run, as a pure function of the facts: what the clients were told (every 200
 * claim answer), what Redis says was issued, and what MySQL holds. facts.ts gathers them; tests
 * feed this deliberately broken facts. The brief's invariants (section 4) are judged by the one
 * oracle (tools/verify/oracle.ts); the load test adds its scenarios' checks: answers that were
 * not claim answers, the sold-out phase answered from memory, listings, replays exercised, and
 * the codes and grants of the other issuance paths (verify-paths.ts).
 */
import type { ShardLayout } from '../core/shards.ts';
import { judge, type Told, type ViolationKind } from '../tools/verify/oracle.ts';
import { type CheckoutFacts, type CheckoutProblemKind, checkCheckout } from './verify-checkout.ts';
import { checkCodes, checkGrant, type CodeFacts, grantAnswers, type GrantFacts, type PathProblemKind } from './verify-paths.ts';

/** One template of the run, with its remaining stock read from Redis after the drain. */
export interface TemplateFacts {
  readonly id: string;
  readonly totalStock: number;
  readonly perUserLimit: number;
  /** Sum of the sub-stock counters. */
  readonly remaining: number;
  /** A red packet's budget, least amount and the sum of its sub-stocks' budgets left (the oracle checks the amounts). */
  readonly budget?: number | null;
  readonly minAmount?: number | null;
  readonly budgetLeft?: number | null;
}

/** A 200 claim answer: what was asked, and what the gateway said (the load test keeps no clock per answer). */
export type IssuedAnswer = Omit<Told, 'at'>;

/** A user coupon row of one of the run's templates, with the shard table it was found in. */
export interface CouponRow {
  readonly couponId: string;
  readonly userId: string;
  readonly templateId: string;
  readonly requestId: string;
  /** A red packet's amount in cents. */
  readonly amount?: number | null;
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
  /** codes: the redemptions' codes and how invalid ones were answered. */
  readonly codes?: CodeFacts;
  /** grant: the job the run started; its coupons are told by its count, not by answers. */
  readonly grant?: GrantFacts;
  /** checkout: what the orders were told, and what MySQL and the listings hold after them. */
  readonly checkout?: CheckoutFacts;
}

export type ProblemKind = ViolationKind | PathProblemKind | CheckoutProblemKind;

export interface Problem {
  readonly kind: ProblemKind;
  readonly detail: string;
  readonly templateId?: string;
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
  /** `told` counts a grant's coupons (granted: how many of them); untold excludes them. */
  readonly totals: { issued: number; rows: number; told: number; granted: number; replays: number; untold: number; uncertain: number };
}

/** Checks the facts; `ok` is false when any problem was found. */
export function verify(f: VerifyInput): Verification {
  const granted = f.grant ? grantAnswers(f.grant, f.rows) : [];
  const v = judge({
    templates: f.templates, layout: f.layout, uncertain: f.uncertain,
    rows: f.rows.map((r) => ({ ...r, shard: { db: r.db, table: r.table } })),
    // The load test keeps no clock per answer: it has no loss windows to place them in.
    told: [...f.answers, ...granted].map((a) => ({ ...a, at: 0 })),
    // An undrained sink is reported below, with where to look.
    backlog: 0,
  });
  const problems: Problem[] = [...v.violations];
  const add = (kind: ProblemKind, detail: string) => problems.push({ kind, detail });
  if (!f.drain.drained) {
    add('not_drained', `the sink did not store ${f.drain.backlog} stream entries (one or more records each) within ${Math.round(f.drain.ms / 1000)} s: ` +
      'is it running on the same KEY_PREFIX? (the row checks compare against an incomplete MySQL)');
  }
  if (f.undecodable > 0) add('wrong_answer', `${f.undecodable} answers with status 200 were not claim answers`);
  if (f.soldOutPhase) checkSoldOut(f.soldOutPhase, add);
  if (f.listing && f.listing.missing.length > 0) {
    const m = f.listing.missing;
    add('listing', `${m.length} coupons told issued were missing from their user's listing after the drain ` +
      `(${f.listing.users} users checked), e.g. ${m.slice(0, 3).map((x) => `${x.userId}: ${x.couponId}`).join(', ')}`);
  }
  if (f.codes) problems.push(...checkCodes(f.codes, f.rows));
  if (f.grant) problems.push(...checkGrant(f.grant, f.rows));
  if (f.checkout) problems.push(...checkCheckout(f.checkout));
  if (f.expectReplays && v.replays === 0) add('scenario', 'no answer was a replay: the run did not exercise retried request ids');

  const templates = f.templates.map((t, i) => {
    const j = v.templates[i]!;
    return { id: t.id, totalStock: t.totalStock, issued: j.issued ?? 0, rows: j.rows, told: j.told, perUserLimit: t.perUserLimit,
      maxPerUser: j.maxPerUser };
  });
  return {
    ok: problems.length === 0, problems, templates,
    totals: { issued: templates.reduce((s, t) => s + t.issued, 0), rows: f.rows.length, told: v.told, granted: granted.length, replays: v.replays,
      untold: v.untold, uncertain: f.uncertain },
  };
}

/** The sold-out phase: only sold_out (or rate_limited) answers, and no sub-stock touched by a claim script. */
function checkSoldOut(p: NonNullable<VerifyInput['soldOutPhase']>, add: (k: ProblemKind, m: string) => void): void {
  const other = Object.entries(p.statuses).filter(([s]) => s !== '410' && s !== '429');
  if (other.length > 0) add('not_from_memory', `after the sell-out some claims were not answered sold_out: ${other.map(([s, n]) => `${s}: ${n}`).join(', ')}`);
  if (p.idle === null) {
    add('not_from_memory', 'cannot check: Redis does not track key idle time under an LFU maxmemory-policy');
    return;
  }
  // Redis stamps a key with its seconds clock when a command reads or writes it. A sub-stock
  // last touched before the reference key was read is at least as idle as the reference; one
  // a claim script touched during the phase (in a later second) is less idle. Comparing the two
  // keys needs no allowance for the clock's coarseness or for Redis refreshing it late.
  const ref = p.idle.reference;
  if (ref < 1) {
    add('not_from_memory', `cannot check: Redis's key clock advanced ${ref} s over a ${p.seconds.toFixed(1)} s phase`);
    return;
  }
  p.idle.stock.forEach((idle, k) => {
    if (idle < ref) {
      add('not_from_memory', `sub-stock ${k} was touched ${ref - idle} s into the ${ref} s the sold-out phase lasted ` +
        `by Redis's clock (idle ${idle} s, reference ${ref} s): a claim script ran`);
    }
  });
}
