/** Command-line flags of `npm run capacity` (argv only: storage addresses come from loadConfig()). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GROUP_MAX } from '../lua/commands.ts';
import type { FigureOverrides, Traffic } from './model.ts';

/** A bad command line: main.ts prints it with the usage and exits 2. */
export class UsageError extends Error {}

/** Where calibrate writes and `plan --calibrated` reads by default (git-ignored). */
export const DEFAULT_CALIBRATION = new URL('../.data/capacity-calibration.json', import.meta.url).pathname;

export const USAGE = `usage: npm run capacity -- plan --qps N [options]
       npm run capacity -- calibrate [--seconds N] [--out FILE] [--group-sizes 1,4,16,64] [--batch-sizes 1,50,500,2000]
                                     [--connections N]

plan: resources for a claim rate, source designs (brief §2) against ours.
  --qps N                       claims per second at the peak (required)
  --hot-templates N             templates the peak is spread over evenly (default 1)
  --headroom X                  provisioned ÷ needed (default 1.5, as the sources)
  --group-size X                claims per claim-home call, a mean (default: what calibrate saw, else 1)
  --redis-writes-per-shard N    our single-claim scripts/s per Redis shard (the group figures scale with it)
  --redis-claims-per-shard N    our claims/s per Redis shard in claim-home calls of --group-size claims
  --mysql-rows-per-master N     our rows/s per MySQL master at --batch-size
  --batch-size N                rows per INSERT (default 500: the sink's 4,000-row batches over 8 tables)
  --gateway-claims-per-cpu-s N  claims per gateway CPU-second
  --sink-rows-per-cpu-s N       rows per sink CPU-second
  --stream-overhead X           the sink's stream reads/acks per stream entry, in single-claim scripts
  --overflow-share X            share of claims near sell-out whose home sub-stock is empty (default 0.1)
  --overflow-takes X            claim-take calls per overflow claim (default 2)
  --calibrated                  add a column with this machine's figures (.data/capacity-calibration.json)
  --calibration FILE            the same, from FILE
  --json                        print the plan as JSON

calibrate: measures this machine's ceilings on the local Redis and MariaDB (bounded runs).
  --seconds N        seconds per measurement (default 3; about 14 measurements)
  --group-sizes L    claims per claim-home call to measure, 1 included (default 1,4,16,64; at most 64, the gateway's)
  --out FILE         where to save the figures (default .data/capacity-calibration.json)
  --batch-sizes L    rows per INSERT to measure (default 1,50,500,2000)
  --connections N    autocannon connections against the gateway (default 100)
  --json             print the saved figures as JSON`;

export interface PlanOptions {
  readonly traffic: Traffic;
  readonly overrides: FigureOverrides;
  /** Calibration file to add as a column, if any. */
  readonly calibration?: string;
  readonly json: boolean;
}

export interface CalibrateOptions {
  readonly seconds: number;
  readonly out: string;
  readonly groupSizes: readonly number[];
  readonly batchSizes: readonly number[];
  readonly connections: number;
  readonly json: boolean;
}

export type Command =
  | { readonly cmd: 'plan'; readonly o: PlanOptions }
  | { readonly cmd: 'calibrate'; readonly o: CalibrateOptions }
  | { readonly cmd: 'help' };

function number(raw: string | undefined, name: string, min: number, max: number, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} within [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

function parse(argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    // node's messages name the flag ("Unknown option '--x'"); the stack trace helps nobody.
    throw new UsageError((err as Error).message);
  }
}

const s = { type: 'string' } as const;
const b = { type: 'boolean', default: false } as const;

