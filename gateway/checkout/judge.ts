/**
 * Whether an order's cart qualifies for a coupon (checkout/judge.ts), for a lock that comes with
 * a cart: scope and threshold only. Status and use window are the lock's own checks, made under
 * the row lock (checkout/tcc.ts); the money and template a coupon carries never change, so the
 * row read before the lock judges the cart as well as the locked row would.
 */
import { judgeCoupon, type UnusableReason } from '../../checkout/judge.ts';
import type { Cart, HeldCoupon } from '../../checkout/model.ts';
import { orUnavailable } from '../../core/errors.ts';
import type { CheckoutRulesSource } from './rules.ts';

export type CartFit = { readonly discount: number } | { readonly reason: UnusableReason };

/** The coupon's discount on the cart, or why the cart does not qualify. */
export async function cartFit(rules: CheckoutRulesSource, c: HeldCoupon, cart: Cart, now: number): Promise<CartFit> {
  const [byTemplate, blacklist] = await Promise.all([
    orUnavailable('redis', () => rules.rulesOf([c.templateId], now)),
    orUnavailable('mysql', () => rules.blacklistAt(now)),
  ]);
  const asUsable: HeldCoupon = { ...c, status: 'unused', lockedUntil: null, validFrom: -Infinity, validTo: Infinity };
  const j = judgeCoupon(asUsable, byTemplate.get(c.templateId), cart, blacklist, now);
  return j.usable ? { discount: j.discount } : { reason: j.reason };
}
