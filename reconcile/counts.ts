/**
 * Per-template issued counts, Redis against MySQL. Redis's view is total - remaining (less what
 * unrecorded reductions withhold), read at a moment T; once the sink has stored everything the
 * streams held at T, MySQL must hold at least every coupon Redis counted, and Redis must have
 * counted at least every coupon MySQL shows claimed before T.
 *  - MySQL shows more issued before T than Redis counted: Redis lost issues (restarted from an
 *    AOF missing its last second after the sink stored them) and would sell them again. Repaired
 *    by taking the difference out of the sub-stocks: safe, it can only withhold. A red packet's
 *    sub-stocks are each lowered, with their budgets, to what is left of their own shares.
 *  - A red packet gave out more cents than its budget (or a sub-stock more than its share):
 *    reported like an over-issue. Cents gone from its budgets in Redis that no packet holds are
 *    reported like coupons MySQL lacks.
 *  - Redis counted more than MySQL holds (plus dead letters): coupons answered "issued" whose
 *    records are gone, or stock leaked. Reported, never repaired: giving stock back could
 *    over-issue if a record still exists somewhere.
 *  - MySQL holds more than the total: an over-issue. Reported loudly.
 * A stock change in flight (one recorded since T, a reduction not recorded yet, a top-up not
 * applied everywhere) makes total - remaining meaningless for a moment: such a template is only
 * checked for over-issue, and compared again on the next pass.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { ScriptCode } from '../lua/codes.ts';
import { budgetKey } from '../lua/keys.ts';
import { halfDone, inFlight, readSubStocks, type SubStockView } from '../templates/rebuild/stock-changes.ts';
import { isRedPacket, type Template } from '../templates/model.ts';
import { overSpent, packetLeft, type PacketSpend, packetSpend } from '../templates/rebuild/packets.ts';
import { type ReconcileCtx, shardTables } from './context.ts';

/**
 * Records stamped within this much before T are not trusted to predate T: on Redis Cluster they
 * are stamped by other nodes' clocks (one Redis: one clock). Far above NTP's skew; a record
 * missed this way is judged by the next pass.
 */
export const CLOCK_MARGIN_MS = 500;

/** Redis's side of one template at T. */
export interface RedisCount {
  readonly template: Template;
  /** Sum of the sub-stocks, or null when a sub-stock key is missing (a rebuild is needed). */
  readonly remaining: number | null;
  /** Each sub-stock with its stock-change records, as read at T. */
  readonly views: readonly SubStockView[];
  /** A red packet's cents left in its sub-stocks' budgets at T (null: a budget key missing; undefined: not a red packet). */
  readonly budgetLeft?: number | null;
}

export interface CountFinding {
  readonly templateId: string;
  readonly total: number;
  /** What Redis counted as issued at T (null: sub-stocks missing). */
  readonly redisIssued: number | null;
  readonly mysqlIssued: number;
  /** The template's records in the dead letters: issued, never stored. */
  readonly deadLettered: number;
  /** Coupons Redis counted as issued that MySQL lacks and no dead letter holds (null: not compared). */
  readonly missingInMysql: number | null;
  /** Coupons MySQL holds, claimed before T, that Redis did not count as issued (null: not compared). */
  readonly missingInRedis: number | null;
  /** Stock taken out of Redis by this pass (the repair of missingInRedis). */
  readonly shaved: number;
  /** What a person must look at, if anything (a complete repair is not a problem). */
  readonly problem?: string;
  /** A stock change was in flight: only the over-issue check ran. */
  readonly changing?: boolean;
}

/** Reads the sub-stocks of each template at `at` (step 1, before the drain point is taken). */
export async function readRedisCounts(c: ReconcileCtx, templates: readonly Template[]): Promise<RedisCount[]> {
  return Promise.all(templates.map(async (template) => {
    const views = await readSubStocks(c.redis, c.ks, template);
    const remaining = views.some((v) => v.remaining === null) ? null : views.reduce((a, v) => a + v.remaining!, 0);
    return { template, remaining, views, budgetLeft: isRedPacket(template) ? await budgetsLeft(c, template) : undefined };
  }));
}

/** The sum of a red packet's sub-stock budgets in Redis, or null when one is missing. */
async function budgetsLeft(c: ReconcileCtx, t: Template): Promise<number | null> {
  const values = await Promise.all(Array.from({ length: t.subStocks }, (_, k) => c.redis.get(budgetKey(c.ks, t.id, k))));
  return values.some((v) => v === null) ? null : values.reduce((a, v) => a + Number(v), 0);
}

