/**
 * Rebuilds a template's Redis state (sub-stocks, users hashes, live copy) from MySQL, the
 * source of truth: remaining = total - issued. Safe whether Redis lost everything, part of it,
 * or nothing, and while claims keep arriving. Per template:
 *
 *  1. freeze: each sub-stock key is renamed aside (lua/stock-freeze-2.lua). Claim scripts then
 *     find no stock and answer STOCK_MISSING (the gateways 503 briefly): nothing of this
 *     template can be issued, so no new record of it can enter any stream.
 *  2. drain: each of its partition streams' last id, read after the freeze, is a drain point;
 *     once the sink's group has delivered and acknowledged everything up to it, MySQL holds
 *     every coupon the template ever issued (or the dead letters do; those are counted as
 *     issued, because a client was told "issued"). A sink that does not drain in time: the
 *     freeze is undone exactly and the rebuild fails; nothing changed.
 *  3. users: the per-user counts and request-id answers are rebuilt from MySQL and swapped in;
 *     reservations still in flight are carried over (lua/users-swap-3.lua).
 *  4. stock: under the template's MySQL row lock (a concurrent top-up waits), each sub-stock
 *     is written with its share of total - issued, less what an unrecorded reduction took
 *     (stock-changes.ts, which also keeps a retried top-up from adding twice); an over-issue
 *     found here is reported and writes 0. A red packet's sub-stocks each get back what is left
 *     of their own share of packets and budget (packets.ts), stock and budget in one script;
 *     more cents given out than the budget is reported like an over-issue. These writes come last: they are what re-opens claims, after the users hashes
 *     already say what every user holds.
 *  5. the version is bumped and published, so every gateway replaces its cached copy and
 *     forgets which sub-stocks it saw empty.
 *
 * Why this never over-issues: while frozen nothing issues; after the drain point MySQL's
 * count is complete, so the stock written is exactly what was never issued; users are
 * restored before stock, so no claim runs against a users hash that forgot a coupon. A rerun
 * after any failure starts again from step 1 and converges.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Config } from '../../config/index.ts';
import type { RedisClient } from '../../lua/client.ts';
import { Commands } from '../../lua/commands.ts';
import { type KeySpace, subStockPartition } from '../../lua/keys.ts';
import type { MysqlPools } from '../../core/mysql.ts';
import { isRedPacket, type Template } from '../model.ts';
import { LiveTemplates } from '../live.ts';
import { StockLedger } from '../stock-ledger.ts';
import { TemplateStore } from '../store.ts';
import { carryStockChanges } from './stock-changes.ts';
import { deadLetters, drainPoints, waitDrained } from '../../lua/drain.ts';
import { packetLeft, packetSpend, overSpent } from './packets.ts';
import { freeze, restore, restoreEach, thaw } from './stock.ts';
import { rebuildUsers, type UserCounts } from './users.ts';

export interface RebuildDeps {
  readonly redis: RedisClient;
  readonly commands: Commands;
  readonly mysql: MysqlPools;
  readonly store: TemplateStore;
  readonly ledger: StockLedger;
  readonly ks: KeySpace;
  readonly dbPrefix: string;
  readonly shardDbs: number;
  readonly shardTables: number;
  /** The sink's consumer group (cfg.redis.streamGroup). */
  readonly group: string;
  /** How long to wait for the sink to pass the drain point. */
  readonly drainTimeoutMs: number;
  /** Progress lines for the operator. */
  readonly progress: (line: string) => void;
}

export type Outcome = 'rebuilt' | 'initialised' | 'violation' | 'failed';

export interface RebuildReport {
  readonly id: string;
  readonly outcome: Outcome;
  readonly total?: number;
  /** What MySQL holds of the template. */
  readonly counts?: UserCounts;
  /** Records of the template in the dead letters (issued, not in MySQL; counted as issued). */
  readonly deadLetters?: number;
  /** Stock written back (remaining). */
  readonly remaining?: number;
  /** What went wrong (failed), or which invariant MySQL shows broken (violation). */
  readonly message?: string;
}

/** The dependencies of a rebuild for this config, on the given clients. */
export function rebuildDeps(cfg: Config, redis: RedisClient, mysql: MysqlPools,
  o: Pick<RebuildDeps, 'drainTimeoutMs' | 'progress'>): RebuildDeps {
  const ks = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
  return {
    redis, commands: new Commands(redis, ks), mysql, ks, store: new TemplateStore(mysql, new LiveTemplates(redis, ks), cfg.mysql),
    ledger: new StockLedger(mysql, cfg.mysql),
    dbPrefix: cfg.mysql.dbPrefix, shardDbs: cfg.mysql.shardDbs, shardTables: cfg.mysql.shardTables,
    group: cfg.redis.streamGroup, ...o,
  };
}

/** Whether the template's stock was ever put in Redis (coupon_template.stock_ready). */
async function stockReady(d: RebuildDeps, id: string): Promise<boolean> {
  const [rows] = await d.mysql.main.execute<RowDataPacket[]>(`SELECT stock_ready FROM ${d.store.table} WHERE id = ?`, [id]);
  return rows[0]?.stock_ready === 1;
}

