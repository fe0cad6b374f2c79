/**
 * GET /v1/admin/overview?status=&after=&limit=: a page of templates, each with its stock and
 * recent claim rates, in one call. The operator console (gateway/console/) polls it every
 * second; one call a page instead of a list plus a stats call per template.
 */
import { ApiError, orUnavailable } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import type { RedisClient } from '../../lua/client.ts';
import type { KeySpace } from '../../lua/keys.ts';
import { limitParam, queryParams } from '../http/query.ts';
import type { Handler } from '../http/route.ts';
import { readRecentRates, RECENT_S } from '../stats/recent.ts';
import { type AdminDeps, templateStatusParam } from './admin.ts';

const PARAMS = new Set(['status', 'after', 'limit']);
// Each template costs its sub-stock reads (up to 16) and RECENT_S bucket reads a call.
const LIMIT_MAX = 50;

/** The overview handler; `redis` and `ks` locate the flushed per-second counts. */
export function overviewHandler(d: AdminDeps, redis: RedisClient, ks: KeySpace): Handler {
  return async (req) => {
    d.auth(req);
    const q = queryParams(req.query, PARAMS);
    const status = templateStatusParam(q);
    const after = q.get('after') ?? undefined;
    if (after !== undefined && !isId(after)) throw new ApiError('bad_request', 'after: a template id (1-64 characters of [A-Za-z0-9_.:-])');
    const limit = limitParam(q, LIMIT_MAX, LIMIT_MAX);
    const page = await orUnavailable('mysql', () => d.store.list(status, after, limit));
    const now = Date.now();
    const rows = await orUnavailable('redis', () => Promise.all(page.templates.map(async (t) => {
      const [stock, rates] = await Promise.all([d.store.live.stock(t), readRecentRates(redis, ks, t.id, now)]);
      return {
        id: t.id, name: t.name, type: t.type, status: t.status, version: t.version,
        total: stock.total, issued: stock.issued, remaining: stock.remaining, ...rates,
      };
    })));
    return { status: 200, body: { templates: rows, next: page.next, rateWindowSeconds: RECENT_S, at: new Date(now).toISOString() } };
  };
}
