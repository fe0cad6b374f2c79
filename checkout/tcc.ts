/**
 * Lock (Try), confirm, cancel and refund of one coupon for one order, on the coupon's shard
 * (the id names it). Each call is one transaction that locks the coupon row first, so every
 * call on a coupon is serialised there; the (coupon, order) control row makes each call
 * idempotent and remembers a cancel that came before its lock (the TCC empty rollback: the
 * late lock is refused). Every change of the coupon's status is recorded in coupon_transition.
 *
 * Two round trips per call: `START TRANSACTION; SELECT ... FOR UPDATE` and `writes; COMMIT`
 * (the pools need multipleStatements). READ COMMITTED: no gap locks, so calls on different
 * coupons never wait for each other; all calls on one coupon queue on its row lock.
 */
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import { ApiError } from '../core/errors.ts';
import type { MysqlPools } from '../core/mysql.ts';
import { type Shard, shardDbName, shardOfCoupon, shardTableName, type ShardLayout } from '../core/shards.ts';
import { COUPON_COLUMNS, heldCoupon } from './coupon-rows.ts';
import { type CouponStatus, effectiveStatus, type HeldCoupon } from './model.ts';

/** States of the (coupon, order) control row. */
type OrderState = 'locked' | 'confirmed' | 'cancelled' | 'released' | 'refunded';

interface OrderRow {
  readonly state: OrderState;
  readonly lockedUntil: number | null;
  readonly usedAt: number | null;
  readonly refundStatus: 'unused' | 'expired' | null;
  readonly at: number;
}

/** The coupon row (locked for this transaction) and this order's control row, if any. */
interface Held {
  readonly coupon: HeldCoupon;
  readonly order: OrderRow | undefined;
}

export interface LockAnswer {
  readonly couponId: string;
  readonly status: 'locked';
  readonly orderId: string;
  readonly lockedUntil: number;
  readonly coupon: HeldCoupon;
}
export interface ConfirmAnswer { readonly couponId: string; readonly status: 'used'; readonly orderId: string; readonly usedAt: number }
export interface CancelAnswer { readonly couponId: string; readonly status: 'unused'; readonly orderId: string }
export interface RefundAnswer {
  readonly couponId: string;
  readonly status: 'unused' | 'expired';
  readonly orderId: string;
  readonly refundedAt: number;
}

/**
 * The coupon id names a shard of this layout but its row is not there: a 404, unless the caller
 * knows the coupon may still be on its way (the sink is a moment behind its claim).
 */
export class CouponNotStored extends ApiError {
  constructor() {
    super('coupon_not_found', 'no such coupon');
  }
}

/** What a call decided: statements to run before COMMIT, then its answer or its refusal. */
interface Decision<T> {
  readonly writes: string[];
  readonly answer?: T;
  readonly refusal?: ApiError;
}

const at = (ms: number | null) => (ms === null ? null : new Date(ms));
const msOf = (d: unknown) => (d instanceof Date ? d.getTime() : null);

export class CouponTcc {
  private readonly layout: ShardLayout;

  /** `pools` must allow multiple statements per query (openMysql's option). */
  constructor(private readonly pools: MysqlPools, private readonly cfg: Config['mysql'], private readonly lockTtlMs: number) {
    this.layout = { dbs: cfg.shardDbs, tables: cfg.shardTables };
  }

  /**
   * Locks the coupon for the order until now + the lock TTL. `check` may refuse it (the cart
   * does not qualify) by throwing an ApiError; it sees the coupon only when a new lock is about
   * to be taken, while the row is locked (keep it short: a template cache hit).
   */
  lock(couponId: string, userId: string, orderId: string, now: number, check?: (c: HeldCoupon) => Promise<void>): Promise<LockAnswer> {
    return this.run(couponId, orderId, async (h, w) => {
      const c = h.coupon;
      if (c.userId !== userId) return { writes: [], refusal: new ApiError('forbidden', 'the coupon belongs to another user') };
      const mine = (lockedUntil: number): Decision<LockAnswer> =>
        ({ writes: [], answer: { couponId, status: 'locked', orderId, lockedUntil, coupon: c } });
      switch (h.order?.state) {
        case 'cancelled': return { writes: [], refusal: new ApiError('order_cancelled', 'this order was cancelled before its lock arrived') };
        case 'confirmed': return { writes: [], refusal: new ApiError('coupon_used', 'the coupon is already used by this order') };
        case 'refunded': return { writes: [], refusal: new ApiError('order_refunded', "this order's use of the coupon was refunded") };
        case 'released': return { writes: [], refusal: new ApiError('lock_expired', "this order's lock ran out") };
        case 'locked':
          if (c.status === 'locked' && c.orderId === orderId && c.lockedUntil! > now) return mine(h.order.lockedUntil!);
          return { writes: w.expire(c, orderId, now), refusal: new ApiError('lock_expired', "this order's lock ran out") };
        default: break;
      }
      const writes = c.status === 'locked' && c.lockedUntil! <= now ? w.release(c, now) : [];
      const status = effectiveStatus(c, now);
      if (status === 'used') return { writes, refusal: new ApiError('coupon_used', 'the coupon is already used by another order') };
      if (status === 'locked') return { writes, refusal: new ApiError('coupon_locked', 'another order holds the coupon') };
      if (status === 'expired') return { writes, refusal: new ApiError('coupon_expired', 'the coupon is past its use window') };
      if (now < c.validFrom) {
        return { writes, refusal: new ApiError('not_applicable', 'the coupon is not valid yet', { reason: 'not_started' }) };
      }
      try {
        await check?.(c);
      } catch (err) {
        if (err instanceof ApiError) return { writes, refusal: err };
        throw err;
      }
      const lockedUntil = now + this.lockTtlMs;
      writes.push(w.coupon('locked', orderId, lockedUntil, null), w.order(orderId, 'locked', lockedUntil, null, null, now),
        w.transition('unused', 'locked', orderId, 'lock', now));
      return { writes, answer: { couponId, status: 'locked', orderId, lockedUntil, coupon: c } };
    });
  }

