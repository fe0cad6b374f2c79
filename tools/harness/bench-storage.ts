/**
 * The bench's own slice of the local Redis and MariaDB: a unique key prefix and database prefix
 * per section, created here and deleted again by cleanup (also on failure and Ctrl-C).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Config, loadConfigWith } from '../../config/index.ts';
import type { RedisClient } from '../../lua/client.ts';
import type { MysqlPools } from '../../core/mysql.ts';
import { openStorage } from './storage.ts';

const RUN_ID = randomBytes(3).toString('hex');

/** A config for one bench section: its own prefixes, local app env, plus `overrides`. */

/**
 * Token buckets and a backlog bound far above anything this box can do: a bench or calibration
 * run measures the claim path, not the guards (each file adds what else it needs).
 */
export const GUARDS_OFF: Readonly<Record<string, string>> = {
  ADMIT_GLOBAL_RPS: '10000000', ADMIT_GLOBAL_BURST: '10000000', ADMIT_TEMPLATE_RPS: '10000000', ADMIT_TEMPLATE_BURST: '10000000',
  BACKLOG_MAX: '10000000',
};

export function benchConfig(section: string, overrides: Record<string, string> = {}): Config {
  const prefix = `bench_${RUN_ID}_${section}`;
  const cfg = loadConfigWith({ APP_ENV: 'local', KEY_PREFIX: prefix, DB_PREFIX: prefix, ...overrides });
  // key cleanup below SCANs one node; the bench measures the single-node layout of `make run`.
  if (cfg.redis.clusterNodes.length > 0) throw new Error('bench: REDIS_CLUSTER_NODES is set; the bench runs on a single Redis');
  return cfg;
}

/**
 * A config for the bench's topology section (make bench TOPOLOGY=cluster): its own prefixes on
 * the Redis Cluster and MariaDB servers the environment names (REDIS_CLUSTER_NODES, MYSQL_SHARD_URLS).
 */
export function topologyBenchConfig(section: string, overrides: Record<string, string> = {}): Config {
  const prefix = `bench_${RUN_ID}_${section}`;
  const cfg = loadConfigWith({ APP_ENV: 'local', KEY_PREFIX: prefix, DB_PREFIX: prefix, ...overrides });
  if (cfg.redis.clusterNodes.length === 0 || cfg.mysql.shardUrls.length < 2) {
    throw new Error('bench: the topology section needs REDIS_CLUSTER_NODES and MYSQL_SHARD_URLS: make bench TOPOLOGY=cluster');
  }
  return cfg;
}

/** Environment of a gateway/sink child: exactly the settings of `cfg` that they read, plus `extra`. */
export function childEnv(cfg: Config, extra: Record<string, string> = {}): Record<string, string> {
  return {
    APP_ENV: cfg.appEnv, HOST: '127.0.0.1', PORT: '0',
    REDIS_URL: cfg.redis.url, MYSQL_URL: cfg.mysql.url, MYSQL_SHARD_URLS: cfg.mysql.shardUrls.join(','),
    REDIS_CLUSTER_NODES: cfg.redis.clusterNodes.join(','),
    KEY_PREFIX: cfg.redis.keyPrefix, DB_PREFIX: cfg.mysql.dbPrefix, PARTITIONS: String(cfg.redis.partitions),
    SHARD_DBS: String(cfg.mysql.shardDbs), SHARD_TABLES: String(cfg.mysql.shardTables),
    STREAM_GROUP: cfg.redis.streamGroup, MYSQL_POOL_SIZE: String(cfg.mysql.poolSize),
    // the sink's batching, so an experiment can vary it from the bench's environment.
    SINK_BATCH_MAX_ROWS: String(cfg.sink.batchMaxRows), SINK_BATCH_MAX_WAIT_MS: String(cfg.sink.batchMaxWaitMs),
    SINK_READ_COUNT: String(cfg.sink.readCount), REDIS_AUTO_PIPELINING: String(cfg.redis.autoPipelining),
    GATEWAY_WORKERS: String(cfg.workers.count),
    // a free port for each sink's /metrics listener: benches may run several sinks.
    SINK_METRICS_PORT: '0',
    ...(cfg.adminTokenIsDefault ? {} : { ADMIN_TOKEN: cfg.adminToken }),
    ...extra,
  };
}

export interface BenchStorage {
  readonly cfg: Config;
  readonly redis: RedisClient;
  readonly mysql: MysqlPools;
  /** Deletes this section's keys and databases and closes the connections (idempotent). */
  cleanup(): Promise<void>;
}

/** Connects and creates the section's schema (the test harness's slice); the caller registers `cleanup`. */
export async function openBenchStorage(cfg: Config): Promise<BenchStorage> {
  const s = await openStorage(cfg);
  let cleaned: Promise<void> | undefined;
  return { cfg, redis: s.redis, mysql: s.mysql, cleanup: () => (cleaned ??= s.close()) };
}

/** Polls `cond` every 100 ms; false if it is still not true after `timeoutMs`. */
export async function waitUntil(cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Server facts and pids of Redis and MariaDB (for the CPU table and the report). */
export async function serverFacts(s: BenchStorage): Promise<{ redisVersion: string; redisPid?: number;
  mariadbVersion: string; mariadbPid?: number }> {
  const info = new Map((await s.redis.info('server')).split(/\r?\n/).filter((l) => l.includes(':'))
    .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)] as const));
  const [rows] = await s.mysql.main.query('SELECT VERSION() AS v, @@pid_file AS f');
  const row = (rows as { v: string; f: string }[])[0]!;
  let mariadbPid: number | undefined;
  try {
    mariadbPid = Number(readFileSync(row.f, 'utf8').trim()) || undefined;
  } catch {
    mariadbPid = undefined;
  }
  return {
    redisVersion: String(info.get('redis_version') ?? '?'), redisPid: Number(info.get('process_id')) || undefined,
    mariadbVersion: row.v, mariadbPid,
  };
}
