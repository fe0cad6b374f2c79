/**
 * POST /v1/checkout/quote: which of the user's coupons apply to a cart, for how much, why the
 * others do not, and the best combination (checkout/quote.ts). Read-only: nothing is locked.
 */
import { parseCart } from '../../checkout/cart.ts';
import { quoteCandidates } from '../../checkout/coupon-list.ts';
import { quote } from '../../checkout/quote.ts';
import type { Config } from '../../config/index.ts';
import { ApiError, orUnavailable } from '../../core/errors.ts';
import type { MysqlPools } from '../../core/mysql.ts';
import { verifyUserToken } from '../../core/user-token.ts';
import type { CheckoutRulesSource } from '../checkout/rules.ts';
import { decodeBody, formatOf } from '../http/codec.ts';
import type { Handler } from '../http/route.ts';

// Coupons that ended within this long are still shown (as expired) in a quote's unusable list.
const RECENTLY_EXPIRED_MS = 7 * 86_400_000;

export interface QuoteDeps {
  readonly mysql: MysqlPools;
  readonly cfg: Config['mysql'];
  readonly rules: CheckoutRulesSource;
  readonly tokenSecrets: readonly string[];
  /** Most coupons one quote weighs (QUOTE_MAX_COUPONS). */
  readonly maxCoupons: number;
}

/** The quote route handler; with `tokenSecrets`, only the token's user may quote their coupons. */
export function quoteHandler(d: QuoteDeps): Handler {
  return async (req) => {
    const tokenUser = d.tokenSecrets.length > 0 ? verifyUserToken(d.tokenSecrets, req.authorization, Date.now() / 1000) : undefined;
    const cart = parseCart(decodeBody(req.body, formatOf(req.contentType, false)));
    if (tokenUser !== undefined && cart.userId !== tokenUser) throw new ApiError('forbidden', 'userId: not the user of the token');
    const now = Date.now();
    const coupons = await orUnavailable('mysql', () => quoteCandidates(d.mysql, d.cfg, cart.userId, now - RECENTLY_EXPIRED_MS, d.maxCoupons, now));
    const [rules, blacklist] = await Promise.all([
      orUnavailable('redis', () => d.rules.rulesOf(coupons.map((c) => c.templateId), now)),
      orUnavailable('mysql', () => d.rules.blacklistAt(now)),
    ]);
    return { status: 200, body: quote(coupons, (id) => rules.get(id), cart, blacklist, now) };
  };
}
