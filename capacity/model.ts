/**
 * The capacity model, pure arithmetic: how many gateway processes, Redis shards, sub-stocks per
 * hot template, MySQL masters, stream partitions and sink processes a claim rate needs, for the
 * source designs (one write per claim, brief section 2) and for ours (one claim script per
 * claim, batched multi-row inserts), with the formula behind every count. No I/O: the tests
 * check the arithmetic directly, and render.ts only lays it out.
 */

/** The traffic to plan for. */
export interface Traffic {
  /** Claims per second at the peak. */
  readonly qps: number;
  /** Templates the peak is spread over evenly (a red-packet rain: 1). */
  readonly hotTemplates: number;
  /** Provisioned ÷ needed capacity (the source designs provision 1.5× what they tested). */
  readonly headroom: number;
  /** Share of claims, in the busiest second near sell-out, whose home sub-stock is empty. */
  readonly overflowShare: number;
  /** claim-take calls an overflow claim makes on average (then one claim-settle). */
  readonly overflowTakes: number;
}

/** What one unit of each resource sustains, under one design. */
export interface Figures {
  /** Column heading. */
  readonly short: string;
  /** Where the figures come from. */
  readonly label: string;
  /** Per Redis shard (one Redis core): writes/s for the source designs, claim-script executions/s for ours. */
  readonly redisOpsPerShard: number;
  /** Rows per second one MySQL master absorbs at `batchSize` rows per INSERT. */
  readonly mysqlRowsPerMaster: number;
  /** Rows per INSERT the plan assumes. */
  readonly batchSize: number;
  /** Batch size at which `mysqlRowsPerMaster` was measured (≤ batchSize; equal when measured there). */
  readonly mysqlMeasuredAt: number;
  /** Claims per CPU-second of one gateway process; undefined where the design gives no figure. */
  readonly gatewayClaimsPerCpuS?: number;
  /** Rows per CPU-second of one sink process; undefined where the design gives no figure. */
  readonly sinkRowsPerCpuS?: number;
  /** The sink's stream reads and acks per claim, counted in claim-script executions. */
  readonly streamOverhead: number;
}

export type Design = 'source' | 'ours';
export type ResourceId = 'gateway' | 'redisShards' | 'subStocks' | 'mysqlMasters' | 'partitions' | 'sinks';

/** Display names of the resources, in table order. */
export const RESOURCES: readonly { id: ResourceId; name: string }[] = [
  { id: 'gateway', name: 'gateway processes' },
  { id: 'redisShards', name: 'Redis shards' },
  { id: 'subStocks', name: 'sub-stocks per hot template' },
  { id: 'mysqlMasters', name: 'MySQL masters' },
  { id: 'partitions', name: 'stream partitions' },
  { id: 'sinks', name: 'sink processes' },
];

/** One resource count: the exact need, rounded up, and with headroom. */
export interface Count {
  /** Units needed at exactly the peak (fractional). */
  readonly exact: number;
  /** ⌈exact⌉, at least 1. */
  readonly need: number;
  /** ⌈exact × headroom⌉, at least 1: what to provision. */
  readonly provisioned: number;
  /** The computation written out with its numbers. */
  readonly formula: string;
}

/** One design's plan: a column of the table. */
export interface ColumnPlan {
  readonly design: Design;
  readonly figures: Figures;
  /** Redis operations per claim (writes, or claim-script executions) and how they add up. */
  readonly redisOpsPerClaim: number;
  readonly redisOpsFormula: string;
  /** Redis round trips the gateway makes per claim (ours only). */
  readonly gatewayCallsPerClaim?: number;
  /** Null where the design gives no figure for the resource. */
  readonly rows: Readonly<Record<ResourceId, Count | null>>;
  readonly warnings: readonly string[];
}

/** The source designs' figures (brief, section 2): one write per claim on both stores. */
export const SOURCE_FIGURES: Figures = {
  short: 'source designs',
  label: 'one write per claim; 20,000 writes/s per Redis shard, 4,000 per MySQL master (brief §2)',
  redisOpsPerShard: 20_000,
  mysqlRowsPerMaster: 4_000,
  batchSize: 1,
  mysqlMeasuredAt: 1,
  streamOverhead: 0,
};

