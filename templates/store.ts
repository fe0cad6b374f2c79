/**
 * Templates in MySQL (`<prefix>_main.coupon_template`), the source of truth. Every write goes
 * to MySQL first and is then published to Redis (live.ts); the Redis steps are idempotent and
 * version-guarded, so a call that failed half-way is completed by its retry.
 */
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import { inTransaction, type MysqlPools } from '../core/mysql.ts';
import { mainDbName } from '../core/shards.ts';
import { ApiError } from '../core/errors.ts';
import type { LiveTemplates } from './live.ts';
import { ALL_PRODUCTS, type Scope, type Template, type TemplateStatus } from './model.ts';
import type { Patch } from './rules.ts';

const FIELDS = ['id', 'name', 'type', 'value', 'threshold', 'max_discount', 'budget', 'min_amount', 'total_stock', 'per_user_limit',
  'sub_stocks', 'claim_start', 'claim_end', 'valid_days', 'valid_from', 'valid_to', 'scope', 'stackable',
  'audience', 'status', 'version', 'created_at', 'updated_at'];
const COLUMNS = FIELDS.join(', ');
const UPDATABLE = FIELDS.filter((f) => f !== 'id' && f !== 'created_at');

const ms = (d: Date | null) => (d === null ? null : d.getTime());
const num = (v: unknown) => (v === null ? null : Number(v));
const date = (v: number | null) => (v === null ? null : new Date(v));

function fromRow(r: RowDataPacket): Template {
  return {
    id: r.id, name: r.name, type: r.type, value: Number(r.value), threshold: num(r.threshold),
    maxDiscount: num(r.max_discount), budget: num(r.budget), minAmount: num(r.min_amount), totalStock: Number(r.total_stock), perUserLimit: r.per_user_limit,
    subStocks: r.sub_stocks, claimStart: ms(r.claim_start), claimEnd: ms(r.claim_end),
    validDays: num(r.valid_days), validFrom: ms(r.valid_from), validTo: ms(r.valid_to),
    scope: { ...ALL_PRODUCTS, ...(JSON.parse(r.scope) as Partial<Scope>) }, stackable: r.stackable === 1,
    audience: r.audience === null ? null : (JSON.parse(r.audience) as string[]),
    status: r.status, version: Number(r.version), createdAt: r.created_at.getTime(), updatedAt: r.updated_at.getTime(),
  };
}

type Cell = string | number | Date | null;

/** Column values of a template by column name. */
function toRow(t: Template): Record<string, Cell> {
  return {
    id: t.id, name: t.name, type: t.type, value: t.value, threshold: t.threshold, max_discount: t.maxDiscount,
    budget: t.budget ?? null, min_amount: t.minAmount ?? null,
    total_stock: t.totalStock, per_user_limit: t.perUserLimit, sub_stocks: t.subStocks,
    claim_start: date(t.claimStart), claim_end: date(t.claimEnd), valid_days: t.validDays,
    valid_from: date(t.validFrom), valid_to: date(t.validTo), scope: JSON.stringify(t.scope),
    stackable: t.stackable ? 1 : 0, audience: t.audience === null ? null : JSON.stringify(t.audience),
    status: t.status, version: t.version, created_at: date(t.createdAt), updated_at: date(t.updatedAt),
  };
}

export interface TemplatePage {
  readonly templates: Template[];
  /** Id to pass as the next cursor, or null on the last page. */
  readonly next: string | null;
}

export class TemplateStore {
  readonly table: string;
  constructor(private readonly mysql: MysqlPools, readonly live: LiveTemplates, cfg: Config['mysql']) {
    this.table = `\`${mainDbName(cfg.dbPrefix)}\`.coupon_template`;
  }

  /**
   * Stores a new template and makes it live; `created` is false when the id was taken (the
   * stored one is returned). A create that failed before its stock was in Redis (stock_ready
   * still 0) is completed by the retry; a live template's stock is never initialised again.
   */
  async create(t: Template): Promise<{ created: boolean; template: Template }> {
    const row = toRow(t);
    let created = true;
    try {
      await this.mysql.main.execute(`INSERT INTO ${this.table} (${COLUMNS}, stock_ready) VALUES (${FIELDS.map(() => '?').join(',')}, 0)`,
        FIELDS.map((f) => row[f] ?? null));
    } catch (err) {
      if ((err as { code?: string }).code !== 'ER_DUP_ENTRY') throw err;
      created = false;
    }
    const [rows] = await this.mysql.main.execute<RowDataPacket[]>(
      `SELECT ${COLUMNS}, stock_ready FROM ${this.table} WHERE id = ?`, [t.id]);
    const stored = fromRow(rows[0]!);
    if (rows[0]!.stock_ready === 0) {
      await this.live.initStock(stored);
      await this.mysql.main.execute(`UPDATE ${this.table} SET stock_ready = 1 WHERE id = ?`, [t.id]);
    }
    await this.live.publish(stored);
    return { created, template: stored };
  }

  /** Reads a template from MySQL. */
  async get(id: string): Promise<Template | null> {
    const [rows] = await this.mysql.main.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM ${this.table} WHERE id = ?`, [id]);
    return rows.length === 0 ? null : fromRow(rows[0]!);
  }

  /** One page of templates ordered by id, after `cursor`, optionally of one status. */
  async list(status: TemplateStatus | undefined, cursor: string | undefined, limit: number): Promise<TemplatePage> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (status !== undefined) { where.push('status = ?'); args.push(status); }
    if (cursor !== undefined) { where.push('id > ?'); args.push(cursor); }
    const [rows] = await this.mysql.main.query<RowDataPacket[]>(
      `SELECT ${COLUMNS} FROM ${this.table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`,
      [...args, limit + 1]);
    const templates = rows.slice(0, limit).map(fromRow);
    return { templates, next: rows.length > limit ? templates[templates.length - 1]!.id : null };
  }

  /** Every template whose claim window has not ended (what gateways reload periodically). */
  async current(now: number): Promise<Template[]> {
    const [rows] = await this.mysql.main.query<RowDataPacket[]>(
      `SELECT ${COLUMNS} FROM ${this.table} WHERE claim_end IS NULL OR claim_end > ?`, [new Date(now)]);
    return rows.map(fromRow);
  }

  /** Applies a live change in one transaction (new version), then publishes it. */
  async update(id: string, patch: Patch, now: number): Promise<Template> {
    const t = await this.change(id, async (current) => {
      if (patch.expectVersion !== undefined && patch.expectVersion !== current.version) {
        throw new ApiError('version_conflict', `template is at version ${current.version}, not ${patch.expectVersion}`);
      }
      return patch.apply(current);
    }, now);
    await this.live.publish(t);
    return t;
  }

  /**
   * Locks the row, lets `f` compute the next state (it may also write other rows on `conn`),
   * stores it with the next version and commits. Throws template_not_found for an unknown id.
   */
  async change(id: string, f: (t: Template, conn: PoolConnection) => Promise<Template>, now: number): Promise<Template> {
    return inTransaction(this.mysql.main, async (conn) => {
      const [rows] = await conn.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM ${this.table} WHERE id = ? FOR UPDATE`, [id]);
      if (rows.length === 0) throw new ApiError('template_not_found');
      const current = fromRow(rows[0]!);
      const next: Template = { ...(await f(current, conn)), version: current.version + 1, updatedAt: now };
      const row = toRow(next);
      await conn.execute(`UPDATE ${this.table} SET ${UPDATABLE.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`,
        [...UPDATABLE.map((c) => row[c] ?? null), id]);
      return next;
    });
  }
}
