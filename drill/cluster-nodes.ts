/**
 * The drill's view of its Redis Cluster, read from the nodes themselves (roles change under the
 * drills: a failover promotes a replica, a reshard moves slots): who is master of what, where a
 * template's sub-stocks live, and one node's command counts. Plain connections to one node each.
 */
import { Redis } from 'ioredis';
import { type KeySpace, stockKey } from '../lua/keys.ts';

export interface ClusterNode {
  readonly port: number;
  readonly id: string;
  readonly master: boolean;
  /** A replica's master id; a master's own id. */
  readonly masterId: string;
  /** A master's slot ranges, inclusive. */
  readonly slots: readonly (readonly [number, number])[];
  /** Failing as the asked node sees it (fail or fail?). */
  readonly failing: boolean;
}

/** Runs `fn` on a fresh connection to 127.0.0.1:port that gives up quickly; closes it. */
export async function onNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, commandTimeout: 5_000, maxRetriesPerRequest: 0,
    retryStrategy: () => null, enableOfflineQueue: true });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** CLUSTER NODES as the first of `ports` that answers sees it. */
export async function clusterNodes(ports: readonly number[]): Promise<ClusterNode[]> {
  let last: unknown;
  for (const port of ports) {
    try {
      const text = await onNode(port, (r) => r.cluster('NODES') as Promise<string>);
      return text.trim().split('\n').map(parseNodeLine);
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`no node of ${ports.join(', ')} answered CLUSTER NODES: ${String(last)}`);
}

function parseNodeLine(line: string): ClusterNode {
  const f = line.trim().split(' ');
  const flags = f[2]!.split(',');
  const master = flags.includes('master');
  // slot fields: '0-5460', '42', or '[42->-id]' while migrating (skipped).
  const slots = f.slice(8).filter((s) => !s.startsWith('[')).map((s) => {
    const [a, b] = s.split('-').map(Number);
    return [a!, b ?? a!] as const;
  });
  return { port: Number(f[1]!.split('@')[0]!.split(':').at(-1)), id: f[0]!, master, masterId: master ? f[0]! : f[3]!,
    slots: master ? slots : [], failing: flags.includes('fail') || flags.includes('fail?') };
}

/** The master serving `slot`, if any. */
export function ownerOf(nodes: readonly ClusterNode[], slot: number): ClusterNode | undefined {
  return nodes.find((n) => n.master && !n.failing && n.slots.some(([a, b]) => slot >= a && slot <= b));
}

/** Where one sub-stock lives. */
export interface SubStockSlot {
  readonly templateId: string;
  readonly k: number;
  readonly slot: number;
}

/** The slot of every sub-stock of these templates (every key of its partition shares it), as the cluster computes it. */
export async function subStockSlots(ports: readonly number[], ks: KeySpace, templates: readonly { id: string; subStocks: number }[]): Promise<SubStockSlot[]> {
  const want = templates.flatMap((t) => Array.from({ length: t.subStocks }, (_, k) => ({ templateId: t.id, k })));
  for (const port of ports) {
    try {
      return await onNode(port, async (r) => Promise.all(want.map(async (w) =>
        ({ ...w, slot: Number(await r.cluster('KEYSLOT', stockKey(ks, w.templateId, w.k))) }))));
    } catch {
      // a node the drill killed: ask the next.
    }
  }
  throw new Error(`no node of ${ports.join(', ')} answered CLUSTER KEYSLOT`);
}

/**
 * The master holding most of these sub-stocks; ties go to the one holding more of `firstId`'s
 * (the hot template's), then to the lower port.
 */
export function busiestMaster(nodes: readonly ClusterNode[], subStocks: readonly SubStockSlot[], firstId: string): ClusterNode {
  const score = new Map<string, number>();
  for (const s of subStocks) {
    const m = ownerOf(nodes, s.slot);
    // the first template's sub-stocks weigh a little more, as a tie-break only.
    if (m) score.set(m.id, (score.get(m.id) ?? 0) + (s.templateId === firstId ? 1.001 : 1));
  }
  const masters = nodes.filter((n) => n.master && !n.failing && n.slots.length > 0);
  masters.sort((a, b) => (score.get(b.id) ?? 0) - (score.get(a.id) ?? 0) || a.port - b.port);
  if (masters.length === 0) throw new Error('the cluster has no serving master');
  return masters[0]!;
}

/** EVALSHA calls a node has answered since it started: all, and those that failed (NOSCRIPT, TRYAGAIN ...). */
export async function evalshaCalls(port: number): Promise<{ calls: number; failed: number }> {
  const text = await onNode(port, (r) => r.info('commandstats'));
  const line = /cmdstat_evalsha:([^\r\n]*)/.exec(text)?.[1] ?? '';
  const num = (k: string) => Number(new RegExp(`${k}=(\\d+)`).exec(line)?.[1] ?? 0);
  return { calls: num('calls'), failed: num('failed_calls') + num('rejected_calls') };
}

/**
 * Sets min-replicas-to-write on every node of `ports` that answers (a replica keeps it for when it
 * is promoted): with n > 0 a master without n connected replicas refuses a script before it runs
 * (NOREPLICAS), so a claim there is answered 503 with nothing done instead of running and then
 * failing its WAIT.
 */
export async function setMinReplicasToWrite(ports: readonly number[], n: number): Promise<void> {
  await Promise.all(ports.map((p) => onNode(p, (r) => r.config('SET', 'min-replicas-to-write', String(n))).catch(() => undefined)));
}
