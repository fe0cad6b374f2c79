/** GET /v1/admin/coupons/:couponId: what happened to a coupon (its row, orders and transitions). */
import type { Config } from '../../config/index.ts';
import { couponHistory } from '../../checkout/history.ts';
import { ApiError, orUnavailable } from '../../core/errors.ts';
import type { MysqlPools } from '../../core/mysql.ts';
import type { Credentials, Handler } from '../http/route.ts';

export interface CouponAdminDeps {
  readonly auth: (c: Credentials) => void;
  readonly mysql: MysqlPools;
  readonly cfg: Config['mysql'];
}

/** The coupon history handler: 404 for an id that names no stored coupon. */
export function couponHistoryHandler(d: CouponAdminDeps): Handler {
  return async (req) => {
    d.auth(req);
    const couponId = req.params[0] ?? '';
    const h = await orUnavailable('mysql', () => couponHistory(d.mysql, d.cfg, couponId, Date.now()));
    if (!h) throw new ApiError('coupon_not_found', 'no such coupon');
    return { status: 200, body: h };
  };
}
