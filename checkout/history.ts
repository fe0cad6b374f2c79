/** What happened to one coupon, for operators: its row, its orders' control rows and every transition. */
import type { RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import type { MysqlPools } from '../core/mysql.ts';
import { shardDbName, shardOfCoupon, shardTableName } from '../core/shards.ts';
import { COUPON_COLUMNS, heldCoupon } from './coupon-rows.ts';
import { effectiveStatus } from './model.ts';

const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : null);

/** The coupon's history, or undefined when its id names no stored coupon. */
export async function couponHistory(pools: MysqlPools, cfg: Config['mysql'], couponId: string, now: number)
  : Promise<Record<string, unknown> | undefined> {
  const s = shardOfCoupon({ dbs: cfg.shardDbs, tables: cfg.shardTables }, couponId);
  if (!s) return undefined;
  const db = `\`${shardDbName(cfg.dbPrefix, s.db)}\``;
  const pool = pools.forDb(s.db);
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT ${COUPON_COLUMNS}, c.claimed_at FROM ${db}.\`${shardTableName(s.table)}\` c WHERE c.coupon_id = ?`, [couponId]);
  if (!rows[0]) return undefined;
  const c = heldCoupon(rows[0]);
  const [orders] = await pool.query<RowDataPacket[]>(
    `SELECT order_id, state, locked_until, used_at, refund_status, updated_at FROM ${db}.coupon_order
      WHERE coupon_id = ? ORDER BY updated_at, order_id`, [couponId]);
  const [transitions] = await pool.query<RowDataPacket[]>(
    `SELECT from_status, to_status, order_id, cause, at FROM ${db}.coupon_transition WHERE coupon_id = ? ORDER BY id`, [couponId]);
  return {
    couponId, userId: c.userId, templateId: c.templateId, storedStatus: c.status, status: effectiveStatus(c, now),
    orderId: c.orderId, lockedUntil: iso(rows[0].locked_until), usedAt: iso(rows[0].used_at),
    claimedAt: iso(rows[0].claimed_at), validFrom: iso(rows[0].valid_from), validTo: iso(rows[0].valid_to),
    orders: orders.map((o) => ({ orderId: o.order_id, state: o.state, lockedUntil: iso(o.locked_until), usedAt: iso(o.used_at),
      refundStatus: o.refund_status, updatedAt: iso(o.updated_at) })),
    transitions: transitions.map((t) => ({ from: t.from_status, to: t.to_status, orderId: t.order_id, cause: t.cause, at: iso(t.at) })),
  };
}