/** Figures for our design before a batch size is chosen: measured, or the reference set. */
export interface FigureSet {
  readonly short: string;
  readonly label: string;
  /** Claim-script executions per second one Redis core sustains (claim-home, not pipelined). */
  readonly redisExecsPerShard: number;
  /** Rows/s one master absorbed at each batch size. */
  readonly mysqlRows: readonly { readonly batchSize: number; readonly rowsPerS: number }[];
  readonly gatewayClaimsPerCpuS: number;
  readonly sinkRowsPerCpuS: number;
  readonly streamOverhead: number;
}

/**
 * Our design with figures from the brief (section 6) and BENCHMARKS.md, used until this machine
 * is calibrated: 68k claim-shaped scripts/s on one Redis core (redis-benchmark -P 1); MariaDB
 * 15k single-row and 200k rows/s in 500-row INSERTs; the real gateway at 32.1 µs of CPU per
 * claim and the sink at 14.3 µs per row (BENCHMARKS.md, batches of 4,000); the sink's
 * XREADGROUP + XACK at 2.1 µs per claim against 12.7 µs for the claim script (commandstats).
 */
export const REFERENCE_FIGURES: FigureSet = {
  short: 'ours, reference',
  label: 'one claim script per claim, batched INSERTs; figures of brief §6 and BENCHMARKS.md (not measured here)',
  redisExecsPerShard: 68_000,
  mysqlRows: [{ batchSize: 1, rowsPerS: 15_000 }, { batchSize: 500, rowsPerS: 200_000 }],
  gatewayClaimsPerCpuS: Math.round(1e6 / 32.1),
  sinkRowsPerCpuS: Math.round(1e6 / 14.3),
  streamOverhead: 0.17,
};

/** Figures given on the command line; each replaces the set's own. */
export interface FigureOverrides {
  readonly redisOpsPerShard?: number;
  readonly mysqlRowsPerMaster?: number;
  readonly batchSize?: number;
  readonly gatewayClaimsPerCpuS?: number;
  readonly sinkRowsPerCpuS?: number;
  readonly streamOverhead?: number;
}

/** The sink's rows per INSERT at full batches: 4,000 rows over 2 × 4 shard tables (config/index.ts). */
export const DEFAULT_BATCH_SIZE = 500;

/**
 * Our design's figures at a batch size: the MySQL figure is the one measured at the largest
 * batch size not above it (never an extrapolation); throws when none is, unless overridden.
 */
export function figuresAt(set: FigureSet, o: FigureOverrides = {}): Figures {
  const batchSize = o.batchSize ?? DEFAULT_BATCH_SIZE;
  let rowsPerMaster = o.mysqlRowsPerMaster;
  let measuredAt = batchSize;
  if (rowsPerMaster === undefined) {
    const below = set.mysqlRows.filter((r) => r.batchSize <= batchSize).sort((a, b) => b.batchSize - a.batchSize)[0];
    if (!below) {
      throw new RangeError(`${set.label}: no MySQL figure at or below ${batchSize} rows per INSERT ` +
        `(measured: ${set.mysqlRows.map((r) => r.batchSize).join(', ')}); give --mysql-rows-per-master`);
    }
    rowsPerMaster = below.rowsPerS;
    measuredAt = below.batchSize;
  }
  return {
    short: set.short,
    label: set.label,
    redisOpsPerShard: o.redisOpsPerShard ?? set.redisExecsPerShard,
    mysqlRowsPerMaster: rowsPerMaster,
    batchSize,
    mysqlMeasuredAt: measuredAt,
    gatewayClaimsPerCpuS: o.gatewayClaimsPerCpuS ?? set.gatewayClaimsPerCpuS,
    sinkRowsPerCpuS: o.sinkRowsPerCpuS ?? set.sinkRowsPerCpuS,
    streamOverhead: o.streamOverhead ?? set.streamOverhead,
  };
}

