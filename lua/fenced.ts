/**
 * The claim scripts, fenced against a Redis that restarted and is not repaired yet.
 *
 * Redis restarted from an AOF written with `appendfsync everysec` may miss its last second: the
 * users hashes forget claims the sink already stored (a user could claim past the limit, a retry
 * would not replay) and the stock forgets decrements (it could be sold twice). The reconciler
 * repairs both from MySQL (sink/reconcile/restart.ts, counts.ts); claims must not run before.
 *
 * The fence is Redis's script cache, which a restart (or a failover to a replica) empties: the
 * claim scripts are sent by sha only, never as source, so on a new run they answer NOSCRIPT
 * without running. They are loaded again only onto a master whose run id is recorded as
 * repaired (reconcileRunKey), and only over the very connection that reported that run id: a
 * master that restarts again in between closes it, so the scripts cannot reach an unrepaired
 * run. The happy path costs nothing: one EVALSHA per call, as defineCommand would send.
 */
import { createHash } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import { masters, type RedisClient } from './client.ts';
import { ScriptCode, type ScriptReply } from './codes.ts';
import { type KeySpace, reconcileRunKey } from './keys.ts';
import { loadScript } from './scripts.ts';

interface Fenced {
  readonly lua: string;
  readonly sha: string;
  readonly numKeys: number;
}

function fenced(file: string): Fenced {
  const lua = loadScript(file);
  return { lua, sha: createHash('sha1').update(lua).digest('hex'), numKeys: Number(/-(\d+)\.lua$/.exec(file)![1]) };
}

const HOME = fenced('claim-home-5.lua');
const TAKE = fenced('claim-take-4.lua');
const REPLAY = fenced('claim-replay-1.lua');
const ALL = [HOME, TAKE, REPLAY];

// After a look that found the run unrepaired, claims are refused from memory this long before
// the next look: a fenced Redis sees a few INFO calls a second per gateway, not one per claim.
const RECHECK_MS = 200;

type S = string | number;

const isNoScript = (err: unknown) => err instanceof Error && err.message.startsWith('NOSCRIPT');

/** The run id of one master, from INFO. */
async function runIdOf(node: Redis): Promise<string> {
  return /run_id:(\w+)/.exec(await node.info('server'))?.[1] ?? '?';
}

/** Run ids of every master, sorted and joined: it changes whenever any of them restarts. */
export async function redisRunId(redis: RedisClient): Promise<string> {
  return (await Promise.all(masters(redis).map(runIdOf))).sort().join(',');
}

/** Loads the claim scripts onto `node` if its current run is recorded as repaired; true when it did. */
async function loadIfRepaired(redis: RedisClient, ks: KeySpace, node: Redis): Promise<boolean> {
  const socket = node.stream;
  const [runId, recorded] = await Promise.all([runIdOf(node), redis.get(reconcileRunKey(ks))]);
  if (!(recorded ?? '').split(',').includes(runId)) return false;
  // The connection that reported the run id, still open: a restart since would have closed it.
  if (node.stream !== socket || node.status !== 'ready') return false;
  await Promise.all(ALL.map((s) => node.script('LOAD', s.lua)));
  return true;
}

/** Loads the claim scripts onto every master whose run is repaired; true when all are. */
export async function openFence(redis: RedisClient, ks: KeySpace): Promise<boolean> {
  const loaded = await Promise.all(masters(redis).map((node) => loadIfRepaired(redis, ks, node)));
  return loaded.every(Boolean);
}

/**
 * Records the masters' current runs as repaired (`runIds`: as redisRunId read them before the
 * repair began) and opens the fence. Called by the reconciler once it repaired a restart, and
 * when a key space is used for the first time (nothing to repair).
 */
export async function markRepaired(redis: RedisClient, ks: KeySpace, runIds: string): Promise<boolean> {
  await redis.set(reconcileRunKey(ks), runIds);
  return openFence(redis, ks);
}

/** Arguments of claim-home, keys first (ClaimScripts.home). */
export type HomeArgs = Parameters<ClaimScripts['home']>;

/** Queues claim-home on a pipeline, for tools that measure Redis; the fence must be open (a NOSCRIPT reply is an error). */
export function pipelineHome(p: ChainableCommander, ...args: HomeArgs): void {
  p.evalsha(HOME.sha, HOME.numKeys, ...args);
}

/** The fenced claim scripts of one client: each call answers [Fenced] instead of running on an unrepaired Redis. */
export class ClaimScripts {
  private opening: Promise<boolean> | undefined;
  private closedUntil = 0;

  constructor(private readonly redis: RedisClient, private readonly ks: KeySpace) {}

  /** claim-home-5.lua (its header has the keys, arguments and codes). */
  home(stock: string, users: string, pending: string, seq: string, stream: string, templateId: string, userId: string,
    requestId: string, remember: '0' | '1', perUserLimit: S, shardPrefix: string, homePartition: S): Promise<ScriptReply> {
    return this.run(HOME, [stock, users, pending, seq, stream, templateId, userId, requestId, remember, perUserLimit,
      shardPrefix, homePartition]);
  }

  /** claim-take-4.lua. */
  take(stock: string, seq: string, stream: string, released: string, templateId: string, userId: string, requestId: string,
    shardPrefix: string, partition: S, homePartition: S, token: string): Promise<ScriptReply> {
    return this.run(TAKE, [stock, seq, stream, released, templateId, userId, requestId, shardPrefix, partition, homePartition, token]);
  }

  /** claim-replay-1.lua. */
  replay(users: string, userId: string, requestId: string): Promise<ScriptReply> {
    return this.run(REPLAY, [users, `${userId}|${requestId}`]);
  }

  /** Loads the scripts where the run is repaired; one look at a time, at most one per RECHECK_MS after a failed one. */
  open(): Promise<boolean> {
    if (this.opening) return this.opening;
    if (performance.now() < this.closedUntil) return Promise.resolve(false);
    this.opening = openFence(this.redis, this.ks).then((open) => {
      if (!open) this.closedUntil = performance.now() + RECHECK_MS;
      return open;
    }).finally(() => { this.opening = undefined; });
    return this.opening;
  }

  private async run(s: Fenced, args: S[]): Promise<ScriptReply> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await (this.redis.evalsha(s.sha, s.numKeys, ...args) as Promise<ScriptReply>);
      } catch (err) {
        // NOSCRIPT: nothing ran. Any other error is the caller's (its outcome may be unknown).
        if (!isNoScript(err)) throw err;
      }
      if (attempt > 0 || !(await this.open())) return [ScriptCode.Fenced];
    }
  }
}
