/**
 * The calibration file: what `calibrate` measured on this machine, with the machine facts and
 * the date, and the figure set `plan` derives from it. Read back with validation, so a stale or
 * hand-edited file is refused with a clear message instead of producing a nonsense plan.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FigureSet } from './model.ts';

export const CALIBRATION_VERSION = 1;

/** One Redis run: the real claim-home script through ioredis. */
export interface RedisRun {
  readonly mode: 'not pipelined' | 'pipelined';
  /** Commands (not pipelined) or pipelines (pipelined) in flight at once. */
  readonly inFlight: number;
  /** Scripts per pipeline (1 when not pipelined). */
  readonly depth: number;
  readonly execs: number;
  readonly seconds: number;
  readonly execsPerS: number;
  /** Redis process CPU over the run; null when its pid could not be read (a remote Redis). */
  readonly redisCpuS: number | null;
  /** Executions per Redis CPU-second: one shard's ceiling with a core to itself. */
  readonly execsPerRedisCpuS: number | null;
  /** Cores used by this (client) process. */
  readonly clientCores: number;
}

/** One MySQL run at one batch size, through the sink's own writer. */
export interface MysqlRun {
  readonly batchSize: number;
  /** INSERTs in flight at once, one shard table each. */
  readonly concurrency: number;
  readonly rows: number;
  readonly seconds: number;
  readonly rowsPerS: number;
  readonly mariadbCpuS: number | null;
  readonly rowsPerMariadbCpuS: number | null;
  readonly clientCores: number;
}

/** The real gateway and sink under autocannon. */
export interface GatewayRun {
  readonly connections: number;
  readonly seconds: number;
  readonly responses: number;
  readonly ok2xx: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly claimsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly gatewayCpuS: number;
  readonly gatewayCores: number;
  /** 2xx claims per gateway CPU-second. */
  readonly claimsPerGatewayCpuS: number;
  /** Coupons issued during the run (stock before − after) and the sink's CPU to store them. */
  readonly issued: number;
  readonly sinkCpuS: number;
  readonly rowsPerSinkCpuS: number;
  /** Redis time in the sink's stream commands per claim, over the claim script's (commandstats). */
  readonly streamOverhead: number;
  /** MySQL held exactly the issued coupons after the sink drained. */
  readonly rowsVerified: number;
  /** Redis CPU during the claims, MariaDB CPU until the sink drained (shared servers: others' work too). */
  readonly redisCpuS: number | null;
  readonly mariadbCpuS: number | null;
}

export interface Calibration {
  readonly version: number;
  readonly date: string;
  readonly command: string;
  readonly machine: {
    readonly nproc: string;
    readonly cpuModel: string;
    readonly memGiB: number;
    readonly node: string;
    readonly redisVersion: string;
    readonly mariadbVersion: string;
    /** Cores busy with other work in the second before the run: above ~0.3 the figures are low. */
    readonly busyBefore: number;
    readonly loadStart: string;
  };
  readonly secondsPerRun: number;
  /** Key and database prefix the runs used (all deleted afterwards). */
  readonly prefix: string;
  readonly redis: { readonly notPipelined: RedisRun; readonly pipelined: RedisRun };
  readonly mysql: readonly MysqlRun[];
  readonly gateway: GatewayRun;
}

/** The figure set `plan` uses: Redis per core, MySQL per server (wall clock), gateway and sink per CPU-second. */
export function measuredSet(c: Calibration): FigureSet {
  const r = c.redis.notPipelined;
  return {
    short: 'ours, measured',
    label: `the same, figures measured here ${c.date.slice(0, 16).replace('T', ' ')} UTC ` +
      `(${c.machine.nproc} cores, ${c.secondsPerRun} s per run` +
      (r.execsPerRedisCpuS === null ? '; Redis CPU unknown: wall-clock scripts/s)' : ')'),
    redisExecsPerShard: r.execsPerRedisCpuS ?? r.execsPerS,
    mysqlRows: c.mysql.map((m) => ({ batchSize: m.batchSize, rowsPerS: m.rowsPerS })),
    gatewayClaimsPerCpuS: c.gateway.claimsPerGatewayCpuS,
    sinkRowsPerCpuS: c.gateway.rowsPerSinkCpuS,
    streamOverhead: c.gateway.streamOverhead,
  };
}

/** Writes the file (directory created, replaced atomically). */
export function writeCalibration(path: string, c: Calibration): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(c, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

/** A calibration file that cannot be used; main.ts prints the message and exits 2. */
export class CalibrationError extends Error {}

/** Reads and checks a calibration file: every figure plan uses must be a positive number. */
export function readCalibration(path: string): Calibration {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CalibrationError(missing ? `no calibration at ${path}: run \`npm run capacity -- calibrate\` first`
      : `cannot read ${path}: ${(err as Error).message}`);
  }
  let c: Calibration;
  try {
    c = JSON.parse(text) as Calibration;
  } catch {
    throw new CalibrationError(`${path} is not JSON`);
  }
  const bad = (what: string) => new CalibrationError(`${path}: ${what}; run \`npm run capacity -- calibrate\` again`);
  if (typeof c !== 'object' || c === null || c.version !== CALIBRATION_VERSION) throw bad(`not a version ${CALIBRATION_VERSION} calibration`);
  const pos = (v: unknown, name: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw bad(`${name} is ${JSON.stringify(v)}, not a positive number`);
  };
  if (typeof c.date !== 'string' || Number.isNaN(Date.parse(c.date))) throw bad('date is missing');
  const r = c.redis?.notPipelined;
  pos(r?.execsPerS, 'redis.notPipelined.execsPerS');
  if (r!.execsPerRedisCpuS !== null) pos(r!.execsPerRedisCpuS, 'redis.notPipelined.execsPerRedisCpuS');
  if (!Array.isArray(c.mysql) || c.mysql.length === 0) throw bad('mysql has no runs');
  c.mysql.forEach((m, i) => {
    pos(m?.batchSize, `mysql[${i}].batchSize`);
    pos(m.rowsPerS, `mysql[${i}].rowsPerS`);
  });
  pos(c.gateway?.claimsPerGatewayCpuS, 'gateway.claimsPerGatewayCpuS');
  pos(c.gateway.rowsPerSinkCpuS, 'gateway.rowsPerSinkCpuS');
  if (typeof c.gateway.streamOverhead !== 'number' || !(c.gateway.streamOverhead >= 0)) throw bad('gateway.streamOverhead is missing');
  return c;
}
