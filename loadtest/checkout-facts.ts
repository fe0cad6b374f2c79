/**
 * Reads the checkout scenario's facts after its orders (verify-checkout.ts judges them): the
 * rows of every coupon an order locked and the run's coupon_order control rows, by direct SQL on
 * each shard database, and a sample of users' listings by status through the API.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlPools } from '../core/mysql.ts';
import { shardDbName, shardOfCoupon, shardTableName, type ShardLayout } from '../core/shards.ts';
import type { UserAuth } from './requests.ts';
import type { CheckoutFacts, CouponOutcome } from './verify-checkout.ts';

// Coupon ids per IN list.
const CHUNK = 1000;
// Users whose listings are read after the orders (three listings each).
const LISTING_SAMPLE = 50;

const chunks = <T>(xs: readonly T[]) => Array.from({ length: Math.ceil(xs.length / CHUNK) }, (_, i) => xs.slice(i * CHUNK, (i + 1) * CHUNK));

/** The stored status and order of each coupon, grouped by shard table. */
async function rowsOf(mysql: MysqlPools, dbPrefix: string, layout: ShardLayout, couponIds: readonly string[]): Promise<CheckoutFacts['rows']> {
  const byTable = new Map<string, { db: number; table: number; ids: string[] }>();
  for (const id of couponIds) {
    const s = shardOfCoupon(layout, id);
    if (!s) continue;
    const k = `${s.db}.${s.table}`;
    (byTable.get(k) ?? byTable.set(k, { ...s, ids: [] }).get(k)!).ids.push(id);
  }
  const out: { couponId: string; status: string; orderId: string | null }[] = [];
  for (const { db, table, ids } of byTable.values()) {
    for (const part of chunks(ids)) {
      const [rows] = await mysql.forDb(db).query<RowDataPacket[]>(
        `SELECT coupon_id, status, order_id FROM \`${shardDbName(dbPrefix, db)}\`.\`${shardTableName(table)}\` WHERE coupon_id IN (?)`, [part]);
      for (const r of rows) out.push({ couponId: String(r.coupon_id), status: String(r.status), orderId: r.order_id === null ? null : String(r.order_id) });
    }
  }
  return out;
}

/** The run's control rows by state (its order ids start with `orderPrefix`), and coupons confirmed more than once. */
async function controlRows(mysql: MysqlPools, dbPrefix: string, layout: ShardLayout, orderPrefix: string, couponIds: readonly string[]):
  Promise<Pick<CheckoutFacts, 'orderStates' | 'doubleConfirmed'>> {
  if (!/^[a-z0-9-]+$/.test(orderPrefix)) throw new Error(`order id prefix ${orderPrefix} would need LIKE escaping`);
  const orderStates: Record<string, number> = {};
  const doubleConfirmed: { couponId: string; confirmed: number }[] = [];
  for (let db = 0; db < layout.dbs; db++) {
    const orders = `\`${shardDbName(dbPrefix, db)}\`.coupon_order`;
    const [states] = await mysql.forDb(db).query<RowDataPacket[]>(
      `SELECT state, COUNT(*) AS n FROM ${orders} WHERE order_id LIKE ? GROUP BY state`, [`${orderPrefix}%`]);
    for (const r of states) orderStates[String(r.state)] = (orderStates[String(r.state)] ?? 0) + Number(r.n);
    // every order of the coupon counts, this run's or not: a coupon is used by one order at most.
    const mine = couponIds.filter((id) => shardOfCoupon(layout, id)?.db === db);
    for (const part of chunks(mine)) {
      const [dupes] = await mysql.forDb(db).query<RowDataPacket[]>(
        `SELECT coupon_id, COUNT(*) AS n FROM ${orders} WHERE coupon_id IN (?) AND state = 'confirmed' GROUP BY coupon_id HAVING n > 1`, [part]);
      for (const r of dupes) doubleConfirmed.push({ couponId: String(r.coupon_id), confirmed: Number(r.n) });
    }
  }
  return { orderStates, doubleConfirmed };
}

/**
 * Reads up to LISTING_SAMPLE users' listings of used, locked and unused coupons and compares each
 * with what their orders left (`held`: every coupon the user was issued).
 */
async function checkListings(origin: string, auth: UserAuth, held: ReadonlyMap<string, readonly string[]>,
  outcomes: readonly CouponOutcome[]): Promise<CheckoutFacts['listing']> {
  const expect = new Map(outcomes.map((o) => [o.couponId, o.expect]));
  const users = [...new Set(outcomes.map((o) => o.userId))].slice(0, LISTING_SAMPLE);
  const mismatched: string[] = [];
  for (const userId of users) {
    for (const status of ['used', 'locked', 'unused'] as const) {
      const res = await fetch(`${origin}/v1/users/${encodeURIComponent(userId)}/coupons?status=${status}&limit=200`,
        { headers: auth(userId), signal: AbortSignal.timeout(10_000) });
      if (res.status !== 200) throw new Error(`listing of ${userId} (${status}): ${res.status} ${await res.text()}`);
      const listed = ((await res.json()) as { coupons: { couponId: string }[] }).coupons.map((c) => c.couponId).sort();
      const want = (held.get(userId) ?? []).filter((id) => (expect.get(id) ?? 'unused') === status).sort();
      if (listed.join() !== want.join()) mismatched.push(`${userId} ${status}: listed ${listed.length}, orders left ${want.length}`);
    }
  }
  return { users: users.length, mismatched };
}

/** What the scenario reads after its orders. */
export interface FactSources {
  readonly mysql: MysqlPools;
  readonly dbPrefix: string;
  readonly layout: ShardLayout;
  readonly origin: string;
  readonly auth: UserAuth;
}

/** The stored side of the checkout facts: rows, control rows and listings. */
export async function storedCheckout(src: FactSources, orderPrefix: string, held: ReadonlyMap<string, readonly string[]>,
  outcomes: readonly CouponOutcome[]): Promise<Pick<CheckoutFacts, 'rows' | 'orderStates' | 'doubleConfirmed' | 'listing'>> {
  const ids = outcomes.map((o) => o.couponId);
  return {
    rows: await rowsOf(src.mysql, src.dbPrefix, src.layout, ids),
    ...await controlRows(src.mysql, src.dbPrefix, src.layout, orderPrefix, ids),
    listing: await checkListings(src.origin, src.auth, held, outcomes),
  };
}
