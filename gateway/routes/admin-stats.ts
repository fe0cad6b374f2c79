/** GET /v1/admin/templates/:id/stats: stock from Redis, claim outcomes as all gateways flushed them. */
import type { RedisClient } from '../../lua/client.ts';
import type { KeySpace } from '../../lua/keys.ts';
import { orUnavailable } from '../../core/errors.ts';
import { queryParams } from '../http/query.ts';
import type { Handler } from '../http/route.ts';
import { readClaimStats } from '../stats/reader.ts';
import { type AdminDeps, loadTemplate, templateIdParam } from './admin.ts';

const NO_PARAMS: ReadonlySet<string> = new Set();

/** The stats handler; `redis` and `ks` locate the flushed counts. */
export function templateStatsHandler(d: AdminDeps, redis: RedisClient, ks: KeySpace): Handler {
  return async (req) => {
    d.auth(req);
    const id = templateIdParam(req);
    queryParams(req.query, NO_PARAMS);
    const t = await loadTemplate(d, id);
    const [stock, stats] = await orUnavailable('redis', () =>
      Promise.all([d.store.live.stock(t), readClaimStats(redis, ks, t.id, Date.now())]));
    return {
      status: 200,
      body: { templateId: t.id, total: stock.total, issued: stock.issued, remaining: stock.remaining, ...stats },
    };
  };
}
