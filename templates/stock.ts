/**
 * Operator stock changes (POST /v1/admin/templates/:id/stock). The order of the two stores keeps
 * Redis from ever issuing beyond MySQL's total (issued + Redis remaining <= total at every
 * moment): a top-up raises MySQL first and Redis second; a reduction takes from Redis first and
 * then lowers MySQL by exactly what it took, so it never goes below what is issued. The request
 * id makes every step repeatable: the change row in MySQL (unique per template and request) and
 * a record per sub-stock in Redis (lua/stock-change-3.lua) let a retry finish a half-done change
 * without applying any part of it twice.
 */
import { randomBytes } from 'node:crypto';
import { ScriptCode } from '../lua/codes.ts';
import type { Commands } from '../lua/commands.ts';
import { ApiError, orUnavailable } from '../core/errors.ts';
import type { LiveTemplates, StockView } from './live.ts';
import { isRedPacket, subStockShare, type Template } from './model.ts';
import { bad } from './rule-fields.ts';
import type { StockChangeRow, StockLedger } from './stock-ledger.ts';
import type { TemplateStore } from './store.ts';

/** Largest |add| of one call; it also keeps every amount the Lua script prints an exact integer. */
export const MAX_STOCK_CHANGE = 1e9;
/** Largest total stock: beyond any campaign, and far inside exact integers in Lua and JS. */
export const MAX_TOTAL_STOCK = 1e12;

const DAY_MS = 24 * 3600 * 1000;
/**
 * Redis remembers what a request did to each sub-stock for 30 days: longer than any retry an
 * operator makes, short enough that years of campaigns do not pile records up.
 */
export const RECORD_KEEP_MS = 30 * DAY_MS;
/** A top-up retried later than this could find its Redis records forgotten and add twice: refused. One day under RECORD_KEEP_MS absorbs clock differences. */
export const RETRY_WINDOW_MS = 29 * DAY_MS;

export interface StockDeps {
  /** Runs the sub-stock script, fenced like the claims. */
  readonly commands: Commands;
  /** The MySQL transaction that sets the new total (and bumps the version). */
  readonly store: TemplateStore;
  /** Publishes the new version to every gateway; reads the stock for the answer. */
  readonly live: LiveTemplates;
  readonly ledger: StockLedger;
}

export interface StockChangeResult {
  readonly template: Template;
  readonly stock: StockView;
  readonly requestId: string;
  /** What was asked for. */
  readonly requested: number;
  /** What the total changed by: the request for a top-up, what could be taken for a reduction. */
  readonly added: number;
  /** True when this request id had been applied to MySQL before (this call completed or repeated it). */
  readonly replayed: boolean;
}

/** A request id for a call that sent none; the answer shows it, so even such a call can be retried. */
export function generatedRequestId(): string {
  return `auto.${randomBytes(12).toString('base64url')}`;
}

/**
 * Applies `add` (non-zero, |add| <= MAX_STOCK_CHANGE) to the stock of template `id`, once per
 * request id. A red packet's stock is fixed (409 stock_fixed, before anything is stored): its
 * budget is shared out over exactly its packets, so packets added without budget, or taken away
 * with theirs still in the sub-stocks, would break "the amounts sum to the budget".
 */
export function changeStock(d: StockDeps, id: string, add: number, requestId: string, now: number): Promise<StockChangeResult> {
  return add > 0 ? topUp(d, id, add, requestId, now) : reduce(d, id, -add, requestId, now);
}

const fixed = (id: string) =>
  new ApiError('stock_fixed', `template ${id} is a red packet: its packets share a fixed budget, so its stock cannot change`);

/** Thrown inside the MySQL transaction when the request id is already stored: rolls it back. */
class AlreadyRecorded extends Error {
  constructor(readonly template: Template) {
    super('stock change already recorded');
  }
}

