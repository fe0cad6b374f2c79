/**
 * The one place that reads the environment. Every process (gateway, sink, tools, tests) calls
 * loadConfig() once and passes the frozen result down; nothing else touches process.env.
 */
import { hostname } from 'node:os';
import { bool, type Env, identifier, int, list, oneOf, optional, optionalInt, str } from './schema.ts';

/** Parses and validates every setting; throws with the variable's name on a bad value. */
export function loadConfig(env: Env = process.env) {
  const appEnv = oneOf('production', ['local', 'test', 'production'] as const)(env, 'APP_ENV');
  const adminTokenRaw = optional()(env, 'ADMIN_TOKEN');
  if (adminTokenRaw !== undefined && adminTokenRaw.length < 12) {
    throw new Error('config: ADMIN_TOKEN must be at least 12 characters');
  }
  const userTokenSecrets = list([])(env, 'USER_TOKEN_SECRETS');
  if (userTokenSecrets.some((x) => x.length < 32)) throw new Error('config: every USER_TOKEN_SECRETS entry must be at least 32 characters');
  const orderServiceToken = optional()(env, 'ORDER_SERVICE_TOKEN');
  if (orderServiceToken !== undefined && orderServiceToken.length < 16) throw new Error('config: ORDER_SERVICE_TOKEN must be at least 16 characters');
  const codeSecretRaw = optional()(env, 'CODE_SECRET');
  if (codeSecretRaw !== undefined && codeSecretRaw.length < 32) throw new Error('config: CODE_SECRET must be at least 32 characters');
  const partitions = int(16, 1, 1024)(env, 'PARTITIONS');
  const workers = int(1, 1, 64)(env, 'GATEWAY_WORKERS');
  const workerIndex = optionalInt(0, 63)(env, 'GATEWAY_WORKER_INDEX');
  if (workerIndex !== undefined && workerIndex >= workers) {
    throw new Error(`config: GATEWAY_WORKER_INDEX=${workerIndex} is not below GATEWAY_WORKERS=${workers}`);
  }
  const cfg = {
    // production by default so a forgotten variable fails closed; the Makefile sets local.
    appEnv,
    // dev token only for local/test runs: the gateway refuses to start without one in production.
    adminToken: adminTokenRaw ?? 'dev-admin-token',
    adminTokenIsDefault: adminTokenRaw === undefined,
    admin: {
      // public: admin routes on the public port (local runs); separate: their own listener, which
      // production keeps off the internet; off: this process serves no admin route at all.
      routes: oneOf('public', ['public', 'separate', 'off'] as const)(env, 'ADMIN_ROUTES'),
      // the separate listener binds loopback unless told otherwise: admin is an internal API.
      host: str('127.0.0.1')(env, 'ADMIN_HOST'),
      port: int(8081, 0, 65535)(env, 'ADMIN_PORT'),
      // where the operator tools (npm run admin) send admin requests: the public port of a local
      // run; set it to the admin listener (http://127.0.0.1:8081) with ADMIN_ROUTES=separate.
      url: str('http://127.0.0.1:8080')(env, 'ADMIN_URL'),
      // wrong tokens one client address may send at once, then earns back per minute: an
      // operator's typo passes, guessing a 12+ character token becomes hopeless. Split over the
      // workers when they all serve admin routes (gateway/worker-share.ts).
      failureBurst: int(10, 1, 10_000)(env, 'ADMIN_FAILURE_BURST'),
      failuresPerMinute: int(6, 1, 10_000)(env, 'ADMIN_FAILURES_PER_MINUTE'),
      // client addresses remembered for that budget; the oldest is forgotten first.
      maxAddresses: int(100_000, 100, 10_000_000)(env, 'ADMIN_FAILURE_ADDRESSES'),
    },
    codes: {
      // the key of every redemption code's MAC (redemption/code-mac.ts): whoever holds it can
      // mint codes, and changing it voids every code handed out. A fixed dev secret only for
      // local/test runs: the gateway refuses to start without one in production.
      secret: codeSecretRaw ?? 'dev-code-secret-not-for-production-use',
      secretIsDefault: codeSecretRaw === undefined,
      // invalid or used codes one user, and one client address, may send at once before 429
      // too_many_failures: a typo or two pass, guessing is hopeless anyway (2^-60 a try) and
      // costs no storage call, so the budget only bounds the CPU a guesser spends. Split over
      // the workers like the admission buckets (gateway/worker-share.ts).
      failureBurst: int(10, 1, 1_000_000)(env, 'REDEEM_FAILURE_BURST'),
      // failures earned back per minute, per user and per address.
      failuresPerMinute: int(6, 1, 1_000_000)(env, 'REDEEM_FAILURES_PER_MINUTE'),
      // users plus addresses remembered for that budget; the oldest is forgotten first, so a
      // flood of made-up users cannot grow memory (~100 bytes each).
      maxKeys: int(100_000, 100, 10_000_000)(env, 'REDEEM_FAILURE_KEYS'),
      // batch number -> template entries kept in each gateway (a miss is one indexed MySQL read).
      batchCacheMax: int(10_000, 1, 1_000_000)(env, 'CODE_BATCH_CACHE_MAX'),
    },
    // secrets shared with the upstream login service; when set, a claim's user comes from a signed
    // token, never from the body (the first secret signs, all verify: rotation). Off by default.
    userTokenSecrets,
    checkout: {
      // order services present it (Bearer) to confirm, cancel and refund; unset, those calls
      // are open like quote and lock without user tokens (local runs).
      orderServiceToken,
      // a coupon locked longer than this returns to unused by itself: an order left open (its
      // service crashed, the user walked away) must not hold a coupon for ever. 15 minutes is
      // the usual payment window.
      lockTtlMs: int(900_000, 1_000, 86_400_000)(env, 'COUPON_LOCK_TTL_MS'),
      // how often the sink releases stale locks (the gateway also treats a stale lock as free
      // at once, so this only tidies rows and records the transition).
      lockSweepMs: int(5_000, 100, 3_600_000)(env, 'LOCK_SWEEP_MS'),
      // a coupon id missing from MySQL answers 503 (Retry-After) rather than 404 while it was
      // minted at most this long ago: the sink stores a claim within a second, unless it is
      // down or far behind (then claims get 503 too, gateway/backlog.ts).
      storeWaitMs: int(120_000, 1_000, 86_400_000)(env, 'CHECKOUT_STORE_WAIT_MS'),
      // a quote considers at most this many of the user's coupons, soonest to expire first.
      quoteMaxCoupons: int(500, 1, 10_000)(env, 'QUOTE_MAX_COUPONS'),
      // the global blacklist is re-read from MySQL at most this often by each gateway.
      blacklistTtlMs: int(5_000, 0, 3_600_000)(env, 'BLACKLIST_TTL_MS'),
    },
    http: {
      // 0.0.0.0 in production; `make run` binds loopback.
      host: str('0.0.0.0')(env, 'HOST'),
      // the product's public port.
      port: int(8080, 0, 65535)(env, 'PORT'),
      // a claim body is ~100 bytes; 4 KiB leaves room for ids and still refuses junk early.
      maxClaimBody: int(4096, 256, 1 << 20)(env, 'MAX_BODY_BYTES'),
      // a checkout body holds a cart of up to 200 items (~150 bytes each).
      maxCartBody: int(64 << 10, 4096, 1 << 20)(env, 'MAX_CART_BODY_BYTES'),
      // template bodies carry rules and lists (an audience of 10,000 ids is ~700 KB).
      maxAdminBody: int(1 << 20, 1024, 8 << 20)(env, 'ADMIN_MAX_BODY_BYTES'),
      // a request body not complete this long after its headers gets 408 and the connection is
      // closed (slowloris). A claim body is one packet; 1 MB admin bodies take milliseconds on a
      // LAN. At most 6 s: the deadline fires within 1.25x of it, and uWS itself drops a
      // connection whose body is still arriving after 8-12 s (hard-coded) without an answer.
      bodyTimeoutMs: int(5_000, 100, 6_000)(env, 'BODY_TIMEOUT_MS'),
      // SIGTERM: stop accepting, then wait this long for in-flight requests before exiting.
      shutdownGraceMs: int(10_000, 0, 120_000)(env, 'SHUTDOWN_GRACE_MS'),
      // SIGTERM first turns /readyz to 503 and keeps serving this long, so a load balancer
      // (checking every few seconds) stops sending before the listener closes. No balancer in
      // local and test runs: they stop at once.
      shutdownReadyDelayMs: int(appEnv === 'production' ? 5_000 : 0, 0, 120_000)(env, 'SHUTDOWN_READY_DELAY_MS'),
      // refusing the slow pure-JS uWS shim is the default; only tooling may opt in.
      allowUwsFallback: bool(false)(env, 'ALLOW_UWS_FALLBACK'),
    },
    workers: {
      // gateway processes sharing PORT (gateway/workers.ts), each with 1/N of the admission
      // rates. 1 (make run, tests) is one process and no supervisor; production runs about one
      // per core left over after Redis and the sink (docs/claim-path.md, "Gateway workers").
      count: workers,
      // set by the supervisor on each worker it starts (0..count-1), never by hand; unset in the
      // supervisor and in a lone gateway.
      index: workerIndex,
    },
    redis: {
      // the Makefile's local Redis; production sets its own.
      url: str('redis://127.0.0.1:6391')(env, 'REDIS_URL'),
      // host:port,... of a Redis Cluster; when set, REDIS_URL is ignored.
      clusterNodes: list([])(env, 'REDIS_CLUSTER_NODES'),
      // a claim is a few Redis calls inside the brief's 100 ms internal budget; a command slower
      // than this is treated as failed (its outcome unknown).
      commandTimeoutMs: int(250, 10, 60_000)(env, 'REDIS_COMMAND_TIMEOUT_MS'),
      // circuit breaker of the claim path (gateway/breaker.ts): it opens when, within one window,
      // at least this many Redis calls failed and they were at least half of the calls. The
      // ratio keeps the background timeouts of a healthy Redis (brief: 2-3 per 10,000) and one
      // hung shard of a cluster (a third of the calls) from shutting out every claim.
      breakerFailures: int(10, 1, 1_000_000)(env, 'REDIS_BREAKER_FAILURES'),
      breakerWindowMs: int(1_000, 10, 600_000)(env, 'REDIS_BREAKER_WINDOW_MS'),
      // an open breaker answers claims 503 at once for this long, then lets one probe call
      // through; a second matches Retry-After, and a hung Redis sees one command per second.
      breakerCoolDownMs: int(1_000, 10, 600_000)(env, 'REDIS_BREAKER_COOLDOWN_MS'),
      // batch the commands of one event-loop turn into one socket write (measured: BENCHMARKS.md).
      autoPipelining: bool(false)(env, 'REDIS_AUTO_PIPELINING'),
      // every key starts with this, so tests and tenants can share one Redis.
      keyPrefix: identifier('cg')(env, 'KEY_PREFIX'),
      // stream partitions / hash tags; fixed for the life of the data (checked at start-up).
      partitions,
      // consumer group that the sink reads the partition streams with.
      streamGroup: identifier('sink')(env, 'STREAM_GROUP'),
    },
    mysql: {
      // the Makefile's local MariaDB; production sets its own.
      url: str('mysql://root@127.0.0.1:3391')(env, 'MYSQL_URL'),
      // optional per-database servers: database i lives on MYSQL_SHARD_URLS[i % length].
      shardUrls: list([])(env, 'MYSQL_SHARD_URLS'),
      // databases are <prefix>_main (templates) and <prefix>_<n> (user coupons).
      dbPrefix: identifier('coupon')(env, 'DB_PREFIX'),
      // N databases x M tables (brief: db = hash/M % N, table = hash % M); small for one box.
      shardDbs: int(2, 1, 256)(env, 'SHARD_DBS'),
      shardTables: int(4, 1, 1024)(env, 'SHARD_TABLES'),
      // connections per server; the sink writes shards in parallel.
      poolSize: int(8, 1, 256)(env, 'MYSQL_POOL_SIZE'),
      // connect timeout; queries are bounded by the pool's queue and the sink's retry loop.
      connectTimeoutMs: int(2000, 100, 60_000)(env, 'MYSQL_CONNECT_TIMEOUT_MS'),
      // every gateway statement (listings, admin, template reloads), waiting for a pooled
      // connection included: a healthy server answers these indexed reads and small writes in
      // milliseconds, so 2 s only fires on a hung server or a lost connection (answered 503).
      queryTimeoutMs: int(2_000, 50, 600_000)(env, 'MYSQL_QUERY_TIMEOUT_MS'),
    },
    admission: {
      // per gateway, split evenly over its GATEWAY_WORKERS processes (gateway/worker-share.ts);
      // ~2x what one process served in the brief's prototype.
      globalRps: int(50_000, 1, 10_000_000)(env, 'ADMIT_GLOBAL_RPS'),
      globalBurst: int(5_000, 1, 10_000_000)(env, 'ADMIT_GLOBAL_BURST'),
      // per template per gateway (split the same way): one hot template must not starve the rest of Redis.
      templateRps: int(20_000, 1, 10_000_000)(env, 'ADMIT_TEMPLATE_RPS'),
      templateBurst: int(2_000, 1, 10_000_000)(env, 'ADMIT_TEMPLATE_BURST'),
    },
    claim: {
      // a retry that finds its own reservation unsettled waits this long before a 503.
      pendingWaitMs: int(300, 0, 5_000)(env, 'CLAIM_PENDING_WAIT_MS'),
      // unknown template ids are remembered as missing for this long (protects Redis).
      missTtlMs: int(1_000, 0, 60_000)(env, 'TEMPLATE_MISS_TTL_MS'),
      // bound on remembered missing ids, so random ids cannot grow memory.
      missCacheMax: int(10_000, 1, 10_000_000)(env, 'TEMPLATE_MISS_CACHE_MAX'),
      // unacknowledged stream entries (all partitions) above which claims get 503; an entry holds
      // the records of one template in one claim call (1 at low load, up to 64 under load: lua/record.ts).
      backlogMax: int(500_000, 1, 1_000_000_000)(env, 'BACKLOG_MAX'),
      // how often the gateway samples the backlog.
      backlogPollMs: int(250, 10, 60_000)(env, 'BACKLOG_POLL_MS'),
      // coupons without validDays stay usable this many days after the claim.
      defaultValidDays: int(30, 1, 3650)(env, 'DEFAULT_VALID_DAYS'),
    },
    templates: {
      // the sources' safety net behind pub/sub: a full reload from MySQL every 15 minutes.
      reloadEveryMs: int(900_000, 1_000, 86_400_000)(env, 'TEMPLATE_RELOAD_MS'),
      // every gateway holds each audience in memory; larger lists belong in an eligibility service.
      audienceMax: int(10_000, 1, 1_000_000)(env, 'TEMPLATE_AUDIENCE_MAX'),
    },
    log: {
      // pino levels; silent turns every line off (the bench's "logging off" run). debug adds
      // per-request lines on non-claim routes.
      level: oneOf('info', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const)(env, 'LOG_LEVEL'),
    },
    metrics: {
      // off: no /metrics route and no claim latency histogram, for the bench's "metrics off" run
      // beside the usual one; the claim path's plain counters feed /v1/admin/stats either way.
      enabled: bool(true)(env, 'METRICS_ENABLED'),
      // GET /metrics answers without the admin token: for a scraper on a network that already
      // keeps strangers out (the admin listener of ADMIN_ROUTES=separate, say).
      public: bool(false)(env, 'METRICS_PUBLIC'),
      // templates with a series of their own in coupon_claims_total; the rest are summed as
      // "other" (the spread scenario claims 2,000 templates: a series each would swamp Prometheus).
      topTemplates: int(20, 0, 1_000)(env, 'METRICS_TOP_TEMPLATES'),
      // the sink's /metrics and /healthz listener; 0 takes a free port (logged). Tests run many
      // sinks at once, so there it is 0 unless set. 9464 is Prometheus exporters' usual port.
      sinkPort: int(appEnv === 'test' ? 0 : 9464, 0, 65535)(env, 'SINK_METRICS_PORT'),
      // loopback unless told otherwise: the numbers are internal.
      sinkHost: str('127.0.0.1')(env, 'SINK_METRICS_HOST'),
    },
    stats: {
      // gateways count claim outcomes in memory and write the deltas to Redis this often: no
      // Redis call per claim, and stats lag by about one period on any gateway.
      flushMs: int(1_000, 50, 60_000)(env, 'STATS_FLUSH_MS'),
    },
    test: {
      // host:port,... of the local 3-master cluster `make test` starts; only tests read it.
      clusterNodes: list([])(env, 'TEST_REDIS_CLUSTER_NODES'),
    },
    reconcile: {
      // a full pass this often, in the sink process that holds the lease.
      everyMs: int(60_000, 1_000, 86_400_000)(env, 'RECONCILE_EVERY_MS'),
      // a Redis restart (a new run id) is looked for this often: after an AOF that lost its
      // last second, users and stock are repaired from MySQL as soon as possible.
      restartCheckMs: int(1_000, 100, 600_000)(env, 'RECONCILE_RESTART_CHECK_MS'),
      // the lease outlives a few passes of a stalled holder before another process takes over.
      leaseMs: int(180_000, 1_000, 86_400_000)(env, 'RECONCILE_LEASE_MS'),
      // a reservation is settled only when this old: a live gateway settles its own within
      // a second (a few Redis timeouts), so older ones belong to a gateway that died.
      pendingAgeMs: int(30_000, 1_000, 86_400_000)(env, 'RECONCILE_PENDING_AGE_MS'),
      // how long a pass waits for the sink to store what the streams hold before it trusts MySQL.
      drainTimeoutMs: int(30_000, 1_000, 600_000)(env, 'RECONCILE_DRAIN_TIMEOUT_MS'),
      // after a Redis restart, coupons claimed this long before it are checked against Redis
      // (everysec loses about a second; the margin covers a slow sink and clock skew).
      restartWindowMs: int(600_000, 10_000, 86_400_000)(env, 'RECONCILE_RESTART_WINDOW_MS'),
    },
    grants: {
      // users per second of a job that names no rate: a 1M-user grant in ~17 minutes, leaving
      // most of Redis to claims (one group call of a few hundred users costs ~1 ms of Redis).
      rateDefault: int(1_000, 1, 1_000_000)(env, 'GRANT_RATE_DEFAULT'),
      // users decided per chunk at most: one MySQL commit of the cursor and counts each, and a
      // chunk is re-run as a whole after a crash. A slow rate makes smaller chunks (half a second).
      chunkMax: int(500, 1, 10_000)(env, 'GRANT_CHUNK_MAX'),
      // unacknowledged stream entries above which grant jobs wait: well below BACKLOG_MAX, where
      // claims start getting 503, so a grant never crowds out claims on the sink.
      backlogMax: int(100_000, 1, 1_000_000_000)(env, 'GRANT_BACKLOG_MAX'),
      // a user whose claim keeps failing (Redis away, an earlier reservation unsettled) is retried
      // with backoff this long, then counted failed and recorded (reason failed). Longer than a
      // reconciler pass settles a dead process's reservation (RECONCILE_PENDING_AGE_MS + EVERY_MS).
      retryMs: int(120_000, 100, 3_600_000)(env, 'GRANT_RETRY_MS'),
      // how often the sink looks for running jobs and a job re-reads its state and rate: a pause,
      // cancel or rate change takes effect within this (and one chunk).
      pollMs: int(500, 50, 60_000)(env, 'GRANT_POLL_MS'),
      // bytes of a streamed user list held in memory while MySQL catches up; above it the gateway
      // stops reading the socket (TCP flow control slows the client) until the batch is written.
      uploadBufferBytes: int(4 << 20, 64 << 10, 256 << 20)(env, 'GRANT_UPLOAD_BUFFER_BYTES'),
      // a streamed list that sends nothing this long (not counting our own pauses) gets 408.
      uploadIdleMs: int(10_000, 100, 600_000)(env, 'GRANT_UPLOAD_IDLE_MS'),
    },
    sink: {
      // unique per process so the group can tell a dead consumer's entries apart.
      consumer: str(`${hostname()}-${process.pid}`)(env, 'SINK_CONSUMER'),
      // a batch is split over the shard tables: 4,000 rows over the default 2 x 4 tables make
      // the ~500-row INSERTs where MariaDB peaks (brief, section 6).
      // at most 20,000: one shard table's INSERT must stay far below max_allowed_packet (16 MiB).
      batchMaxRows: int(4_000, 1, 20_000)(env, 'SINK_BATCH_MAX_ROWS'),
      // waiting to fill a batch is what keeps the sink off the gateway's CPU (brief, section 6).
      batchMaxWaitMs: int(100, 0, 60_000)(env, 'SINK_BATCH_MAX_WAIT_MS'),
      // entries per XREADGROUP per partition.
      readCount: int(500, 1, 10_000)(env, 'SINK_READ_COUNT'),
      // a consumer silent this long is presumed dead and its pending entries are taken over.
      reclaimIdleMs: int(30_000, 100, 3_600_000)(env, 'SINK_RECLAIM_IDLE_MS'),
      reclaimEveryMs: int(5_000, 50, 3_600_000)(env, 'SINK_RECLAIM_EVERY_MS'),
      // how often acknowledged entries are trimmed from the streams.
      trimEveryMs: int(1_000, 50, 3_600_000)(env, 'SINK_TRIM_EVERY_MS'),
      // the sink's Redis calls may be slow under load; a timeout after Redis delivered would
      // leave entries pending until reclaimIdleMs, so it waits longer than the gateway.
      redisTimeoutMs: int(5_000, 100, 600_000)(env, 'SINK_REDIS_TIMEOUT_MS'),
      // pause between empty polls of all partitions.
      idleSleepMs: int(20, 1, 10_000)(env, 'SINK_IDLE_SLEEP_MS'),
      // a hung INSERT (half-open connection, lock) fails after this and is retried on a new
      // connection; rows are idempotent, so a retry of one that did commit is harmless.
      mysqlTimeoutMs: int(10_000, 100, 600_000)(env, 'SINK_MYSQL_TIMEOUT_MS'),
      // a record whose template row is still missing this long after the claim is dead-lettered
      // rather than pinning its stream (trimming stops at the oldest pending entry).
      templateWaitMs: int(600_000, 1_000, 86_400_000)(env, 'SINK_TEMPLATE_WAIT_MS'),
      // cap of the exponential backoff while MySQL is failing.
      retryMaxMs: int(5_000, 10, 600_000)(env, 'SINK_RETRY_MAX_MS'),
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
