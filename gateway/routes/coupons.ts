/** GET /v1/users/:userId/coupons: the user's coupons, newest first, from their MySQL shard. */
import type { RowDataPacket } from 'mysql2/promise';
import type { Config } from '../../config/index.ts';
import type { MysqlPools } from '../../core/mysql.ts';
import { shardDbName, shardOfUser, shardTableName, type ShardLayout } from '../../core/shards.ts';
import { verifyUserToken } from '../../core/user-token.ts';
import { ApiError, orUnavailable } from '../../core/errors.ts';
import { limitParam, queryParams } from '../http/query.ts';
import type { Handler } from '../http/route.ts';
import { isId } from '../../core/ids.ts';

const iso = (d: Date) => d.toISOString();
const num = (v: unknown) => (v === null ? null : Number(v));

const PARAMS = new Set(['limit']);

/** The listing route handler; with `tokenSecrets`, only the token's user may list their coupons. */
export function couponsHandler(mysql: MysqlPools, layout: ShardLayout, cfg: Config['mysql'], tokenSecrets: readonly string[]): Handler {
  return async (req) => {
    const userId = req.params[0] ?? '';
    if (!isId(userId)) throw new ApiError('bad_request', 'userId: 1-64 characters of [A-Za-z0-9_.:-]');
    if (tokenSecrets.length > 0 && verifyUserToken(tokenSecrets, req.authorization, Date.now() / 1000) !== userId) {
      throw new ApiError('forbidden', 'the token belongs to another user');
    }
    const limit = limitParam(queryParams(req.query, PARAMS), 50, 200);
    const s = shardOfUser(layout, userId);
    const [rows] = await orUnavailable('mysql', () => mysql.forDb(s.db).query<RowDataPacket[]>(
        `SELECT coupon_id, template_id, status, claimed_at, valid_from, valid_to, name, type, value, threshold,
                max_discount, amount
           FROM \`${shardDbName(cfg.dbPrefix, s.db)}\`.\`${shardTableName(s.table)}\`
          WHERE user_id = ? ORDER BY claimed_at DESC, coupon_id DESC LIMIT ?`, [userId, limit]));
    const coupons = rows.map((r) => ({
      couponId: r.coupon_id, templateId: r.template_id, status: r.status, claimedAt: iso(r.claimed_at),
      validFrom: iso(r.valid_from), validTo: iso(r.valid_to), name: r.name, type: r.type,
      value: Number(r.value), threshold: num(r.threshold), maxDiscount: num(r.max_discount),
      // a red packet's drawn amount; absent for other coupons
      ...(r.amount === null ? {} : { amount: Number(r.amount) }),
    }));
    return { status: 200, body: { coupons } };
  };
}
