/**
 * The capacity model, pure arithmetic: how many gateway processes, Redis shards, sub-stocks per
 * hot template, MySQL masters, stream partitions and sink processes a claim rate needs, for the
 * source designs (one write per claim, brief section 2) and for ours (claim scripts that decide
 * a group of claims per call, batched multi-row inserts), with the formula behind every count.
 * No I/O: the tests check the arithmetic directly, and render.ts only lays it out.
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
  /**
   * Per Redis shard (one Redis core): writes/s for the source designs; for ours, claim scripts of
   * one claim each per second (claim-take, claim-settle, a claim-home call of one): the unit
   * "script" of our Redis cost.
   */
  readonly redisOpsPerShard: number;
  /** Ours: claims per claim-home call (the gateway's group commit); 1 for the source designs. */
  readonly groupSize: number;
  /** Ours: claims/s one Redis core decides in claim-home calls of `groupSize` claims. */
  readonly homeClaimsPerShard: number;
  /** Where `homeClaimsPerShard` comes from ("measured at 4", "interpolated between 1 and 4", "given"). */
  readonly homeFrom: string;
  /** Ours, calibrated: the gateway's event-loop turn in the calibration run, ms (see FigureSet). */
  readonly groupWindowMs?: number;
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
  /** The sink's stream reads and acks per claim, in scripts (ours: entries of `groupSize` records). */
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
  /** Gateway work per claim, in claims: 1 plus the overflow round trips (ours only). */
  readonly gatewayCallsPerClaim?: number;
  /** Ours, calibrated: the group size this plan's own traffic would gather, against the one assumed. */
  readonly groupCheck?: string;
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
  groupSize: 1,
  homeClaimsPerShard: 20_000,
  homeFrom: 'one write per claim',
  batchSize: 1,
  mysqlMeasuredAt: 1,
  streamOverhead: 0,
};

/** Redis figures at one group size (see FigureSet). */
export interface RedisPoint {
  readonly groupSize: number;
  readonly claimsPerS: number;
  readonly readClaimsPerS: number;
}

/** Figures for our design before a batch size is chosen: measured, or the reference set. */
export interface FigureSet {
  readonly short: string;
  readonly label: string;
  /**
   * Per measured group size: claims per second one Redis core decides through claim-home (not
   * pipelined), and claims per second it serves the sink's reads and acks of, in stream entries
   * of that many records. Size 1 is also the figure of every other claim script (one claim each).
   */
  readonly redisClaims: readonly RedisPoint[];
  /** Claims per claim-home call the gateway made when calibrated: the plan's default group size. */
  readonly groupSize: number;
  /**
   * Calibrated only: groupSize ÷ (claims/s per sub-stock) in the gateway run, ms: the length of
   * its event-loop turns. A group holds the claims of one sub-stock that arrive in one turn, so
   * it gathers about (claims/s per sub-stock and gateway) × turn ÷ 1000 claims. A rough guide at
   * another load: turns grow with the gateway's load, and the calibration's gateway was busy.
   */
  readonly groupWindowMs?: number;
  /** Rows/s one master absorbed at each batch size. */
  readonly mysqlRows: readonly { readonly batchSize: number; readonly rowsPerS: number }[];
  readonly gatewayClaimsPerCpuS: number;
  readonly sinkRowsPerCpuS: number;
}

/**
 * Our design with figures from the brief (section 6) and BENCHMARKS.md, used until this machine
 * is calibrated, from before group commit (one claim per call, so no group figure): 68k
 * claim-shaped scripts/s on one Redis core (redis-benchmark -P 1); MariaDB 15k single-row and
 * 200k rows/s in 500-row INSERTs; the real gateway at 32.1 µs of CPU per claim and the sink at
 * 14.3 µs per row (BENCHMARKS.md, batches of 4,000); the sink's XREADGROUP + XACK at 2.1 µs per
 * entry (then one claim) against 12.7 µs for the claim script (commandstats).
 */
