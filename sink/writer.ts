/**
 * The MySQL side of the sink: routes records to their shard table and writes one multi-row
 * idempotent INSERT per table (brief, section 2: batching is what breaks the ~4,000 writes/s
 * ceiling of one write per claim). Template fields are copied into each row so a reader never
 * joins across shards; templates are cached because the copied fields never change.
 */
import type { Pool } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import type { IssuanceRecord } from '../lua/record.ts';
import type { Log } from './log.ts';
import type { MysqlPools } from './mysql.ts';
import { retry } from './retry.ts';
import { mainDbName, shardDbName, shardOfCoupon, shardOfUser, shardTableName, type ShardLayout } from './shards.ts';

/** A decoded record and where it came from (its stream entry, for the ack). */
export interface Item {
  readonly partition: number;
  readonly id: string;
  readonly record: IssuanceRecord;
  /** The packed bytes, copied to the dead letters if MySQL refuses the row. */
  readonly raw: Buffer;
}

/** Records bound for one shard table. */
export interface ShardGroup {
  readonly db: number;
  readonly table: number;
  readonly items: Item[];
}

export interface Poison {
  readonly item: Item;
  readonly error: string;
}

export interface Plan {
  readonly groups: ShardGroup[];
  /** Records that can never be written: they go to the dead letters. */
  readonly poison: Poison[];
  /** Records whose template row is missing: left unacknowledged, to be retried later. */
  readonly deferred: Item[];
  readonly missingTemplates: string[];
}

interface TemplateFields {
  readonly name: string;
  readonly type: string;
  readonly value: number | string;
  readonly threshold: number | string | null;
  readonly maxDiscount: number | string | null;
  readonly validDays: number;
}

const DAY_MS = 86_400_000;
// Column widths of sink/schema.ts: a longer value would fail the whole multi-row INSERT.
const MAX_LEN = { couponId: 48, userId: 64, templateId: 64, requestId: 72 } as const;
// DATETIME(3) cannot hold years past 9999.
const MAX_DATETIME_MS = Date.UTC(9999, 11, 31);
const ASCII = /^[\x20-\x7e]*$/;
const TEMPLATE_CACHE_MAX = 100_000;

const COLUMNS = ['coupon_id', 'user_id', 'template_id', 'request_id', 'name', 'type', 'value', 'threshold',
  'max_discount', 'claimed_at', 'valid_from', 'valid_to', 'stream_id'];
const ROW_PLACEHOLDERS = `(${COLUMNS.map(() => '?').join(',')})`;
const COLUMN_LIST = COLUMNS.map((c) => `\`${c}\``).join(',');

/**
 * MySQL errors that are about the data of a row, which no retry can fix. Everything else
 * (connection, deadlock, missing table, syntax) is retried: a code or schema problem must
 * stall the sink loudly, not send every record to the dead letters.
 */
const ROW_ERRNOS = new Set([
  1048, // column cannot be null
  1264, // out of range
  1265, // data truncated
  1292, // incorrect datetime / truncated value
  1366, // incorrect string value
  1406, // data too long
]);

/** True when MySQL refused a row's data (the batch is split to find the row). */
export function isRowError(err: unknown): boolean {
  const errno = (err as { errno?: unknown } | null)?.errno;
  return typeof errno === 'number' && ROW_ERRNOS.has(errno);
}

export interface WriterOptions {
  readonly retryMaxMs: number;
  /** Aborted at shutdown: retries stop and the records stay pending. */
  readonly signal: AbortSignal;
  readonly log: Log;
}

export class ShardWriter {
  private readonly templates = new Map<string, TemplateFields>();
  private readonly layout: ShardLayout;
  private readonly mainDb: string;

  constructor(private readonly pools: MysqlPools, private readonly cfg: Config['mysql'], private readonly o: WriterOptions) {
    this.layout = { dbs: cfg.shardDbs, tables: cfg.shardTables };
    this.mainDb = mainDbName(cfg.dbPrefix);
  }