/** Largest number of sub-stocks the product allows per template (templates/rules.ts). */
export const MAX_SUB_STOCKS = 64;
/** Largest PARTITIONS the product accepts (config/index.ts). */
export const MAX_PARTITIONS = 1024;
/**
 * Partitions provisioned per Redis shard. A partition's keys share one hash tag, so a shard
 * added later takes whole partitions: four per shard keeps shards within ~25 % of each other.
 * PARTITIONS is fixed for the life of the data, so this is sized for growth.
 */
export const PARTITIONS_PER_SHARD = 4;

/** Plans one design; throws a RangeError naming the field on a figure or traffic that makes no sense. */
export function planColumn(design: Design, t: Traffic, f: Figures): ColumnPlan {
  checkTraffic(t);
  checkFigures(f, design);
  const h = t.headroom;
  const perTemplate = t.qps / t.hotTemplates;
  const warnings: string[] = [];

  // Ours: every claim runs claim-home; an overflow claim adds its takes and one settle, each a
  // script and a gateway round trip; the sink's stream reads and acks add Redis time only.
  const calls = 1 + t.overflowShare * (t.overflowTakes + 1);
  const redisOps = design === 'source' ? 1 : calls + f.streamOverhead;
  const redisOpsFormula = design === 'source' ? '1 write per claim'
    : `1 claim-home + ${num(t.overflowShare)} overflow × (${num(t.overflowTakes)} claim-take + 1 ` +
      `claim-settle) + ${num(f.streamOverhead)} stream reads/acks = ${num(redisOps)} scripts per claim`;
  const opsUnit = design === 'source' ? 'writes' : 'scripts';
  const perClaim = `${num(redisOps)} ${redisOps === 1 ? opsUnit.slice(0, -1) : opsUnit}/claim`;

  const redisShards = count(t.qps * redisOps / f.redisOpsPerShard, h,
    `${num(t.qps)} claims/s × ${perClaim} ÷ ${num(f.redisOpsPerShard)} ${opsUnit}/s per shard`);
  // A hot template's own demand must spread over this many sub-stocks, each on its own core.
  const subStocks = count(perTemplate * redisOps / f.redisOpsPerShard, h,
    `${num(perTemplate)} claims/s per template × ${perClaim} ÷ ${num(f.redisOpsPerShard)} ${opsUnit}/s per shard`);
  const rows = (n: number) => `${num(n)} row${n === 1 ? '' : 's'} per INSERT`;
  const batchNote = f.mysqlMeasuredAt === f.batchSize ? rows(f.batchSize)
    : `${rows(f.batchSize)}, figure measured at ${num(f.mysqlMeasuredAt)}`;
  const mysqlMasters = count(t.qps / f.mysqlRowsPerMaster, h,
    `${num(t.qps)} rows/s ÷ ${num(f.mysqlRowsPerMaster)} rows/s per master (${batchNote})`);

  let gateway: Count | null = null;
  let sinks: Count | null = null;
  let partitions: Count | null = null;
  if (design === 'ours') {
    if (f.gatewayClaimsPerCpuS !== undefined) {
      // An overflow claim's extra round trips are counted at a whole claim's CPU: an upper bound.
      gateway = count(t.qps * calls / f.gatewayClaimsPerCpuS, h,
        `${num(t.qps)} claims/s × ${num(calls)} Redis calls/claim ÷ ${num(f.gatewayClaimsPerCpuS)} claims per CPU-second`);
    }
    if (f.sinkRowsPerCpuS !== undefined) {
      sinks = count(t.qps / f.sinkRowsPerCpuS, h, `${num(t.qps)} rows/s ÷ ${num(f.sinkRowsPerCpuS)} rows per sink CPU-second`);
    }
    partitions = partitionCount(subStocks, redisShards);
    if (subStocks.provisioned > MAX_SUB_STOCKS) {
      warnings.push(`${num(subStocks.provisioned)} sub-stocks per hot template exceed the product's ${MAX_SUB_STOCKS}: ` +
        'split the demand over more templates');
    }
    if (partitions.provisioned > MAX_PARTITIONS) {
      warnings.push(`${num(partitions.provisioned)} partitions exceed PARTITIONS' maximum of ${MAX_PARTITIONS}`);
    }
  }
  return {
    design, figures: f, redisOpsPerClaim: redisOps, redisOpsFormula,
    gatewayCallsPerClaim: design === 'ours' ? calls : undefined,
    rows: { gateway, redisShards, subStocks, mysqlMasters, partitions, sinks }, warnings,
  };
}

