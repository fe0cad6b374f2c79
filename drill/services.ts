/**
 * The drill's own Redis and MariaDB, driven through drill/services.sh (which reuses
 * scripts/lib/*.sh and signals only the processes its pid files name). Every call is bounded.
 */
import { readFileSync, statSync, truncateSync } from 'node:fs';
import { runScript } from '../tools/harness/run-script.ts';

export interface ServicesOptions {
  readonly root: string;
  readonly redisPort: number;
  readonly mysqlPort: number;
  readonly appendfsync: string;
  /** Everything the script prints is appended here. */
  readonly logFile: string;
}

export class Services {
  constructor(private readonly o: ServicesOptions) {}

  /** Runs `drill/services.sh ...args`; rejects with its output on failure or after `timeoutMs`. */
  run(args: readonly string[], timeoutMs: number): Promise<void> {
    return runScript(this.o.root, 'drill/services.sh', args, {
      DRILL_REDIS_PORT: String(this.o.redisPort),
      DRILL_MYSQL_PORT: String(this.o.mysqlPort),
      DRILL_APPENDFSYNC: this.o.appendfsync,
    }, timeoutMs, this.o.logFile);
  }

  /** Starts Redis (AOF, the chosen fsync) and MariaDB; initialises MariaDB's datadir the first time. */
  up(): Promise<void> { return this.run(['up'], 90_000); }
  /** Stops both by pid (a paused one is resumed first). */
  down(): Promise<void> { return this.run(['down'], 60_000); }
  /** Stops gateways and sinks that an earlier, killed drill left running. */
  appsDown(): Promise<void> { return this.run(['apps-down'], 60_000); }
  /** Deletes the drill Redis's data, so each run starts from an empty AOF. */
  reset(): Promise<void> { return this.run(['reset'], 10_000); }
  /** Starts Redis again; after a kill it loads its AOF. */
  redisUp(): Promise<void> { return this.run(['redis-up'], 30_000); }
  /** KILL, STOP or CONT to our redis-server. */
  redisSignal(sig: 'KILL' | 'STOP' | 'CONT'): Promise<void> { return this.run(['signal', 'redis', sig], 10_000); }
  /** The AOF file Redis appends to now (the manifest's incr file) and its size; undefined when there is none. */
  aofTail(): { file: string; size: number } | undefined {
    const dir = `${this.o.root}/.data/drill/redis/appendonlydir`;
    try {
      const incr = /^file (\S+) seq \d+ type i$/gm;
      const files = [...readFileSync(`${dir}/appendonly.aof.manifest`, 'utf8').matchAll(incr)].map((m) => m[1]!);
      const file = `${dir}/${files.at(-1)}`;
      return files.length > 0 ? { file, size: statSync(file).size } : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Cuts an AOF file back to `size` bytes, as a host crash with `appendfsync everysec` leaves it
   * (the writes of the last second were in the page cache only). Redis must be stopped; it loads
   * a file cut mid-command (aof-load-truncated) or mid-transaction as the writes before the cut.
   */
  truncateAof(file: string, size: number): void {
    truncateSync(file, size);
  }

  /** Clean stop of MariaDB by pid (SIGTERM, then waits for exit). */
  mysqlDown(): Promise<void> { return this.run(['mariadb-down'], 30_000); }
  /** SIGKILL to our mariadbd; resolves once it is gone (its pid file and socket stay, as after a crash). */
  mysqlKill(): Promise<void> { return this.run(['signal', 'mariadb', 'KILL'], 10_000); }
  mysqlUp(): Promise<void> { return this.run(['mariadb-up'], 60_000); }
}
