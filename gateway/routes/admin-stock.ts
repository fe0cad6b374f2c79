/** POST /v1/admin/templates/:id/stock: an operator top-up (add > 0) or reduction (add < 0). */
import { decodeBody, formatOf } from '../http/codec.ts';
import type { Handler } from '../http/route.ts';
import { templateJson } from '../../templates/model.ts';
import { parseBody } from '../../core/zod.ts';
import { stockChangeSchema } from '../../templates/admin-bodies.ts';
import { changeStock, generatedRequestId, type StockDeps } from '../../templates/stock.ts';
import { type AdminDeps, templateIdParam } from './admin.ts';

/** Changes the stock once per requestId; a 503 names the requestId to retry with. */
export function stockHandler(d: AdminDeps, s: StockDeps): Handler {
  return async (req) => {
    d.auth(req);
    const id = templateIdParam(req);
    const { add, requestId } = parseBody(stockChangeSchema, decodeBody(req.body, formatOf(req.contentType, false)));
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