/** Runs a transaction of `store.change`; resolves `fresh: false` when the request id was already stored. */
function recordOnce(d: StockDeps, id: string, now: number,
  f: Parameters<TemplateStore['change']>[1]): Promise<{ t: Template; fresh: boolean }> {
  return d.store.change(id, f, now).then((t) => ({ t, fresh: true }), (err: unknown) => {
    if (err instanceof AlreadyRecorded) return { t: err.template, fresh: false };
    throw err;
  });
}

/** A storage step whose failure leaves a change half-done: the 503 tells the operator how to finish it. */
async function step<T>(what: 'redis' | 'mysql', unfinished: string, f: () => Promise<T>): Promise<T> {
  try {
    return await orUnavailable(what, f);
  } catch (err) {
    if (err instanceof ApiError && err.code === 'unavailable') throw new ApiError('unavailable', unfinished);
    throw err;
  }
}

const notReady = (id: string) =>
  new ApiError('unavailable', `template ${id} is still being created (its stock is not in Redis yet): retry the create first`);

const conflict = (rid: string, prior: StockChangeRow | null) => new ApiError('request_conflict',
  `requestId ${rid} was already used for a different stock change${prior ? ` (add ${prior.requested})` : ''}: use a new requestId`);

/** A change stored longer ago than RETRY_WINDOW_MS cannot be finished: its Redis records may be forgotten. */
function refuseExpired(rid: string, prior: StockChangeRow, now: number): void {
  if (now - prior.createdAt <= RETRY_WINDOW_MS) return;
  throw new ApiError('request_expired', `requestId ${rid} is older than ${RETRY_WINDOW_MS / DAY_MS} days: `
    + 'whether its Redis step completed can no longer be checked; see the stock with GET and use a new requestId');
}

/** Runs the script on sub-stock k; the amount applied (or applied before by this request). */
async function applyTo(d: StockDeps, id: string, k: number, delta: number, rid: string): Promise<number> {
  const [code, value] = await d.commands.stockChange(id, k, rid, delta, RECORD_KEEP_MS);
  if (code === ScriptCode.StockChanged || code === ScriptCode.StockChangeKnown) return Number(value);
  // A restarted Redis may have forgotten issues: no stock moves until it is repaired (lua/fenced.ts).
  if (code === ScriptCode.Fenced) throw new Error('Redis restarted and is being repaired from MySQL');
  // Not an ApiError: the detail goes to the log, the client gets the step's 503.
  if (code === ScriptCode.StockMissing) throw new Error(`sub-stock ${k} of template ${id} is missing in Redis`);
  throw new Error(`stockChange returned unknown code ${code}`);
}

/** Announces `t` to every gateway, then reads the stock for the answer. */
async function finish(d: StockDeps, t: Template, unfinished: string): Promise<StockView> {
  await step('redis', unfinished, () => d.live.publish(t));
  return orUnavailable('redis', () => d.live.stock(t));
}

async function topUp(d: StockDeps, id: string, n: number, rid: string, now: number): Promise<StockChangeResult> {
  const { t: before, fresh } = await orUnavailable('mysql', () => recordOnce(d, id, now, async (t, conn) => {
    if (isRedPacket(t)) throw fixed(t.id);
    if (!(await d.ledger.facts(t.id, conn))?.ready) throw notReady(t.id);
    const total = t.totalStock + n;
    // The row owns the request id before Redis is touched: a reduction under it is refused.
    if (!(await d.ledger.record(conn, t.id, rid, n, total, now))) throw new AlreadyRecorded(t);
    // After the insert, so a retry is recognised as one before any check of the new total.
    if (total > MAX_TOTAL_STOCK) bad('add', `would raise the total stock above ${MAX_TOTAL_STOCK}`);
    return { ...t, totalStock: total };
  }));
  // From here on the stored row's id, never the URL's spelling, names the keys.
  id = before.id;
  if (!fresh) {
    const prior = await orUnavailable('mysql', () => d.ledger.find(id, rid));
    if (prior?.requested !== n) throw conflict(rid, prior);
    refuseExpired(rid, prior, now);
  }
  const unfinished = `the top-up is recorded in MySQL but not complete in Redis: retry with requestId ${rid} to finish it`;
  const K = before.subStocks;
  await step('redis', unfinished, () => Promise.all(Array.from({ length: K }, async (_, k) => {
    const share = subStockShare(n, K, k);
    if (share > 0 && (await applyTo(d, id, k, share, rid)) !== share) throw conflict(rid, null);
  })));
  // A version published only now that Redis holds the stock: a gateway that picked up the first
  // one early (a periodic reload, another change's notice) may have seen the sub-stocks still
  // empty and marked the template sold out; the newer version makes every gateway look again.
  const t = await step('mysql', unfinished, () => d.store.change(id, async (cur) => cur, now));
  const stock = await finish(d, t, unfinished);
  return { template: t, stock, requestId: rid, requested: n, added: n, replayed: !fresh };
}

