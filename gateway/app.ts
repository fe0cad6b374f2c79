/** Builds the gateway: storage clients, cache, admission, routes; listens; shuts down gracefully. */
import type { Config } from '../config/index.ts';
import { createRedis, type RedisClient, waitReady } from '../lua/client.ts';
import { Commands } from '../lua/commands.ts';
import { checkLayout, layoutFacts } from '../lua/layout.ts';
import { assertBinaryIds } from '../core/collation.ts';
import { openMysql } from '../core/mysql.ts';
import { Admission } from './admission.ts';
import { BacklogMonitor } from './backlog.ts';
import { Breaker } from './breaker.ts';
import { ClaimService } from './claim/service.ts';
import { BodyDeadlines } from './http/body-deadlines.ts';
import { ApiError } from '../core/errors.ts';
import { type Handler, InFlight, route, type RouteOptions } from './http/route.ts';
import { RequestLog } from './http/request-log.ts';
import { loadUws, type TemplatedApp, type us_listen_socket } from './http/uws.ts';
import { log, logThrottled, processLog } from '../core/log.ts';
import { withDeadlines } from '../core/mysql-deadlines.ts';
import { AdminGuard } from './auth/admin-guard.ts';
import { mountAdminRoutes } from './routes/admin-routes.ts';
import { claimHandler } from './routes/claim.ts';
import { claimBatchHandler } from './routes/claim-batch.ts';
import { couponsHandler } from './routes/coupons.ts';
import { healthHandler, readyHandler } from './routes/health.ts';
import { ClaimCounter } from './stats/counter.ts';
import { StatsFlusher } from './stats/flusher.ts';
import { TemplateCache } from './cache/template-cache.ts';
import { BlacklistStore } from '../templates/blacklist.ts';
import { LiveTemplates } from '../templates/live.ts';
import { StockLedger } from '../templates/stock-ledger.ts';
import { TemplateStore } from '../templates/store.ts';
import { GrantStore } from '../issuance/grant-store.ts';
import { ReminderStore } from '../checkout/reminders.ts';
import { TemplateSync } from './cache/template-sync.ts';
import { adminShare, admissionShare, codesShare } from './worker-share.ts';
import { BatchStore } from '../redemption/batches.ts';
import { CodeSigner } from '../redemption/code-mac.ts';
import { BatchCache } from './cache/batch-cache.ts';
import { FailureBudget } from './redeem-failures.ts';
import { redeemHandler } from './routes/redeem.ts';
import { performance } from 'node:perf_hooks';
import { CouponTcc } from '../checkout/tcc.ts';
import { cartFit } from './checkout/judge.ts';
import { missingCoupon } from './checkout/missing.ts';
import { CheckoutRulesSource } from './checkout/rules.ts';
import { quoteHandler } from './routes/checkout-quote.ts';
import { LatencyBuckets, NoLatency } from './stats/latency.ts';
import { gatewayMetrics } from './metrics/gateway-metrics.ts';
import { workerScrape } from './metrics/worker-scrape.ts';
import { countCalls } from './metrics/checkout-calls.ts';
import { metricsHandler } from './routes/metrics.ts';
import { openApiHandler } from './routes/openapi.ts';
import { openApiDocument } from './openapi/document.ts';
import { recording, type RouteEntry } from './route-table.ts';
import { cancelHandler, confirmHandler, lockHandler, refundHandler, type TccRouteDeps } from './routes/checkout-tcc.ts';

export interface Gateway {
  readonly port: number;
  /** Port of the separate admin listener (ADMIN_ROUTES=separate), else undefined. */
  readonly adminPort: number | undefined;
  readonly redis: RedisClient;
  /** Every route registered, as registered (the OpenAPI test checks the document against it). */
  readonly routes: readonly RouteEntry[];
  /** Turns not ready (for SHUTDOWN_READY_DELAY_MS), stops accepting, waits for in-flight requests (up to the grace period), closes storage. */
  stop(): Promise<void>;
}

const methodNotAllowed: Handler = () => { throw new ApiError('method_not_allowed'); };
const notFound: Handler = () => { throw new ApiError('not_found', 'no such route'); };