  /** Validates and routes a batch; loads missing templates (retrying while MySQL is down). */
  async plan(items: readonly Item[]): Promise<Plan> {
    await this.loadTemplates(items.map((i) => i.record.templateId));
    const groups = new Map<string, ShardGroup>();
    const poison: Poison[] = [];
    const deferred: Item[] = [];
    const missing = new Set<string>();
    for (const item of items) {
      const error = this.validate(item.record);
      if (error) {
        poison.push({ item, error });
        continue;
      }
      if (!this.templates.has(item.record.templateId)) {
        deferred.push(item);
        missing.add(item.record.templateId);
        continue;
      }
      const s = shardOfUser(this.layout, item.record.userId);
      const key = `${s.db}.${s.table}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { db: s.db, table: s.table, items: [] }));
      g.items.push(item);
    }
    return { groups: [...groups.values()], poison, deferred, missingTemplates: [...missing] };
  }

  /** Why a record can never be stored, or undefined when it is fine. */
  private validate(r: IssuanceRecord): string | undefined {
    for (const [field, max] of Object.entries(MAX_LEN)) {
      const v = r[field as keyof typeof MAX_LEN];
      if (v.length === 0 || v.length > max) return `${field} length ${v.length} is outside 1..${max}`;
      if (!ASCII.test(v)) return `${field} is not printable ASCII`;
    }
    if (!Number.isSafeInteger(r.claimedAtMs) || r.claimedAtMs < 0 || r.claimedAtMs > MAX_DATETIME_MS) {
      return `claimedAtMs ${r.claimedAtMs} is not a valid time`;
    }
    // the id's shard and the user's shard must agree, or a lookup by coupon id misses the row.
    const byUser = shardOfUser(this.layout, r.userId);
    const byCoupon = shardOfCoupon(this.layout, r.couponId);
    if (!byCoupon) return `coupon id ${r.couponId} does not name a shard of this layout`;
    if (byCoupon.db !== byUser.db || byCoupon.table !== byUser.table) {
      return `coupon id ${r.couponId} names shard ${byCoupon.db}.${byCoupon.table} but user ${r.userId} ` +
        `belongs to ${byUser.db}.${byUser.table}`;
    }
    return undefined;
  }

  private async loadTemplates(ids: readonly string[]): Promise<void> {
    const wanted = [...new Set(ids)].filter((id) => !this.templates.has(id));
    if (wanted.length === 0) return;
    const rows = await retry(async () => {
      const [r] = await this.pools.main.query(
        `SELECT id, name, type, value, threshold, max_discount, valid_days FROM \`${this.mainDb}\`.coupon_template WHERE id IN (?)`,
        [wanted]);
      return r as Record<string, unknown>[];
    }, this.retryOptions('template-load', 'loading templates'));
    if (this.templates.size + rows.length > TEMPLATE_CACHE_MAX) this.templates.clear();
    for (const row of rows) {
      this.templates.set(String(row.id), {
        name: String(row.name),
        type: String(row.type),
        value: row.value as number | string,
        threshold: (row.threshold ?? null) as number | string | null,
        maxDiscount: (row.max_discount ?? null) as number | string | null,
        validDays: Number(row.valid_days),
      });
    }
  }

  /**
   * Writes one shard table's records: one INSERT, retried with backoff on MySQL errors. A
   * refused row is found by splitting the batch in halves and is returned as poison.
   */
  async insert(group: ShardGroup): Promise<{ written: Item[]; poison: Poison[] }> {
    const out = { written: [] as Item[], poison: [] as Poison[] };
    const pool = this.pools.forDb(group.db);
    const target = `\`${shardDbName(this.cfg.dbPrefix, group.db)}\`.\`${shardTableName(group.table)}\``;
    await this.insertOrSplit(pool, target, group.items, out);
    return out;
  }

  private async insertOrSplit(pool: Pool, target: string, items: readonly Item[],
    out: { written: Item[]; poison: Poison[] }): Promise<void> {
    try {
      await retry(() => this.insertRows(pool, target, items), {
        ...this.retryOptions(`insert-${target}`, `insert into ${target}`),
        isPermanent: isRowError,
      });
      out.written.push(...items);
    } catch (err) {
      if (!isRowError(err)) throw err;
      if (items.length === 1) {
        out.poison.push({ item: items[0]!, error: `MySQL refused the row: ${(err as Error).message}` });
        return;
      }
      const half = Math.ceil(items.length / 2);
      await this.insertOrSplit(pool, target, items.slice(0, half), out);
      await this.insertOrSplit(pool, target, items.slice(half), out);
    }
  }

  private async insertRows(pool: Pool, target: string, items: readonly Item[]): Promise<void> {
    const params: unknown[] = [];
    for (const { id, record: r } of items) {
      const t = this.templates.get(r.templateId)!;
      const claimedAt = new Date(r.claimedAtMs);
      params.push(r.couponId, r.userId, r.templateId, r.requestId, t.name, t.type, t.value, t.threshold,
        t.maxDiscount, claimedAt, claimedAt, new Date(r.claimedAtMs + t.validDays * DAY_MS), id);
    }
    // ON DUPLICATE KEY keeps redelivery idempotent while still failing on any other error,
    // which INSERT IGNORE would turn into a warning and a silently missing row.
    await pool.query(`INSERT INTO ${target} (${COLUMN_LIST}) VALUES ${items.map(() => ROW_PLACEHOLDERS).join(',')} ` +
      'ON DUPLICATE KEY UPDATE coupon_id = coupon_id', params);
  }

  private retryOptions(key: string, what: string) {
    return {
      maxMs: this.o.retryMaxMs,
      signal: this.o.signal,
      onError: (err: unknown, attempt: number, delay: number) =>
        this.o.log.error(key, `${what} failed (attempt ${attempt}, retrying in ${delay} ms)`, err),
    };
  }
}
