/**
 * A checkout quote: which of a user's coupons can be used on a cart and for how much, why the
 * others cannot, and the best combination. Pure: the caller brings the coupons, the template
 * rules, the blacklist and the time.
 */
import { type Best, bestCombination, type Candidate } from './best.ts';
import { cartTotal } from './cart.ts';
import { judgeCoupon, type UnusableReason } from './judge.ts';
import type { Cart, CheckoutRules, HeldCoupon, ItemBlacklist } from './model.ts';

export interface UsableCoupon {
  readonly couponId: string;
  readonly templateId: string;
  readonly name: string;
  readonly discount: number;
  /** productIds it applies to, in cart order, each once. */
  readonly appliesTo: string[];
}

export interface Quote {
  /** By discount (largest first), then validTo (earliest first), then couponId. */
  readonly usable: UsableCoupon[];
  /** In the order the coupons came. */
  readonly unusable: { readonly couponId: string; readonly reason: UnusableReason }[];
  readonly best: Best;
}

/** Quotes `coupons` on `cart` at `now`; `rulesOf` gives a template's checkout rules, undefined when unknown. */
export function quote(
  coupons: readonly HeldCoupon[], rulesOf: (templateId: string) => CheckoutRules | undefined,
  cart: Cart, blacklist: ItemBlacklist, now: number,
): Quote {
  const usable: (UsableCoupon & Candidate)[] = [];
  const unusable: Quote['unusable'][number][] = [];
  for (const c of coupons) {
    const j = judgeCoupon(c, rulesOf(c.templateId), cart, blacklist, now);
    if (!j.usable) {
      unusable.push({ couponId: c.couponId, reason: j.reason });
      continue;
    }
    usable.push({
      couponId: c.couponId, templateId: c.templateId, name: c.name, discount: j.discount, appliesTo: j.appliesTo,
      validTo: c.validTo, stackable: j.stackable,
    });
  }
  usable.sort((a, b) => b.discount - a.discount || a.validTo - b.validTo || (a.couponId < b.couponId ? -1 : a.couponId > b.couponId ? 1 : 0));
  return {
    usable: usable.map(({ couponId, templateId, name, discount, appliesTo }) => ({ couponId, templateId, name, discount, appliesTo })),
    unusable,
    best: bestCombination(usable, cartTotal(cart)),
  };
}
