/**
 * Faults on the test topology's Redis nodes (test/cluster): which master serves a key, pausing a
 * node, killing one, and bringing the topology back to its shape (3 masters, each with a replica
 * in sync) before a file ends.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { keySlot } from '../../lua/keys.ts';
import { clusterNodes, nodePid, redisCli, testTopology, type TopologyNode } from './topology.ts';
import { waitFor } from './sink-fixtures.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url);

const ports = () => testTopology()!.nodes.map((n) => Number(n.split(':')[1]));

/** Whether a master's range list ('0-5460', '5461') holds `slot`. */
function holds(m: TopologyNode, slot: number): boolean {
  return m.slots.some((r) => {
    if (r.startsWith('[')) return false; // a slot being migrated or imported
    const [a, b] = r.split('-').map(Number);
    return slot >= a! && slot <= (b ?? a)!;
  });
}

/** The live nodes as a live node sees them. */
async function liveView(): Promise<TopologyNode[]> {
  for (const p of ports()) {
    try {
      return await clusterNodes(p);
    } catch {
      // that node is down: ask the next.
    }
  }
  throw new Error('no topology node answers');
}

/** The master serving `key` now, and its replica. */
export async function servingKey(key: string): Promise<{ master: TopologyNode; replica: TopologyNode }> {
  const nodes = await liveView();
  const slot = keySlot(key);
  const master = nodes.find((n) => n.role === 'master' && !n.failing && holds(n, slot));
  const replica = nodes.find((n) => n.role === 'replica' && master !== undefined && n.masterId === master.id);
  if (!master || !replica) throw new Error(`no master with a replica serves slot ${slot}`);
  return { master, replica };
}

/** The port of the master serving `key` now (it may have no replica: one just promoted). */
export async function masterPortOf(key: string): Promise<number | undefined> {
  const slot = keySlot(key);
  return (await liveView()).find((n) => n.role === 'master' && !n.failing && holds(n, slot))?.port;
}

/** Sends a signal to a topology node by the pid its pid file names. */
export function signalNode(port: number, signal: NodeJS.Signals): void {
  process.kill(nodePid(port), signal);
}

/** Starts the topology's nodes that are not running (a killed master rejoins as a replica) and waits until it is healthy. */
export async function restoreTopology(timeoutMs = 40_000): Promise<void> {
  const t = testTopology()!;
  await run('bash', ['scripts/services.sh', 'topology-storage-up'], {
    cwd: ROOT, timeout: timeoutMs,
    env: {
      ...process.env, TOPOLOGY_NAME: 'test-topology', TOPOLOGY_REDIS_PORTS: ports().join(' '),
      TOPOLOGY_MYSQL_PORTS: t.mysqlUrls.slice(1).map((u) => new URL(u).port).join(' '),
    },
  });
  await waitFor(healthy, timeoutMs, 'the topology: 3 masters, each with a replica in sync');
}

/** 3 masters serving every slot, each with one replica whose link is up. */
export async function healthy(): Promise<boolean> {
  try {
    const nodes = await liveView();
    const masters = nodes.filter((n) => n.role === 'master' && n.slots.length > 0 && !n.failing);
    if (masters.length !== 3 || nodes.some((n) => n.failing)) return false;
    for (const m of masters) {
      const r = nodes.filter((n) => n.role === 'replica' && n.masterId === m.id);
      if (r.length !== 1 || !/master_link_status:up/.test(await redisCli(r[0]!.port, 'info', 'replication'))) return false;
    }
    return /cluster_state:ok/.test(await redisCli(masters[0]!.port, 'cluster', 'info'));
  } catch {
    return false;
  }
}