  /** Marks the coupon used by the order that holds its lock. */
  confirm(couponId: string, orderId: string, now: number): Promise<ConfirmAnswer> {
    return this.run(couponId, orderId, (h, w) => {
      const c = h.coupon;
      const o = h.order;
      switch (o?.state) {
        case 'confirmed': return { writes: [], answer: { couponId, status: 'used', orderId, usedAt: o.usedAt! } };
        case 'cancelled': return { writes: [], refusal: new ApiError('order_cancelled', 'this order was cancelled') };
        case 'refunded': return { writes: [], refusal: new ApiError('order_refunded', "this order's use of the coupon was refunded") };
        case 'released': return { writes: [], refusal: new ApiError('lock_expired', "this order's lock ran out") };
        case 'locked': {
          if (!(c.status === 'locked' && c.orderId === orderId && c.lockedUntil! > now)) {
            return { writes: w.expire(c, orderId, now), refusal: new ApiError('lock_expired', "this order's lock ran out") };
          }
          const writes = [w.coupon('used', orderId, null, now), w.order(orderId, 'confirmed', o.lockedUntil, now, null, now),
            w.transition('locked', 'used', orderId, 'confirm', now)];
          return { writes, answer: { couponId, status: 'used', orderId, usedAt: now } };
        }
        default: return { writes: [], refusal: new ApiError('not_locked', 'the coupon is not locked by this order') };
      }
    });
  }

  /** Releases the order's lock; a cancel before any lock is remembered, and that lock is refused later. */
  cancel(couponId: string, orderId: string, now: number): Promise<CancelAnswer> {
    return this.run(couponId, orderId, (h, w) => {
      const c = h.coupon;
      const answer: CancelAnswer = { couponId, status: 'unused', orderId };
      switch (h.order?.state) {
        case 'cancelled': return { writes: [], answer };
        case 'confirmed': return { writes: [], refusal: new ApiError('coupon_used', 'the coupon is used by this order: refund it instead') };
        case 'refunded': return { writes: [], refusal: new ApiError('order_refunded', "this order's use of the coupon was refunded") };
        case 'locked': {
          // Ours, stale or not: release it. (Not ours any more: the sweep released it already.)
          const writes = c.status === 'locked' && c.orderId === orderId
            ? [w.coupon('unused', null, null, null), w.transition('locked', 'unused', orderId, 'cancel', now)] : [];
          writes.push(w.order(orderId, 'cancelled', h.order.lockedUntil, null, null, now));
          return { writes, answer };
        }
        default:
          // Released by the sweep, or never locked (the empty rollback): remembered as cancelled.
          return { writes: [w.order(orderId, 'cancelled', h.order?.lockedUntil ?? null, null, null, now)], answer };
      }
    });
  }

  /** Gives a coupon used by the order back: unused inside its use window, else expired. */
  refund(couponId: string, orderId: string, now: number): Promise<RefundAnswer> {
    return this.run(couponId, orderId, (h, w) => {
      const c = h.coupon;
      const o = h.order;
      if (o?.state === 'refunded') return { writes: [], answer: { couponId, status: o.refundStatus!, orderId, refundedAt: o.at } };
      if (o?.state !== 'confirmed' || c.status !== 'used' || c.orderId !== orderId) {
        return { writes: [], refusal: new ApiError('not_used', 'the coupon is not used by this order') };
      }
      const to = now >= c.validFrom && now < c.validTo ? 'unused' : 'expired';
      const writes = [w.coupon(to, null, null, null), w.order(orderId, 'refunded', o.lockedUntil, o.usedAt, to, now),
        w.transition('used', to, orderId, 'refund', now)];
      return { writes, answer: { couponId, status: to, orderId, refundedAt: now } };
    });
  }

