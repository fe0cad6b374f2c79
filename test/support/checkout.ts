/**
 * Checkout test support: coupon rows seeded straight into a user's shard table (the state
 * machine's input is the row, whatever path issued it), the TCC store on pools that allow
 * several statements, and a sequential model of lock/confirm/cancel/refund that the tests hold
 * every concurrent history against.
 */
import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import { CouponTcc } from '../../checkout/tcc.ts';
import { ApiError } from '../../core/errors.ts';
import { openMysql, type MysqlPools } from '../../core/mysql.ts';
import { couponIdPrefix, shardDbName, shardOfUser, shardTableName } from '../../core/shards.ts';
import type { Storage } from '../../tools/harness/storage.ts';

const DAY = 86_400_000;
let seq = 0;

export interface SeedCoupon {
  readonly userId: string;
  readonly templateId?: string;
  readonly type?: 'direct' | 'threshold' | 'discount' | 'red_packet';
  readonly value?: number;
  readonly threshold?: number | null;
  readonly validFrom?: number;
  readonly validTo?: number;
}

/** Inserts one unused coupon row for the user; returns its id. */
export async function seedCoupon(s: Storage, c: SeedCoupon): Promise<string> {
  const layout = { dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables };
  const sh = shardOfUser(layout, c.userId);
  const couponId = `${couponIdPrefix(layout, c.userId)}.0.${1_000_000 + ++seq}`;
  const now = Date.now();
  await s.mysql.forDb(sh.db).query(`INSERT INTO \`${shardDbName(s.cfg.mysql.dbPrefix, sh.db)}\`.\`${shardTableName(sh.table)}\`
    (coupon_id, user_id, template_id, request_id, name, type, value, threshold, claimed_at, valid_from, valid_to, stream_id)
    VALUES (?, ?, ?, ?, 'seeded', ?, ?, ?, ?, ?, ?, '0-0')`,
  [couponId, c.userId, c.templateId ?? 'seeded', `r${seq}`, c.type ?? 'direct', c.value ?? 500, c.threshold ?? null,
    new Date(now), new Date(c.validFrom ?? now - DAY), new Date(c.validTo ?? now + 30 * DAY)]);
  return couponId;
}

/** The TCC store of this storage's layout, on pools of its own (closed by the returned close). */
export function tccOf(s: Storage, lockTtlMs = 900_000): { tcc: CouponTcc; pools: MysqlPools; close: () => Promise<void> } {
  const pools = openMysql(s.cfg.mysql);
  return { tcc: new CouponTcc(pools, s.cfg.mysql, lockTtlMs), pools, close: () => pools.close() };
}

/** The stored row's checkout columns. */
export async function couponState(s: Storage, couponId: string): Promise<{ status: string; order_id: string | null }> {
  const [db, table] = couponId.split('.').map(Number) as [number, number];
  const [rows] = await s.mysql.forDb(db).query(
    `SELECT status, order_id FROM \`${shardDbName(s.cfg.mysql.dbPrefix, db)}\`.\`${shardTableName(table)}\` WHERE coupon_id = ?`, [couponId]);
  return (rows as { status: string; order_id: string | null }[])[0]!;
}

/** Every transition of the coupon, oldest first. */
export async function transitions(s: Storage, couponId: string): Promise<{ from: string; to: string; order: string | null; cause: string }[]> {
  const db = Number(couponId.split('.')[0]);
  const [rows] = await s.mysql.forDb(db).query(`SELECT from_status AS \`from\`, to_status AS \`to\`, order_id AS \`order\`, cause
    FROM \`${shardDbName(s.cfg.mysql.dbPrefix, db)}\`.coupon_transition WHERE coupon_id = ? ORDER BY id`, [couponId]);
  return rows as { from: string; to: string; order: string | null; cause: string }[];
}

export type Op = 'lock' | 'confirm' | 'cancel' | 'refund';

/** The state of one coupon and its orders in the sequential model (locks never expire here). */
export interface ModelState {
  readonly status: 'unused' | 'locked' | 'used';
  readonly holder: string | null;
  readonly orders: Readonly<Record<string, string>>;
}

export const START: ModelState = { status: 'unused', holder: null, orders: {} };

/**
 * One call applied to the model: the answer it must get ('ok' or the error code) and the state
 * after. Written from the rules, independently of checkout/tcc.ts.
 */
