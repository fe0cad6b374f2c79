/**
 * Reads what Redis and MySQL hold for the drill's templates once traffic has drained: coupon
 * rows, remaining stock, pending reservations, dead letters, the sink's backlog.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/index.ts';
import { createRedis, type RedisClient, waitReady } from '../lua/client.ts';
import { budgetKey, deadKey, type KeySpace, pendingKey, reconcileLeaseKey, reconcileRunKey, releasedKey, stockKey, streamKey } from '../lua/keys.ts';
import { decodeEntry } from '../lua/record.ts';
import { storedCoupons } from '../tools/verify/facts.ts';
import { totalBacklog } from '../lua/backlog.ts';
import { type MysqlPools, openMysql } from '../core/mysql.ts';
import { dropSchema, ensureSchema } from '../core/schema.ts';
import { shardDbName, shardOfCoupon, shardTableName } from '../core/shards.ts';
import type { StoredCheckout } from './checkout-check.ts';
import type { CouponRow, StockFacts } from './facts.ts';

type Row<K extends keyof StoredCheckout> = StoredCheckout[K][number];

/** A drill template as the probe needs it: where its sub-stocks are. */
export interface ProbedTemplate {
  readonly id: string;
  readonly subStocks: number;
  /** Set for a red packet: its sub-stocks' budgets are read too. */
  readonly budget?: number | null;
}

export class Probe {
  private readonly ks: KeySpace;

  private constructor(private readonly cfg: Config, private readonly redis: RedisClient, private readonly mysql: MysqlPools) {
    this.ks = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
  }

  /** Connects to the drill's Redis and MariaDB. */
  static async open(cfg: Config): Promise<Probe> {
    // queued while Redis restarts, and patient: the probe reads whole streams.
    const redis = createRedis({ ...cfg.redis, commandTimeoutMs: 5_000 }, { offlineQueue: true, name: 'drill-probe' });
    redis.on('error', () => undefined); // reconnects by itself; the drill kills Redis on purpose
    await waitReady(redis, 10_000);
    return new Probe(cfg, redis, openMysql(cfg.mysql));
  }

  /** Drops and recreates the drill's databases: every run starts from empty tables. */
  async resetSchema(): Promise<void> {
    await dropSchema(this.mysql, this.cfg.mysql);
    await ensureSchema(this.mysql, this.cfg.mysql);
  }

  /** Unacknowledged records over all partitions. */
  backlog(): Promise<number> {
    return totalBacklog(this.redis, this.ks, this.cfg.redis.streamGroup);
  }

  /** Polls until the backlog is 0 or `boundMs` passed; the backlog left (-1: Redis never answered). */
  async waitDrained(boundMs: number): Promise<{ backlog: number; ms: number }> {
    const start = Date.now();
    let backlog = -1;
    while (Date.now() - start < boundMs) {
      try {
        backlog = await this.backlog();
        if (backlog === 0) break;
      } catch {
        // Redis may still be coming back: keep polling within the bound.
      }
      await sleep(100);
    }
    return { backlog, ms: Date.now() - start };
  }

  /** Entries delivered to `consumer` and not acknowledged, over all partitions. */
  async pendingOf(consumer: string): Promise<number> {
    let n = 0;
    for (let p = 0; p < this.ks.partitions; p++) {
      const [, , , consumers] = await this.redis.xpending(streamKey(this.ks, p), this.cfg.redis.streamGroup) as
        [number, string | null, string | null, [string, string][] | null];
      for (const [name, count] of consumers ?? []) if (name === consumer) n += Number(count);
    }
    return n;
  }

  /** The sink consumer holding the work lease (reconciler and grant jobs), if any. */
  leaseHolder(): Promise<string | null> {
    return this.redis.get(reconcileLeaseKey(this.ks));
  }

  /** The run ids the reconciler recorded as repaired (lua/fenced.ts opens the fence to them), comma-separated. */
  repairedRuns(): Promise<string | null> {
    return this.redis.get(reconcileRunKey(this.ks));
  }

  /** Which shard database a coupon id routes to (undefined for an id that is not ours). */
  dbOfCoupon(couponId: string): number | undefined {
    return shardOfCoupon({ dbs: this.cfg.mysql.shardDbs, tables: this.cfg.mysql.shardTables }, couponId)?.db;
  }

  /** The coupon ids of these templates stored in shard database `db` (its server alone is asked). */
  async couponsInDb(db: number, templateIds: readonly string[]): Promise<Set<string>> {
    const m = this.cfg.mysql;
    const ids = new Set<string>();
    for (let t = 0; t < m.shardTables; t++) {
      const [rows] = await this.mysql.forDb(db).query(`SELECT coupon_id FROM \`${shardDbName(m.dbPrefix, db)}\`.\`${shardTableName(t)}\`
        WHERE template_id IN (?)`, [templateIds]);
      for (const r of rows as { coupon_id: string }[]) ids.add(String(r.coupon_id));
    }
    return ids;
  }