export const REFERENCE_FIGURES: FigureSet = {
  short: 'ours, reference',
  label: 'one claim script per claim, batched INSERTs; figures of brief §6 and BENCHMARKS.md (not measured here)',
  // the sink's reads and acks at 0.17 of a claim script per claim: 68,000 ÷ 0.17.
  redisClaims: [{ groupSize: 1, claimsPerS: 68_000, readClaimsPerS: 400_000 }],
  groupSize: 1,
  mysqlRows: [{ batchSize: 1, rowsPerS: 15_000 }, { batchSize: 500, rowsPerS: 200_000 }],
  gatewayClaimsPerCpuS: Math.round(1e6 / 32.1),
  sinkRowsPerCpuS: Math.round(1e6 / 14.3),
};

/** Figures given on the command line; each replaces the set's own. */
export interface FigureOverrides {
  /** Single-claim scripts/s per core; the set's group-size figures scale with it. */
  readonly redisOpsPerShard?: number;
  /** Claims/s per core in claim-home calls of the plan's group size. */
  readonly redisClaimsPerShard?: number;
  readonly groupSize?: number;
  readonly mysqlRowsPerMaster?: number;
  readonly batchSize?: number;
  readonly gatewayClaimsPerCpuS?: number;
  readonly sinkRowsPerCpuS?: number;
  readonly streamOverhead?: number;
}

/** The sink's rows per INSERT at full batches: 4,000 rows over 2 × 4 shard tables (config/index.ts). */
export const DEFAULT_BATCH_SIZE = 500;

/**
 * Claims/s per Redis core at `g` claims per call (or records per entry), from the sizes measured
 * (which include 1). A call's (an entry's) Redis time is a fixed part shared by its claims plus a
 * part per claim, so the time per claim is linear in 1/g: between two measured sizes it is
 * interpolated on 1/g, which is exact for that shape. Above the largest size measured, that
 * size's figure is kept (no extrapolation). `pick` chooses the figure (claim-home or reads).
 */
export function claimsAtGroupSize(curve: readonly RedisPoint[], g: number,
  pick: (p: RedisPoint) => number = (p) => p.claimsPerS): { claimsPerS: number; from: string } {
  const sorted = [...curve].sort((a, b) => a.groupSize - b.groupSize);
  const below = sorted.filter((r) => r.groupSize <= g).at(-1);
  const above = sorted.find((r) => r.groupSize > g);
  if (!below) throw new RangeError(`no Redis figure at or below ${g} claims per call (measured: ${sorted.map((r) => r.groupSize).join(', ')})`);
  if (below.groupSize === g) return { claimsPerS: pick(below), from: `measured at ${num(g)}` };
  if (!above) return { claimsPerS: pick(below), from: `measured at ${num(below.groupSize)}, the largest size measured` };
  const t = (1 / below.groupSize - 1 / g) / (1 / below.groupSize - 1 / above.groupSize);
  const perClaim = (1 - t) / pick(below) + t / pick(above);
  return { claimsPerS: 1 / perClaim, from: `interpolated between ${num(below.groupSize)} and ${num(above.groupSize)}` };
}

/**
 * Our design's figures at a group size (default: the set's) and a batch size: the Redis figure
 * at that group size (claimsAtGroupSize), and the MySQL figure measured at the largest batch
 * size not above the plan's (never an extrapolation); throws when none is, unless overridden.
 */