  /**
   * One call: lock the coupon row and read this order's control row, decide, write and commit.
   * A refusal that wrote (a stale lock released on the way) commits those writes first.
   */
  private async run<T>(couponId: string, orderId: string,
    decide: (h: Held, w: Writes) => Decision<T> | Promise<Decision<T>>): Promise<T> {
    const shard = shardOfCoupon(this.layout, couponId);
    if (!shard) throw new ApiError('coupon_not_found', 'no such coupon');
    const pool = this.pools.forDb(shard.db);
    const conn = await pool.getConnection();
    let open = false;
    try {
      open = true;
      const h = await this.begin(conn, shard, couponId, orderId);
      if (!h) throw new CouponNotStored();
      const d = await decide(h, new Writes(conn, this.cfg.dbPrefix, shard, couponId));
      await conn.query([...d.writes, d.writes.length > 0 ? 'COMMIT' : 'ROLLBACK'].join(';\n'));
      open = false;
      if (d.refusal) throw d.refusal;
      return d.answer!;
    } finally {
      if (open) await conn.query('ROLLBACK').catch(() => conn.destroy());
      conn.release();
    }
  }

  private async begin(conn: PoolConnection, s: Shard, couponId: string, orderId: string): Promise<Held | undefined> {
    const db = `\`${shardDbName(this.cfg.dbPrefix, s.db)}\``;
    const [results] = await conn.query(`SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION;
      SELECT ${COUPON_COLUMNS}, o.state AS o_state, o.locked_until AS o_locked_until, o.used_at AS o_used_at,
             o.refund_status AS o_refund_status, o.updated_at AS o_updated_at
        FROM ${db}.\`${shardTableName(s.table)}\` c
        LEFT JOIN ${db}.coupon_order o ON o.coupon_id = c.coupon_id AND o.order_id = ?
       WHERE c.coupon_id = ? FOR UPDATE`, [orderId, couponId]);
    const rows = (results as RowDataPacket[][])[2]!;
    const r = rows[0];
    if (!r) return undefined;
    const order: OrderRow | undefined = r.o_state === null ? undefined : {
      state: r.o_state as OrderState, lockedUntil: msOf(r.o_locked_until), usedAt: msOf(r.o_used_at),
      refundStatus: r.o_refund_status, at: msOf(r.o_updated_at)!,
    };
    return { coupon: heldCoupon(r), order };
  }
}

/** Builds the statements of one call on one coupon (values escaped by the driver). */
class Writes {
  private readonly table: string;
  private readonly orders: string;
  private readonly transitions: string;

  constructor(private readonly conn: Pick<Pool, 'format'>, prefix: string, s: Shard, private readonly couponId: string) {
    const db = `\`${shardDbName(prefix, s.db)}\``;
    this.table = `${db}.\`${shardTableName(s.table)}\``;
    this.orders = `${db}.coupon_order`;
    this.transitions = `${db}.coupon_transition`;
  }

  /** Sets the coupon row's status and its order fields. */
  coupon(status: CouponStatus, orderId: string | null, lockedUntil: number | null, usedAt: number | null): string {
    return this.conn.format(`UPDATE ${this.table} SET status = ?, order_id = ?, locked_until = ?, used_at = ? WHERE coupon_id = ?`,
      [status, orderId, at(lockedUntil), at(usedAt), this.couponId]);
  }

  /** Creates or moves the (coupon, order) control row. */
  order(orderId: string, state: OrderState, lockedUntil: number | null, usedAt: number | null,
    refundStatus: 'unused' | 'expired' | null, now: number): string {
    return this.conn.format(`INSERT INTO ${this.orders} (coupon_id, order_id, state, locked_until, used_at, refund_status, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE state = VALUES(state), locked_until = VALUES(locked_until),
      used_at = VALUES(used_at), refund_status = VALUES(refund_status), updated_at = VALUES(updated_at)`,
    [this.couponId, orderId, state, at(lockedUntil), at(usedAt), refundStatus, new Date(now)]);
  }

  /** Records one change of the coupon's status. */
  transition(from: CouponStatus, to: CouponStatus, orderId: string | null, cause: string, now: number): string {
    return this.conn.format(`INSERT INTO ${this.transitions} (coupon_id, from_status, to_status, order_id, cause, at) VALUES (?, ?, ?, ?, ?, ?)`,
      [this.couponId, from, to, orderId, cause, new Date(now)]);
  }

  /** Ends the order's stale lock: the coupon is released if that order still holds it, and the order learns lock_expired. */
  expire(c: HeldCoupon, orderId: string, now: number): string[] {
    if (c.status === 'locked' && c.orderId === orderId) return this.release(c, now);
    return [this.conn.format(`UPDATE ${this.orders} SET state = 'released', updated_at = ? WHERE coupon_id = ? AND order_id = ? AND state = 'locked'`,
      [new Date(now), this.couponId, orderId])];
  }

  /** Releases a stale lock: the coupon is unused again and the order that held it is told so by lock_expired. */
  release(c: HeldCoupon, now: number): string[] {
    return [
      this.coupon('unused', null, null, null),
      this.conn.format(`UPDATE ${this.orders} SET state = 'released', updated_at = ? WHERE coupon_id = ? AND order_id = ? AND state = 'locked'`,
        [new Date(now), this.couponId, c.orderId]),
      this.transition('locked', 'unused', c.orderId, 'lock_expired', now),
    ];
  }
}
