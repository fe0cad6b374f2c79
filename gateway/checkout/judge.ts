/** The check of a lock that comes with a cart: the coupon must be usable for it (checkout/judge.ts). */
import { judgeCoupon } from '../../checkout/judge.ts';
import type { Cart, HeldCoupon } from '../../checkout/model.ts';
import { ApiError, orUnavailable } from '../../core/errors.ts';
import type { CheckoutRulesSource } from './rules.ts';

/** The coupon's discount on the cart, or 422 not_applicable with the reason it does not qualify. */
export async function cartDiscount(rules: CheckoutRulesSource, c: HeldCoupon, cart: Cart, now: number): Promise<number> {
  const [byTemplate, blacklist] = await Promise.all([
    orUnavailable('redis', () => rules.rulesOf([c.templateId], now)),
    orUnavailable('mysql', () => rules.blacklistAt(now)),
  ]);
  const j = judgeCoupon(c, byTemplate.get(c.templateId), cart, blacklist, now);
  if (!j.usable) throw new ApiError('not_applicable', `the cart does not qualify for this coupon: ${j.reason}`, { reason: j.reason });
  return j.discount;
}
