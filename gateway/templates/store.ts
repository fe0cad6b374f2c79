/**
 * Templates in MySQL (source of truth, <prefix>_main.coupon_template) and their live copy plus
 * sub-stocks in Redis. Create writes MySQL first, then Redis; the Redis steps are idempotent, so
 * a create that failed half-way is completed by the next attempt instead of being left broken.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Config } from '../../config/index.ts';
import { type KeySpace, stockKey, templateKey } from '../../lua/keys.ts';
import type { RedisClient } from '../../lua/client.ts';
import type { MysqlPools } from '../../sink/mysql.ts';
import { mainDbName } from '../../sink/shards.ts';
import { subStockShare, type Template } from './model.ts';

export interface StockView {
  readonly total: number;
  readonly remaining: number;
  readonly issued: number;
}

const COLUMNS = 'id, name, type, value, threshold, max_discount, total_stock, per_user_limit, sub_stocks, ' +
  'claim_start, claim_end, valid_days, status, version, created_at, updated_at';

const ms = (d: Date | null) => (d === null ? null : d.getTime());
const num = (v: unknown) => (v === null ? null : Number(v));

function fromRow(r: RowDataPacket): Template {
  return {
    id: r.id, name: r.name, type: r.type, value: Number(r.value), threshold: num(r.threshold),
    maxDiscount: num(r.max_discount), totalStock: Number(r.total_stock), perUserLimit: r.per_user_limit,
    subStocks: r.sub_stocks, claimStart: ms(r.claim_start), claimEnd: ms(r.claim_end), validDays: r.valid_days,
    status: r.status, version: Number(r.version), createdAt: r.created_at.getTime(),
  };
}

export class TemplateStore {
  private readonly table: string;
  constructor(private readonly redis: RedisClient, private readonly mysql: MysqlPools,
    private readonly ks: KeySpace, cfg: Config['mysql']) {
    this.table = `\`${mainDbName(cfg.dbPrefix)}\`.coupon_template`;
  }

  /** Stores a new template; `created` is false when the id was taken (the stored one is returned). */
  async create(t: Template): Promise<{ created: boolean; template: Template }> {
    const d = (v: number | null) => (v === null ? null : new Date(v));
    try {
      await this.mysql.main.execute(
        `INSERT INTO ${this.table} (${COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
        [t.id, t.name, t.type, t.value, t.threshold, t.maxDiscount, t.totalStock, t.perUserLimit, t.subStocks,
          d(t.claimStart), d(t.claimEnd), t.validDays, t.status, t.version, d(t.createdAt), d(t.createdAt)]);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ER_DUP_ENTRY') throw err;
      const existing = await this.get(t.id);
      if (!existing) throw err;
      await this.publish(existing);
      return { created: false, template: existing };
    }
    await this.publish(t);
    return { created: true, template: t };
  }

  /** Reads a template from MySQL. */
  async get(id: string): Promise<Template | null> {
    const [rows] = await this.mysql.main.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM ${this.table} WHERE id = ?`, [id]);
    return rows.length === 0 ? null : fromRow(rows[0]!);
  }

  /** Reads the live copy from Redis (what gateways cache). */
  async getLive(id: string): Promise<Template | null> {
    const raw = await this.redis.get(templateKey(this.ks, id));
    return raw === null ? null : (JSON.parse(raw) as Template);
  }

  /** Sums the sub-stocks in Redis; a missing sub-stock key is reported as an error, not as 0. */
  async stock(t: Template): Promise<StockView> {
    const values = await Promise.all(
      Array.from({ length: t.subStocks }, (_, k) => this.redis.get(stockKey(this.ks, t.id, k))));
    if (values.some((v) => v === null)) throw new Error(`template ${t.id} has sub-stock keys missing in Redis`);
    const remaining = values.reduce((s, v) => s + Number(v), 0);
    return { total: t.totalStock, remaining, issued: t.totalStock - remaining };
  }

  /** Creates the sub-stocks (only where absent) and then the live copy, which makes it claimable. */
  private async publish(t: Template): Promise<void> {
    await Promise.all(Array.from({ length: t.subStocks }, (_, k) =>
      this.redis.set(stockKey(this.ks, t.id, k), subStockShare(t.totalStock, t.subStocks, k), 'NX')));
    await this.redis.set(templateKey(this.ks, t.id), JSON.stringify(t));
  }
}
