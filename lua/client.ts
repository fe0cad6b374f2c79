/** Creates the Redis client every process uses: single node or Cluster, scripts registered. */
import { Cluster, Redis } from 'ioredis';
import type { Config } from '../config/index.ts';
import { defineScripts } from './scripts.ts';

export type RedisClient = Redis | Cluster;

/** REDIS_WAIT_REPLICAS > 0: the replicas each fenced script call waits for, and for how long (lua/replica-wait.ts). */
export interface ReplicaWait {
  readonly replicas: number;
  readonly timeoutMs: number;
}

// The wait of each client createRedis made with REDIS_WAIT_REPLICAS > 0: every process that
// issues (gateway, sink's grant jobs, tools) gets it from its configuration, not per call site.
const waits = new WeakMap<RedisClient, ReplicaWait>();

/** The replica wait of a client, or undefined when its scripts do not wait (REDIS_WAIT_REPLICAS=0). */
export function replicaWaitOf(client: RedisClient): ReplicaWait | undefined {
  return waits.get(client);
}

/** Options: `offlineQueue` false makes a dead Redis fail commands at once (gateway: fast 503s). */
export function createRedis(cfg: Config['redis'], opts: { offlineQueue: boolean; name: string }): RedisClient {
  const common = {
    commandTimeout: cfg.commandTimeoutMs,
    enableOfflineQueue: opts.offlineQueue,
    connectionName: opts.name,
    maxRetriesPerRequest: 1,
    // Never re-send a command whose connection dropped before the reply: a claim script that
    // may already have run must not run twice. Its outcome is unknown and handled as such.
    autoResendUnfulfilledCommands: false,
    enableAutoPipelining: cfg.autoPipelining,
  };
  const client: RedisClient = cfg.clusterNodes.length > 0
    ? new Cluster(cfg.clusterNodes.map(parseNode), { redisOptions: common, enableOfflineQueue: opts.offlineQueue })
    : new Redis(cfg.url, { ...common, retryStrategy: (n: number) => Math.min(50 * n, 1000) });
  defineScripts(client);
  if (cfg.waitReplicas > 0) waits.set(client, { replicas: cfg.waitReplicas, timeoutMs: cfg.waitTimeoutMs });
  return client;
}

function parseNode(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(':');
  if (i < 1) throw new Error(`REDIS_CLUSTER_NODES entry ${hostPort} is not host:port`);
  return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
}

/**
 * Runs `send`, whose commands go out in ONE socket write per connection instead of one write
 * each (the syscall per command was the gateway's largest cost after uWS itself): the client's
 * connection, or on a cluster every master's (BENCHMARKS.md, "Issue 15": 44 -> 40 µs per claim).
 * The commands must be issued synchronously inside `send`; one a cluster client has to queue
 * (a node not ready, a redirection) simply goes out later.
 */
export function writeTogether(client: RedisClient, send: () => void): void {
  if (client instanceof Redis) {
    const stream = client.status === 'ready' ? client.stream : undefined;
    stream?.cork();
    try {
      send();
    } finally {
      stream?.uncork();
    }
    return;
  }
  const streams = client.status === 'ready' ? client.nodes('master').flatMap((n) => (n.status === 'ready' ? [n.stream] : [])) : [];
  // every master: the turn's groups go to the masters of their partitions.
  for (const st of streams) st.cork();
  try {
    send();
  } finally {
    for (const st of streams) st.uncork();
  }
}

/** The connection of every master: the client itself on a single node. */
export function masters(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/**
 * The connection of every master after the cluster client has read the slot table again: a
 * failover's promoted replica is among them even before a command met a MOVED (ioredis reads
 * the table only then, or when a connection drops).
 */
export async function currentMasters(client: RedisClient): Promise<Redis[]> {
  if (client instanceof Cluster) await new Promise<void>((resolve) => client.refreshSlotsCache(() => resolve()));
  return masters(client);
}

/** Resolves once the client can serve commands, or rejects after `timeoutMs`. */
export async function waitReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis not ready after ${timeoutMs} ms`)), timeoutMs);
    client.once('ready', () => { clearTimeout(timer); resolve(); });
  });
}
