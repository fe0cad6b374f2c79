/** Command-line flags of `npm run capacity` (argv only: storage addresses come from loadConfig()). */
import { CommanderError } from 'commander';
import { cliProgram, parseQuietly, usageMessage } from '../cli/command-line.ts';
import { GROUP_MAX } from '../lua/commands.ts';
import type { FigureOverrides, Traffic } from './model.ts';

/** A bad command line: main.ts prints it with the usage and exits 2. */
export class UsageError extends Error {}

/** Where calibrate writes and `plan --calibrated` reads by default (git-ignored). */
export const DEFAULT_CALIBRATION = new URL('../.data/capacity-calibration.json', import.meta.url).pathname;

export interface PlanOptions {
  readonly traffic: Traffic;
  readonly overrides: FigureOverrides;
  /** The scale-out section's inputs beyond the calibration file. */
  readonly scaleOut: {
    readonly replicasPerMaster: number;
    /** REDIS_WAIT_REPLICAS=1's cost, µs per claim (replaces the file's `wait`); both or neither. */
    readonly waitMasterUsPerClaim?: number;
    readonly waitGatewayUsPerClaim?: number;
  };
  /** Calibration file to add as a column, if any. */
  readonly calibration?: string;
  readonly json: boolean;
}

export interface CalibrateOptions {
  readonly seconds: number;
  /** single: the local Redis only; cluster: also clusters of `masters` masters on `clusterPorts`. */
  readonly topology: 'single' | 'cluster';
  readonly masters: readonly number[];
  readonly clusterPorts: readonly number[];
  readonly rounds: number;
  readonly out: string;
  readonly groupSizes: readonly number[];
  readonly batchSizes: readonly number[];
  readonly connections: number;
  readonly json: boolean;
}

export type Command =
  | { readonly cmd: 'plan'; readonly o: PlanOptions }
  | { readonly cmd: 'calibrate'; readonly o: CalibrateOptions }
  | { readonly cmd: 'help'; readonly text: string };

function number(raw: string | undefined, name: string, min: number, max: number, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} within [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

type Values = Record<string, string | boolean | undefined>;

function parsePlan(v: Values): PlanOptions {
  // commander names options in camelCase; the messages name the flags.
  const str = (flag: string) => v[flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())] as string | undefined;
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
    scaleOut: scaleOutOptions(str),
    calibration: str('calibration') ?? (v.calibrated ? DEFAULT_CALIBRATION : undefined),
    json: v.json === true,
  };
}

function scaleOutOptions(str: (flag: string) => string | undefined): PlanOptions['scaleOut'] {
  const waitMasterUsPerClaim = number(str('wait-master-us-per-claim'), 'wait-master-us-per-claim', 0, 1e6, false);
  const waitGatewayUsPerClaim = number(str('wait-gateway-us-per-claim'), 'wait-gateway-us-per-claim', 0, 1e6, false);
  if ((waitMasterUsPerClaim === undefined) !== (waitGatewayUsPerClaim === undefined)) {
    throw new UsageError('--wait-master-us-per-claim and --wait-gateway-us-per-claim go together');
  }
  return { replicasPerMaster: number(str('replicas-per-master'), 'replicas-per-master', 0, 5, true) ?? 1,
    waitMasterUsPerClaim, waitGatewayUsPerClaim };
}

/** A comma-separated list of distinct integers within [1, max], sorted. */
function sizeList(raw: string, name: string, max: number): number[] {
  const sizes = raw.split(',').map((x) => number(x.trim(), name, 1, max, true)!);
  if (new Set(sizes).size !== sizes.length) throw new UsageError(`--${name} has a size twice`);
  return sizes.sort((x, y) => x - y);
}

function parseCalibrate(v: Values): CalibrateOptions {
  const groupSizes = sizeList((v.groupSizes as string | undefined) ?? '1,4,16,64', 'group-sizes', GROUP_MAX);
  // one claim per call is the unit of every other claim script: the plan cannot do without it.
  if (groupSizes[0] !== 1) throw new UsageError('--group-sizes must include 1');
  const out = v.out as string | undefined;
  if (out !== undefined && out.trim() === '') throw new UsageError('--out must name a file');
  const topology = (v.topology as string | undefined) ?? 'single';
  if (topology !== 'single' && topology !== 'cluster') throw new UsageError(`--topology must be single or cluster, got ${JSON.stringify(topology)}`);
  const masters = sizeList((v.masters as string | undefined) ?? '1,2,3', 'masters', 16);
  const clusterPorts = ((v.clusterPorts as string | undefined) ?? '7601,7602,7603,7604,7605,7606').split(',')
    .map((x) => number(x.trim(), 'cluster-ports', 1024, 65535, true)!);
  if (new Set(clusterPorts).size !== clusterPorts.length) throw new UsageError('--cluster-ports has a port twice');
  // the clusters run side by side, each on ports of its own.
  const needed = masters.reduce((a, b) => a + b, 0);
  if (topology === 'cluster' && clusterPorts.length < needed) {
    throw new UsageError(`--cluster-ports names ${clusterPorts.length} ports; clusters of ${masters.join(', ')} masters need ${needed}`);
  }
  return {
    topology, masters, clusterPorts,
    rounds: number(v.rounds as string | undefined, 'rounds', 1, 10, true) ?? 2,
    // bounded: each measurement runs this long, so a typo cannot load the shared box for long.
    seconds: number(v.seconds as string | undefined, 'seconds', 1, 30, true) ?? 3,
    out: out ?? DEFAULT_CALIBRATION,
    groupSizes,
    batchSizes: sizeList((v.batchSizes as string | undefined) ?? '1,50,500,2000', 'batch-sizes', 20_000),
    connections: number(v.connections as string | undefined, 'connections', 1, 1000, true) ?? 100,
    json: v.json === true,
  };
}

