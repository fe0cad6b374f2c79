/** MySQL connection pools: one per server, with shard database d on shardUrls[d % n]. */
import mysql, { type Pool } from 'mysql2/promise';
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
  return mysql.createPool({
    uri,
    connectionLimit: cfg.poolSize,
    connectTimeout: cfg.connectTimeoutMs,
    // timestamps are UTC end to end.
    timezone: 'Z',
    supportBigNumbers: true,
    enableKeepAlive: true,
    // bounded queue: callers fail fast instead of piling up when MySQL is gone.
    queueLimit: cfg.poolSize * 64,
  });
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
