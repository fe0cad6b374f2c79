/**
 * The MySQL side of operator stock changes: one `coupon_stock_change` row per (template,
 * request id), written in the same transaction as the new total, so a change is counted once
 * however often it is retried; and the stock facts of a template that a change needs first.
 */
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Config } from '../../config/index.ts';
import type { MysqlPools } from '../../sink/mysql.ts';
import { mainDbName } from '../../sink/shards.ts';

/** A stored stock change. */
export interface StockChangeRow {
  /** Change of total_stock it applied (negative: a reduction). */
  readonly delta: number;
  readonly totalAfter: number;
  /** Epoch ms. */
  readonly createdAt: number;
}

/** What a stock change must know about a template before touching Redis. */
export interface StockFacts {
  readonly subStocks: number;
  /** False until the create has put the sub-stocks in Redis. */
  readonly ready: boolean;
}

const fromRow = (r: RowDataPacket): StockChangeRow =>
  ({ delta: Number(r.delta), totalAfter: Number(r.total_after), createdAt: (r.created_at as Date).getTime() });

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
      `SELECT delta, total_after, created_at FROM ${this.changes} WHERE template_id = ? AND request_id = ?`,
      [templateId, requestId]);
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /** Every change of the template by request id (operators make a handful), read on `conn` if given. */
  async all(conn: PoolConnection | undefined, templateId: string): Promise<Map<string, StockChangeRow>> {
    const [rows] = await (conn ?? this.mysql.main).execute<RowDataPacket[]>(
      `SELECT request_id, delta, total_after, created_at FROM ${this.changes} WHERE template_id = ?`, [templateId]);
    return new Map(rows.map((r) => [String(r.request_id), fromRow(r)]));
  }

  /** Sub-stock count and readiness of a template, or null when there is no such template. */
  async facts(templateId: string, conn?: PoolConnection): Promise<StockFacts | null> {
    const [rows] = await (conn ?? this.mysql.main).execute<RowDataPacket[]>(
      `SELECT sub_stocks, stock_ready FROM ${this.templates} WHERE id = ?`, [templateId]);
    const r = rows[0];
    return r ? { subStocks: Number(r.sub_stocks), ready: Number(r.stock_ready) === 1 } : null;
  }

  /**
   * Stores the change on `conn` (inside the transaction that sets the new total); false when
   * this request id is already stored for the template.
   */
  async record(conn: PoolConnection, templateId: string, requestId: string, delta: number,
    totalAfter: number, now: number): Promise<boolean> {
    try {
      await conn.execute(
        `INSERT INTO ${this.changes} (template_id, request_id, delta, total_after, created_at) VALUES (?, ?, ?, ?, ?)`,
        [templateId, requestId, delta, totalAfter, new Date(now)]);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'ER_DUP_ENTRY') return false;
      throw err;
    }
  }
}
