/** POST /v1/admin/templates/:id/stock: an operator top-up (add > 0) or reduction (add < 0). */
import { decodeBody, formatOf } from '../http/codec.ts';
import type { Handler } from '../http/route.ts';
import { templateJson } from '../../templates/model.ts';
import { bad, int, object } from '../../templates/rule-fields.ts';
import { changeStock, generatedRequestId, MAX_STOCK_CHANGE, type StockDeps } from '../../templates/stock.ts';
import { isId } from '../../core/ids.ts';
import { type AdminDeps, templateIdParam } from './admin.ts';

const FIELDS = new Set(['add', 'requestId']);

/** The body `{ add, requestId? }`, validated. */
export function parseStockChange(body: unknown): { add: number; requestId: string | undefined } {
  const o = object(body, FIELDS);
  const add = int(o, 'add', -MAX_STOCK_CHANGE, MAX_STOCK_CHANGE);
  if (add === undefined) bad('add', 'is required: the number of coupons to add (negative to reduce)');
  if (add === 0) bad('add', 'must not be 0');
  if (o.requestId !== undefined && !isId(o.requestId)) bad('requestId', 'must be 1-64 characters of [A-Za-z0-9_.:-]');
  return { add, requestId: o.requestId as string | undefined };
}

/** Changes the stock once per requestId; a 503 names the requestId to retry with. */
export function stockHandler(d: AdminDeps, s: StockDeps): Handler {
  return async (req) => {
    d.auth(req);
    const id = templateIdParam(req);
    const { add, requestId } = parseStockChange(decodeBody(req.body, formatOf(req.contentType, false)));
    // Every storage step inside answers 503 on failure, with how to finish the change.
    const r = await changeStock(s, id, add, requestId ?? generatedRequestId(), Date.now());
    // This gateway applies the new version at once; the others on the published notice.
    d.cache.put(r.template);
    const body: Record<string, unknown> = {
      template: templateJson(r.template), stock: r.stock, requestId: r.requestId, requested: r.requested, added: r.added,
    };
    if (r.replayed) body.replayed = true;
    return { status: 200, body };
  };
}
