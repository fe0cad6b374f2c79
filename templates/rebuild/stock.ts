/** Rebuild steps on the sub-stock keys: freeze, thaw (undo) and restore (lua/stock-*-2.lua). */
import { ScriptCode } from '../../lua/codes.ts';
import type { Commands } from '../../lua/commands.ts';
import { subStockShare, type Template } from '../model.ts';

const subStocks = (t: Template) => Array.from({ length: t.subStocks }, (_, k) => k);

/** Freezes every sub-stock; returns the frozen values (null where Redis had none). */
export async function freeze(cmd: Commands, t: Template): Promise<(number | null)[]> {
  return Promise.all(subStocks(t).map(async (k) => {
    const [code, value] = await cmd.stockFreeze(t.id, k);
    return code === ScriptCode.Frozen ? Number(value) : null;
  }));
}

/** Puts every frozen sub-stock back as it was; returns how many had a live key already. */
export async function thaw(cmd: Commands, t: Template): Promise<number> {
  const codes = await Promise.all(subStocks(t).map(async (k) =>
    (await cmd.stockThaw(t.id, k))[0]));
  return codes.filter((c) => c === ScriptCode.StockLive).length;
}

/**
 * Writes `remaining` spread over the sub-stocks and drops the frozen keys; these writes are
 * what re-open claims. Throws if a live key appeared meanwhile (it is never overwritten).
 */
export async function restore(cmd: Commands, t: Template, remaining: number): Promise<void> {
  await restoreEach(cmd, t, (k) => ({ stock: subStockShare(remaining, t.subStocks, k), budget: '' }));
}

/**
 * restore() with each sub-stock's own values: a red packet's, whose stock and budget left are
 * each sub-stock's own (packets.ts), written together.
 */
export async function restoreEach(cmd: Commands, t: Template, left: (k: number) => { stock: number; budget: number | '' }): Promise<void> {
  const codes = await Promise.all(subStocks(t).map(async (k) => {
    const { stock, budget } = left(k);
    return (await cmd.stockRestore(t.id, k, stock, budget))[0];
  }));
  const live = codes.filter((c) => c === ScriptCode.StockLive).length;
  if (live > 0) {
    throw new Error(`${live} sub-stock key(s) were re-created while frozen (a concurrent stock change?); ` +
      'they were left as they are; run rebuild again');
  }
}
