/**
 * Gives every MySQL statement of the gateway a deadline (MYSQL_QUERY_TIMEOUT_MS), the wait for
 * a pooled connection included, so a hung server turns listings and admin calls into 503s
 * instead of requests that hang. mysql2's own `timeout` option is not enough: it starts only
 * once the statement is sent (not while queued for a connection, nor while an `execute` is
 * prepared), and it leaves the connection busy until the server answers, so a few hung
 * statements take the whole pool. Here a statement that misses its deadline destroys its
 * connection: the pool opens a fresh one, and the server rolls back whatever transaction the
 * connection held. Its outcome is unknown, like that of any lost connection; the callers
 * already answer 503 for that and their retries are idempotent.
 */
import type { Pool, PoolConnection } from 'mysql2/promise';
import type { MysqlPools } from './mysql.ts';

/** The error of a statement (or connection wait) that missed its deadline. */
export class MysqlDeadlineError extends Error {
  readonly code = 'GATEWAY_MYSQL_DEADLINE';
  constructor(ms: number) {
    super(`mysql statement did not complete within ${ms} ms`);
  }
}

/** Statements whose calls get a deadline, on a pool and on its connections. */
const POOL_STATEMENTS = new Set<PropertyKey>(['query', 'execute']);
const CONN_STATEMENTS = new Set<PropertyKey>(['query', 'execute', 'beginTransaction', 'commit', 'rollback']);

/** Closes a connection at once: end() would wait for the hung server to acknowledge. */
function kill(conn: PoolConnection): void {
  conn.destroy();
  // The promise wrapper's core connection; destroying its socket frees the descriptor now.
  (conn as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** Settles with `op`, or rejects at `ms` after calling `onLate` (which frees what op holds). */
function race<T>(op: Promise<T>, ms: number, onLate: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onLate();
      reject(new MysqlDeadlineError(ms));
    }, ms);
    op.then((v) => { clearTimeout(timer); resolve(v); }, (err) => { clearTimeout(timer); reject(err); });
  });
}

/** A pooled connection whose statements each get the deadline; a late one destroys it. */
function timedConnection(conn: PoolConnection, ms: number): PoolConnection {
  return new Proxy(conn, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      if (!CONN_STATEMENTS.has(prop)) return v.bind(target);
      return (...args: unknown[]) => race(Promise.resolve(v.apply(target, args)), ms, () => kill(target));
    },
  });
}

/** A connection from `pool` within `ms`; one that arrives too late goes straight back. */
function acquire(pool: Pool, ms: number): Promise<PoolConnection> {
  let late = false;
  const got = pool.getConnection();
  got.then((c) => { if (late) c.release(); }, () => {});
  return race(got, ms, () => { late = true; });
}

/** `pool` with a deadline on every statement and on every wait for a connection. */
function timedPool(pool: Pool, ms: number): Pool {
  return new Proxy(pool, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (prop === 'getConnection') return async () => timedConnection(await acquire(target, ms), ms);
      if (typeof v !== 'function') return v;
      if (!POOL_STATEMENTS.has(prop)) return v.bind(target);
      // As mysql2's pool.query does, on a connection of our own, so a late statement can kill it.
      return async (...args: unknown[]) => {
        const started = Date.now();
        const conn = await acquire(target, ms);
        try {
          const statement = Reflect.get(conn, prop) as (...a: unknown[]) => Promise<unknown>;
          return await race(statement.apply(conn, args), Math.max(1, ms - (Date.now() - started)), () => kill(conn));
        } finally {
          conn.release();
        }
      };
    },
  });
}

/** The same pools, every statement with a deadline of `ms` (connection wait included). */
export function withDeadlines(pools: MysqlPools, ms: number): MysqlPools {
  const wrapped = new Map(pools.all.map((p) => [p, timedPool(p, ms)]));
  const timed = (p: Pool) => wrapped.get(p) ?? timedPool(p, ms);
  return {
    main: timed(pools.main),
    forDb: (db) => timed(pools.forDb(db)),
    all: pools.all.map(timed),
    close: () => pools.close(),
  };
}