export function figuresAt(set: FigureSet, o: FigureOverrides = {}): Figures {
  const groupSize = o.groupSize ?? set.groupSize;
  const single = claimsAtGroupSize(set.redisClaims, 1).claimsPerS;
  // a given single-claim figure is a faster or slower core: every group size scales with it.
  const scale = (o.redisOpsPerShard ?? single) / single;
  const home = claimsAtGroupSize(set.redisClaims, groupSize);
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
    redisOpsPerShard: single * scale,
    groupSize,
    homeClaimsPerShard: o.redisClaimsPerShard ?? home.claimsPerS * scale,
    homeFrom: o.redisClaimsPerShard === undefined ? home.from : 'given',
    groupWindowMs: set.groupWindowMs,
    // a ratio of two figures of one core: the scale cancels.
    streamOverhead: o.streamOverhead ?? single / claimsAtGroupSize(set.redisClaims, groupSize, (p) => p.readClaimsPerS).claimsPerS,
    mysqlRowsPerMaster: rowsPerMaster,
    batchSize,
    mysqlMeasuredAt: measuredAt,
    gatewayClaimsPerCpuS: o.gatewayClaimsPerCpuS ?? set.gatewayClaimsPerCpuS,
    sinkRowsPerCpuS: o.sinkRowsPerCpuS ?? set.sinkRowsPerCpuS,
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

  // Ours: every claim is 1/g of a claim-home call, whose Redis time per claim is measured at g
  // claims per call; an overflow claim adds its takes and one settle, each a script of one claim
  // and a gateway round trip; the sink reads and acks one stream entry per call (g records),
  // whose Redis time per claim is measured the same way.
  const g = f.groupSize;
  const overflow = t.overflowShare * (t.overflowTakes + 1);
  const calls = 1 + overflow;
  const home = f.redisOpsPerShard / f.homeClaimsPerShard;
  const redisOps = design === 'source' ? 1 : home + overflow + f.streamOverhead;
  const homeText = g === 1 && home === 1 ? '1 claim-home'
    : `1/${num(g)} claim-home call = ${num(home)} scripts (${num(f.homeClaimsPerShard)} claims/s per core at ${num(g)} per ` +
      `call, ${f.homeFrom}; ${num(f.redisOpsPerShard)} at 1)`;
  const redisOpsFormula = design === 'source' ? '1 write per claim'
    : `${homeText} + ${num(t.overflowShare)} overflow × (${num(t.overflowTakes)} claim-take + 1 ` +
      `claim-settle) + ${num(f.streamOverhead)} stream reads/acks${g === 1 ? '' : ` (entries of ${num(g)} records)`} = ` +
      `${num(redisOps)} scripts per claim`;
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
        `${num(t.qps)} claims/s × ${num(calls)} (1 + overflow round trips, each at a claim's CPU) ÷ ` +
        `${num(f.gatewayClaimsPerCpuS)} claims per CPU-second`);
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
    groupCheck: gateway && f.groupWindowMs !== undefined ? groupCheck(perTemplate, subStocks, gateway, f) : undefined,
    rows: { gateway, redisShards, subStocks, mysqlMasters, partitions, sinks }, warnings,
  };
}

/** The group size the plan's traffic per gateway and sub-stock gathers in the calibrated window. */
function groupCheck(perTemplate: number, subStocks: Count, gateways: Count, f: Figures): string {
  const perGateway = perTemplate / subStocks.provisioned / gateways.provisioned;
  const gathered = Math.max(1, perGateway * f.groupWindowMs! / 1000);
  // the calibration's gateway was saturated, so its turns were long; one with headroom turns faster.
  return `each of ${num(gateways.provisioned)} gateways sees ${num(perGateway)} claims/s per sub-stock ` +
    `(${num(perTemplate)} ÷ ${num(subStocks.provisioned)} sub-stocks ÷ ${num(gateways.provisioned)} gateways); in the ` +
    `${num(f.groupWindowMs!)} ms turns of the calibration's busy gateway that is up to ≈ ${num(gathered)} claims per call ` +
    `(planned with ${num(f.groupSize)})`;
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

/** A resource count from its exact need: ⌈exact⌉ and ⌈exact × headroom⌉ (each at least 1), `expr` its formula. */
export function count(exact: number, headroom: number, expr: string): Count {
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
  if (!(f.groupSize >= 1 && Number.isFinite(f.groupSize))) throw new RangeError(`${f.label}: group size must be ≥ 1, got ${f.groupSize}`);
  positive(f.homeClaimsPerShard, `${f.label}: Redis claims per shard`);
  positive(f.gatewayClaimsPerCpuS, `${f.label}: gateway claims per CPU-second`, design === 'source');
  positive(f.sinkRowsPerCpuS, `${f.label}: sink rows per CPU-second`, design === 'source');
  if (!(f.streamOverhead >= 0 && Number.isFinite(f.streamOverhead))) throw new RangeError(`${f.label}: stream overhead must be ≥ 0`);
}
