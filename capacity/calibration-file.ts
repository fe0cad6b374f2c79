/**
 * The calibration file: what `calibrate` measured on this machine, with the machine facts and
 * the date, and the figure set `plan` derives from it. Read back with validation, so a stale or
 * hand-edited file is refused with a clear message instead of producing a nonsense plan.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { clusterProblem, type ClusterRedisRun, type WaitCost, waitProblem } from './cluster-file.ts';
import { type FigureSet, num } from './model.ts';

// 2: Redis runs at several group sizes (claims per claim-home call) and the gateway's group size.
export const CALIBRATION_VERSION = 2;

/** The sink's reader (XREADGROUP, XACK) over the entries of one Redis run, `groupSize` records each. */
export interface StreamReadRun {
  readonly entries: number;
  readonly claims: number;
  readonly seconds: number;
  readonly claimsPerS: number;
  readonly redisCpuS: number | null;
  /** Claims read and acked per Redis CPU-second. */
  readonly claimsPerRedisCpuS: number | null;
}

/** One Redis run: the real claim-home script through ioredis, `groupSize` claims per call. */
export interface RedisRun {
  readonly mode: 'not pipelined' | 'pipelined';
  /** Claims per claim-home call. */
  readonly groupSize: number;
  /** Calls (not pipelined) or pipelines (pipelined) in flight at once. */
  readonly inFlight: number;
  /** Calls per pipeline (1 when not pipelined). */
  readonly depth: number;
  /** claim-home calls, and the claims they decided (all issued). */
  readonly execs: number;
  readonly claims: number;
  readonly seconds: number;
  readonly claimsPerS: number;
  /** Redis process CPU over the run; null when its pid could not be read (a remote Redis). */
  readonly redisCpuS: number | null;
  /** Claims per Redis CPU-second: one shard's ceiling with a core to itself. */
  readonly claimsPerRedisCpuS: number | null;
  /** Microseconds Redis spent in the script per call (INFO commandstats, EVALSHA). */
  readonly scriptUsPerCall: number;
  /** Cores used by this (client) process. */
  readonly clientCores: number;
  /** The sink's reads and acks of what the run appended (not pipelined runs only). */
  readonly read: StreamReadRun | null;
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
  /** Sub-stocks of the run's template: its claims spread over them. */
  readonly subStocks: number;
  /** Entries the claim-home calls appended to the run's streams (XINFO STREAM entries-added, this prefix only). */
  readonly streamEntries: number;
  /** Claims per claim-home call: issued ÷ stream entries (each call issued all its claims in one entry). */
  readonly groupSize: number;
  /** 2xx claims per EVALSHA call (INFO commandstats: others' scripts on a shared Redis make it read low). */
  readonly claimsPerEvalsha: number;
  /** MySQL held exactly the issued coupons after the sink drained. */
  readonly rowsVerified: number;
  /** Redis CPU during the claims, MariaDB CPU until the sink drained (shared servers: others' work too). */
  readonly redisCpuS: number | null;
  readonly mariadbCpuS: number | null;
  /** On a cluster: each master's CPU during the claims and its EVALSHA calls (redisCpuS is their sum). */
  readonly masters?: readonly { readonly port: number; readonly cpuS: number; readonly evalsha: number }[];
}

/** `calibrate --topology cluster`: the runs on the tool's own clusters and the gateway against each. */
export interface ClusterCalibration {
  readonly ports: readonly number[];
  /** Claims per claim-home call in the claim runs (1: the unit "script" of the plan). */
  readonly groupSize: number;
  readonly inFlight: number;
  readonly rounds: number;
  readonly secondsPerRun: number;
  readonly runs: readonly ClusterRedisRun[];
  /** The real gateway and sink against the clusters of the fewest and the most masters (without replicas). */
  readonly gateway: readonly { readonly masters: number; readonly run: GatewayRun }[];
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
  readonly redis: readonly RedisRun[];
  readonly mysql: readonly MysqlRun[];
  readonly gateway: GatewayRun;
  /** `calibrate --topology cluster`: clusters of 1 to N masters of the tool's own. */
  readonly cluster?: ClusterCalibration;
  /** REDIS_WAIT_REPLICAS=1's cost per claim, when measured (not by calibrate: see cluster-file.ts). */
  readonly wait?: WaitCost;
}

