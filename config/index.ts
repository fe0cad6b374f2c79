/**
 * The one place that reads the environment. Every process (gateway, sink, tools, tests) calls
 * loadConfig() once and passes the frozen result down; nothing else touches process.env. Each
 * variable, its bounds, default and why are declared in settings.ts and settings-jobs.ts.
 */
import { parseSettings } from './parse.ts';
import type { Env } from './schema.ts';

/** Parses and validates every setting; throws a ConfigError naming every bad variable at once. */
export function loadConfig(env: Env = process.env) {
  const { values: v, sources } = parseSettings(env);
  const cfg = {
    appEnv: v.APP_ENV,
    adminToken: v.ADMIN_TOKEN,
    adminTokenIsDefault: sources.ADMIN_TOKEN === 'default',
    admin: {
      routes: v.ADMIN_ROUTES,
      host: v.ADMIN_HOST,
      port: v.ADMIN_PORT,
      url: v.ADMIN_URL,
      failureBurst: v.ADMIN_FAILURE_BURST,
      failuresPerMinute: v.ADMIN_FAILURES_PER_MINUTE,
      maxAddresses: v.ADMIN_FAILURE_ADDRESSES,
    },
    codes: {
      secret: v.CODE_SECRET,
      secretIsDefault: sources.CODE_SECRET === 'default',
      failureBurst: v.REDEEM_FAILURE_BURST,
      failuresPerMinute: v.REDEEM_FAILURES_PER_MINUTE,
      maxKeys: v.REDEEM_FAILURE_KEYS,
      batchCacheMax: v.CODE_BATCH_CACHE_MAX,
    },
    userTokenSecrets: v.USER_TOKEN_SECRETS,
    checkout: {
      orderServiceToken: v.ORDER_SERVICE_TOKEN,
      lockTtlMs: v.COUPON_LOCK_TTL_MS,
      lockSweepMs: v.LOCK_SWEEP_MS,
      storeWaitMs: v.CHECKOUT_STORE_WAIT_MS,
      quoteMaxCoupons: v.QUOTE_MAX_COUPONS,
      blacklistTtlMs: v.BLACKLIST_TTL_MS,
    },
    http: {
      host: v.HOST,
      port: v.PORT,
      maxClaimBody: v.MAX_BODY_BYTES,
      maxCartBody: v.MAX_CART_BODY_BYTES,
      maxAdminBody: v.ADMIN_MAX_BODY_BYTES,
      bodyTimeoutMs: v.BODY_TIMEOUT_MS,
      shutdownGraceMs: v.SHUTDOWN_GRACE_MS,
      shutdownReadyDelayMs: v.SHUTDOWN_READY_DELAY_MS,
      allowUwsFallback: v.ALLOW_UWS_FALLBACK,
    },
    workers: {
      count: v.GATEWAY_WORKERS,
      index: v.GATEWAY_WORKER_INDEX,
    },
    redis: {
      url: v.REDIS_URL,
      clusterNodes: v.REDIS_CLUSTER_NODES,
      commandTimeoutMs: v.REDIS_COMMAND_TIMEOUT_MS,
      breakerFailures: v.REDIS_BREAKER_FAILURES,
      breakerWindowMs: v.REDIS_BREAKER_WINDOW_MS,
      breakerCoolDownMs: v.REDIS_BREAKER_COOLDOWN_MS,
      autoPipelining: v.REDIS_AUTO_PIPELINING,
      waitReplicas: v.REDIS_WAIT_REPLICAS,
      waitTimeoutMs: v.REDIS_WAIT_TIMEOUT_MS,
      keyPrefix: v.KEY_PREFIX,
      partitions: v.PARTITIONS,
      streamGroup: v.STREAM_GROUP,
    },
    mysql: {
      url: v.MYSQL_URL,
      shardUrls: v.MYSQL_SHARD_URLS,
      dbPrefix: v.DB_PREFIX,
      shardDbs: v.SHARD_DBS,
      shardTables: v.SHARD_TABLES,
      poolSize: v.MYSQL_POOL_SIZE,
      connectTimeoutMs: v.MYSQL_CONNECT_TIMEOUT_MS,
      queryTimeoutMs: v.MYSQL_QUERY_TIMEOUT_MS,
    },
    admission: {
      globalRps: v.ADMIT_GLOBAL_RPS,
      globalBurst: v.ADMIT_GLOBAL_BURST,
      templateRps: v.ADMIT_TEMPLATE_RPS,
      templateBurst: v.ADMIT_TEMPLATE_BURST,
    },
    claim: {
      pendingWaitMs: v.CLAIM_PENDING_WAIT_MS,
      missTtlMs: v.TEMPLATE_MISS_TTL_MS,
      missCacheMax: v.TEMPLATE_MISS_CACHE_MAX,
      backlogMax: v.BACKLOG_MAX,
      backlogPollMs: v.BACKLOG_POLL_MS,
      defaultValidDays: v.DEFAULT_VALID_DAYS,
    },
    templates: {
      reloadEveryMs: v.TEMPLATE_RELOAD_MS,
      audienceMax: v.TEMPLATE_AUDIENCE_MAX,
    },
    log: {
      level: v.LOG_LEVEL,
    },
    metrics: {
      enabled: v.METRICS_ENABLED,
      public: v.METRICS_PUBLIC,
      topTemplates: v.METRICS_TOP_TEMPLATES,
      sinkPort: v.SINK_METRICS_PORT,
      sinkHost: v.SINK_METRICS_HOST,
    },
    stats: {
      flushMs: v.STATS_FLUSH_MS,
    },
    test: {
      clusterNodes: v.TEST_REDIS_CLUSTER_NODES,
      topologyRedisNodes: v.TEST_TOPOLOGY_REDIS_NODES,
      topologyMysqlUrls: v.TEST_TOPOLOGY_MYSQL_URLS,
    },
    reconcile: {
      everyMs: v.RECONCILE_EVERY_MS,
      restartCheckMs: v.RECONCILE_RESTART_CHECK_MS,
      leaseMs: v.RECONCILE_LEASE_MS,
      pendingAgeMs: v.RECONCILE_PENDING_AGE_MS,
      drainTimeoutMs: v.RECONCILE_DRAIN_TIMEOUT_MS,
      restartWindowMs: v.RECONCILE_RESTART_WINDOW_MS,
    },
    grants: {
      rateDefault: v.GRANT_RATE_DEFAULT,
      chunkMax: v.GRANT_CHUNK_MAX,
      backlogMax: v.GRANT_BACKLOG_MAX,
      retryMs: v.GRANT_RETRY_MS,
      pollMs: v.GRANT_POLL_MS,
      uploadBufferBytes: v.GRANT_UPLOAD_BUFFER_BYTES,
      uploadIdleMs: v.GRANT_UPLOAD_IDLE_MS,
    },
    sink: {
      consumer: v.SINK_CONSUMER,
      batchMaxRows: v.SINK_BATCH_MAX_ROWS,
      batchMaxWaitMs: v.SINK_BATCH_MAX_WAIT_MS,
      readCount: v.SINK_READ_COUNT,
      reclaimIdleMs: v.SINK_RECLAIM_IDLE_MS,
      reclaimEveryMs: v.SINK_RECLAIM_EVERY_MS,
      trimEveryMs: v.SINK_TRIM_EVERY_MS,
      redisTimeoutMs: v.SINK_REDIS_TIMEOUT_MS,
      idleSleepMs: v.SINK_IDLE_SLEEP_MS,
      mysqlTimeoutMs: v.SINK_MYSQL_TIMEOUT_MS,
      templateWaitMs: v.SINK_TEMPLATE_WAIT_MS,
      retryMaxMs: v.SINK_RETRY_MAX_MS,
    },
  } as const;
  return deepFreeze(cfg);
}

export type Config = ReturnType<typeof loadConfig>;

/**
 * The environment of gateway worker `index`: this process's, plus its index and the port every
 * worker binds (a concrete one: port sharing needs it, gateway/workers.ts).
 */
export function workerEnv(index: number, port: number, env: Env = process.env): Record<string, string | undefined> {
  return { ...env, GATEWAY_WORKER_INDEX: String(index), PORT: String(port) };
}

/** The process environment with some variables replaced (tests and tools build variants). */
export function loadConfigWith(overrides: Record<string, string | undefined>): Config {
  return loadConfig({ ...process.env, ...overrides });
}

function deepFreeze<T>(o: T): T {
  for (const v of Object.values(o as object)) if (v && typeof v === 'object') deepFreeze(v);
  return Object.freeze(o);
}