function parsePlan(argv: readonly string[]): PlanOptions {
  const v = parse(argv, {
    qps: s, 'hot-templates': s, headroom: s, 'group-size': s, 'redis-writes-per-shard': s, 'redis-claims-per-shard': s,
    'mysql-rows-per-master': s,
    'batch-size': s, 'gateway-claims-per-cpu-s': s, 'sink-rows-per-cpu-s': s, 'stream-overhead': s,
    'overflow-share': s, 'overflow-takes': s, calibrated: b, calibration: s, json: b,
  });
  const str = (k: string) => v[k] as string | undefined;
  const qps = number(str('qps'), 'qps', 1, 1e9, false);
  if (qps === undefined) throw new UsageError('--qps is required (claims per second at the peak)');
  return {
    traffic: {
      qps,
      hotTemplates: number(str('hot-templates'), 'hot-templates', 1, 1e6, true) ?? 1,
      headroom: number(str('headroom'), 'headroom', 1, 10, false) ?? 1.5,
      overflowShare: number(str('overflow-share'), 'overflow-share', 0, 1, false) ?? 0.1,
      overflowTakes: number(str('overflow-takes'), 'overflow-takes', 0, 64, false) ?? 2,
    },
    overrides: {
      redisOpsPerShard: number(str('redis-writes-per-shard'), 'redis-writes-per-shard', 1, 1e9, false),
      redisClaimsPerShard: number(str('redis-claims-per-shard'), 'redis-claims-per-shard', 1, 1e9, false),
      groupSize: number(str('group-size'), 'group-size', 1, GROUP_MAX, false),
      mysqlRowsPerMaster: number(str('mysql-rows-per-master'), 'mysql-rows-per-master', 1, 1e9, false),
      batchSize: number(str('batch-size'), 'batch-size', 1, 20_000, true),
      gatewayClaimsPerCpuS: number(str('gateway-claims-per-cpu-s'), 'gateway-claims-per-cpu-s', 1, 1e9, false),
      sinkRowsPerCpuS: number(str('sink-rows-per-cpu-s'), 'sink-rows-per-cpu-s', 1, 1e9, false),
      streamOverhead: number(str('stream-overhead'), 'stream-overhead', 0, 100, false),
    },
    calibration: str('calibration') ?? (v.calibrated ? DEFAULT_CALIBRATION : undefined),
    json: v.json === true,
  };
}

/** A comma-separated list of distinct integers within [1, max], sorted. */
function sizeList(raw: string, name: string, max: number): number[] {
  const sizes = raw.split(',').map((x) => number(x.trim(), name, 1, max, true)!);
  if (new Set(sizes).size !== sizes.length) throw new UsageError(`--${name} has a size twice`);
  return sizes.sort((x, y) => x - y);
}

function parseCalibrate(argv: readonly string[]): CalibrateOptions {
  const v = parse(argv, { seconds: s, out: s, 'group-sizes': s, 'batch-sizes': s, connections: s, json: b });
  const groupSizes = sizeList((v['group-sizes'] as string | undefined) ?? '1,4,16,64', 'group-sizes', GROUP_MAX);
  // one claim per call is the unit of every other claim script: the plan cannot do without it.
  if (groupSizes[0] !== 1) throw new UsageError('--group-sizes must include 1');
  const out = v.out as string | undefined;
  if (out !== undefined && out.trim() === '') throw new UsageError('--out must name a file');
  return {
    // bounded: each measurement runs this long, so a typo cannot load the shared box for long.
    seconds: number(v.seconds as string | undefined, 'seconds', 1, 30, true) ?? 3,
    out: out ?? DEFAULT_CALIBRATION,
    groupSizes,
    batchSizes: sizeList((v['batch-sizes'] as string | undefined) ?? '1,50,500,2000', 'batch-sizes', 20_000),
    connections: number(v.connections as string | undefined, 'connections', 1, 1000, true) ?? 100,
    json: v.json === true,
  };
}

/** Parses `plan ...`, `calibrate ...` or `help`; throws UsageError on anything else. */
export function parseCommand(argv: readonly string[]): Command {
  const [cmd, ...rest] = argv;
  if (cmd === 'help' || argv.includes('--help') || argv.includes('-h')) return { cmd: 'help' };
  if (cmd === 'plan') return { cmd, o: parsePlan(rest) };
  if (cmd === 'calibrate') return { cmd, o: parseCalibrate(rest) };
  throw new UsageError(cmd === undefined ? 'a command is required: plan or calibrate' : `unknown command ${JSON.stringify(cmd)}`);
}
