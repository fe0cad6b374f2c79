/**
 * The scripts that issue coupons or change stock, fenced against a Redis that restarted and is
 * not repaired yet: the claim scripts and the operator stock change.
 *
 * Redis restarted from an AOF written with `appendfsync everysec` may miss its last second: the
 * users hashes forget claims the sink already stored (a user could claim past the limit, a retry
 * would not replay) and the stock forgets decrements (it could be sold twice, or an operator's
 * reduction take stock that is already issued). The reconciler repairs both from MySQL
 * (reconcile/restart.ts, counts.ts); claims and stock changes must not run before, and
 * while none runs the repair sees a stock that stands still.
 *
 * The fence is Redis's script cache, which a restart (or a failover to a replica) empties: the
 * claim scripts are sent by sha only, never as source, so on a new run they answer NOSCRIPT
 * without running. They are loaded again only onto a master whose run id is recorded as
 * repaired (reconcileRunKey), and only over the very connection that reported that run id: a
 * master that restarts again in between closes it, so the scripts cannot reach an unrepaired
 * run. Each key space (KEY_PREFIX) has scripts of its own sha, since the repair is per key space:
 * tenants sharing a Redis never open the fence for each other. The happy path costs nothing:
 * one EVALSHA per call, as defineCommand would send.
 *
 * With REDIS_WAIT_REPLICAS > 0 each call is followed by WAIT on the node that ran it
 * (replica-wait.ts), and the scripts that can answer from an earlier write (a replay) write it
 * again (their `wait` argument), so that this connection's WAIT covers it even when another
 * connection stored it. A probe on Redis 7.0.15 saw a read move the connection's WAIT offset
 * too, which would make the rewrite redundant there; it is kept so that correctness does not
 * rest on that detail: a server that moves the offset only on the connection's own writes would
 * otherwise vouch for an answer no replica has.
 */
import { createHash } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import { currentMasters, type RedisClient, replicaWaitOf, type ReplicaWait } from './client.ts';
import { ScriptCode, type ScriptReply } from './codes.ts';
import { type KeySpace, reconcileRunKey } from './keys.ts';
import { evalshaWaited } from './replica-wait.ts';
import { loadScript } from './scripts.ts';

interface Fenced {
  readonly lua: string;
  readonly sha: string;
}

const SOURCES = {
  home: 'claim-home-n.lua', take: 'claim-take-5.lua', replay: 'claim-replay-1.lua', stock: 'stock-change-3.lua', code: 'code-take-6.lua',
} as const;

/** The fenced scripts, by name. */
export type FencedScript = keyof typeof SOURCES;

type KeySpaceScripts = Record<FencedScript, Fenced>;
const byKeySpace = new Map<string, KeySpaceScripts>();

/** The fenced scripts of a key space: the sources with a last line naming it, so their shas are its own. */
function scriptsOf(ks: KeySpace): KeySpaceScripts {
  let s = byKeySpace.get(ks.prefix);
  if (!s) {
    const one = (file: string): Fenced => {
      const lua = `${loadScript(file)}\n-- key space ${ks.prefix}\n`;
      return { lua, sha: createHash('sha1').update(lua).digest('hex') };
    };
    s = Object.fromEntries(Object.entries(SOURCES).map(([name, file]) => [name, one(file)])) as KeySpaceScripts;
    byKeySpace.set(ks.prefix, s);
  }
  return s;
}

// After a look that found the run unrepaired, claims are refused from memory this long before
// the next look: a fenced Redis sees a few INFO calls a second per gateway, not one per claim.
const RECHECK_MS = 200;

type S = string | number;

const isNoScript = (err: unknown) => err instanceof Error && err.message.startsWith('NOSCRIPT');

/** The run id of one master, from INFO. */
async function runIdOf(node: Redis): Promise<string> {
  return /run_id:(\w+)/.exec(await node.info('server'))?.[1] ?? '?';
}

/**
 * Run ids of every master, sorted and joined: it changes whenever any of them restarts, or a
 * replica (whose run id is its own) is promoted in its place.
 */
export async function redisRunId(redis: RedisClient): Promise<string> {
  return (await Promise.all((await currentMasters(redis)).map(runIdOf))).sort().join(',');
}

/** Loads the claim scripts onto `node` if its current run is recorded as repaired; true when it did. */
async function loadIfRepaired(redis: RedisClient, ks: KeySpace, node: Redis): Promise<boolean> {
  const socket = node.stream;
  const [runId, recorded] = await Promise.all([runIdOf(node), redis.get(reconcileRunKey(ks))]);
  if (!(recorded ?? '').split(',').includes(runId)) return false;
  // The connection that reported the run id, still open: a restart since would have closed it.
  if (node.stream !== socket || node.status !== 'ready') return false;
  await Promise.all(Object.values(scriptsOf(ks)).map((s) => node.script('LOAD', s.lua)));
  return true;
}

/** Loads the claim scripts onto every master whose run is repaired; true when all are. */
async function openFence(redis: RedisClient, ks: KeySpace): Promise<boolean> {
  const loaded = await Promise.all((await currentMasters(redis)).map((node) => loadIfRepaired(redis, ks, node)));
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

/** Queues a fenced script of key space `ks` on a pipeline, for tools that measure Redis; the fence must be open (NOSCRIPT is an error). */
export function pipelineFenced(p: ChainableCommander, ks: KeySpace, name: FencedScript, keys: readonly string[], args: readonly S[]): void {
  const s = scriptsOf(ks)[name];
  p.evalsha(s.sha, keys.length, ...keys, ...args);
}

/** The fence of one client and key space: runs a fenced script, or answers [Fenced] instead of running it on an unrepaired Redis. */
export class Fence {
  private opening: Promise<boolean> | undefined;
  private closedUntil = 0;
  private readonly s: KeySpaceScripts;
  /** REDIS_WAIT_REPLICAS > 0: what each call waits for (replica-wait.ts). */
  private readonly wait: ReplicaWait | undefined;
  /** The scripts' `wait` argument: '1' makes a replay write its answer again (see the file comment). */
  readonly waitArg: '0' | '1';

  constructor(private readonly redis: RedisClient, private readonly ks: KeySpace) {
    this.s = scriptsOf(ks);
    this.wait = replicaWaitOf(redis);
    this.waitArg = this.wait === undefined ? '0' : '1';
  }

  /**
   * Runs script `name` (lua/commands.ts orders its keys); NOSCRIPT looks whether the fence may
   * open, once. With a replica wait, throws replication_timeout when too few replicas acknowledged.
   */
  async run(name: FencedScript, keys: readonly string[], args: readonly S[]): Promise<ScriptReply> {
    const s = this.s[name];
    const wait = this.wait;
    for (let attempt = 0; ; attempt++) {
      try {
        if (wait !== undefined) return await evalshaWaited(this.redis, wait, s.sha, keys, args);
        return await (this.redis.evalsha(s.sha, keys.length, ...keys, ...args) as Promise<ScriptReply>);
      } catch (err) {
        // NOSCRIPT: nothing ran. Any other error is the caller's (its outcome may be unknown).
        if (!isNoScript(err)) throw err;
      }
      if (attempt > 0 || !(await this.open())) return [ScriptCode.Fenced];
    }
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
}
