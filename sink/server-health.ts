/**
 * Which MySQL servers the sink can reach (issue 15: a stopped server must not stall the shards
 * on the others). When the shard databases live on several servers (MYSQL_SHARD_URLS), a server
 * that fails at the connection level is marked down: the sink stops sending it work, leaves its
 * records pending in the streams (Redis is where they wait, not the sink's memory) and probes it;
 * when a probe answers, the sink re-reads its own pending entries at once. With one server there
 * is nothing else to keep flowing, so the sink retries in place as it always did (disabled).
 */
import type { Pool } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import type { MysqlPools } from '../core/mysql.ts';
import type { Log } from './log.ts';
import { abortableSleep } from './retry.ts';

// Errors that say the server (or the way to it) is gone, not that a statement was refused.
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE',
  'PROTOCOL_CONNECTION_LOST', 'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR',
  // a statement the server did not answer within SINK_MYSQL_TIMEOUT_MS: a hung server holds
  // flush slots as surely as a stopped one (the probe tells a hung server from a locked table).
  'PROTOCOL_SEQUENCE_TIMEOUT',
]);

/** True for a MySQL error that means the connection or the server failed, not the statement. */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: unknown; fatal?: unknown };
  return e.fatal === true || (typeof e.code === 'string' && CONNECTION_CODES.has(e.code));
}

/** Thrown instead of retrying in place: the group's server is down, its records stay pending. */
export class ServerDown extends Error {
  constructor(readonly server: number) {
    super(`MySQL server ${server} is down`);
  }
}

export interface HealthOptions {
  /** Cap of the probe interval while a server is down. */
  readonly probeMaxMs: number;
  readonly queryTimeoutMs: number;
  /** Aborted at stop: probing ends. */
  readonly signal: AbortSignal;
  readonly log: Log;
  /** A down server answered again: its records are pending and should be read back now. */
  readonly onUp: (server: number) => void;
}

const PROBE_FIRST_MS = 100;

/** What the writer asks of ServerHealth. */
export interface Reachability {
  /** True when `pool`'s server is marked down. */
  isDown(pool: Pool): boolean;
  /** Marks `pool`'s server down if `err` is a connection failure that it handles; true when it is down. */
  markDown(pool: Pool, err: unknown): boolean;
  /** The index of `pool`'s server, for errors and logs. */
  serverOf(pool: Pool): number;
}

/** Never marks a server down: every failure is retried in place (tools and tests of the writer alone). */
export const ALWAYS_UP: Reachability = { isDown: () => false, markDown: () => false, serverOf: () => 0 };

/** Reachability of the shard databases' servers when there are several; see the file comment. */
export class ServerHealth implements Reachability {
  /** False when every shard database is on one server: failures are retried in place, as before. */
  readonly enabled: boolean;
  private readonly index: Map<Pool, number>;
  private readonly down = new Set<number>();

  constructor(private readonly pools: MysqlPools, cfg: Config['mysql'], private readonly o: HealthOptions) {
    this.index = new Map(pools.all.map((p, i) => [p, i]));
    const shardPools = new Set(Array.from({ length: cfg.shardDbs }, (_, d) => pools.forDb(d)));
    this.enabled = shardPools.size > 1;
  }

  /** Servers marked down now. */
  get downCount(): number {
    return this.down.size;
  }

  /** True when `pool`'s server is marked down. */
  isDown(pool: Pool): boolean {
    return this.down.size > 0 && this.down.has(this.index.get(pool)!);
  }

  /** The index of `pool`'s server (in MysqlPools.all), for logs. */
  serverOf(pool: Pool): number {
    return this.index.get(pool)!;
  }

  /**
   * Marks `pool`'s server down after `err` if it is a connection failure and the sink has
   * servers to fall back on; true when it did (or it was down already). Probing starts at once.
   */
  markDown(pool: Pool, err: unknown): boolean {
    if (!this.enabled || !isConnectionError(err)) return false;
    const server = this.serverOf(pool);
    if (this.down.has(server)) return true;
    this.down.add(server);
    this.o.log.error(`server-down-${server}`, `MySQL server ${server} is unreachable: its shards' records stay ` +
      'pending in the streams until it answers; the other servers keep being written', err);
    void this.probe(pool, server);
    return true;
  }

  private async probe(pool: Pool, server: number): Promise<void> {
    const since = Date.now();
    let delay = Math.min(PROBE_FIRST_MS, this.o.probeMaxMs);
    while (!this.o.signal.aborted) {
      await abortableSleep(delay, this.o.signal);
      if (this.o.signal.aborted) return;
      try {
        await pool.query({ sql: 'SELECT 1', timeout: this.o.queryTimeoutMs });
        this.down.delete(server);
        this.o.log.info('MySQL server answers again; re-reading its pending records', { server, downMs: Date.now() - since });
        this.o.onUp(server);
        return;
      } catch {
        delay = Math.min(delay * 2, this.o.probeMaxMs);
      }
    }
  }
}