export function step(m: ModelState, op: Op, order: string): { answer: string; next: ModelState } {
  const st = m.orders[order];
  const with_ = (status: ModelState['status'], holder: string | null, orderState: string) =>
    ({ status, holder, orders: { ...m.orders, [order]: orderState } });
  const same = (answer: string) => ({ answer, next: m });
  switch (op) {
    case 'lock':
      if (st === 'cancelled') return same('order_cancelled');
      if (st === 'confirmed') return same('coupon_used');
      if (st === 'refunded') return same('order_refunded');
      if (st === 'locked') return same('ok');
      if (m.status === 'used') return same('coupon_used');
      if (m.status === 'locked') return same('coupon_locked');
      return { answer: 'ok', next: with_('locked', order, 'locked') };
    case 'confirm':
      if (st === 'confirmed') return same('ok');
      if (st === 'cancelled') return same('order_cancelled');
      if (st === 'refunded') return same('order_refunded');
      if (st === 'locked') return { answer: 'ok', next: with_('used', order, 'confirmed') };
      return same('not_locked');
    case 'cancel':
      if (st === 'cancelled') return same('ok');
      if (st === 'confirmed') return same('coupon_used');
      if (st === 'refunded') return same('order_refunded');
      if (st === 'locked') return { answer: 'ok', next: with_('unused', null, 'cancelled') };
      return { answer: 'ok', next: { ...m, orders: { ...m.orders, [order]: 'cancelled' } } };
    case 'refund':
      if (st === 'refunded') return same('ok');
      if (st === 'confirmed') return { answer: 'ok', next: with_('unused', null, 'refunded') };
      return same('not_used');
  }
}

/** 'ok' or the error code of a call; any other failure as 'raw:<code>'. */
export async function answer(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof ApiError) return err.code;
    return `raw:${(err as { code?: string }).code ?? (err as Error).message}`;
  }
}

/** The order control rows of a coupon, by order id. */
export async function orderRows(s: Storage, couponId: string): Promise<{ order_id: string; state: string }[]> {
  const [rows] = await s.mysql.forDb(Number(couponId.split('.')[0])).query<RowDataPacket[]>(
    `SELECT order_id, state FROM \`${shardDbName(s.cfg.mysql.dbPrefix, Number(couponId.split('.')[0]))}\`.coupon_order WHERE coupon_id = ? ORDER BY order_id`,
    [couponId]);
  return rows as { order_id: string; state: string }[];
}

/**
 * The stored coupon, its order rows and its transitions agree: at most one confirmed order, it
 * is the one using the coupon; a locked coupon's holder has a locked row and no other order
 * does; transitions chain from unused to the stored status and each names the right order.
 */
export async function assertConsistent(s: Storage, couponId: string, label: string): Promise<void> {
  const row = await couponState(s, couponId);
  const orders = await orderRows(s, couponId);
  const confirmed = orders.filter((o) => o.state === 'confirmed').map((o) => o.order_id);
  const locked = orders.filter((o) => o.state === 'locked').map((o) => o.order_id);
  const ctx = `${label} ${couponId}: row ${JSON.stringify(row)} orders ${JSON.stringify(orders)}`;
  assert.ok(confirmed.length <= 1, `two orders confirmed: ${ctx}`);
  if (row.status === 'used') assert.deepEqual(confirmed, [row.order_id], `used, but not by its one confirmed order: ${ctx}`);
  else assert.deepEqual(confirmed, [], `an order is confirmed but the coupon is ${row.status}: ${ctx}`);
  if (row.status === 'locked') assert.deepEqual(locked, [row.order_id], `locked, but its holder's row disagrees: ${ctx}`);
  else assert.deepEqual(locked, [], `an order row is locked but the coupon is ${row.status}: ${ctx}`);
  if (row.status === 'unused') assert.equal(row.order_id, null, ctx);
  let at = 'unused';
  let holder: string | null = null;
  for (const t of await transitions(s, couponId)) {
    assert.equal(t.from, at, `transition ${JSON.stringify(t)} from ${t.from} while the coupon was ${at}: ${ctx}`);
    if (t.from === 'locked' || t.from === 'used') assert.equal(t.order, holder, `transition ${JSON.stringify(t)} names another order than ${holder}: ${ctx}`);
    at = t.to;
    holder = t.to === 'locked' || t.to === 'used' ? t.order : null;
  }
  assert.equal(at, row.status, `transitions end at ${at}: ${ctx}`);
  assert.equal(holder, row.order_id, `transitions end with holder ${holder}: ${ctx}`);
}
