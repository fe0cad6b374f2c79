/**
 * A rebuild and the operator stock changes in flight (templates/stock.ts), so that neither
 * undoes the other. Runs under the template's MySQL row lock, before the stock is written:
 *  - a top-up recorded in MySQL is already inside the total the rebuild writes back, so every
 *    sub-stock is marked as having applied its share: a retry of that top-up finds the marks
 *    and adds nothing (without them it would add a second time: over-issue);
 *  - a reduction that took from Redis but is not complete in MySQL yet (its row has no delta,
 *    or an older release stored none) would be given back by the rebuild, then lowered from the
 *    total when its retry completes it: over-issue. What it took stays withheld instead (the
 *    caller subtracts it), and its marks stay for the retry.
 */
import type { PoolConnection } from 'mysql2/promise';
import type { RedisClient } from '../../lua/client.ts';
import { type KeySpace, stockChangesAtKey, stockChangesKey, stockKey } from '../../lua/keys.ts';
import { subStockShare, type Template } from '../model.ts';
import { RETRY_WINDOW_MS } from '../stock.ts';
import type { StockChangeRow, StockLedger } from '../stock-ledger.ts';

/** One sub-stock read in one step: its remaining count (null: missing) and what each stock change applied to it. */
export interface SubStockView {
  readonly remaining: number | null;
  /** Request id -> amount applied to this sub-stock (lua/stock-change-3.lua). */
  readonly applied: Readonly<Record<string, string>>;
}

/** Reads every sub-stock of `t` with its stock-change records, each in one MULTI (one slot): both of one instant. */
export async function readSubStocks(redis: RedisClient, ks: KeySpace, t: Template): Promise<SubStockView[]> {
  return Promise.all(Array.from({ length: t.subStocks }, async (_, k) => {
    const res = await redis.multi().get(stockKey(ks, t.id, k)).hgetall(stockChangesKey(ks, t.id, k)).exec();
    const failed = res?.find(([err]) => err);
    if (!res || failed) throw failed?.[0] ?? new Error('sub-stock read aborted');
    const [[, remaining], [, applied]] = res as [[null, string | null], [null, Record<string, string>]];
    return { remaining: remaining === null ? null : Number(remaining), applied };
  }));
}

/** Stock taken by reductions that MySQL has not completed yet (`recorded`: the ledger's rows). */
export function withheld(views: readonly SubStockView[], recorded: ReadonlyMap<string, StockChangeRow>): number {
  let n = 0;
  for (const v of views) {
    for (const [rid, amount] of Object.entries(v.applied)) {
      if (Number(amount) < 0 && (recorded.get(rid)?.delta ?? null) === null) n -= Number(amount);
    }
  }
  return n;
}

/**
 * Stock of recorded top-ups (young enough to still have their Redis records) that the
 * sub-stocks have not applied yet, by request id: in MySQL's total, not in Redis.
 */
function unapplied(views: readonly SubStockView[], recorded: ReadonlyMap<string, StockChangeRow>, now: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [rid, { delta, createdAt }] of recorded) {
    if (delta === null || delta <= 0 || createdAt < now - RETRY_WINDOW_MS) continue;
    views.forEach((v, k) => {
      const share = subStockShare(delta, views.length, k);
      if (share > 0 && v.applied[rid] === undefined) out.set(rid, (out.get(rid) ?? 0) + share);
    });
  }
  return out;
}

/** Whether a stock change is half-done: a reduction MySQL has not completed, a top-up not applied everywhere. */
export function halfDone(views: readonly SubStockView[], recorded: ReadonlyMap<string, StockChangeRow>, now: number): boolean {
  return withheld(views, recorded) > 0 || unapplied(views, recorded, now).size > 0;
}

/**
 * What half-done stock changes hold apart between MySQL's total and the sub-stocks: top-up
 * shares not applied yet plus what reductions took and MySQL has not recorded.
 */
export function inFlight(views: readonly SubStockView[], recorded: ReadonlyMap<string, StockChangeRow>, now: number): number {
  let n = withheld(views, recorded);
  for (const share of unapplied(views, recorded, now).values()) n += share;
  return n;
}

/** Marks recorded top-ups as applied; returns the stock taken by reductions not yet recorded. */
export async function carryStockChanges(redis: RedisClient, ks: KeySpace, ledger: StockLedger, conn: PoolConnection,
  t: Template, now: number): Promise<number> {
  const recorded = await ledger.all(conn, t.id);
  const views = await readSubStocks(redis, ks, t);
  for (const [k, v] of views.entries()) {
    for (const [rid, { delta }] of recorded) {
      if (delta === null || delta <= 0) continue;
      const share = subStockShare(delta, t.subStocks, k);
      if (share === 0 || v.applied[rid] !== undefined) continue;
      await redis.hset(stockChangesKey(ks, t.id, k), rid, share);
      await redis.zadd(stockChangesAtKey(ks, t.id, k), now, rid);
    }
  }
  return withheld(views, recorded);
}
