/**
 * Expiry reminders: the coupons still unused that expire on a given UTC day, read from the
 * notification tables the sink fills (coupon_reminder_<t>, by (expire_day, coupon_id)), never
 * from a scan of the coupon tables. A page walks the shards in order (database, then table) and
 * each shard by coupon id; the cursor is the last coupon id given, whose prefix names its shard.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import { ApiError } from '../core/errors.ts';
import type { MysqlPools } from '../core/mysql.ts';
import { reminderTableName } from '../core/schema.ts';
import { shardDbName, shardOfCoupon, shardTableName, type ShardLayout } from '../core/shards.ts';

/** One coupon to remind its user of. */
export interface Reminder {
  readonly couponId: string;
  readonly userId: string;
  readonly templateId: string;
  readonly name: string;
  /** ISO time its use window ends. */
  readonly validTo: string;
}

export interface ReminderPage {
  readonly reminders: Reminder[];
  /** Pass back for the next page; null when this page is the last. */
  readonly nextCursor: string | null;
}

export const REMINDER_LIMIT_MAX = 1000;
const DAY_MS = 86_400_000;

/** The UTC midnight of a 'YYYY-MM-DD' day in ms; a 400 naming `day` unless it is a real calendar date. */
export function parseDay(day: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(day) ? Date.parse(`${day}T00:00:00.000Z`) : NaN;
  // Date.parse rolls 2027-02-30 over to March: the round trip catches it.
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== day) {
    throw new ApiError('bad_request', 'day: must be a calendar date YYYY-MM-DD');
  }
  return ms;
}

/** The opaque cursor after coupon `couponId`. */
export const encodeCursor = (couponId: string): string => Buffer.from(couponId).toString('base64url');

/** The coupon id a cursor names, and its shard's place in the walk; a 400 naming `cursor` otherwise. */
export function decodeCursor(layout: ShardLayout, cursor: string): { after: string; shard: number } {
  const after = Buffer.from(cursor, 'base64url').toString('latin1');
  const s = shardOfCoupon(layout, after);
  // the round trip refuses the bytes base64url decoding would skip over.
  if (!s || encodeCursor(after) !== cursor) throw new ApiError('bad_request', 'cursor: not a cursor of this listing');
  return { after, shard: s.db * layout.tables + s.table };
}

/** Reads reminder pages from the shard databases. */
export class ReminderStore {
  private readonly layout: ShardLayout;

  constructor(private readonly pools: MysqlPools, private readonly cfg: Config['mysql']) {
    this.layout = { dbs: cfg.shardDbs, tables: cfg.shardTables };
  }

  /** Up to `limit` coupons effectively unused at `now` that expire on `day` (UTC), after `cursor`. */
  async page(day: string, cursor: string | undefined, limit: number, now: number): Promise<ReminderPage> {
    const dayStart = parseDay(day);
    if (!Number.isInteger(limit) || limit < 1 || limit > REMINDER_LIMIT_MAX) {
      throw new ApiError('bad_request', `limit: must be an integer from 1 to ${REMINDER_LIMIT_MAX}`);
    }
    const from = cursor === undefined ? { after: '', shard: 0 } : decodeCursor(this.layout, cursor);
    const window = { day, dayStart: new Date(dayStart), dayEnd: new Date(dayStart + DAY_MS), now: new Date(now) };
    const out: Reminder[] = [];
    const shards = this.layout.dbs * this.layout.tables;
    // One more than asked: whether anything follows the page decides nextCursor.
    for (let i = from.shard; i < shards && out.length <= limit; i++) {
      const after = i === from.shard ? from.after : '';
      out.push(...await this.shardPage(Math.floor(i / this.layout.tables), i % this.layout.tables, window, after, limit + 1 - out.length));
    }
    if (out.length <= limit) return { reminders: out, nextCursor: null };
    out.length = limit;
    return { reminders: out, nextCursor: encodeCursor(out[limit - 1]!.couponId) };
  }

  /**
   * One shard's reminders of the day after coupon `after`: a range of the reminder table's key,
   * each joined to its coupon row by primary key. The row decides: a coupon used, locked or
   * expired since it was filed is skipped, and so is one filed under another day than its
   * valid_to (a record that collided with another claim's coupon id). STRAIGHT_JOIN keeps the
   * reminder range in front: the optimizer must never drive the walk from the coupon table's
   * status index. "Unused" is effectiveStatus's (checkout/model.ts): a lock past its deadline is released.
   */
  private async shardPage(db: number, table: number, w: { day: string; dayStart: Date; dayEnd: Date; now: Date },
    after: string, n: number): Promise<Reminder[]> {
    const name = shardDbName(this.cfg.dbPrefix, db);
    const [rows] = await this.pools.forDb(db).query<RowDataPacket[]>(
      `SELECT c.coupon_id, c.user_id, c.template_id, c.name, c.valid_to
         FROM \`${name}\`.\`${reminderTableName(table)}\` r
         STRAIGHT_JOIN \`${name}\`.\`${shardTableName(table)}\` c ON c.coupon_id = r.coupon_id
        WHERE r.expire_day = ? AND r.coupon_id > ?
          AND (c.status = 'unused' OR (c.status = 'locked' AND (c.locked_until IS NULL OR c.locked_until <= ?)))
          AND c.valid_to > ? AND c.valid_to >= ? AND c.valid_to < ?
        ORDER BY r.coupon_id LIMIT ?`,
      [w.day, after, w.now, w.now, w.dayStart, w.dayEnd, n]);
    return rows.map((r) => ({
      couponId: String(r.coupon_id), userId: String(r.user_id), templateId: String(r.template_id), name: String(r.name),
      validTo: (r.valid_to as Date).toISOString(),
    }));
  }
}