  /** Every coupon row of these templates in every shard table. */
  rows(templateIds: readonly string[]): Promise<CouponRow[]> {
    const m = this.cfg.mysql;
    return storedCoupons(this.mysql, m.dbPrefix, { dbs: m.shardDbs, tables: m.shardTables }, { ids: templateIds });
  }

  /** These coupons' checkout state: their rows' status and order, their control rows, their transitions. */
  async checkout(couponIds: readonly string[]): Promise<StoredCheckout> {
    const m = this.cfg.mysql;
    const byTable = new Map<string, { db: number; table: number; ids: string[] }>();
    for (const id of couponIds) {
      const s = shardOfCoupon({ dbs: m.shardDbs, tables: m.shardTables }, id);
      if (!s) throw new Error(`coupon id ${id} names no shard of the drill's layout`);
      const k = `${s.db}.${s.table}`;
      if (!byTable.has(k)) byTable.set(k, { ...s, ids: [] });
      byTable.get(k)!.ids.push(id);
    }
    const out = { coupons: [] as Row<'coupons'>[], orders: [] as Row<'orders'>[], transitions: [] as Row<'transitions'>[] };
    for (const { db, table, ids } of byTable.values()) {
      const pool = this.mysql.forDb(db);
      const schema = `\`${shardDbName(m.dbPrefix, db)}\``;
      const [c] = await pool.query(`SELECT coupon_id AS couponId, status, order_id AS orderId
        FROM ${schema}.\`${shardTableName(table)}\` WHERE coupon_id IN (?)`, [ids]);
      const [o] = await pool.query(`SELECT coupon_id AS couponId, order_id AS orderId, state FROM ${schema}.coupon_order
        WHERE coupon_id IN (?)`, [ids]);
      // ids grow in insert order, and one coupon's transitions are all in its database.
      const [t] = await pool.query(`SELECT coupon_id AS couponId, from_status AS \`from\`, to_status AS \`to\`, order_id AS orderId, cause
        FROM ${schema}.coupon_transition WHERE coupon_id IN (?) ORDER BY id`, [ids]);
      out.coupons.push(...(c as Row<'coupons'>[]));
      out.orders.push(...(o as Row<'orders'>[]));
      out.transitions.push(...(t as Row<'transitions'>[]));
    }
    return out;
  }

  /** The sum of a red packet's sub-stock budgets, or null when a key is missing. */
  private async budgetLeft(t: ProbedTemplate): Promise<number | null> {
    const values = await Promise.all(Array.from({ length: t.subStocks }, (_, k) => this.redis.get(budgetKey(this.ks, t.id, k))));
    return values.some((v) => v === null) ? null : values.reduce((s, v) => s + Number(v), 0);
  }

  /** Remaining stock and pending reservations of each template. */
  async stock(templates: readonly ProbedTemplate[]): Promise<Map<string, StockFacts>> {
    const pending = new Map<string, number>();
    for (let p = 0; p < this.ks.partitions; p++) {
      // members are '<template>|<user>|<request id>' (lua/claim-home-n.lua); template ids have no '|'.
      for (const member of await this.redis.zrange(pendingKey(this.ks, p), '0', '-1')) {
        const id = member.slice(0, member.indexOf('|'));
        pending.set(id, (pending.get(id) ?? 0) + 1);
      }
    }
    const out = new Map<string, StockFacts>();
    for (const t of templates) {
      const values = await Promise.all(Array.from({ length: t.subStocks }, (_, k) => this.redis.get(stockKey(this.ks, t.id, k))));
      const remaining = values.some((v) => v === null) ? null : values.reduce((s, v) => s + Number(v), 0);
      out.set(t.id, { remaining, pending: pending.get(t.id) ?? 0, ...(t.budget ? { budgetLeft: await this.budgetLeft(t) } : {}) });
    }
    return out;
  }

  /** Reservations of a template the reconciler has released (and fenced) so far. */
  async released(templateId: string): Promise<number> {
    const members = new Set<string>();
    for (let p = 0; p < this.ks.partitions; p++) {
      // members are '<template>|<user>|<request id>|<token>' (lua/claim-take-5.lua).
      for (const m of await this.redis.zrange(releasedKey(this.ks, p), '0', '-1')) if (m.startsWith(`${templateId}|`)) members.add(m);
    }
    return members.size;
  }

  /** Dead-lettered records of these templates, plus any whose record cannot be decoded. */
  async deadLetters(templateIds: ReadonlySet<string>): Promise<number> {
    let n = 0;
    for (let p = 0; p < this.ks.partitions; p++) {
      for (const [, fields] of await this.redis.xrangeBuffer(deadKey(this.ks, p), '-', '+')) {
        const d = decodeEntry({ partition: p, id: '', fields });
        if (!d.ok) n++;
        else for (const r of d.records) if (templateIds.has(r.templateId)) n++;
      }
    }
    return n;
  }

  /** Closes both connections. */
  async close(): Promise<void> {
    this.redis.disconnect();
    await this.mysql.close();
  }
}
