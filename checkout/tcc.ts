/**
 * Lock (Try), confirm, cancel and refund of one coupon for one order, on the coupon's shard
 * (the id names it). Each call is one stored procedure (checkout/tcc-routines.ts): one
 * transaction that locks the coupon row first, so every call on a coupon is serialised there,
 * and reads the (coupon, order) control row that makes each call idempotent and remembers a
 * cancel that came before its lock (the TCC empty rollback: the late lock is refused). Every
 * change of the coupon's status is recorded in coupon_transition.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import { ApiError } from '../core/errors.ts';
import type { MysqlPools } from '../core/mysql.ts';
import { type Shard, shardDbName, shardOfCoupon, shardTableName, type ShardLayout } from '../core/shards.ts';
import { COUPON_COLUMNS, heldCoupon } from './coupon-rows.ts';
import type { UnusableReason } from './judge.ts';
import type { HeldCoupon } from './model.ts';
import { routineName } from '../core/checkout-routines.ts';

export interface LockAnswer { readonly couponId: string; readonly status: 'locked'; readonly orderId: string; readonly lockedUntil: number }
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

/** The messages of the procedures' refusals. */
const REFUSALS: Readonly<Record<string, string>> = {
  forbidden: 'the coupon belongs to another user',
  order_cancelled: 'this order was cancelled',
  coupon_used: 'the coupon is already used',
  order_refunded: "this order's use of the coupon was refunded",
  lock_expired: "this order's lock ran out",
  coupon_locked: 'another order holds the coupon',
  coupon_expired: 'the coupon is past its use window',
  not_locked: 'the coupon is not locked by this order',
  not_used: 'the coupon is not used by this order',
};

interface Outcome {
  readonly code: string;
  readonly at: number | null;
  readonly status: 'unused' | 'expired' | null;
}

export class CouponTcc {
  private readonly layout: ShardLayout;

  constructor(private readonly pools: MysqlPools, private readonly cfg: Config['mysql'], private readonly lockTtlMs: number) {
    this.layout = { dbs: cfg.shardDbs, tables: cfg.shardTables };
  }

  /** The coupon's row, read without locking (what a lock with a cart is judged on: its money and template never change). */
  async read(couponId: string): Promise<HeldCoupon> {
    const s = this.shard(couponId);
    const [rows] = await this.pools.forDb(s.db).query<RowDataPacket[]>(`SELECT ${COUPON_COLUMNS}
      FROM \`${shardDbName(this.cfg.dbPrefix, s.db)}\`.\`${shardTableName(s.table)}\` c WHERE c.coupon_id = ?`, [couponId]);
    if (!rows[0]) throw new CouponNotStored();
    return heldCoupon(rows[0]);
  }

  /**
   * Locks the coupon for the order until now + the lock TTL. `cartRefusal`: why the order's
   * cart does not qualify, if it does not; the lock is then refused (422) where a new lock
   * would be taken, after the checks of ownership, the order's history and the coupon's status.
   */
  async lock(couponId: string, userId: string, orderId: string, now: number, cartRefusal?: UnusableReason): Promise<LockAnswer> {
    const o = await this.call('lock', couponId, [userId, orderId, new Date(now), new Date(now + this.lockTtlMs), cartRefusal !== undefined]);
    if (o.code === 'not_started') throw new ApiError('not_applicable', 'the coupon is not valid yet', { reason: 'not_started' });
    if (o.code === 'not_applicable') {
      throw new ApiError('not_applicable', `the cart does not qualify for this coupon: ${cartRefusal}`, { reason: cartRefusal });
    }
    return { couponId, status: 'locked', orderId, lockedUntil: this.ok(o) };
  }

  /** Marks the coupon used by the order that holds its lock. */
  async confirm(couponId: string, orderId: string, now: number): Promise<ConfirmAnswer> {
    const o = await this.call('confirm', couponId, [orderId, new Date(now)]);
    return { couponId, status: 'used', orderId, usedAt: this.ok(o) };
  }

  /** Releases the order's lock; a cancel before any lock is remembered, and that lock is refused later. */
  async cancel(couponId: string, orderId: string, now: number): Promise<CancelAnswer> {
    const o = await this.call('cancel', couponId, [orderId, new Date(now)]);
    if (o.code !== 'ok') this.ok(o);
    return { couponId, status: 'unused', orderId };
  }

  /** Gives a coupon used by the order back: unused inside its use window, else expired. */
  async refund(couponId: string, orderId: string, now: number): Promise<RefundAnswer> {
    const o = await this.call('refund', couponId, [orderId, new Date(now)]);
    const refundedAt = this.ok(o);
    return { couponId, status: o.status!, orderId, refundedAt };
  }

  private shard(couponId: string): Shard {
    const s = shardOfCoupon(this.layout, couponId);
    if (!s) throw new ApiError('coupon_not_found', 'no such coupon');
    return s;
  }

  /** Runs the coupon table's procedure `op` with the coupon id followed by `args`. */
  private async call(op: 'lock' | 'confirm' | 'cancel' | 'refund', couponId: string, args: unknown[]): Promise<Outcome> {
    const s = this.shard(couponId);
    const routine = `\`${shardDbName(this.cfg.dbPrefix, s.db)}\`.\`${routineName(op, s.table)}\``;
    const [sets] = await this.pools.forDb(s.db).query<RowDataPacket[][]>(
      `CALL ${routine}(${['?', ...args.map(() => '?')].join(',')})`, [couponId, ...args]);
    const r = sets[0]![0]!;
    if (r.code === 'missing') throw new CouponNotStored();
    return { code: String(r.code), at: r.at instanceof Date ? r.at.getTime() : null, status: r.status ?? null };
  }

  /** The time of a successful outcome, or the refusal as an ApiError. */
  private ok(o: Outcome): number {
    if (o.code === 'ok') return o.at!;
    const message = REFUSALS[o.code];
    if (message === undefined) throw new Error(`checkout procedure answered an unknown code ${o.code}`);
    throw new ApiError(o.code as ConstructorParameters<typeof ApiError>[0], message);
  }
}