/** The runs `plan` uses, by group size: each call its own write (the pipelined runs show what batching writes changes). */
export function notPipelined(c: Calibration): RedisRun[] {
  return c.redis.filter((r) => r?.mode === 'not pipelined').sort((a, b) => a.groupSize - b.groupSize);
}

/**
 * The figure set `plan` uses: Redis claims per core at each group size (claim-home, and the
 * sink's reads and acks), MySQL per server (wall clock), gateway and sink per CPU-second, and
 * the group size and gathering window the gateway run saw.
 */
export function measuredSet(c: Calibration): FigureSet {
  const runs = notPipelined(c);
  const g = c.gateway;
  const single = runs.find((r) => r.groupSize === 1)!;
  const perCore = (r: RedisRun | StreamReadRun) => r.claimsPerRedisCpuS ?? r.claimsPerS;
  return {
    short: 'ours, measured',
    label: `claim scripts in groups (the gateway reached ${num(g.groupSize)} claims per call), batched INSERTs; ` +
      `figures measured here ${c.date.slice(0, 16).replace('T', ' ')} UTC ` +
      `(${c.machine.nproc} cores, ${c.secondsPerRun} s per run` +
      (single.claimsPerRedisCpuS === null ? '; Redis CPU unknown: wall-clock claims/s)' : ')'),
    redisClaims: runs.map((r) => ({ groupSize: r.groupSize, claimsPerS: perCore(r), readClaimsPerS: perCore(r.read!) })),
    groupSize: g.groupSize,
    // each turn sent one call per sub-stock: a turn lasted groupSize ÷ (claims/s per sub-stock).
    groupWindowMs: g.groupSize * 1000 / (g.claimsPerS / g.subStocks),
    mysqlRows: c.mysql.map((m) => ({ batchSize: m.batchSize, rowsPerS: m.rowsPerS })),
    gatewayClaimsPerCpuS: g.claimsPerGatewayCpuS,
    sinkRowsPerCpuS: g.rowsPerSinkCpuS,
  };
}

/** Writes the file (directory created, replaced atomically). */
export function writeCalibration(path: string, c: Calibration): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(c, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

/**
 * The WAIT cost in the file at `path`, if it holds a usable one: calibrate does not measure it
 * (cluster-file.ts WaitCost), so a recalibration keeps it, with the `measured` note it came with.
 */
export function previousWait(path: string): WaitCost | undefined {
  try {
    const wait = (JSON.parse(readFileSync(path, 'utf8')) as { wait?: WaitCost }).wait;
    return wait !== undefined && waitProblem(wait) === undefined ? wait : undefined;
  } catch {
    return undefined;
  }
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
  if (!Array.isArray(c.redis) || !c.redis.some((r) => r?.mode === 'not pipelined' && r.groupSize === 1)) {
    throw bad('redis has no run of one claim per call');
  }
  notPipelined(c).forEach((r, i) => {
    pos(r.groupSize, `redis not pipelined [${i}].groupSize`);
    pos(r.claimsPerS, `redis not pipelined [${i}].claimsPerS`);
    if (r.claimsPerRedisCpuS !== null) pos(r.claimsPerRedisCpuS, `redis not pipelined [${i}].claimsPerRedisCpuS`);
    pos(r.read?.claimsPerS, `redis not pipelined [${i}].read.claimsPerS`);
    if (r.read!.claimsPerRedisCpuS !== null) pos(r.read!.claimsPerRedisCpuS, `redis not pipelined [${i}].read.claimsPerRedisCpuS`);
  });
  if (!Array.isArray(c.mysql) || c.mysql.length === 0) throw bad('mysql has no runs');
  c.mysql.forEach((m, i) => {
    pos(m?.batchSize, `mysql[${i}].batchSize`);
    pos(m.rowsPerS, `mysql[${i}].rowsPerS`);
  });
  const g = c.gateway;
  for (const k of ['claimsPerGatewayCpuS', 'rowsPerSinkCpuS', 'claimsPerS', 'subStocks', 'groupSize'] as const) pos(g?.[k], `gateway.${k}`);
  const problem = (c.cluster === undefined ? undefined : clusterProblem(c.cluster)) ?? (c.wait === undefined ? undefined : waitProblem(c.wait));
  if (problem !== undefined) throw bad(problem);
  return c;
}