/** Rebuilds one template; never throws (a failure is the report's outcome). */
export async function rebuildTemplate(d: RebuildDeps, id: string): Promise<RebuildReport> {
  let t: Template | null;
  try {
    t = await d.store.get(id);
    if (!t) return { id, outcome: 'failed', message: 'no such template in MySQL' };
    // Never made live: no claim can have run, so its normal initialisation is the rebuild.
    if (!(await stockReady(d, id))) {
      await d.store.create(t);
      return { id, outcome: 'initialised', total: t.totalStock, remaining: t.totalStock };
    }
  } catch (err) {
    return { id, outcome: 'failed', message: text(err) };
  }
  return rebuildLive(d, t);
}

async function rebuildLive(d: RebuildDeps, t: Template): Promise<RebuildReport> {
  const { redis, ks } = d;
  const partitions = Array.from({ length: t.subStocks }, (_, k) => subStockPartition(ks, t.id, k));
  let writingStock = false;
  try {
    const frozen = await freeze(d.commands, t);
    d.progress(`${t.id}: frozen (${frozen.filter((v) => v !== null).length}/${t.subStocks} sub-stocks had a key)`);
    const points = await drainPoints(redis, ks, partitions);
    const waiting = await waitDrained(redis, d.group, points, d.drainTimeoutMs);
    if (waiting !== undefined) {
      const live = await thaw(d.commands, t);
      return {
        id: t.id, outcome: 'failed', total: t.totalStock,
        message: `the sink is not draining (${waiting}); start it and run rebuild again. ` +
          (live > 0 ? `Stock restored except ${live} sub-stock(s) re-created meanwhile.` : 'Stock restored as it was.'),
      };
    }
    d.progress(`${t.id}: drained ${points.length} stream(s)`);
    const dead = await deadLetters(redis, ks, partitions, t.id);
    const counts = await rebuildUsers(d, t);
    d.progress(`${t.id}: users restored`);

    let total = t.totalStock;
    let remaining = 0;
    let overSpend: string | undefined;
    writingStock = true;
    const next = await d.store.change(t.id, async (current, conn) => {
      total = current.totalStock;
      if (isRedPacket(current)) {
        // Each sub-stock gets back what is left of its own shares: its budget must pay its packets.
        const spend = await packetSpend({ ...d, layout: { dbs: d.shardDbs, tables: d.shardTables } }, current);
        overSpend = overSpent(current, spend);
        const left = Array.from({ length: current.subStocks }, (_, k) => packetLeft(current, spend, k));
        remaining = left.reduce((a, l) => a + l.stock, 0);
        await restoreEach(d.commands, current, (k) => left[k]!);
        return current;
      }
      const withheld = await carryStockChanges(redis, ks, d.ledger, conn, current, Date.now());
      remaining = Math.max(0, total - counts.issued - dead - withheld);
      await restore(d.commands, current, remaining);
      return current;
    }, Date.now());
    await d.store.live.publish(next);

    const broken = [violations(total, counts, dead, t.perUserLimit), overSpend].filter(Boolean).join('; ') || undefined;
    return { id: t.id, outcome: broken ? 'violation' : 'rebuilt', total, counts, deadLetters: dead, remaining, message: broken };
  } catch (err) {
    // Before the stock writes the freeze can be undone as is. Once they began, old and new
    // values must not be mixed (their sum could exceed what remains): the rest stays frozen.
    let after = '';
    if (!writingStock) {
      after = await thaw(d.commands, t).then(() => ' Stock restored as it was.', (e) => ` Undoing the freeze failed too: ${text(e)}.`);
    } else {
      after = ' Sub-stocks not yet written stay frozen (claims on them answer 503).';
    }
    return { id: t.id, outcome: 'failed', total: t.totalStock, message: `${text(err)}; run rebuild again.${after}` };
  }
}

/** The brief's invariants that MySQL shows broken, as one message (undefined when none). */
function violations(total: number, c: UserCounts, dead: number, limit: number): string | undefined {
  const out: string[] = [];
  if (c.issued + dead > total) out.push(`OVER-ISSUE: ${c.issued + dead} issued > total ${total}`);
  if (c.overLimit > 0) out.push(`${c.overLimit} user(s) hold more than perUserLimit ${limit}`);
  if (c.duplicates > 0) out.push(`${c.duplicates} request id(s) were answered with more than one coupon`);
  return out.length > 0 ? out.join('; ') : undefined;
}

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Runs `f` holding the one rebuild lock of this database prefix (released when the session ends). */
export async function withRebuildLock<T>(mysql: MysqlPools, dbPrefix: string, f: () => Promise<T>): Promise<T> {
  const conn = await mysql.main.getConnection();
  try {
    const name = `${dbPrefix}.coupon-rebuild`;
    const [rows] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 0) AS got', [name]);
    if (rows[0]?.got !== 1) throw new Error('another rebuild of this database prefix is running');
    try {
      return await f();
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => undefined);
    }
  } finally {
    conn.release();
  }
}

/** Ids of every template in MySQL, in id order. */
export async function allTemplateIds(store: TemplateStore): Promise<string[]> {
  const ids: string[] = [];
  for (let cursor: string | undefined; ;) {
    const page = await store.list(undefined, cursor, 200);
    ids.push(...page.templates.map((x) => x.id));
    if (page.next === null) return ids;
    cursor = page.next;
  }
}
