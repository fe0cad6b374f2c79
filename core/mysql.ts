/** MySQL connection pools: one per server, with shard database d on shardUrls[d % n]. */
import type { Connection as CoreConnection } from 'mysql2';
import mysql, { type Pool, type PoolConnection } from 'mysql2/promise';
import type { Config } from '../config/index.ts';

export interface MysqlPools {
  /** Pool of the server holding the main database (templates). */
  readonly main: Pool;
  /** Pool of the server holding shard database `db`. */
  forDb(db: number): Pool;
  /** Every distinct pool, for health checks. */
  readonly all: readonly Pool[];
  close(): Promise<void>;
}

function openPool(uri: string, cfg: Config['mysql']): Pool {
  const pool = mysql.createPool({
    uri,
    connectionLimit: cfg.poolSize,
    connectTimeout: cfg.connectTimeoutMs,
    // timestamps are UTC end to end.
    timezone: 'Z',
    supportBigNumbers: true,
    // The promise API otherwise captures a stack trace for every query: 7 % of the gateway's CPU
    // in checkout calls (BENCHMARKS.md, issue 13). Errors keep the driver's message and code.
    trace: false,
    enableKeepAlive: true,
    // bounded queue: callers fail fast instead of piling up when MySQL is gone.
    queueLimit: cfg.poolSize * 64,
  });
  // Whatever the server's defaults: every statement commits on its own (the sink acks after
  // it), and a value that does not fit is an error, never a silent truncation.
  pool.on('connection', (conn) => {
    // The event hands over the callback-style connection (the promise typings say otherwise).
    // Queued ahead of the connection's first query, on the same connection.
    (conn as unknown as CoreConnection).query(
      "SET SESSION autocommit = 1, sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION'", () => {});
  });
  return pool;
}

/** Opens the pools lazily connecting; nothing is contacted until the first query. */
export function openMysql(cfg: Config['mysql']): MysqlPools {
  const urls = cfg.shardUrls.length > 0 ? cfg.shardUrls : [cfg.url];
  const byUrl = new Map<string, Pool>();
  const get = (u: string) => {
    let p = byUrl.get(u);
    if (!p) byUrl.set(u, (p = openPool(u, cfg)));
    return p;
  };
  const main = get(cfg.url);
  const shardPools = urls.map(get);
  return {
    main,
    forDb: (db) => shardPools[db % shardPools.length]!,
    all: [...byUrl.values()],
    close: async () => {
      await Promise.all([...byUrl.values()].map((p) => p.end()));
    },
  };
}

/**
 * Runs `f` in one transaction on a pooled connection: committed if it resolves, rolled back if
 * it throws. `readCommitted`: that isolation for this transaction only (no gap locks).
 */
export async function inTransaction<T>(pool: Pool, f: (conn: PoolConnection) => Promise<T>, readCommitted = false): Promise<T> {
  const conn = await pool.getConnection();
  try {
    // SET TRANSACTION applies to the next transaction only: the pooled session keeps its level.
    if (readCommitted) await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
    await conn.beginTransaction();
    const out = await f(conn);
    await conn.commit();
    return out;
  } catch (err) {
    await conn.rollback().catch(() => undefined);
    throw err;
  } finally {
    conn.release();
  }
}
