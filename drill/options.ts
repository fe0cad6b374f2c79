/**
 * Command-line options of the drill (`make drill` passes its DRILL_* variables as flags; the
 * drill reads no environment of its own).
 */
import { parseArgs } from 'node:util';

/** The drills, in the order they run. */
export const DRILLS = ['gateway-kill', 'sink-kill', 'redis-kill', 'redis-power-loss', 'gateway-freeze', 'mysql-stop', 'redis-pause', 'grant-kill',
  'checkout-mysql-kill'] as const;
export type DrillName = (typeof DRILLS)[number];
/** The drills of `--topology cluster` (make drill TOPOLOGY=cluster), in the order they run: the reshard changes the cluster, so it runs last. */
export const CLUSTER_DRILLS = ['master-failover', 'master-failover-wait', 'sink-kill', 'mysql-server-stop', 'live-reshard'] as const;
export type ClusterDrillName = (typeof CLUSTER_DRILLS)[number];

export interface DrillOptions {
  /** single: one Redis and one MariaDB; cluster: the scaled-out stack (drill/cluster-main.ts). */
  readonly topology: 'single' | 'cluster';
  readonly redisPort: number;
  readonly mysqlPort: number;
  /** --topology cluster: its 3 masters and 3 replicas, the node live-reshard adds, the server of shard db 1. */
  readonly clusterPorts: readonly number[];
  readonly sparePort: number;
  readonly mysql2Port: number;
  /** AOF fsync policy of the drill's Redis. */
  readonly appendfsync: 'everysec' | 'always';
  /** Ports of the drill's gateways, one gateway each. */
  readonly gatewayPorts: readonly number[];
  readonly sinks: number;
  /** Concurrent claim clients of the load driver. */
  readonly clients: number;
  readonly users: number;
  /** The drills of the topology chosen (--only picks among them). */
  readonly drills: readonly string[];
  /** Where the latest table is written (markdown). */
  readonly reportFile: string;
}

const USAGE = `usage: node --import tsx drill/main.ts [--topology single|cluster] [--redis-port 6392] [--mysql-port 3392]
  [--appendfsync everysec|always] [--gateway-port 18490] [--gateways 2] [--sinks 2]
  [--clients 12] [--users 1000] [--only ${DRILLS.join(',')}] [--report .data/drill/latest.md]
  --topology cluster: [--cluster-ports 7501,7502,7503,7504,7505,7506] [--spare-port 7507] [--mysql2-port 3394]
    --only ${CLUSTER_DRILLS.join(',')}; gateway ports from 18590, report .data/drill/cluster-latest.md`;

function port(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`--${name} must be a TCP port, got '${v}'\n${USAGE}`);
  return n;
}

function count(name: string, v: string, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be 1..${max}, got '${v}'\n${USAGE}`);
  return n;
}

/** Parses argv (without node and the script); throws with the usage on anything wrong. */
export function parseOptions(argv: readonly string[]): DrillOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      topology: { type: 'string', default: 'single' },
      'redis-port': { type: 'string', default: '6392' },
      'mysql-port': { type: 'string', default: '3392' },
      'cluster-ports': { type: 'string', default: '7501,7502,7503,7504,7505,7506' },
      'spare-port': { type: 'string', default: '7507' },
      'mysql2-port': { type: 'string', default: '3394' },
      appendfsync: { type: 'string', default: 'everysec' },
      // far from the product's 8080/8081 and from the ports tests pick (0 = any).
      'gateway-port': { type: 'string' },
      // two of each: a killed gateway's clients retry on the other, a killed sink's records are
      // taken over by the other (brief, section 5).
      gateways: { type: 'string', default: '2' },
      sinks: { type: 'string', default: '2' },
      // ~400 claims/s on this 2-core box: enough to have claims in flight at every fault.
      clients: { type: 'string', default: '12' },
      // enough users that the wide template keeps issuing all drill long, few enough that
      // users come back and meet their limit.
      users: { type: 'string', default: '1000' },
      only: { type: 'string' },
      report: { type: 'string' },
    },
    strict: true,
  });
  const appendfsync = values.appendfsync;
  if (appendfsync !== 'everysec' && appendfsync !== 'always') throw new Error(`--appendfsync must be everysec or always\n${USAGE}`);
  const topology = values.topology;
  if (topology !== 'single' && topology !== 'cluster') throw new Error(`--topology must be single or cluster, got '${topology}'\n${USAGE}`);
  const cluster = topology === 'cluster';
  const known: readonly string[] = cluster ? CLUSTER_DRILLS : DRILLS;
  const drills = (values.only ?? known.join(',')).split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const d of drills) if (!known.includes(d)) throw new Error(`--only: unknown ${topology} drill '${d}'\n${USAGE}`);
  // far from the product's 8080/8081 and from the ports tests pick (0 = any); the two stacks apart.
  const base = port('gateway-port', values['gateway-port'] ?? (cluster ? '18590' : '18490'));
  const gateways = count('gateways', values.gateways!, 8);
  const clusterPorts = values['cluster-ports']!.split(',').map((p) => port('cluster-ports', p.trim()));
  if (clusterPorts.length !== 6) throw new Error(`--cluster-ports must name 6 ports (3 masters, 3 replicas)\n${USAGE}`);
  return {
    topology,
    clusterPorts,
    sparePort: port('spare-port', values['spare-port']!),
    mysql2Port: port('mysql2-port', values['mysql2-port']!),
    redisPort: port('redis-port', values['redis-port']!),
    mysqlPort: port('mysql-port', values['mysql-port']!),
    appendfsync,
    gatewayPorts: Array.from({ length: gateways }, (_, i) => port('gateway-port', String(base + i))),
    sinks: count('sinks', values.sinks!, 8),
    clients: count('clients', values.clients!, 256),
    users: count('users', values.users!, 1_000_000),
    drills: known.filter((d) => drills.includes(d)),
    reportFile: values.report ?? (cluster ? '.data/drill/cluster-latest.md' : '.data/drill/latest.md'),
  };
}
