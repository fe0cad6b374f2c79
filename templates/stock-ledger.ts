/**
 * The MySQL side of operator stock changes: one `coupon_stock_change` row per (template,
 * request id), so a change is counted once however often it is retried. The row is the request
 * id's owner: whichever change stores it first owns it, before either touches Redis, and another
 * change under the same id is refused. A top-up stores it in the transaction that raises the
 * total; a reduction stores it alone, takes from Redis, then completes it with what it took.
 */
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import type { MysqlPools } from '../core/mysql.ts';
import { mainDbName } from '../core/shards.ts';

/** A stored stock change. */
export interface StockChangeRow {
  /** The change asked for (negative: a reduction); what makes a retry the same request. */
  readonly requested: number;
  /** Change of total_stock it applied; null while a reduction is still taking from Redis. */
  readonly delta: number | null;
  /** Epoch ms. */
  readonly createdAt: number;
}

/** What a stock change must know about a template before touching Redis. */
export interface StockFacts {
  readonly subStocks: number;
  /** False until the create has put the sub-stocks in Redis. */
  readonly ready: boolean;
  /** A red packet: its stock is fixed (templates/stock.ts). */
  readonly redPacket: boolean;
}

const fromRow = (r: RowDataPacket): StockChangeRow => ({
  requested: Number(r.requested), delta: r.delta === null ? null : Number(r.delta), createdAt: (r.created_at as Date).getTime(),
});

const isDuplicate = (err: unknown) => (err as { code?: string }).code === 'ER_DUP_ENTRY';

export class StockLedger {
  private readonly changes: string;
  private readonly templates: string;

  constructor(private readonly mysql: MysqlPools, cfg: Config['mysql']) {
    const db = `\`${mainDbName(cfg.dbPrefix)}\``;
    this.changes = `${db}.coupon_stock_change`;
    this.templates = `${db}.coupon_template`;
  }

  /** The change stored for this request id, or null. */
  async find(templateId: string, requestId: string): Promise<StockChangeRow | null> {
    const [rows] = await this.mysql.main.execute<RowDataPacket[]>(
      `SELECT requested, delta, created_at FROM ${this.changes} WHERE template_id = ? AND request_id = ?`,
      [templateId, requestId]);
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /** Every change of the template by request id (operators make a handful), read on `conn` if given. */
  async all(conn: PoolConnection | undefined, templateId: string): Promise<Map<string, StockChangeRow>> {
    const [rows] = await (conn ?? this.mysql.main).execute<RowDataPacket[]>(
      `SELECT request_id, requested, delta, created_at FROM ${this.changes} WHERE template_id = ?`, [templateId]);
    return new Map(rows.map((r) => [String(r.request_id), fromRow(r)]));
  }

  /** Sub-stock count and readiness of a template, or null when there is no such template. */
  async facts(templateId: string, conn?: PoolConnection): Promise<StockFacts | null> {
    const [rows] = await (conn ?? this.mysql.main).execute<RowDataPacket[]>(
      `SELECT sub_stocks, stock_ready, type FROM ${this.templates} WHERE id = ?`, [templateId]);
    const r = rows[0];
    return r ? { subStocks: Number(r.sub_stocks), ready: Number(r.stock_ready) === 1, redPacket: r.type === 'red_packet' } : null;
  }

  /**
   * Stores a top-up on `conn` (inside the transaction that sets the new total); false when this
   * request id is already stored for the template.
   */
  async record(conn: PoolConnection, templateId: string, requestId: string, delta: number,
    totalAfter: number, now: number): Promise<boolean> {
    try {
      await conn.execute(`INSERT INTO ${this.changes} (template_id, request_id, requested, delta, total_after, created_at)
        VALUES (?, ?, ?, ?, ?, ?)`, [templateId, requestId, delta, delta, totalAfter, new Date(now)]);
      return true;
    } catch (err) {
      if (isDuplicate(err)) return false;
      throw err;
    }
  }

  /** Stores a reduction's request id before it takes anything (committed alone); false when the id is taken. */
  async claim(templateId: string, requestId: string, requested: number, now: number): Promise<boolean> {
    try {
      await this.mysql.main.execute(`INSERT INTO ${this.changes} (template_id, request_id, requested, created_at) VALUES (?, ?, ?, ?)`,
        [templateId, requestId, requested, new Date(now)]);
      return true;
    } catch (err) {
      if (isDuplicate(err)) return false;
      throw err;
    }
  }

  /** Completes a claimed reduction on `conn` with what it took; false when it was completed before. */
  async complete(conn: PoolConnection, templateId: string, requestId: string, delta: number, totalAfter: number): Promise<boolean> {
    const [r] = await conn.execute(`UPDATE ${this.changes} SET delta = ?, total_after = ?
      WHERE template_id = ? AND request_id = ? AND delta IS NULL`, [delta, totalAfter, templateId, requestId]);
    return (r as { affectedRows: number }).affectedRows === 1;
  }
}
