/**
 * One coupon against one cart: usable and worth how much, or why not. Used by the quote for
 * each coupon and by a lock that comes with a cart.
 */
import { inScope } from './applies.ts';
import { effectiveStatus, type Cart, type CheckoutRules, type HeldCoupon, type ItemBlacklist } from './model.ts';

/** Why a coupon cannot be used on a cart, in the order the checks run. */
export type UnusableReason = 'expired' | 'used' | 'locked' | 'not_started' | 'out_of_scope' | 'below_threshold';

export interface Usable {
  readonly usable: true;
  /** Cents off, at most the in-scope subtotal (0 is possible: usable, but never worth picking). */
  readonly discount: number;
  /** Cents of the items it applies to. */
  readonly subtotal: number;
  /** productIds it applies to, in cart order, each once. */
  readonly appliesTo: string[];
  readonly stackable: boolean;
}

export type Judgement = Usable | { readonly usable: false; readonly reason: UnusableReason };

/** floor(subtotal × percent / 100) without a product above 2^53 (a subtotal reaches 2·10^15). */
function percentOf(subtotal: number, percent: number): number {
  return Math.floor(subtotal / 100) * percent + Math.floor((subtotal % 100) * percent / 100);
}

/** Cents a usable coupon takes off an in-scope subtotal: its type's amount, never more than the subtotal. */
function discountOf(c: HeldCoupon, subtotal: number): number {
  let d: number;
  switch (c.type) {
    case 'direct': case 'threshold': d = c.value; break;
    case 'discount': d = c.maxDiscount === null ? percentOf(subtotal, c.value) : Math.min(percentOf(subtotal, c.value), c.maxDiscount); break;
    case 'red_packet': d = c.amount ?? 0; break;
  }
  return Math.min(d, subtotal);
}

/**
 * Judges coupon `c` (template rules `rules`, undefined when the template is unknown) against
 * `cart` at `now`: status, then use window, then scope, then threshold.
 */
export function judgeCoupon(
  c: HeldCoupon, rules: CheckoutRules | undefined, cart: Cart, blacklist: ItemBlacklist, now: number,
): Judgement {
  const status = effectiveStatus(c, now);
  // effectiveStatus already makes an unused coupon (or a stale lock) expired from validTo on.
  if (status !== 'unused') return { usable: false, reason: status };
  if (now < c.validFrom) return { usable: false, reason: 'not_started' };
  // Unknown rules: nothing says where it applies, so it applies nowhere.
  if (rules === undefined) return { usable: false, reason: 'out_of_scope' };
  const { subtotal, appliesTo } = inScope(rules.scope, blacklist, cart);
  if (appliesTo.length === 0) return { usable: false, reason: 'out_of_scope' };
  if (c.threshold !== null && subtotal < c.threshold) return { usable: false, reason: 'below_threshold' };
  return { usable: true, discount: discountOf(c, subtotal), subtotal, appliesTo, stackable: rules.stackable };
}
