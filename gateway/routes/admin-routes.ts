/** The admin API's route table, mounted on the public app or on a listener of its own (ADMIN_ROUTES). */
import type { RedisClient } from '../../lua/client.ts';
import type { KeySpace } from '../../lua/keys.ts';
import type { Handler, RouteCallback, RouteOptions } from '../http/route.ts';
import type { TemplatedApp } from '../http/uws.ts';
import type { StockDeps } from '../../templates/stock.ts';
import { type AdminDeps, createTemplateHandler, getTemplateHandler, listTemplatesHandler, patchTemplateHandler } from './admin.ts';
import { type BlacklistDeps, getBlacklistHandler, putBlacklistHandler } from './admin-blacklist.ts';
import { templateStatsHandler } from './admin-stats.ts';
import { overviewHandler } from './admin-overview.ts';
import { consoleRoutes } from './console.ts';
import { stockHandler } from './admin-stock.ts';
import { createGrantHandler, getGrantHandler, type GrantDeps, grantRefusalsHandler, isTextList, patchGrantHandler } from './admin-grants.ts';
import { batchCodesHandler, type CodeDeps, createCodesHandler } from './admin-codes.ts';
import { type CouponAdminDeps, couponHistoryHandler } from './admin-coupons.ts';
import { remindersHandler } from './admin-reminders.ts';
import type { ReminderStore } from '../../checkout/reminders.ts';

export interface AdminRouteDeps {
  readonly admin: AdminDeps & BlacklistDeps;
  readonly stock: StockDeps;
  readonly grants: GrantDeps;
  readonly codes: CodeDeps;
  readonly coupons: CouponAdminDeps;
  readonly reminders: ReminderStore;
  readonly redis: RedisClient;
  readonly ks: KeySpace;
  readonly maxBody: number;
  /** Wraps a handler as a route (route.ts), with the app's in-flight accounting. */
  readonly r: (opts: RouteOptions, h: Handler) => RouteCallback;
  /** Answers 405 for a known path with another method. */
  readonly methodNotAllowed: Handler;
}

/** Registers every admin route and the console on `app`; each API route reads the client address for the wrong-token budget. */
export function mountAdminRoutes(app: TemplatedApp, d: AdminRouteDeps): TemplatedApp {
  const { admin, r } = d;
  const get = { address: true };
  const withId = { address: true, params: 1 };
  // Routes with a body check the token before reading it (up to 1 MB each).
  const body = { address: true, bodyCap: d.maxBody, authorize: admin.auth };
  const idBody = { ...withId, bodyCap: d.maxBody, authorize: admin.auth };
  const other = r({}, d.methodNotAllowed);
  // A text/plain user list streams (up to 10M lines); a JSON one is a body like any other.
  const upload = { ...idBody, streamBody: { ...d.grants.upload, when: isTextList } };
  // The console's page and files need no token (console.ts says why); its data comes from the routes below.
  for (const [path, h] of consoleRoutes()) app.get(path, r({}, h)).any(path, other);
  return app
    .get('/v1/admin/overview', r(get, overviewHandler(admin, d.redis, d.ks)))
    .any('/v1/admin/overview', other)
    .post('/v1/admin/templates', r(body, createTemplateHandler(admin)))
    .get('/v1/admin/templates', r(get, listTemplatesHandler(admin)))
    .any('/v1/admin/templates', other)
    .get('/v1/admin/templates/:id', r(withId, getTemplateHandler(admin)))
    .patch('/v1/admin/templates/:id', r(idBody, patchTemplateHandler(admin)))
    .any('/v1/admin/templates/:id', other)
    .get('/v1/admin/templates/:id/stats', r(withId, templateStatsHandler(admin, d.redis, d.ks)))
    .any('/v1/admin/templates/:id/stats', other)
    .post('/v1/admin/templates/:id/stock', r(idBody, stockHandler(admin, d.stock)))
    .any('/v1/admin/templates/:id/stock', other)
    .post('/v1/admin/templates/:id/grants', r(upload, createGrantHandler(admin, d.grants)))
    .any('/v1/admin/templates/:id/grants', other)
    .get('/v1/admin/grants/:id', r(withId, getGrantHandler(admin, d.grants)))
    .patch('/v1/admin/grants/:id', r(idBody, patchGrantHandler(admin, d.grants)))
    .any('/v1/admin/grants/:id', other)
    .get('/v1/admin/grants/:id/refusals', r(withId, grantRefusalsHandler(admin, d.grants)))
    .any('/v1/admin/grants/:id/refusals', other)
    .post('/v1/admin/templates/:id/codes', r(idBody, createCodesHandler(admin, d.codes)))
    .any('/v1/admin/templates/:id/codes', other)
    .get('/v1/admin/code-batches/:batchId/codes', r(withId, batchCodesHandler(admin, d.codes)))
    .any('/v1/admin/code-batches/:batchId/codes', other)
    .get('/v1/admin/reminders', r(get, remindersHandler(admin, d.reminders)))
    .any('/v1/admin/reminders', other)
    .get('/v1/admin/blacklist', r(get, getBlacklistHandler(admin)))
    .put('/v1/admin/blacklist', r(body, putBlacklistHandler(admin)))
    .any('/v1/admin/blacklist', other)
    .get('/v1/admin/coupons/:couponId', r(withId, couponHistoryHandler(d.coupons)))
    .any('/v1/admin/coupons/:couponId', other);
}
