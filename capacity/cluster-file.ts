/**
 * The calibration file's cluster runs (`calibrate --topology cluster`): the claim runs on
 * clusters of 1 to N masters and one with replicas, and the measured cost of
 * REDIS_WAIT_REPLICAS=1 when someone has put it in the file; with the medians `plan` reads from
 * them (pure, so the tests check them directly). The section itself is in calibration-file.ts.
 */
/** One master's part of a cluster run. */
export interface MasterShare {
  readonly port: number;
  /** Claims decided on it: its EVALSHA calls × claims per call. */
  readonly claims: number;
  readonly cpuS: number | null;
  readonly usPerClaim: number | null;
}

/** One claim-home run on a cluster. */
export interface ClusterRedisRun {
  readonly masters: number;
  readonly replicas: number;
  readonly round: number;
  readonly groupSize: number;
  readonly calls: number;
  readonly claims: number;
  readonly seconds: number;
  readonly claimsPerS: number;
  readonly perMaster: readonly MasterShare[];
  /** CPU of all masters, and per claim (summed over masters). */
  readonly mastersCpuS: number | null;
  readonly usPerClaim: number | null;
  /** Claims per master CPU-second: what one master decides with a core to itself. */
  readonly claimsPerMasterCpuS: number | null;
  readonly replicasCpuS: number | null;
  readonly replicaUsPerClaim: number | null;
  /** Cores this (client) process used. */
  readonly clientCores: number;
}

/**
 * What REDIS_WAIT_REPLICAS=1 costs per claim, measured elsewhere (the WAIT drill or bench) and
 * added to the file by hand or by that tool: `plan` adds it to the master's and the gateway's CPU.
 */
export interface WaitCost {
  readonly masterUsPerClaim: number;
  readonly gatewayUsPerClaim: number;
  /** Where and when it was measured. */
  readonly measured: string;
}


/** The medians of one cluster shape's runs. */
export interface ClusterSummary {
  readonly masters: number;
  readonly replicas: number;
  readonly runs: number;
  readonly claimsPerS: number;
  /** Master CPU per claim, summed over the masters. */
  readonly usPerClaim: number | null;
  readonly claimsPerMasterCpuS: number | null;
  /** The busiest master's share of the claims ÷ an even share (1 = even). */
  readonly imbalance: number;
  /** Each master's share of the claims (the median run's order of ports). */
  readonly shares: readonly number[];
  readonly replicaUsPerClaim: number | null;
  readonly clientCores: number;
  /** Claims/s on the busiest master, and the share of a core it used: the load the figures were measured at. */
  readonly busiestClaimsPerS: number;
  readonly busiestCores: number | null;
}

/** The median of some numbers (the mean of the middle two for an even count); null when there are none. */
export function median(xs: readonly (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** Each master's share of a run's claims, and the busiest one's ÷ an even share. */
export function spread(r: Pick<ClusterRedisRun, 'perMaster'>): { shares: number[]; imbalance: number } {
  const total = r.perMaster.reduce((s, m) => s + m.claims, 0);
  const shares = r.perMaster.map((m) => (total > 0 ? m.claims / total : 0));
  return { shares, imbalance: total > 0 ? Math.max(...shares) * shares.length : 0 };
}

/** Medians per cluster shape (masters, replicas), fewest masters first. */
export function summarize(runs: readonly ClusterRedisRun[]): ClusterSummary[] {
  const shapes = [...new Set(runs.map((r) => `${r.masters}/${r.replicas}`))];
  return shapes.map((shape) => {
    const rs = runs.filter((r) => `${r.masters}/${r.replicas}` === shape);
    const imbalance = median(rs.map((r) => spread(r).imbalance))!;
    return {
      masters: rs[0]!.masters, replicas: rs[0]!.replicas, runs: rs.length,
      claimsPerS: median(rs.map((r) => r.claimsPerS))!,
      usPerClaim: median(rs.map((r) => r.usPerClaim)),
      claimsPerMasterCpuS: median(rs.map((r) => r.claimsPerMasterCpuS)),
      imbalance,
      shares: spread(rs.find((r) => spread(r).imbalance === imbalance) ?? rs[0]!).shares,
      replicaUsPerClaim: median(rs.map((r) => r.replicaUsPerClaim)),
      clientCores: median(rs.map((r) => r.clientCores))!,
      busiestClaimsPerS: median(rs.map((r) => Math.max(...r.perMaster.map((m) => m.claims)) / r.seconds))!,
      busiestCores: median(rs.map((r) => (r.perMaster.some((m) => m.cpuS === null) ? null
        : Math.max(...r.perMaster.map((m) => m.cpuS!)) / r.seconds))),
    };
  }).sort((a, b) => a.masters - b.masters || a.replicas - b.replicas);
}

/**
 * The per-master figure `plan` uses: claims per master CPU-second of the cluster with the most
 * masters, with replicas when such runs exist (production has them: a master feeds its
 * replica's stream), else without. Undefined when no run metered its masters' CPU.
 */
export function masterFigure(summaries: readonly ClusterSummary[]): ClusterSummary | undefined {
  const metered = summaries.filter((s) => s.claimsPerMasterCpuS !== null);
  const most = Math.max(...metered.map((s) => s.masters));
  const at = metered.filter((s) => s.masters === most);
  return at.find((s) => s.replicas > 0) ?? at[0];
}

/** Checks the section; returns the first problem, or undefined when `plan` can use it. */
export function clusterProblem(c: { readonly runs: readonly ClusterRedisRun[] }): string | undefined {
  const pos = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (!Array.isArray(c.runs) || c.runs.length === 0) return 'cluster has no runs';
  const bad = c.runs.findIndex((r) => !pos(r?.masters) || !pos(r.claims) || !Array.isArray(r.perMaster) ||
    (r.claimsPerMasterCpuS !== null && !pos(r.claimsPerMasterCpuS)));
  if (bad >= 0) return `cluster.runs[${bad}] is not a measured run`;
  return undefined;
}

/** Checks a WAIT cost; returns the problem, or undefined. */
export function waitProblem(w: WaitCost): string | undefined {
  const ok = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (!ok(w?.masterUsPerClaim) || !ok(w.gatewayUsPerClaim)) return 'wait needs masterUsPerClaim and gatewayUsPerClaim (µs per claim, ≥ 0)';
  return undefined;
}
