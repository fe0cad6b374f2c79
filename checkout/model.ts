/**
 * The checkout side of a coupon (brief, section 2, "Lifecycle of a user coupon"): the cart an
 * order service sends, a held coupon as its shard row stores it, and the rules its template
 * adds at checkout. Pure types and the status a row has at a given moment.
 */
import type { Scope, TemplateType } from '../templates/model.ts';

/** Stored statuses of a coupon row (core/schema.ts). */
export const COUPON_STATUSES = ['unused', 'locked', 'used', 'expired'] as const;
export type CouponStatus = (typeof COUPON_STATUSES)[number];

export interface CartItem {
  readonly productId: string;
  readonly categoryId: string;
  /** Cents per unit. */
  readonly price: number;
  readonly quantity: number;
}

export interface Cart {
  readonly userId: string;
  readonly items: readonly CartItem[];
}

/** A user's coupon as its shard row holds it (times in epoch ms). */
export interface HeldCoupon {
  readonly couponId: string;
  readonly userId: string;
  readonly templateId: string;
  readonly name: string;
  readonly type: TemplateType;
  /** Cents off, or percent off for `discount`; 0 for a red packet. */
  readonly value: number;
  readonly threshold: number | null;
  readonly maxDiscount: number | null;
  /** A red packet's drawn cents (it is then worth that much off, like `direct`). */
  readonly amount: number | null;
  readonly validFrom: number;
  readonly validTo: number;
  /** The stored status; effectiveStatus() says what it is now. */
  readonly status: CouponStatus;
  /** The order that locked or used it, else null. */
  readonly orderId: string | null;
  readonly lockedUntil: number | null;
  readonly usedAt: number | null;
}

/** What the template adds at checkout: where the coupon applies and whether it combines. */
export interface CheckoutRules {
  readonly scope: Scope;
  readonly stackable: boolean;
}

/** Products and categories no coupon applies to (templates/blacklist.ts). */
export interface ItemBlacklist {
  readonly categories: ReadonlySet<string>;
  readonly products: ReadonlySet<string>;
}

/**
 * The status a coupon has at `now`, before any job has touched its row: a lock past its
 * deadline is released (unused), and an unused coupon past validTo is expired. A locked coupon
 * stays locked within its lock even past validTo (the order took it in time); a used one stays used.
 */
export function effectiveStatus(c: Pick<HeldCoupon, 'status' | 'lockedUntil' | 'validTo'>, now: number): CouponStatus {
  return statusAt(c.status, c.lockedUntil, c.validTo, now);
}

/** effectiveStatus from the row's values, for readers that build no HeldCoupon (the listing). */
export function statusAt(status: CouponStatus, lockedUntil: number | null, validTo: number, now: number): CouponStatus {
  if (status === 'locked' && lockedUntil !== null && lockedUntil > now) return 'locked';
  if (status === 'unused' || status === 'locked') return now >= validTo ? 'expired' : 'unused';
  return status;
}
