/**
 * A user's coupons from their shard, newest first, optionally of one status as it is now
 * (checkout/model.ts effectiveStatus, in SQL): a coupon past validTo lists as expired and a
 * stale lock as unused before any job has touched the row.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import type { MysqlPools } from '../core/mysql.ts';
import { shardDbName, shardOfUser, shardTableName } from '../core/shards.ts';
import { COUPON_COLUMNS, heldCoupon } from './coupon-rows.ts';
import { type CouponStatus, type HeldCoupon, statusAt } from './model.ts';

// A row that is unused now: stored unused, or locked with its lock run out.
const FREE = "(c.status = 'unused' OR (c.status = 'locked' AND c.locked_until <= ?))";

/** The WHERE condition of each status as it is at `now`, and its values. */
function statusFilter(status: CouponStatus, now: Date): [string, Date[]] {
  switch (status) {
    case 'unused': return [`${FREE} AND c.valid_to > ?`, [now, now]];
    case 'locked': return ["c.status = 'locked' AND c.locked_until > ?", [now]];
    case 'used': return ["c.status = 'used'", []];
    case 'expired': return [`(c.status = 'expired' OR (${FREE} AND c.valid_to <= ?))`, [now, now]];
  }
}

/** A listed coupon as the API shows it: its row's fields, times as Dates, its status as of the listing. */
export interface ListedCoupon {
  readonly couponId: string;
  readonly templateId: string;
  readonly status: CouponStatus;
  readonly claimedAt: Date;
  readonly validFrom: Date;
  readonly validTo: Date;
  readonly name: string;
  readonly type: string;
  readonly value: number;
  readonly threshold: number | null;
  readonly maxDiscount: number | null;
  readonly amount: number | null;
  readonly orderId: string | null;
  readonly lockedUntil: Date | null;
  readonly usedAt: Date | null;
}

const num = (v: unknown): number | null => (v === null ? null : Number(v));

/**
 * The user's coupons, newest first, each with its status as of `now`. One object per row, built
 * straight from it: a listing of 200 rows under load makes no garbage it does not answer with.
 */
export async function listCoupons(pools: MysqlPools, cfg: Config['mysql'], userId: string, status: CouponStatus | undefined,
  limit: number, now: number): Promise<ListedCoupon[]> {
  const s = shardOfUser({ dbs: cfg.shardDbs, tables: cfg.shardTables }, userId);
  const [cond, values] = status === undefined ? ['TRUE', []] : statusFilter(status, new Date(now));
  const [rows] = await pools.forDb(s.db).query<RowDataPacket[]>(
    `SELECT c.coupon_id, c.template_id, c.status, c.claimed_at, c.valid_from, c.valid_to, c.name, c.type, c.value, c.threshold,
            c.max_discount, c.amount, c.order_id, c.locked_until, c.used_at
       FROM \`${shardDbName(cfg.dbPrefix, s.db)}\`.\`${shardTableName(s.table)}\` c
      WHERE c.user_id = ? AND ${cond} ORDER BY c.claimed_at DESC, c.coupon_id DESC LIMIT ?`, [userId, ...values, limit]);
  return rows.map((r): ListedCoupon => ({
    couponId: r.coupon_id, templateId: r.template_id,
    status: statusAt(r.status, r.locked_until === null ? null : r.locked_until.getTime(), r.valid_to.getTime(), now),
    claimedAt: r.claimed_at, validFrom: r.valid_from, validTo: r.valid_to, name: r.name, type: r.type,
    value: Number(r.value), threshold: num(r.threshold), maxDiscount: num(r.max_discount), amount: num(r.amount),
    orderId: r.order_id, lockedUntil: r.locked_until, usedAt: r.used_at,
  }));
}

/**
 * The coupons a quote weighs: not stored as expired, with use windows that end after `since`
 * (recently expired ones are shown as such), at most `limit`. Those that may be usable at `now`
 * come first, soonest to end first; used, held by a live lock or ended ones only fill what is
 * left, so a user's used or recently ended coupons never push a usable one out of the quote.
 */
export async function quoteCandidates(pools: MysqlPools, cfg: Config['mysql'], userId: string, since: number,
  limit: number, now: number): Promise<HeldCoupon[]> {
  const s = shardOfUser({ dbs: cfg.shardDbs, tables: cfg.shardTables }, userId);
  const at = new Date(now);
  const [rows] = await pools.forDb(s.db).query<RowDataPacket[]>(
    `SELECT ${COUPON_COLUMNS} FROM \`${shardDbName(cfg.dbPrefix, s.db)}\`.\`${shardTableName(s.table)}\` c
      WHERE c.user_id = ? AND c.status <> 'expired' AND c.valid_to > ?
      ORDER BY (c.status = 'used' OR (c.status = 'locked' AND c.locked_until > ?) OR c.valid_to <= ?), c.valid_to, c.coupon_id LIMIT ?`,
    [userId, new Date(since), at, at, limit]);
  return rows.map(heldCoupon);
}
