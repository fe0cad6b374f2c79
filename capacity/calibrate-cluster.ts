/**
 * `calibrate --topology cluster`: clusters of 1, 2, 3 ... masters (no replicas) side by side on
 * the tool's own ports, the claim runs in rounds over all of them, then the real gateway and sink
 * against the smallest and the largest (one connection to Redis against several: the cluster
 * client's cost; the sizes between would only add time to a bounded calibration), then one
 * cluster of the most masters with a replica each, to show what feeding a replica costs its master. Every cluster is stopped by pid (scripts/services.sh) when done,
 * also on failure and Ctrl-C (the cleanup steps cluster-servers.ts registers).
 */
import { onCleanup } from '../tools/harness/cleanup.ts';
import { stopAllChildren } from '../tools/harness/processes.ts';
import { GUARDS_OFF, openBenchStorage } from '../tools/harness/bench-storage.ts';
import type { ClusterRedisRun } from './cluster-file.ts';
import { masterPorts, type RunningCluster, startCluster } from './cluster-servers.ts';
import { measureGateway } from './measure-gateway.ts';
import { clusterConfig, clusterProbe, clusterRunLine } from './measure-cluster.ts';
import { IN_FLIGHT } from './measure-redis.ts';
import type { ClusterCalibration, GatewayRun } from './calibration-file.ts';

/** Claims per call in the cluster's claim runs: 1, the plan's unit "script". */
const GROUP_SIZE = 1;

export interface ClusterOptions {
  readonly masters: readonly number[];
  readonly ports: readonly number[];
  readonly rounds: number;
  readonly seconds: number;
  readonly connections: number;
}

/** Measurements the section makes (for the progress bar). */
export function clusterSteps(o: ClusterOptions): number {
  return o.rounds * o.masters.length + gatewaySizes(o).length + (replicaPorts(o) ? o.rounds : 0);
}

/** The clusters the gateway runs against: the fewest and the most masters. */
function gatewaySizes(o: ClusterOptions): number[] {
  return [...new Set([Math.min(...o.masters), Math.max(...o.masters)])];
}

/** The ports of the run with replicas (the most masters, 1 replica each), if there are enough. */
function replicaPorts(o: ClusterOptions): number[] | undefined {
  const n = Math.max(...o.masters);
  return o.ports.length >= 2 * n ? o.ports.slice(0, 2 * n) : undefined;
}

/** Rounds of claim runs, one per cluster in turn; each probe's keys deleted afterwards. */
async function claimRounds(clusters: readonly RunningCluster[], prefix: string, o: ClusterOptions, step: () => void,
  go: () => void): Promise<ClusterRedisRun[]> {
  const probes = [];
  for (const c of clusters) probes.push(await clusterProbe(c, clusterConfig(c, `${prefix}_${c.spec.name.replace(/-/g, '')}`), o.seconds, GROUP_SIZE));
  const runs: ClusterRedisRun[] = [];
  try {
    for (let round = 1; round <= o.rounds; round++) {
      for (const p of probes) {
        go();
        const r = await p.run(round);
        console.log(clusterRunLine(r));
        runs.push(r);
        step();
      }
    }
  } finally {
    for (const p of probes) await p.close();
  }
  return runs;
}

/** The real gateway and sink against one cluster, on its own prefix; its children and data removed after. */
async function gatewayOn(c: RunningCluster, prefix: string, o: ClusterOptions, mariadbPid: number | undefined): Promise<GatewayRun> {
  const st = await openBenchStorage(clusterConfig(c, `${prefix}_g${masterPorts(c.spec).length}`, GUARDS_OFF));
  const cleanup = onCleanup(`gateway storage on ${c.spec.name}`, () => st.cleanup());
  try {
    const pids = Object.fromEntries(masterPorts(c.spec).map((p) => [p, c.pids[p]!]));
    console.log(`cluster: the gateway and sink against ${c.spec.name}`);
    return await measureGateway(st, o.seconds, o.connections, { masters: pids, mariadb: mariadbPid });
  } finally {
    await stopAllChildren();
    await cleanup();
  }
}

/** Runs the cluster section; `go` throws after Ctrl-C. */
export async function calibrateCluster(prefix: string, o: ClusterOptions, mariadbPid: number | undefined, step: () => void,
  go: () => void): Promise<ClusterCalibration> {
  const clusters: RunningCluster[] = [];
  let at = 0;
  for (const n of o.masters) {
    clusters.push(await startCluster({ name: `capacity-${n}`, ports: o.ports.slice(at, at + n), replicas: 0 }));
    at += n;
  }
  let runs: ClusterRedisRun[];
  const gateway: { masters: number; run: GatewayRun }[] = [];
  try {
    runs = await claimRounds(clusters, prefix, o, step, go);
    for (const c of clusters.filter((x) => gatewaySizes(o).includes(masterPorts(x.spec).length))) {
      go();
      gateway.push({ masters: masterPorts(c.spec).length, run: await gatewayOn(c, prefix, o, mariadbPid) });
      step();
    }
  } finally {
    for (const c of clusters) await c.stop();
  }
  const rPorts = replicaPorts(o);
  if (rPorts) {
    go();
    const replicated = await startCluster({ name: 'capacity-replicas', ports: rPorts, replicas: 1 });
    try {
      runs.push(...await claimRounds([replicated], prefix, o, step, go));
    } finally {
      await replicated.stop();
    }
  } else {
    console.log(`cluster: no run with replicas (it needs ${2 * Math.max(...o.masters)} ports, --cluster-ports has ${o.ports.length})`);
  }
  return { ports: o.ports, groupSize: GROUP_SIZE, inFlight: IN_FLIGHT, rounds: o.rounds, secondsPerRun: o.seconds, runs, gateway };
}
