/**
 * What the scale-out plan reads from a calibration file with a cluster section: the per-master
 * figure (cluster-file.ts masterFigure), the gateway run against the cluster of the most masters,
 * the replicas' cost, the WAIT cost (flags first, then the file), and from the measured column
 * the Redis work per claim, the MariaDB and sink figures. Pure: no I/O.
 */
import type { Calibration } from './calibration-file.ts';
import { masterFigure, summarize } from './cluster-file.ts';
import { type ColumnPlan, num } from './model.ts';
import type { ScaleOutInput } from './scale-out.ts';

/** The scale-out section's own options (PlanOptions.scaleOut). */
export interface ScaleOutFlags {
  readonly replicasPerMaster: number;
  readonly waitMasterUsPerClaim?: number;
  readonly waitGatewayUsPerClaim?: number;
}

/** The inputs, or why there are none (no cluster section, or its masters' CPU was not metered). */
export function scaleOutInput(c: Calibration, measured: ColumnPlan, qps: number, headroom: number,
  flags: ScaleOutFlags): ScaleOutInput | string {
  if (!c.cluster) return 'the calibration has no cluster section: run `npm run capacity -- calibrate --topology cluster`';
  const summaries = summarize(c.cluster.runs);
  const m = masterFigure(summaries);
  if (!m || m.claimsPerMasterCpuS === null) return 'the cluster runs did not meter their masters\' CPU';
  const replicaRun = summaries.find((s) => s.masters === m.masters && s.replicas > 0);
  const gw = [...c.cluster.gateway].sort((a, b) => b.masters - a.masters)[0];
  const f = measured.figures;
  const wait = flags.waitMasterUsPerClaim !== undefined && flags.waitGatewayUsPerClaim !== undefined
    ? { masterUsPerClaim: flags.waitMasterUsPerClaim, gatewayUsPerClaim: flags.waitGatewayUsPerClaim, measured: 'given on the command line' }
    : c.wait;
  const load = m.busiestCores === null ? '' : `, the busiest at ${num(Math.round(m.busiestClaimsPerS))} claims/s = ` +
    `${num(m.busiestCores)} of a core`;
  return {
    qps, headroom,
    scriptsPerClaim: measured.redisOpsPerClaim,
    masterScriptsPerCpuS: m.claimsPerMasterCpuS,
    masterFrom: `${num(Math.round(m.claimsPerMasterCpuS))} single-claim scripts per master CPU-second on ${m.masters} ` +
      `master${m.masters === 1 ? '' : 's'}${m.replicas ? ` with ${m.replicas} replica each` : ''}, median of ${m.runs} runs${load}`,
    imbalance: { factor: m.imbalance, masters: m.masters },
    sweep: summaries.map((x) => `${x.masters}${x.replicas ? `+${x.masters * x.replicas}` : ''} → ${num(Math.round(x.claimsPerS))} claims/s, ` +
      `${x.usPerClaim === null ? '?' : num(Math.round(x.usPerClaim * 10) / 10)} µs of master CPU per claim`).join('; '),
    replicasPerMaster: flags.replicasPerMaster,
    replicaUsPerClaim: replicaRun?.replicaUsPerClaim ?? null,
    wait,
    mysqlRowsPerServer: f.mysqlRowsPerMaster,
    batchNote: `${num(f.batchSize)} rows per INSERT` + (f.mysqlMeasuredAt === f.batchSize ? '' : `, measured at ${num(f.mysqlMeasuredAt)}`),
    sinkRowsPerCpuS: f.sinkRowsPerCpuS!,
    // the gateway talks to a cluster in production: its figure against the most masters, else the single Redis's.
    gatewayClaimsPerCpuS: gw ? gw.run.claimsPerGatewayCpuS : f.gatewayClaimsPerCpuS!,
    gatewayFrom: gw ? `measured against ${gw.masters} master${gw.masters === 1 ? '' : 's'} at ${num(gw.run.groupSize)} claims per call`
      : 'measured against one Redis',
    gatewayCallsPerClaim: measured.gatewayCallsPerClaim ?? 1,
  };
}