/** Listens on host:port; resolves with the listen socket. */
function listen(app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> {
  return new Promise((resolve, reject) =>
    app.listen(host, port, (s) => (s ? resolve(s) : reject(new Error(`cannot listen on ${host}:${port}`)))));
}

/** Starts a gateway with this config; resolves once it listens. */
export async function startGateway(cfg: Config): Promise<Gateway> {
  const uws = loadUws(cfg.http.allowUwsFallback);
  const ks = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
  const layout = { dbs: cfg.mysql.shardDbs, tables: cfg.mysql.shardTables };
  // No offline queue: while Redis is away, claims fail at once with 503 instead of hanging.
  const redis = createRedis(cfg.redis, { offlineQueue: false, name: 'gateway' });
  let redisConnectionErrors = 0;
  redis.on('error', (err) => {
    redisConnectionErrors++;
    logThrottled('redis-connection', 'warn', 'redis connection error', { err });
  });
  await waitReady(redis, 10_000);
  await checkLayout(redis, ks, layoutFacts(cfg));
  const commands = new Commands(redis, ks);
  if (!(await commands.fence.open())) log('warn', 'Redis restarted and is not repaired yet: claims answer 503 until the reconciler (in the sink) has repaired it');
  const mysql = withDeadlines(openMysql(cfg.mysql), cfg.mysql.queryTimeoutMs);
  // A database that compares ids ignoring case would answer for the wrong user or template.
  await assertBinaryIds(mysql, cfg.mysql);

  const live = new LiveTemplates(redis, ks);
  const store = new TemplateStore(mysql, live, cfg.mysql);
  const cache = new TemplateCache((id) => live.get(id), cfg.claim.missTtlMs, cfg.claim.missCacheMax);
  // Subscriber mode needs a connection of its own; it queues while reconnecting.
  const sub = createRedis(cfg.redis, { offlineQueue: true, name: 'gateway-templates' });
  sub.on('error', (err) => logThrottled('redis-subscriber', 'warn', 'redis subscriber connection error', { err }));
  const sync = new TemplateSync(sub, ks, cache,
    { reloadEveryMs: cfg.templates.reloadEveryMs, loadCurrent: () => store.current(Date.now()) });
  await sync.start();
  // A worker of several (gateway/workers.ts) has its share of the gateway's budgets.
  const { count: workers, index: worker } = cfg.workers;
  const admission = new Admission(admissionShare(cfg.admission, workers), performance.now());
  const adminCfg = adminShare(cfg.admin, workers, worker ?? 0);
  const backlog = new BacklogMonitor(redis, ks, cfg.redis.streamGroup, cfg.claim.backlogMax, cfg.claim.backlogPollMs);
  await backlog.start();
  const counter = new ClaimCounter();
  const stats = new StatsFlusher(redis, ks, counter, cfg.stats.flushMs, worker === undefined ? undefined : `w${worker}-${process.pid}`);
  stats.start();
  const breaker = new Breaker({ failures: cfg.redis.breakerFailures, windowMs: cfg.redis.breakerWindowMs,
    coolDownMs: cfg.redis.breakerCoolDownMs }, (open) => log('warn', open
    ? 'redis circuit open: claims answer 503 until a probe call succeeds' : 'redis circuit closed'));
  // METRICS_ENABLED=0 (the bench's comparison run): no histograms, no registry, no /metrics.
  const on = cfg.metrics.enabled;
  const latency = on ? new LatencyBuckets() : new NoLatency();
  const redisLatency = on ? new LatencyBuckets() : undefined;
  const claims = new ClaimService({ commands, ks, layout, cache, admission, backlog, counter, latency, redisLatency, breaker, cfg: cfg.claim });
  const metrics = redisLatency ? gatewayMetrics({ counter, latency, redisLatency, admission, breaker, backlog, cache, sync,
    redisConnectionErrors: () => redisConnectionErrors, stock: (t) => live.stock(t), topTemplates: cfg.metrics.topTemplates, worker }) : undefined;
  const calls = (name: string, h: Handler) => (metrics ? countCalls(metrics.checkout, name, h) : h);
  const guard = new AdminGuard(cfg.adminToken, adminCfg);
  const blacklist = new BlacklistStore(mysql, cfg.mysql);
  const admin = {
    store, cache, blacklist,
    auth: (req: { authorization: string; remoteAddress: string }) => guard.check(req.authorization, req.remoteAddress, performance.now()),
    rules: { partitions: cfg.redis.partitions, defaultValidDays: cfg.claim.defaultValidDays, audienceMax: cfg.templates.audienceMax },
  };
  const stock = { commands, store, live, ledger: new StockLedger(mysql, cfg.mysql) };
  const batches = new BatchStore(mysql, cfg.mysql);
  const codes = { batches, signer: new CodeSigner(cfg.codes.secret) };
  const redeem = {
    service: claims, signer: codes.signer, tokenSecrets: cfg.userTokenSecrets,
    batches: new BatchCache((batchNo) => batches.byNumber(batchNo), cfg.codes.batchCacheMax),
    failures: new FailureBudget(codesShare(cfg.codes, workers)),
  };

  const rules = new CheckoutRulesSource(cache, blacklist, cfg.checkout.blacklistTtlMs);
  const serviceGuard = cfg.checkout.orderServiceToken === undefined ? undefined
    : new AdminGuard(cfg.checkout.orderServiceToken, adminCfg, 'order service');
  const tcc: TccRouteDeps = {
    tcc: new CouponTcc(mysql, cfg.mysql, cfg.checkout.lockTtlMs),
    tokenSecrets: cfg.userTokenSecrets,
    serviceAuth: (req) => serviceGuard?.check(req.authorization, req.remoteAddress, performance.now()),
    missing: (couponId, now) => missingCoupon(redis, ks, couponId, now, cfg.checkout.storeWaitMs),
    fit: (c, cart, now) => cartFit(rules, c, cart, now),
  };
  const quoteDeps = { mysql, cfg: cfg.mysql, rules, tokenSecrets: cfg.userTokenSecrets, maxCoupons: cfg.checkout.quoteMaxCoupons };

  let draining = false;
  const inFlight = new InFlight();
  const env = { inFlight, log: new RequestLog(processLog()), deadlines: new BodyDeadlines(cfg.http.bodyTimeoutMs) };
  // Claims are not traced (no request id, no line unless they fail unexpectedly); the other
  // public routes log an access line at debug, the admin routes at info (http/request-log.ts).
  const claimRoute = (opts: RouteOptions, h: Handler) => route(env, opts, h);
  const r = (opts: RouteOptions, h: Handler) => route(env, { access: 'debug', ...opts }, h);
  const adminRoute = (opts: RouteOptions, h: Handler) => route(env, { access: 'info', ...opts }, h);
  const grants = { grants: new GrantStore(mysql, cfg.mysql), rateDefault: cfg.grants.rateDefault,
    upload: { highWater: cfg.grants.uploadBufferBytes, idleMs: cfg.grants.uploadIdleMs } };
  const coupons = { auth: admin.auth, mysql, cfg: cfg.mysql };
  const reminders = new ReminderStore(mysql, cfg.mysql);
  const adminRoutes = { admin, stock, codes, grants, coupons, reminders, redis, ks, maxBody: cfg.http.maxAdminBody, r: adminRoute, methodNotAllowed };
  const cartBody = { bodyCap: cfg.http.maxCartBody };
  const orderCall = { params: 1, bodyCap: cfg.http.maxClaimBody, address: true };
  const routes: RouteEntry[] = [];
  // Built once here; no token on any listener: it describes routes, reveals no data (routes/openapi.ts).
  const openApi = r({}, openApiHandler(openApiDocument(admin.rules)));
  const app: TemplatedApp = recording(uws.App(), routes, 'public')
    .post('/v1/claim', claimRoute({ bodyCap: cfg.http.maxClaimBody }, claimHandler(claims, cfg.userTokenSecrets)))
    .any('/v1/claim', r({}, methodNotAllowed))
    // 20 ids of 64 characters are ~1.5 KB: at least 2 KB, whatever MAX_BODY_BYTES says.
    .post('/v1/claim/batch', claimRoute({ bodyCap: Math.max(2048, 2 * cfg.http.maxClaimBody) }, claimBatchHandler(claims, cfg.userTokenSecrets)))
    .any('/v1/claim/batch', r({}, methodNotAllowed))
    .post('/v1/redeem', r({ bodyCap: cfg.http.maxClaimBody, address: true }, redeemHandler(redeem)))
    .any('/v1/redeem', r({}, methodNotAllowed))
    .get('/v1/users/:userId/coupons', r({ params: 1 }, couponsHandler(mysql, cfg.mysql, cfg.userTokenSecrets)))
    .any('/v1/users/:userId/coupons', r({}, methodNotAllowed))
    .post('/v1/checkout/quote', r(cartBody, calls('quote', quoteHandler(quoteDeps))))
    .any('/v1/checkout/quote', r({}, methodNotAllowed))
    .post('/v1/coupons/:couponId/lock', r({ ...cartBody, params: 1 }, calls('lock', lockHandler(tcc))))
    .post('/v1/coupons/:couponId/confirm', r(orderCall, calls('confirm', confirmHandler(tcc))))
    .post('/v1/coupons/:couponId/cancel', r(orderCall, calls('cancel', cancelHandler(tcc))))
    .post('/v1/coupons/:couponId/refund', r(orderCall, calls('refund', refundHandler(tcc))))
    .any('/v1/coupons/:couponId/lock', r({}, methodNotAllowed))
    .any('/v1/coupons/:couponId/confirm', r({}, methodNotAllowed))
    .any('/v1/coupons/:couponId/cancel', r({}, methodNotAllowed))
    .any('/v1/coupons/:couponId/refund', r({}, methodNotAllowed))
    .get('/healthz', r({}, healthHandler))
    .get('/readyz', r({}, readyHandler(redis, mysql, () => draining)))
    .get('/openapi.json', openApi)
    .any('/openapi.json', r({}, methodNotAllowed));
  if (adminCfg.routes === 'public') mountAdminRoutes(app, adminRoutes);
  // Beside the admin routes, behind their token unless METRICS_PUBLIC=1.
  // A worker of several answers for all of them (metrics/worker-scrape.ts).
  const text = metrics && (worker !== undefined && process.send ? workerScrape(metrics.registry) : () => metrics.registry.metrics());
  const scrape = metrics && text
    && r({ address: true, authorize: cfg.metrics.public ? undefined : admin.auth }, metricsHandler(text, metrics.registry.contentType));
  if (scrape && adminCfg.routes !== 'separate') app.get('/metrics', scrape).any('/metrics', r({}, methodNotAllowed));
  app.any('/*', r({}, notFound));
  const sockets = [await listen(app, cfg.http.host, cfg.http.port)];
  if (adminCfg.routes === 'separate') {
    const adminApp = mountAdminRoutes(recording(uws.App(), routes, 'admin'), adminRoutes).get('/healthz', r({}, healthHandler))
      .get('/openapi.json', openApi).any('/openapi.json', r({}, methodNotAllowed));
    if (scrape) adminApp.get('/metrics', scrape).any('/metrics', r({}, methodNotAllowed));
    adminApp.any('/*', r({}, notFound));
    sockets.push(await listen(adminApp, adminCfg.host, adminCfg.port));
  }
  const portOf = (s: us_listen_socket) => uws.us_socket_local_port(s as unknown as Parameters<typeof uws.us_socket_local_port>[0]);

  return {
    port: portOf(sockets[0]!),
    adminPort: sockets[1] && portOf(sockets[1]),
    redis,
    routes,
    stop: async () => {
      draining = true;
      // /readyz says 503 from here while everything is still served (SHUTDOWN_READY_DELAY_MS).
      if (cfg.http.shutdownReadyDelayMs > 0) await new Promise((res) => setTimeout(res, cfg.http.shutdownReadyDelayMs));
      for (const s of sockets) uws.us_listen_socket_close(s);
      const grace = new Promise((res) => setTimeout(res, cfg.http.shutdownGraceMs).unref());
      await Promise.race([inFlight.drained(), grace]);
      env.deadlines.stop();
      backlog.stop();
      // The counts of the last tick and of the drained requests, before the connection closes.
      await stats.stop();
      await Promise.allSettled([sync.stop(), redis.quit(), mysql.close()]);
    },
  };
}
