/**
 * REDIS_WAIT_REPLICAS > 0: a fenced script call (fenced.ts) is followed by WAIT on the SAME
 * connection to the SAME node that ran it, and its reply is used only once enough replicas
 * acknowledged it. WAIT counts the replicas that reached the connection's last write, so the
 * script and the WAIT go out together on that node's connection, in one socket write (with the
 * other calls of the turn: see NodeBatch).
 *
 * On a cluster the node is the master of the keys' slot, from the client's slot table. The
 * client's own redirection cannot be used: a WAIT that ran on another node than the one the
 * script finally ran on would vouch for nothing. MOVED, ASK and TRYAGAIN all mean the script did
 * not run, so it is sent again, WAIT with it, to the node named (ASK: after ASKING, on the same
 * connection), a few times; then the error is the caller's (a 503 like any Redis failure).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, type Redis } from 'ioredis';
import { ApiError } from '../core/errors.ts';
import type { RedisClient, ReplicaWait } from './client.ts';
import type { ScriptReply } from './codes.ts';
import { keySlot } from './keys.ts';

// A migration that keeps redirecting a key longer than this is answered 503 (retry).
const REDIRECTS = 5;
// TRYAGAIN: a multi-key call met a key being migrated; the migration moves it within moments.
const TRYAGAIN_MS = 25;

type S = string | number;

const noop = () => undefined;

/** The answer when fewer replicas than asked acknowledged a call: nothing it decided may be told "issued". */
const replicationTimeout = (acked: number, w: ReplicaWait) => new ApiError('replication_timeout',
  `the write reached ${acked} of ${w.replicas} replicas within ${w.timeoutMs} ms: retry with the same request id`);

/** EVALSHA of `sha` then WAIT, on the node that owns the keys; the reply once `w.replicas` replicas have it. */
export async function evalshaWaited(client: RedisClient, w: ReplicaWait, sha: string, keys: readonly string[],
  args: readonly S[]): Promise<ScriptReply> {
  if (!(client instanceof Cluster)) return waitedOn(client, w, sha, keys, args, false);
  const slot = keySlot(keys[0]!);
  let target: string | undefined;
  let asking = false;
  for (let attempt = 0; ; attempt++) {
    // found at once in the common case: the call joins this turn's batch on that node.
    const node = nodeAt(client, target ?? client.slots[slot]?.[0]) ?? await refreshedNodeAt(client, () => target ?? client.slots[slot]?.[0]);
    try {
      return await waitedOn(node, w, sha, keys, args, asking);
    } catch (err) {
      const [kind, , at] = err instanceof Error ? err.message.split(' ') : [];
      if (attempt >= REDIRECTS || (kind !== 'MOVED' && kind !== 'ASK' && kind !== 'TRYAGAIN')) throw err;
      asking = kind === 'ASK';
      target = kind === 'TRYAGAIN' ? undefined : at;
      // the slot moved for good: the client's table is stale for every later call too.
      if (kind === 'MOVED') client.refreshSlotsCache();
      if (kind === 'TRYAGAIN') await sleep(TRYAGAIN_MS);
    }
  }
}

/** A script call waiting to go out on a node's connection. */
interface Call {
  readonly sha: string;
  readonly keys: readonly string[];
  readonly args: readonly S[];
  readonly asking: boolean;
  resolve(reply: ScriptReply): void;
  reject(err: unknown): void;
}

/**
 * One connection's batches. A WAIT blocks its connection in Redis until it returns (up to its
 * timeout with a stuck replica), and every command behind it waits too: WAITs sent one per call
 * would stack up past the command timeout. So each connection has at most one WAIT out; the
 * calls of a turn go together, and those made while a WAIT is out go together when it returns,
 * as the claim path's group commit does (gateway/claim/group-commit.ts). One WAIT covers a
 * batch: it waits for the connection's last write, which follows every write of the batch.
 */
interface NodeBatch {
  gathered: Call[];
  waiting: boolean;
  scheduled: boolean;
}

const batches = new WeakMap<Redis, NodeBatch>();

/** Queues a call on `node`'s next batch; the reply once the batch's WAIT saw `w.replicas` replicas. */
function waitedOn(node: Redis, w: ReplicaWait, sha: string, keys: readonly string[], args: readonly S[],
  asking: boolean): Promise<ScriptReply> {
  let b = batches.get(node);
  if (b === undefined) batches.set(node, (b = { gathered: [], waiting: false, scheduled: false }));
  const batch = b;
  return new Promise<ScriptReply>((resolve, reject) => {
    batch.gathered.push({ sha, keys, args, asking, resolve, reject });
    if (!batch.waiting && !batch.scheduled) {
      batch.scheduled = true;
      // after the turn's other calls are queued: they leave in the same write.
      queueMicrotask(() => send(node, w, batch));
    }
  });
}

/** Sends the gathered calls then one WAIT, in one socket write; settles each call with its reply and the WAIT's count. */
function send(node: Redis, w: ReplicaWait, b: NodeBatch): void {
  b.scheduled = false;
  if (b.waiting || b.gathered.length === 0) return;
  const calls = b.gathered;
  b.gathered = [];
  b.waiting = true;
  const stream = node.status === 'ready' ? node.stream : undefined;
  stream?.cork();
  const ran: Promise<unknown>[] = [];
  let waited: Promise<number>;
  try {
    for (const c of calls) {
      if (c.asking) node.asking().catch(noop);
      ran.push(node.evalsha(c.sha, c.keys.length, ...c.keys, ...c.args));
    }
    waited = node.wait(w.replicas, w.timeoutMs);
  } finally {
    stream?.uncork();
  }
  for (let i = 0; i < calls.length; i++) {
    const c = calls[i]!;
    // a script that failed (NOSCRIPT, MOVED ...) did not run: the WAIT vouches for nothing.
    ran[i]!.then((reply) => waited.then((acked) => {
      if (acked < w.replicas) c.reject(replicationTimeout(acked, w));
      else c.resolve(reply as ScriptReply);
    }), (err: unknown) => c.reject(err)).catch((err: unknown) => c.reject(err));
  }
  waited.catch(noop).finally(() => {
    b.waiting = false;
    send(node, w, b);
  });
}

/** The connection to node `key` ('host:port') the client has, if any. */
function nodeAt(client: Cluster, key: string | undefined): Redis | undefined {
  if (key === undefined) return undefined;
  const nodes = client.nodes('all');
  for (const n of nodes) if (`${n.options.host}:${n.options.port}` === key) return n;
  return undefined;
}

/** The connection to node `key()` after a refresh of the client's slot table (a node it did not know, or none for the slot). */
async function refreshedNodeAt(client: Cluster, key: () => string | undefined): Promise<Redis> {
  await new Promise<void>((resolve) => client.refreshSlotsCache(() => resolve()));
  const node = nodeAt(client, key());
  if (node === undefined) throw new Error(`no connection to Redis node ${key() ?? '(slot without a master)'}`);
  return node;
}
