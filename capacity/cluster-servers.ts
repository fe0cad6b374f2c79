/**
 * Calibration's own Redis Clusters, started and stopped through scripts/services.sh
 * (topology-storage-up / topology-down, scripts/lib/topology.sh), which signals only the
 * processes its pid files name. Each cluster is a named topology with its data under
 * .data/<name>/ (deleted before the start, so every calibration starts from empty nodes) and
 * no MariaDB of its own. Every script call is bounded.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from '../tools/harness/cleanup.ts';
import { ROOT } from '../tools/harness/processes.ts';
import { runScript } from '../tools/harness/run-script.ts';

/** One cluster to start: its topology name and ports, masters first, then their replicas. */
export interface ClusterSpec {
  readonly name: string;
  readonly ports: readonly number[];
  readonly replicas: number;
}

/** A started cluster: its masters' addresses and redis-server pids, read from the pid files. */
export interface RunningCluster {
  readonly spec: ClusterSpec;
  /** host:port of every node, for REDIS_CLUSTER_NODES. */
  readonly nodes: readonly string[];
  /** Pid of each node by port (masters and replicas). */
  readonly pids: Readonly<Record<number, number>>;
  /** Stops the nodes by pid (idempotent) and deletes the data. */
  stop(): Promise<void>;
}

/** The masters of a spec: its first ports/(1 + replicas) ports, as the script assigns them. */
export function masterPorts(spec: ClusterSpec): number[] {
  return spec.ports.slice(0, spec.ports.length / (1 + spec.replicas));
}

function services(spec: ClusterSpec, command: string, timeoutMs: number): Promise<void> {
  const env = {
    // the script reads its own variables (PATH and the rest come from this process); the topology's are set here.
    TOPOLOGY_NAME: spec.name,
    TOPOLOGY_REDIS_PORTS: spec.ports.join(' '),
    TOPOLOGY_REDIS_REPLICAS: String(spec.replicas),
    // empty: no MariaDB beyond the main one (the calibration uses the shared one).
    TOPOLOGY_MYSQL_PORTS: '',
    // what calibrate measures is a master's own cost: nothing refused for want of a replica.
    TOPOLOGY_MIN_REPLICAS_TO_WRITE: '0',
  };
  return runScript(ROOT, 'scripts/services.sh', [command], env, timeoutMs)
    .catch((err: unknown) => { throw new Error(`${spec.name}: ${err instanceof Error ? err.message : String(err)}`); });
}

/** Starts a fresh cluster (its old data deleted) and registers its stop for cleanup. */
export async function startCluster(spec: ClusterSpec): Promise<RunningCluster> {
  const data = join(ROOT, '.data', spec.name);
  rmSync(data, { recursive: true, force: true });
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= services(spec, 'topology-down', 60_000)
    .then(() => {
      rmSync(data, { recursive: true, force: true });
      // make stop need not look for it again.
      rmSync(join(ROOT, '.data', 'run', 'topologies', spec.name), { force: true });
    }));
  // registered before the start: a start that fails half-way still has its nodes stopped.
  const unregister = onCleanup(`redis cluster ${spec.name}`, stop);
  await services(spec, 'topology-storage-up', 90_000);
  const pids: Record<number, number> = {};
  for (const p of spec.ports) {
    pids[p] = Number(readFileSync(join(ROOT, '.data', 'run', `${spec.name}-redis-${p}.pid`), 'utf8').trim());
  }
  return { spec, nodes: spec.ports.map((p) => `127.0.0.1:${p}`), pids, stop: unregister };
}
