/**
 * The scaled-out plan, pure arithmetic: Redis masters from the CPU a cluster master spends per
 * claim (measured on clusters of this tool's own), replicas for failover, MariaDB servers from
 * the rows/s a server takes, sinks, gateways talking to the cluster, and what
 * REDIS_WAIT_REPLICAS=1 adds to the masters and gateways when its cost is known.
 */
import { type Count, count, num } from './model.ts';

/** What the scale-out plan reads: the traffic, the measured column's per-claim work, the cluster's figures. */
export interface ScaleOutInput {
  readonly qps: number;
  readonly headroom: number;
  /** Redis work per claim in single-claim scripts (claim-home share, overflow, the sink's reads). */
  readonly scriptsPerClaim: number;
  /** Single-claim scripts per master CPU-second, measured on a cluster of `masters.measured` masters. */
  readonly masterScriptsPerCpuS: number;
  /** How the master figure was measured, for the formula. */
  readonly masterFrom: string;
  /** Every cluster shape measured, in words (claims/s, master CPU per claim): the trend behind the figure. */
  readonly sweep?: string;
  /** Replicas per master: 1 for failover. */
  readonly replicasPerMaster: number;
  /** The busiest measured master's share of the claims ÷ an even share (the partitions' hash tags over the slots). */
  readonly imbalance?: { readonly factor: number; readonly masters: number };
  /** A replica's CPU per claim of its master, when measured. */
  readonly replicaUsPerClaim: number | null;
  /** REDIS_WAIT_REPLICAS=1's extra CPU per claim on the master and on the gateway; undefined when unknown. */
  readonly wait?: { readonly masterUsPerClaim: number; readonly gatewayUsPerClaim: number; readonly measured: string };
  readonly mysqlRowsPerServer: number;
  readonly batchNote: string;
  readonly sinkRowsPerCpuS: number;
  /** Claims per gateway CPU-second against a cluster, and where it comes from. */
  readonly gatewayClaimsPerCpuS: number;
  readonly gatewayFrom: string;
  /** 1 + the overflow round trips per claim, each at a claim's gateway CPU. */
  readonly gatewayCallsPerClaim: number;
}

export interface ScaleOutPlan {
  /** A master's CPU per claim, µs: scripts per claim × µs per script (+ WAIT's). */
  readonly masterUsPerClaim: number;
  readonly gateways: Count;
  readonly masters: Count;
  readonly replicas: Count;
  readonly mariadbServers: Count;
  readonly sinks: Count;
  /** Lines that are not counts: the replicas' load, WAIT's state, the sub-stock rule. */
  readonly notes: readonly string[];
}

/** The plan: every count with its formula (throws a RangeError on a figure that makes no sense). */
export function planScaleOut(i: ScaleOutInput): ScaleOutPlan {
  for (const [k, v] of Object.entries({ qps: i.qps, scriptsPerClaim: i.scriptsPerClaim, masterScriptsPerCpuS: i.masterScriptsPerCpuS,
    mysqlRowsPerServer: i.mysqlRowsPerServer, sinkRowsPerCpuS: i.sinkRowsPerCpuS, gatewayClaimsPerCpuS: i.gatewayClaimsPerCpuS })) {
    if (!(v > 0 && Number.isFinite(v))) throw new RangeError(`${k} must be a positive number, got ${v}`);
  }
  if (!(i.headroom >= 1)) throw new RangeError(`headroom must be ≥ 1, got ${i.headroom}`);
  if (!Number.isInteger(i.replicasPerMaster) || i.replicasPerMaster < 0) throw new RangeError('replicas per master must be an integer ≥ 0');
  const h = i.headroom;
  const w = i.wait;
  const usPerScript = 1e6 / i.masterScriptsPerCpuS;
  const masterUs = i.scriptsPerClaim * usPerScript + (w?.masterUsPerClaim ?? 0);
  const waitMaster = w ? ` + ${num(w.masterUsPerClaim)} µs of WAIT` : '';
  const masters = count(i.qps * masterUs / 1e6, h,
    `${num(i.qps)} claims/s × (${num(i.scriptsPerClaim)} scripts × ${num(usPerScript)} µs per script${waitMaster}) ` +
    `= ${num(i.qps)} × ${num(masterUs)} µs ÷ 1,000,000 µs per master CPU-second (${i.masterFrom})`);
  // replicas follow the masters' counts: one set per master, whatever its load.
  const r = i.replicasPerMaster;
  const replicas: Count = { exact: masters.exact * r, need: masters.need * r, provisioned: masters.provisioned * r,
    formula: `${num(r)} per master for failover: ${num(masters.need)} × ${num(r)} = ${num(masters.need * r)}; ` +
      `${num(masters.provisioned)} × ${num(r)} = ${num(masters.provisioned * r)}` };
  // WAIT's cost is per claim, like the master's: not multiplied by the overflow round trips.
  const gwUs = i.gatewayCallsPerClaim * 1e6 / i.gatewayClaimsPerCpuS + (w?.gatewayUsPerClaim ?? 0);
  const gateways = count(i.qps * gwUs / 1e6, h,
    `${num(i.qps)} claims/s × (${num(i.gatewayCallsPerClaim)} calls × ${num(1e6 / i.gatewayClaimsPerCpuS)} µs` +
    (w ? ` + ${num(w.gatewayUsPerClaim)} µs of WAIT` : '') +
    `) ÷ 1,000,000 µs per gateway CPU-second (${i.gatewayFrom})`);
  const mariadbServers = count(i.qps / i.mysqlRowsPerServer, h,
    `${num(i.qps)} rows/s ÷ ${num(i.mysqlRowsPerServer)} rows/s per MariaDB server (${i.batchNote})`);
  const sinks = count(i.qps / i.sinkRowsPerCpuS, h, `${num(i.qps)} rows/s ÷ ${num(i.sinkRowsPerCpuS)} rows per sink CPU-second`);
  const notes: string[] = i.sweep ? [`measured: ${i.sweep}`] : [];
  if (i.replicaUsPerClaim !== null && i.replicasPerMaster > 0) {
    notes.push(`each replica replays its master's writes at ${num(i.replicaUsPerClaim)} µs per claim: ` +
      `${num(i.qps / masters.provisioned * i.replicaUsPerClaim / 1e6)} of a core at ${num(i.qps / masters.provisioned)} claims/s per master`);
  }
  if (i.imbalance && i.imbalance.factor > 1) {
    notes.push(`on ${num(i.imbalance.masters)} masters the busiest took ${num(i.imbalance.factor)}× an even share of the claims ` +
      `(whole partitions per master): the headroom of ${num(h)}× must cover that, or PARTITIONS must be larger`);
  }
  notes.push(w ? `REDIS_WAIT_REPLICAS=1 counted (${w.measured})`
    : 'REDIS_WAIT_REPLICAS=1 not counted: its cost is not in the calibration file (`wait`) or the flags ' +
      '(--wait-master-us-per-claim, --wait-gateway-us-per-claim)');
  notes.push(`a hot template uses every master only with ≥ ${num(masters.provisioned)} sub-stocks whose partitions' slots are on different masters`);
  return { masterUsPerClaim: masterUs, gateways, masters, replicas, mariadbServers, sinks, notes };
}