/** Coupons of the template in MySQL: all of them, and those claimed before `before` (ms). */
async function mysqlCounts(c: ReconcileCtx, id: string, before: number): Promise<{ all: number; before: number }> {
  let all = 0;
  let early = 0;
  for (const t of shardTables(c)) {
    const [rows] = await c.mysql.forDb(t.db).query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n, COALESCE(SUM(claimed_at < ?), 0) AS early FROM ${t.name} WHERE template_id = ?`, [new Date(before), id]);
    all += Number(rows[0]!.n);
    early += Number(rows[0]!.early);
  }
  return { all, before: early };
}

/**
 * A red packet's repair: each sub-stock, stock and budget together, lowered to what MySQL shows
 * is left of its own shares (packets.ts). Taking stock from any sub-stock, as shave() does,
 * would leave budget without packets in one and packets without budget in another.
 */
async function shavePackets(c: ReconcileCtx, t: Template, spend: PacketSpend): Promise<number> {
  let taken = 0;
  for (let k = 0; k < t.subStocks; k++) {
    const left = packetLeft(t, spend, k);
    const [code, packets] = await c.commands.packetShave(t.id, k, left.stock, left.budget);
    if (code === ScriptCode.Shaved) taken += Number(packets);
  }
  return taken;
}

/** Takes up to n from the sub-stocks in order; returns what was taken. */
async function shave(c: ReconcileCtx, t: Template, n: number): Promise<number> {
  let taken = 0;
  for (let k = 0; k < t.subStocks && taken < n; k++) {
    const [code, got] = await c.commands.stockShave(t.id, k, n - taken);
    if (code === ScriptCode.Shaved) taken += Number(got);
  }
  return taken;
}

/**
 * Step 2, after the drain point taken after step 1 has passed: compares and repairs. `at` is T
 * (Redis ms when step 1 began); `dead` counts each template's dead-lettered records.
 *
 * `restarted`: Redis restarted and claims wait for this pass (lua/fenced.ts). A stock change
 * half-done since before the pass then does not make its template skipped, which would keep the
 * fence shut until someone retries the change: what it holds apart between MySQL's total and
 * the sub-stocks is known from the records read with them at T (stock-changes.ts inFlight), and
 * set aside. Changes begun since T are still skipped (the next pass compares them).
 */
export async function compareCounts(c: ReconcileCtx, counts: readonly RedisCount[], at: number,
  dead: ReadonlyMap<string, number>, restarted = false): Promise<CountFinding[]> {
  const out: CountFinding[] = [];
  for (const { template: t, remaining, views, budgetLeft } of counts) {
    // MySQL's total now: a top-up since T raised it (Redis looks like it counted more: safe).
    const now = await c.store.get(t.id);
    if (!now) continue;
    const m = await mysqlCounts(c, t.id, at - CLOCK_MARGIN_MS);
    const base = { templateId: t.id, total: now.totalStock, mysqlIssued: m.all, deadLettered: dead.get(t.id) ?? 0,
      missingInMysql: null, missingInRedis: null, shaved: 0 };
    if (remaining === null) {
      out.push({ ...base, redisIssued: null, problem: 'sub-stock keys missing in Redis: run `npm run rebuild -- --template ' + t.id + '`' });
      continue;
    }
    const problems: string[] = [];
    if (m.all > now.totalStock) problems.push(`OVER-ISSUE: MySQL holds ${m.all} coupons for a total of ${now.totalStock}`);
    // A red packet's cents, per sub-stock: more given out than the budget is an over-issue of money.
    const spend = isRedPacket(now) ? await packetSpend(c, now) : undefined;
    const overSpend = spend && overSpent(now, spend);
    if (overSpend) problems.push(overSpend);
    const changes = await c.ledger.all(undefined, t.id);
    const begunSinceT = [...changes.values()].some((ch) => ch.createdAt >= at - CLOCK_MARGIN_MS);
    // Without a restart: half-done at T, or by now (its next step may run during the pass).
    const moving = begunSinceT || (!restarted && (halfDone(views, changes, at) ||
      halfDone(await readSubStocks(c.redis, c.ks, now), changes, at)));
    if (moving) {
      out.push({ ...base, redisIssued: null, problem: problems[0], changing: true });
      continue;
    }
    const redisIssued = now.totalStock - (restarted ? inFlight(views, changes, at) : 0) - remaining;
    const missingInRedis = Math.max(0, m.before - redisIssued);
    const shaved = missingInRedis === 0 ? 0 : spend ? await shavePackets(c, now, spend) : await shave(c, now, missingInRedis);
    // Short only when the sub-stocks hold less than Redis forgot: MySQL then exceeds the total too.
    if (shaved < missingInRedis) {
      problems.push(`Redis did not count ${missingInRedis} coupon(s) MySQL holds; only ${shaved} could be taken back out of its stock`);
    }
    const missingInMysql = Math.max(0, redisIssued - (m.all + base.deadLettered));
    if (missingInMysql > 0) problems.push(`${missingInMysql} coupon(s) counted issued by Redis are not in MySQL (nor dead-lettered)`);
    // The same for a red packet's money: every cent gone from the budgets at T is in a packet
    // issued before the drain point, so MySQL or the dead letters hold it (later ones only add).
    const centsMissing = spend && typeof budgetLeft === 'number' ? now.budget! - budgetLeft - spend.cents.reduce((a, b) => a + b, 0) : 0;
    if (centsMissing > 0) problems.push(`${centsMissing} cent(s) gone from the budget in Redis are in no packet in MySQL (nor dead-lettered)`);
    out.push({ ...base, redisIssued, missingInMysql, missingInRedis, shaved, problem: problems.length > 0 ? problems.join('; ') : undefined });
  }
  return out;
}
