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
import { type KeySpace, stockChangesAtKey, stockChangesKey } from '../../lua/keys.ts';
import { subStockShare, type Template } from '../templates/model.ts';
import { RETRY_WINDOW_MS } from '../templates/stock.ts';
import type { StockChangeRow, StockLedger } from '../templates/stock-ledger.ts';

/** Stock taken in Redis by reductions that MySQL has not completed yet (`recorded`: the ledger's rows). */
export async function unrecordedReductions(redis: RedisClient, ks: KeySpace, t: Template,
  recorded: ReadonlyMap<string, StockChangeRow>): Promise<number> {
  let withheld = 0;
  for (let k = 0; k < t.subStocks; k++) {
    for (const [rid, amount] of Object.entries(await redis.hgetall(stockChangesKey(ks, t.id, k)))) {
      if (Number(amount) < 0 && (recorded.get(rid)?.delta ?? null) === null) withheld -= Number(amount);
    }
  }
  return withheld;
}

/** Marks recorded top-ups as applied; returns the stock taken by reductions not yet recorded. */
export async function carryStockChanges(redis: RedisClient, ks: KeySpace, ledger: StockLedger, conn: PoolConnection,
  t: Template, now: number): Promise<number> {
  const recorded = await ledger.all(conn, t.id);
  for (let k = 0; k < t.subStocks; k++) {
    const applied = await redis.hgetall(stockChangesKey(ks, t.id, k));
    for (const [rid, { delta }] of recorded) {
      if (delta === null || delta <= 0) continue;
      const share = subStockShare(delta, t.subStocks, k);
      if (share === 0 || applied[rid] !== undefined) continue;
      await redis.hset(stockChangesKey(ks, t.id, k), rid, share);
      await redis.zadd(stockChangesAtKey(ks, t.id, k), now, rid);
    }
  }
  return unrecordedReductions(redis, ks, t, recorded);
}

/** Recorded top-ups (young enough to still have their Redis records) that some sub-stock has not applied yet. */
export async function unfinishedTopUps(redis: RedisClient, ks: KeySpace, t: Template,
  recorded: ReadonlyMap<string, StockChangeRow>, now: number): Promise<number> {
  let n = 0;
  for (const [rid, { delta, createdAt }] of recorded) {
    if (delta === null || delta <= 0 || createdAt < now - RETRY_WINDOW_MS) continue;
    for (let k = 0; k < t.subStocks; k++) {
      if (subStockShare(delta, t.subStocks, k) > 0 && (await redis.hget(stockChangesKey(ks, t.id, k), rid)) === null) {
        n++;
        break;
      }
    }
  }
  return n;
}