/** The commands and their flags as commander reads them (strings: parsePlan and parseCalibrate check them). */
function capacityCommand(chosen: (c: Command) => void): ReturnType<typeof cliProgram> {
  const program = cliProgram('capacity', 'Resources a claim rate needs (plan), and this machine\'s real ceilings (calibrate).');
  program.command('plan').description('resources for a claim rate, source designs (brief §2) against ours')
    .option('--qps <n>', 'claims per second at the peak (required)')
    .option('--hot-templates <n>', 'templates the peak is spread over evenly (default 1)')
    .option('--headroom <x>', 'provisioned ÷ needed (default 1.5, as the sources)')
    .option('--group-size <x>', 'claims per claim-home call, a mean (default: what calibrate saw, else 1)')
    .option('--redis-writes-per-shard <n>', 'our single-claim scripts/s per Redis shard (the group figures scale with it)')
    .option('--redis-claims-per-shard <n>', 'our claims/s per Redis shard in claim-home calls of --group-size claims')
    .option('--mysql-rows-per-master <n>', 'our rows/s per MySQL master at --batch-size')
    .option('--batch-size <n>', 'rows per INSERT (default 500: the sink\'s 4,000-row batches over 8 tables)')
    .option('--gateway-claims-per-cpu-s <n>', 'claims per gateway CPU-second')
    .option('--sink-rows-per-cpu-s <n>', 'rows per sink CPU-second')
    .option('--stream-overhead <x>', 'the sink\'s stream reads/acks per stream entry, in single-claim scripts')
    .option('--overflow-share <x>', 'share of claims near sell-out whose home sub-stock is empty (default 0.1)')
    .option('--overflow-takes <x>', 'claim-take calls per overflow claim (default 2)')
    .option('--replicas-per-master <n>', 'Redis replicas per master in the scale-out section (default 1, for failover)')
    .option('--wait-master-us-per-claim <x>', 'REDIS_WAIT_REPLICAS=1: master CPU per claim it adds, µs (default: the file\'s wait)')
    .option('--wait-gateway-us-per-claim <x>', 'REDIS_WAIT_REPLICAS=1: gateway CPU per claim it adds, µs')
    .option('--calibrated', 'add a column with this machine\'s figures (.data/capacity-calibration.json)')
    .option('--calibration <file>', 'the same, from FILE')
    .option('--json', 'print the plan as JSON')
    .action((v: Values) => chosen({ cmd: 'plan', o: parsePlan(v) }));
  program.command('calibrate').description('measures this machine\'s ceilings on the local Redis and MariaDB (bounded runs)')
    .option('--seconds <n>', 'seconds per measurement (default 3; about 14 measurements)')
    .option('--group-sizes <list>', 'claims per claim-home call to measure, 1 included (default 1,4,16,64; at most 64, the gateway\'s)')
    .option('--out <file>', 'where to save the figures (default .data/capacity-calibration.json)')
    .option('--batch-sizes <list>', 'rows per INSERT to measure (default 1,50,500,2000)')
    .option('--connections <n>', 'autocannon connections against the gateway (default 100)')
    .option('--topology <t>', 'single (default), or cluster: also Redis Clusters of --masters masters, side by side')
    .option('--masters <list>', 'masters of each cluster measured (default 1,2,3)')
    .option('--cluster-ports <list>', 'ports for the clusters, one per master (default 7601-7606; 2 × the most masters for the run with replicas)')
    .option('--rounds <n>', 'claim runs per cluster, taken in turn (default 2; the medians are used)')
    .option('--json', 'print the saved figures as JSON')
    .action((v: Values) => chosen({ cmd: 'calibrate', o: parseCalibrate(v) }));
  return program;
}

/** The usage of `npm run capacity` (all commands). */
export function usage(): string {
  return capacityCommand(() => undefined).helpInformation();
}

/** Parses `plan ...`, `calibrate ...`, `help` or `--help`; throws UsageError on anything else. */
export function parseCommand(argv: readonly string[]): Command {
  if (argv.length === 0) throw new UsageError('a command is required: plan or calibrate');
  let command: Command | undefined;
  try {
    const { help } = parseQuietly(capacityCommand((c) => { command = c; }), argv);
    if (help !== undefined) return { cmd: 'help', text: help.trimEnd() };
  } catch (err) {
    // commander's messages name the flag ("unknown option '--x'"); the stack trace helps nobody.
    if (err instanceof CommanderError) throw new UsageError(usageMessage(err));
    throw err;
  }
  return command!;
}
