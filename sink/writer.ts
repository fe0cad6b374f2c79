/**
 * The MySQL side of the sink: routes records to their shard table and writes one multi-row
 * idempotent INSERT per table (brief, section 2: batching is what breaks the ~4,000 writes/s
 * ceiling of one write per claim). Template fields are copied into each row so a reader never
 * joins across shards. Templates are cached: the money and use-window fields never change after
 * creation; only the display name can, and a cached row is re-read after TEMPLATE_TTL_MS.
 */
import { type Pool, raw, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import type { IssuanceRecord } from '../lua/record.ts';
import type { Item, Poison } from './entries.ts';
import type { Log } from './log.ts';
import type { MysqlPools } from '../core/mysql.ts';
import { insertHead, reminderHead, RowText, type TemplateSql } from './insert-sql.ts';
import { reminderTableName } from '../core/schema.ts';
import { retry } from './retry.ts';
import { ALWAYS_UP, type Reachability, ServerDown } from './server-health.ts';
import { mainDbName, type Shard, shardDbName, shardOfCoupon, shardOfUser, shardTableName, type ShardLayout } from '../core/shards.ts';


/** Records bound for one shard table, with the template fields their rows copy. */
export interface ShardGroup {
  readonly db: number;
  readonly table: number;
  readonly items: Item[];
  // A snapshot taken when planning: the cache may drop entries while this group is written.
  readonly templates: Map<string, TemplateFields>;
}

export interface Plan {
  readonly groups: ShardGroup[];
  /** Records that can never be written: they go to the dead letters. */
  readonly poison: Poison[];
  /** Records whose template row is missing: left unacknowledged, to be retried later. */
  readonly deferred: Item[];
  readonly missingTemplates: string[];
  /** Records whose server (or the templates' server) is down: left pending until it answers. */
  readonly unreachable: Item[];
}

interface TemplateFields {
  /** The fields as SQL literals, written once per load. */
  readonly sql: TemplateSql;
  readonly loadedAt: number;
}

// Column widths of core/schema.ts: a longer value would fail the whole multi-row INSERT.
const MAX_LEN = [['couponId', 48], ['userId', 64], ['templateId', 64], ['requestId', 72]] as const;
// DATETIME(3) cannot hold years past 9999.
const MAX_DATETIME_MS = Date.UTC(9999, 11, 31);
const ASCII = /^[\x20-\x7e]*$/;
const TEMPLATE_CACHE_MAX = 100_000;
// A renamed template shows its new name on rows written at most this long after the change.
const TEMPLATE_TTL_MS = 60_000;

// A redelivered record meets its own row: nothing changes. A different claim with the same
// id (only if a coupon sequence ever went backwards) bumps `conflicts`, which mysql2's
// found-rows counting reports as one extra affected row: detected, never silent.
// INSERT IGNORE would also turn every other error into a warning and a missing row.
const ON_DUPLICATE = ' ON DUPLICATE KEY UPDATE conflicts = conflicts + ' +
  'IF(user_id <=> VALUES(user_id) AND request_id <=> VALUES(request_id), 0, 1)';
// A redelivered record files its coupon again: the row is already there, nothing changes.
const ON_DUPLICATE_REMINDER = ' ON DUPLICATE KEY UPDATE coupon_id = coupon_id';

export interface WriterOptions {
  readonly retryMaxMs: number;
  /** A query slower than this fails and is retried on a fresh connection (writes are idempotent). */
  readonly queryTimeoutMs: number;
  /** A record whose template row is still missing this long after its claim is dead-lettered. */
  readonly templateWaitMs: number;
  /** Aborted at shutdown: retries stop and the records stay pending. */
  readonly signal: AbortSignal;
  readonly log: Log;
  /** Servers marked down are not written; their records are returned as unreachable (default: never down). */
  readonly health?: Reachability;
}

export class ShardWriter {
  private readonly templates = new Map<string, TemplateFields>();
  private readonly rowText = new RowText();
  private readonly layout: ShardLayout;
  private readonly mainDb: string;
  private readonly health: Reachability;

  constructor(private readonly pools: MysqlPools, private readonly cfg: Config['mysql'], private readonly o: WriterOptions) {
    this.layout = { dbs: cfg.shardDbs, tables: cfg.shardTables };
    this.mainDb = mainDbName(cfg.dbPrefix);
    this.health = o.health ?? ALWAYS_UP;
  }

  /**
   * Validates and routes a batch; loads missing templates (retrying while MySQL is down, unless
   * ServerHealth marks the main server down: then cached templates serve, stale or not).
   */
  async plan(items: readonly Item[]): Promise<Plan> {
    const templatesRead = await this.loadTemplates(items);
    const groups = new Map<number, ShardGroup>();
    const poison: Poison[] = [];
    const deferred: Item[] = [];
    const unreachable: Item[] = [];
    const missing = new Set<string>();
    for (const item of items) {
      const s = this.route(item.record);
      if (typeof s === 'string') {
        poison.push({ item, error: s });
        continue;
      }
      if (this.health.isDown(this.pools.forDb(s.db))) {
        unreachable.push(item);
        continue;
      }
      const template = this.templates.get(item.record.templateId);
      if (!template) {
        // Normally the row lands moments later; a template that never appears must not pin
        // the stream (trimming stops at the oldest pending entry) for ever.
        if (!templatesRead) {
          unreachable.push(item);
        } else if (Date.now() - item.record.claimedAtMs > this.o.templateWaitMs) {
          poison.push({ item, error: `template ${item.record.templateId} has no row in coupon_template` });
        } else {
          deferred.push(item);
          missing.add(item.record.templateId);
        }
        continue;
      }
      const key = s.db * this.layout.tables + s.table;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { db: s.db, table: s.table, items: [], templates: new Map() }));
      g.items.push(item);
      g.templates.set(item.record.templateId, template);
    }
    return { groups: [...groups.values()], poison, deferred, missingTemplates: [...missing], unreachable };
  }

  /** The record's shard table, or why the record can never be stored. */
  private route(r: IssuanceRecord): Shard | string {
    for (const [field, max] of MAX_LEN) {
      const v = r[field];
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
    return byUser;
  }

  /** Loads the templates not cached or stale; false when the main server is down (nothing read). */
  private async loadTemplates(items: readonly Item[]): Promise<boolean> {
    const now = Date.now();
    const fresh = (id: string) => (this.templates.get(id)?.loadedAt ?? -Infinity) > now - TEMPLATE_TTL_MS;
    const ids = new Set<string>();
    for (const i of items) ids.add(i.record.templateId);
    const wanted = [...ids].filter((id) => !fresh(id));
    if (wanted.length === 0) return true;
    const main = this.pools.main;
    if (this.health.isDown(main)) return false;
    let rows: Record<string, unknown>[];
    try {
      rows = await retry(async () => {
        const [r] = await main.query({
          sql: `SELECT id, name, type, value, threshold, max_discount, valid_days, valid_from, valid_to FROM \`${this.mainDb}\`.coupon_template WHERE id IN (?)`,
          timeout: this.o.queryTimeoutMs,
        }, [wanted]);
        return r as Record<string, unknown>[];
      }, this.retryOptions('template-load', 'loading templates', main));
    } catch (err) {
      if (this.health.isDown(main)) return false;
      throw err;
    }
    if (this.templates.size + rows.length > TEMPLATE_CACHE_MAX) this.templates.clear();
    for (const row of rows) {
      const sql = this.rowText.template({
        id: String(row.id),
        name: String(row.name),
        type: String(row.type),
        value: row.value as number | string,
        threshold: (row.threshold ?? null) as number | string | null,
        maxDiscount: (row.max_discount ?? null) as number | string | null,
        validFrom: (row.valid_from ?? null) as Date | null,
        validTo: (row.valid_to ?? null) as Date | null,
        validDays: row.valid_days === null ? null : Number(row.valid_days),
      });
      this.templates.set(String(row.id), { sql, loadedAt: now });
    }
    return true;
  }

  /**
   * Writes one shard table's records: one INSERT, then one into its reminder table (each coupon
   * filed under its expiry day), retried together with backoff on any MySQL error: records are
   * acked only after both, so a crash between them is repaired by redelivery.
   * route() already holds every value to its column, so a refusal here means the schema
   * or the server is wrong: the sink stalls loudly instead of emptying into the dead letters.
   * A record whose coupon id is already stored for another claim is returned as poison.
   * Throws ServerDown, without retrying in place, once ServerHealth marks the server down.
   */
  async insert(group: ShardGroup): Promise<{ written: Item[]; poison: Poison[] }> {
    const pool = this.pools.forDb(group.db);
    const db = shardDbName(this.cfg.dbPrefix, group.db);
    const target = `\`${db}\`.\`${shardTableName(group.table)}\``;
    const reminders = `\`${db}\`.\`${reminderTableName(group.table)}\``;
    let foreign: Set<string>;
    try {
      const collisions = await retry(() => this.insertRows(pool, target, reminders, group),
        this.retryOptions(`insert-${target}`, `insert into ${target}`, pool));
      if (collisions === 0) return { written: group.items, poison: [] };
      foreign = await retry(() => this.foreignRows(pool, target, group.items),
        this.retryOptions(`collision-${target}`, `collision check of ${target}`, pool));
    } catch (err) {
      throw this.health.isDown(pool) ? new ServerDown(this.health.serverOf(pool)) : err;
    }
    const error = 'coupon id already stored for another claim (its row keeps the first; see conflicts)';
    return {
      written: group.items.filter((i) => !foreign.has(i.record.couponId)),
      poison: group.items.filter((i) => foreign.has(i.record.couponId)).map((item) => ({ item, error })),
    };
  }

  /**
   * Inserts the rows and files them; returns how many met an existing row of another claim. Such
   * a record is filed too (under its own day): harmless, the listing reads the coupon row itself.
   */
  private async insertRows(pool: Pool, target: string, reminders: string, group: ShardGroup): Promise<number> {
    const rows = new Array<string>(group.items.length);
    const filed = new Array<string>(group.items.length);
    for (let i = 0; i < rows.length; i++) {
      const { entry, record: r } = group.items[i]!;
      const t = group.templates.get(r.templateId)!.sql;
      rows[i] = this.rowText.row(r.couponId, r.userId, r.requestId, entry.id, r.amount, r.claimedAtMs, t);
      filed[i] = this.rowText.reminder(r.couponId, r.claimedAtMs, t);
    }
    // The rows are literals already. Passed as raw(), mysql2 neither escapes them nor scans them
    // for placeholders: it scans a query without values too, which cost 3 µs more per row
    // (bench/insert-compare.ts, text vs text-whole).
    const [res] = await pool.query<ResultSetHeader>({
      sql: `${insertHead(target)}?${ON_DUPLICATE}`, timeout: this.o.queryTimeoutMs,
    }, [raw(rows.join(','))]);
    await pool.query({ sql: `${reminderHead(reminders)}?${ON_DUPLICATE_REMINDER}`, timeout: this.o.queryTimeoutMs },
      [raw(filed.join(','))]);
    return res.affectedRows - group.items.length;
  }

  /** Coupon ids of `items` whose stored row belongs to another claim. */
  private async foreignRows(pool: Pool, target: string, items: readonly Item[]): Promise<Set<string>> {
    const [rows] = await pool.query<RowDataPacket[]>({
      sql: `SELECT coupon_id, user_id, request_id FROM ${target} WHERE coupon_id IN (?)`, timeout: this.o.queryTimeoutMs,
    }, [items.map((i) => i.record.couponId)]);
    const stored = new Map(rows.map((r) => [String(r.coupon_id), `${r.user_id}|${r.request_id}`]));
    return new Set(items.filter((i) => stored.get(i.record.couponId) !== `${i.record.userId}|${i.record.requestId}`)
      .map((i) => i.record.couponId));
  }

  /** Retries in place, except a connection failure that marks `pool`'s server down. */
  private retryOptions(key: string, what: string, pool: Pool) {
    return {
      maxMs: this.o.retryMaxMs,
      signal: this.o.signal,
      giveUp: (err: unknown) => this.health.isDown(pool) || this.health.markDown(pool, err),
      onError: (err: unknown, attempt: number, delay: number) =>
        this.o.log.error(key, `${what} failed (attempt ${attempt}, retrying in ${delay} ms)`, err),
    };
  }
}
