/** GET /v1/users/:userId/coupons?status=&limit=: the user's coupons, newest first, from their MySQL shard. */
import type { Config } from '../../config/index.ts';
import type { MysqlPools } from '../../core/mysql.ts';
import { listCoupons } from '../../checkout/coupon-list.ts';
import { COUPON_STATUSES, type CouponStatus } from '../../checkout/model.ts';
import { verifyUserToken } from '../../core/user-token.ts';
import { ApiError, orUnavailable } from '../../core/errors.ts';
import { limitParam, queryParams } from '../http/query.ts';
import type { Handler } from '../http/route.ts';
import { isId } from '../../core/ids.ts';

const PARAMS = new Set(['limit', 'status']);

function statusParam(q: URLSearchParams): CouponStatus | undefined {
  const v = q.get('status');
  if (v === null) return undefined;
  if (!(COUPON_STATUSES as readonly string[]).includes(v)) throw new ApiError('bad_request', `status: must be one of ${COUPON_STATUSES.join(', ')}`);
  return v as CouponStatus;
}

/** The listing route handler; with `tokenSecrets`, only the token's user may list their coupons. */
export function couponsHandler(mysql: MysqlPools, cfg: Config['mysql'], tokenSecrets: readonly string[]): Handler {
  return async (req) => {
    const userId = req.params[0] ?? '';
    if (!isId(userId)) throw new ApiError('bad_request', 'userId: 1-64 characters of [A-Za-z0-9_.:-]');
    if (tokenSecrets.length > 0 && verifyUserToken(tokenSecrets, req.authorization, Date.now() / 1000) !== userId) {
      throw new ApiError('forbidden', 'the token belongs to another user');
    }
    const q = queryParams(req.query, PARAMS);
    const limit = limitParam(q, 50, 200);
    const status = statusParam(q);
    const now = Date.now();
    const rows = await orUnavailable('mysql', () => listCoupons(mysql, cfg, userId, status, limit, now));
    const coupons = rows.map((c) => {
      const out: Record<string, unknown> = {
        couponId: c.couponId, templateId: c.templateId, status: c.status, claimedAt: c.claimedAt.toISOString(),
        validFrom: c.validFrom.toISOString(), validTo: c.validTo.toISOString(), name: c.name, type: c.type, value: c.value,
        threshold: c.threshold, maxDiscount: c.maxDiscount,
      };
      // a red packet's drawn amount; absent for other coupons
      if (c.amount !== null) out.amount = c.amount;
      // the order holding or using it
      if (c.status === 'locked' || c.status === 'used') out.orderId = c.orderId;
      if (c.status === 'locked') out.lockedUntil = c.lockedUntil!.toISOString();
      if (c.status === 'used' && c.usedAt !== null) out.usedAt = c.usedAt.toISOString();
      return out;
    });
    return { status: 200, body: { coupons } };
  };
}
