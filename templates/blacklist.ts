/**
 * The global blacklist (brief, section 2): categories and products no coupon applies to,
 * whatever its own scope says. Stored in MySQL next to the templates; checkout reads it.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import { inTransaction, type MysqlPools } from '../core/mysql.ts';
import { mainDbName } from '../core/shards.ts';

export interface Blacklist {
  readonly categories: readonly string[];
  readonly products: readonly string[];
}

const KINDS = { categories: 'category', products: 'product' } as const;

export class BlacklistStore {
  private readonly table: string;
  constructor(private readonly mysql: MysqlPools, cfg: Config['mysql']) {
    this.table = `\`${mainDbName(cfg.dbPrefix)}\`.coupon_global_blacklist`;
  }

  /** The whole list, each part sorted. */
  async get(): Promise<Blacklist> {
    const [rows] = await this.mysql.main.query<RowDataPacket[]>(`SELECT kind, item_id FROM ${this.table} ORDER BY kind, item_id`);
    const of = (kind: string) => rows.filter((r) => r.kind === kind).map((r) => String(r.item_id));
    return { categories: of(KINDS.categories), products: of(KINDS.products) };
  }

  /** Replaces the whole list in one transaction (readers see the old or the new list, never a mix). */
  async replace(list: Blacklist): Promise<void> {
    const rows = [
      ...list.categories.map((id) => [KINDS.categories, id]),
      ...list.products.map((id) => [KINDS.products, id]),
    ];
    await inTransaction(this.mysql.main, async (conn) => {
      await conn.query(`DELETE FROM ${this.table}`);
      if (rows.length > 0) await conn.query(`INSERT INTO ${this.table} (kind, item_id) VALUES ?`, [rows]);
    });
  }
}