/** Each sub-stock needs its own partition; each shard owns PARTITIONS_PER_SHARD of them. */
function partitionCount(subStocks: Count, shards: Count): Count {
  const exact = Math.max(subStocks.exact, shards.exact);
  const provisioned = Math.min(Number.MAX_SAFE_INTEGER, Math.max(subStocks.provisioned, PARTITIONS_PER_SHARD * shards.provisioned));
  return {
    exact, need: atLeastOne(exact), provisioned,
    formula: `need max(${num(subStocks.need)} sub-stocks, ${num(shards.need)} shards) = ${num(atLeastOne(exact))}; ` +
      `provision max(${num(subStocks.provisioned)} sub-stocks, ${PARTITIONS_PER_SHARD} × ${num(shards.provisioned)} shards) = ${num(provisioned)}`,
  };
}

// Float noise (6.000000001) must not cost a whole extra machine.
const ceil = (x: number) => Math.ceil(x - 1e-9 * Math.max(1, Math.abs(x)));
const atLeastOne = (x: number) => Math.max(1, ceil(x));

function count(exact: number, headroom: number, expr: string): Count {
  const need = atLeastOne(exact);
  const provisioned = atLeastOne(exact * headroom);
  return { exact, need, provisioned, formula: `${expr} = ${num(exact)} → ${num(need)}; ⌈${num(exact)} × ${num(headroom)}⌉ = ${num(provisioned)}` };
}

/** A number as the formulas print it: thousands separators, two decimals when not whole. */
export function num(n: number): string {
  // two decimals (four below 0.01), trailing zeros dropped: 1.5, 0.6, 2.59, 2,086.42.
  return n.toLocaleString('en-US', { maximumFractionDigits: Math.abs(n) > 0 && Math.abs(n) < 0.01 ? 4 : 2 });
}

function positive(v: number | undefined, name: string, optional = false): void {
  if (optional && v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number, got ${v}`);
}

function checkTraffic(t: Traffic): void {
  positive(t.qps, 'qps');
  if (!Number.isInteger(t.hotTemplates) || t.hotTemplates < 1) throw new RangeError(`hotTemplates must be an integer ≥ 1, got ${t.hotTemplates}`);
  if (!(t.headroom >= 1 && Number.isFinite(t.headroom))) throw new RangeError(`headroom must be ≥ 1, got ${t.headroom}`);
  if (!(t.overflowShare >= 0 && t.overflowShare <= 1)) throw new RangeError(`overflowShare must be within [0, 1], got ${t.overflowShare}`);
  if (!(t.overflowTakes >= 0 && Number.isFinite(t.overflowTakes))) throw new RangeError(`overflowTakes must be ≥ 0, got ${t.overflowTakes}`);
}

function checkFigures(f: Figures, design: Design): void {
  positive(f.redisOpsPerShard, `${f.label}: Redis operations per shard`);
  positive(f.mysqlRowsPerMaster, `${f.label}: MySQL rows per master`);
  if (!Number.isInteger(f.batchSize) || f.batchSize < 1) throw new RangeError(`${f.label}: batch size must be an integer ≥ 1`);
  positive(f.gatewayClaimsPerCpuS, `${f.label}: gateway claims per CPU-second`, design === 'source');
  positive(f.sinkRowsPerCpuS, `${f.label}: sink rows per CPU-second`, design === 'source');
  if (!(f.streamOverhead >= 0 && Number.isFinite(f.streamOverhead))) throw new RangeError(`${f.label}: stream overhead must be ≥ 0`);
}