async function reduce(d: StockDeps, id: string, want: number, rid: string, now: number): Promise<StockChangeResult> {
  const facts = await orUnavailable('mysql', () => d.ledger.facts(id));
  if (!facts) throw new ApiError('template_not_found');
  if (facts.redPacket) throw fixed(id);
  if (!facts.ready) throw notReady(id);
  // The request id is owned before anything is taken: a top-up under it is refused from now on,
  // and a top-up that owns it already refuses this reduction with nothing applied.
  if (!(await orUnavailable('mysql', () => d.ledger.claim(id, rid, -want, now)))) {
    const prior = await orUnavailable('mysql', () => d.ledger.find(id, rid));
    if (prior?.requested !== -want) throw conflict(rid, prior);
    if (prior.delta !== null) return reductionReplay(d, id, want, rid, prior.delta);
    // A retry of a reduction that did not complete, or the same one sent twice at once: go on.
    refuseExpired(rid, prior, now);
  }
  const unfinished = `stock was taken from Redis but the reduction is not yet recorded in MySQL: retry with requestId ${rid} `
    + 'to finish it (until then the taken stock is withheld from claims)';
  const taken = await step('redis', unfinished, async () => {
    let sum = 0;
    // A fixed order: a retry meets its own records in the order it made them, so it takes the
    // same amounts again (each is recorded) and continues where a failure stopped it.
    for (let k = 0; k < facts.subStocks && sum < want; k++) {
      const got = await applyTo(d, id, k, -(want - sum), rid);
      if (got > 0 || -got > want - sum) throw conflict(rid, null);
      sum -= got;
    }
    return sum;
  });
  const { t, fresh } = await step('mysql', unfinished, () => recordOnce(d, id, now, async (cur, conn) => {
    if (!(await d.ledger.complete(conn, cur.id, rid, -taken, cur.totalStock - taken))) throw new AlreadyRecorded(cur);
    return { ...cur, totalStock: cur.totalStock - taken };
  }));
  // The same request, sent twice at once, completed the same takes first.
  if (!fresh) return reductionReplay(d, id, want, rid, -taken);
  const stock = await finish(d, t, `the reduction is recorded but not yet announced to the gateways: retry with requestId ${rid}`);
  return { template: t, stock, requestId: rid, requested: -want, added: -taken, replayed: false };
}

/** A reduction completed in MySQL (it applied `delta`): answer from the row, re-announce the template. */
async function reductionReplay(d: StockDeps, id: string, want: number, rid: string, delta: number): Promise<StockChangeResult> {
  const t = await orUnavailable('mysql', () => d.store.get(id));
  if (!t) throw new ApiError('template_not_found');
  const stock = await finish(d, t, `the reduction is recorded but not yet announced to the gateways: retry with requestId ${rid}`);
  return { template: t, stock, requestId: rid, requested: -want, added: delta, replayed: true };
}
