/**
 * The verifier's checks of the checkout scenario, pure over the facts like verify-paths.ts: what
 * the orders were told (their tallies and each locked coupon's expected end state) against what
 * MySQL holds (the coupon rows, the run's coupon_order control rows) and what the listings show.
 */
import type { ViolationKind } from '../tools/verify/oracle.ts';

/** The kinds of problem checkout adds to the oracle's. */
export type CheckoutProblemKind =
  | 'checkout_5xx' // a checkout call answered 5xx
  | 'checkout_answer' // a call answered other than its flow expected (a refused lock, a retry with another answer)
  | 'checkout_state' // a coupon row whose status or order is not what its last order left
  | 'double_use' // a coupon with more than one confirmed order
  | 'checkout_counts' // locks won differ from confirms + cancels + still locked, or from the control rows
  | 'checkout_listing'; // a user's listing by status disagrees with their orders

export interface CheckoutProblem {
  readonly kind: CheckoutProblemKind | Extract<ViolationKind, 'scenario'>;
  readonly detail: string;
}

/** The state an order left its coupon in: `used` by it, `unused` (cancelled or refunded), or still `locked` by it. */
export type Expected = 'used' | 'unused' | 'locked';

/** Every coupon an order locked: its user, its last order and what that order left. */
export interface CouponOutcome {
  readonly couponId: string;
  readonly userId: string;
  readonly orderId: string;
  readonly expect: Expected;
}

/** What the orders did, as their answers told them. */
export interface CheckoutTallies {
  readonly orders: number;
  readonly locksWon: number;
  readonly confirms: number;
  readonly cancels: number;
  readonly refunds: number;
  /** Orders that left their lock in place (neither confirmed nor cancelled). */
  readonly stillLocked: number;
  /** Calls sent twice (the same lock, confirm, cancel or refund again). */
  readonly retries: number;
}

export interface CheckoutFacts {
  readonly tallies: CheckoutTallies;
  readonly outcomes: readonly CouponOutcome[];
  /** Answers of the checkout calls by kind and HTTP status. */
  readonly statuses: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Answers a flow did not expect: their count and the first few. */
  readonly unexpected: { readonly count: number; readonly first: readonly string[] };
  /** The stored rows of the outcomes' coupons (status and order_id), read after the orders. */
  readonly rows: readonly { readonly couponId: string; readonly status: string; readonly orderId: string | null }[];
  /** The run's coupon_order control rows by state. */
  readonly orderStates: Readonly<Record<string, number>>;
  /** Coupons with more than one 'confirmed' control row, and how many. */
  readonly doubleConfirmed: readonly { readonly couponId: string; readonly confirmed: number }[];
  /** Sampled users whose listing by status (used, unused, locked) differs from their orders. */
  readonly listing: { readonly users: number; readonly mismatched: readonly string[] };
}

const some = (xs: readonly string[]) => `${xs.slice(0, 3).join('; ')}${xs.length > 3 ? ` (and ${xs.length - 3} more)` : ''}`;

/** Checks the checkout facts; an empty list when they hold. */
export function checkCheckout(f: CheckoutFacts): CheckoutProblem[] {
  const problems: CheckoutProblem[] = [];
  const add = (kind: CheckoutProblem['kind'], detail: string) => problems.push({ kind, detail });
  const t = f.tallies;
  if (t.orders === 0 || t.locksWon === 0) add('scenario', `no order locked a coupon (${t.orders} orders): the run checked nothing`);
  for (const [kind, byStatus] of Object.entries(f.statuses)) {
    const bad = Object.entries(byStatus).filter(([s]) => Number(s) >= 500);
    if (bad.length > 0) add('checkout_5xx', `${kind}: ${bad.map(([s, n]) => `${n} answered ${s}`).join(', ')}`);
  }
  if (f.unexpected.count > 0) add('checkout_answer', `${f.unexpected.count} answers the orders did not expect: ${some(f.unexpected.first)}`);

  const rows = new Map(f.rows.map((r) => [r.couponId, r]));
  const wrong: string[] = [];
  for (const o of f.outcomes) {
    const r = rows.get(o.couponId);
    const wantOrder = o.expect === 'unused' ? null : o.orderId;
    if (!r) wrong.push(`${o.couponId}: no row`);
    else if (r.status !== o.expect || r.orderId !== wantOrder) {
      wrong.push(`${o.couponId}: ${r.status} by ${r.orderId ?? 'no order'}, but ${o.orderId} left it ${o.expect}`);
    }
  }
  if (wrong.length > 0) add('checkout_state', `${wrong.length} coupons are not as their last order left them: ${some(wrong)}`);
  if (f.doubleConfirmed.length > 0) {
    add('double_use', `${f.doubleConfirmed.length} coupons have more than one confirmed order: ` +
      some(f.doubleConfirmed.map((d) => `${d.couponId} (${d.confirmed})`)));
  }

  if (t.locksWon !== t.confirms + t.cancels + t.stillLocked) {
    add('checkout_counts', `${t.locksWon} locks won but ${t.confirms} confirms + ${t.cancels} cancels + ${t.stillLocked} still locked`);
  }
  const s = (k: string) => f.orderStates[k] ?? 0;
  const stored = Object.values(f.orderStates).reduce((a, b) => a + b, 0);
  const pairs: [string, number, number][] = [
    ['control rows', stored, t.locksWon], ['confirmed + refunded rows', s('confirmed') + s('refunded'), t.confirms],
    ['refunded rows', s('refunded'), t.refunds], ['cancelled rows', s('cancelled'), t.cancels], ['locked rows', s('locked'), t.stillLocked],
  ];
  const off = pairs.filter(([, db, told]) => db !== told).map(([what, db, told]) => `${what} ${db}, told ${told}`);
  if (off.length > 0) add('checkout_counts', `the run's coupon_order rows disagree with the answers: ${off.join('; ')}`);
  if (f.listing.mismatched.length > 0) {
    add('checkout_listing', `${f.listing.mismatched.length} of ${f.listing.users} sampled users' listings disagree with their orders: ` +
      some(f.listing.mismatched));
  }
  return problems;
}
