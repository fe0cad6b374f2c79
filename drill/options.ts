/**
 * Command-line options of the drill (`make drill` passes its DRILL_* variables as flags; the
 * drill reads no environment of its own).
 */
import { parseArgs } from 'node:util';

/** The drills, in the order they run. */
export const DRILLS = ['gateway-kill', 'sink-kill', 'redis-kill', 'redis-power-loss', 'gateway-freeze', 'mysql-stop', 'redis-pause', 'grant-kill',
  'checkout-mysql-kill'] as const;
export type DrillName = (typeof DRILLS)[number];

export interface DrillOptions {
  readonly redisPort: number;
  readonly mysqlPort: number;
  /** AOF fsync policy of the drill's Redis. */
  readonly appendfsync: 'everysec' | 'always';
  /** Ports of the drill's gateways, one gateway each. */
  readonly gatewayPorts: readonly number[];
  readonly sinks: number;
  /** Concurrent claim clients of the load driver. */
  readonly clients: number;
  readonly users: number;
  readonly drills: readonly DrillName[];
  /** Where the latest table is written (markdown). */
  readonly reportFile: string;
}

const USAGE = `usage: node --import tsx drill/main.ts [--redis-port 6392] [--mysql-port 3392]
  [--appendfsync everysec|always] [--gateway-port 18490] [--gateways 2] [--sinks 2]
  [--clients 12] [--users 1000] [--only ${DRILLS.join(',')}] [--report .data/drill/latest.md]`;

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
      'redis-port': { type: 'string', default: '6392' },
      'mysql-port': { type: 'string', default: '3392' },
      appendfsync: { type: 'string', default: 'everysec' },
      // far from the product's 8080/8081 and from the ports tests pick (0 = any).
      'gateway-port': { type: 'string', default: '18490' },
      // two of each: a killed gateway's clients retry on the other, a killed sink's records are
      // taken over by the other (brief, section 5).
      gateways: { type: 'string', default: '2' },
      sinks: { type: 'string', default: '2' },
      // ~400 claims/s on this 2-core box: enough to have claims in flight at every fault.
      clients: { type: 'string', default: '12' },
      // enough users that the wide template keeps issuing all drill long, few enough that
      // users come back and meet their limit.
      users: { type: 'string', default: '1000' },
      only: { type: 'string', default: DRILLS.join(',') },
      report: { type: 'string', default: '.data/drill/latest.md' },
    },
    strict: true,
  });
  const appendfsync = values.appendfsync;
  if (appendfsync !== 'everysec' && appendfsync !== 'always') throw new Error(`--appendfsync must be everysec or always\n${USAGE}`);
  const drills = values.only!.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const d of drills) if (!(DRILLS as readonly string[]).includes(d)) throw new Error(`--only: unknown drill '${d}'\n${USAGE}`);
  const base = port('gateway-port', values['gateway-port']!);
  const gateways = count('gateways', values.gateways!, 8);
  return {
    redisPort: port('redis-port', values['redis-port']!),
    mysqlPort: port('mysql-port', values['mysql-port']!),
    appendfsync,
    gatewayPorts: Array.from({ length: gateways }, (_, i) => port('gateway-port', String(base + i))),
    sinks: count('sinks', values.sinks!, 8),
    clients: count('clients', values.clients!, 256),
    users: count('users', values.users!, 1_000_000),
    drills: DRILLS.filter((d) => drills.includes(d)),
    reportFile: values.report!,
  };
}
