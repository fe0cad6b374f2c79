/**
 * The one facade over the Lua scripts: the only place that knows each script's KEYS, in order,
 * and builds them (keys.ts); callers name a claim, a template, a sub-stock, never a key. The
 * scripts that issue coupons or move stock run through the restart fence (fenced.ts); the rest
 * are defined once per client (scripts.ts). Each method's script file has the keys, arguments
 * and return codes in its header.
 */
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './client.ts';
import { ScriptCode, type ScriptReply } from './codes.ts';
import { Fence, type FencedScript, pipelineFenced } from './fenced.ts';
import {
  budgetKey, budgetKeyAt, codeHoldsKey, codeMarksKey, frozenStockKey, type KeySpace, pendingKey, rebuiltUsersKey, reconcileLeaseKey,
  releasedKey, seqKey, statsAppliedKey, statsSecondKey, statsTotalsKey, stockChangesAtKey, stockChangesKey, stockKey, stockKeyAt,
  streamKey, subStockPartition, templateKey, usersKey,
} from './keys.ts';

/** A claim on its user's home sub-stock (claim-home-n.lua). */
export interface HomeClaim {
  readonly templateId: string;
  readonly userId: string;
  /** The client's request id, or a generated one starting with '~'. */
  readonly requestId: string;
  /**
   * '1' when the client sent the request id, so its answer is kept for replays; '2' also
   * reserves the slot even when the home has stock (the coupon is taken elsewhere).
   */
  readonly remember: '0' | '1' | '2';
  readonly perUserLimit: number;
  /** The home sub-stock and its partition, which holds the user's entry. */
  readonly home: number;
  readonly homePartition: number;
  /** '<db>.<table>' of the user's shard: the coupon id starts with it. */
  readonly shardPrefix: string;
  /** A red packet's least amount (its claims draw one, answered '<couponId>:<amount>'); absent for other coupons. */
  readonly minAmount?: number;
}

/** A claim whose slot claim-home reserved under `token`. */
export interface ReservedClaim extends HomeClaim {
  readonly token: string;
}

/** Claim statistics of one template, second and gateway batch (stats-add-3.lua). */
export interface StatsBatch {
  readonly templateId: string;
  readonly second: number;
  readonly gatewayId: string;
  readonly seq: number;
  readonly claims: number;
  readonly issued: number;
}

type S = string | number;

/** claim-home's flat reply (code, value, code, value ...) as one reply per claim; '' is no value. */
function pairs(flat: ScriptReply): ScriptReply[] {
  const out: ScriptReply[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push(flat[i + 1] === '' ? [flat[i] as ScriptCode] : [flat[i] as ScriptCode, flat[i + 1]]);
  return out;
}

/**
 * Claims per claim-home call, at most (the gateway's group commit, grant jobs, capacity's model):
 * bounds the time one script holds Redis (a few µs a claim) and the claims one failed call takes
 * down with it.
 */
export const GROUP_MAX = 64;

/** Whether two claims go in one segment of a claim-home call: one template version's sub-stock. */
const sameSegment = (a: HomeClaim, b: HomeClaim): boolean =>
  a.templateId === b.templateId && a.home === b.home && a.perUserLimit === b.perUserLimit && a.minAmount === b.minAmount;

/** A fenced script call with its keys in order. */
export interface FencedCall {
  readonly name: FencedScript;
  readonly keys: readonly string[];
  readonly args: readonly S[];
}

/** The scripts of one client and key space. */
export class Commands {
  readonly fence: Fence;

  constructor(readonly redis: RedisClient, readonly ks: KeySpace) {
    this.fence = new Fence(redis, ks);
  }

  /** claim-home-n.lua for one claim alone (tools and tests; the gateway groups claims). */
  async claimHome(c: HomeClaim): Promise<ScriptReply> {
    return (await this.claimHomeGroup([c]))[0]!;
  }

  /**
   * claim-home-n.lua: decide claims whose home sub-stocks lie in ONE partition, in one call;
   * one reply per claim, in the order given. A Redis that is not repaired yet answers [Fenced]
   * for each.
   */
  async claimHomeGroup(claims: readonly HomeClaim[]): Promise<ScriptReply[]> {
    const call = this.homeCall(claims);
    const flat = await this.run(call);
    if (flat.length === 1) return claims.map(() => [ScriptCode.Fenced]);
    const replies = pairs(flat);
    if (call.order === undefined) return replies;
    const out = new Array<ScriptReply>(claims.length);
    for (let i = 0; i < replies.length; i++) out[call.order[i]!] = replies[i]!;
    return out;
  }

  /**
   * claim-home's call for a group of claims with its keys built (tools replay it many times):
   * the claims go in segments of one template and home sub-stock, each in the order given;
   * `order[i]` is the index in `claims` of the i-th claim sent (undefined: the order given, as
   * when every claim is of one segment, the hot template's case).
   */
  homeCall(claims: readonly HomeClaim[]): FencedCall & { readonly order?: readonly number[] } {
    const { ks } = this;
    const h = claims[0]!.homePartition;
    const segments: { readonly c: HomeClaim; readonly at: number[] }[] = [];
    let last: { readonly c: HomeClaim; readonly at: number[] } | undefined;
    for (let i = 0; i < claims.length; i++) {
      const x = claims[i]!;
      if (x.homePartition !== h) throw new Error('claimHomeGroup: claims of one home partition only');
      // a handful of segments per call, and runs of one: a scan is cheaper than a key per claim.
      let seg = last !== undefined && sameSegment(last.c, x) ? last : undefined;
      for (let j = 0; seg === undefined && j < segments.length; j++) if (sameSegment(segments[j]!.c, x)) seg = segments[j];
      if (seg === undefined) segments.push(seg = { c: x, at: [] });
      seg.at.push(i);
      last = seg;
    }
    const keys: string[] = [pendingKey(ks, h), seqKey(ks, h), streamKey(ks, h)];
    const args: S[] = [h, this.fence.waitArg];
    const order: number[] | undefined = segments.length > 1 ? [] : undefined;
    for (const { c, at } of segments) {
      // the home sub-stock lies in partition h; a budget is read only for a red packet (the stock
      // key stands in otherwise: same slot, never read).
      const stock = stockKeyAt(ks, h, c.templateId, c.home);
      keys.push(stock, usersKey(ks, h, c.templateId), c.minAmount === undefined ? stock : budgetKeyAt(ks, h, c.templateId, c.home));
      args.push(c.templateId, c.perUserLimit, c.minAmount ?? '', at.length);
      for (const i of at) {
        const x = claims[i]!;
        args.push(x.userId, x.requestId, x.remember, x.shardPrefix);
        order?.push(i);
      }
    }
    return { name: 'home', keys, args, order };
  }

  /** Runs a prepared call through the fence: the script's reply, or [Fenced]. */
  run(call: FencedCall): Promise<ScriptReply> {
    return this.fence.run(call.name, call.keys, call.args);
  }

  /** Queues a prepared call on a pipeline (tools that measure Redis; the fence must be open: NOSCRIPT is an error). */
  pipeline(p: ChainableCommander, call: FencedCall): void {
    pipelineFenced(p, this.ks, call.name, call.keys, call.args);
  }

  /** claim-take-5.lua: take one coupon (a red packet: with its amount, from k's budget) from sub-stock k for a reserved claim. */
  claimTake(c: ReservedClaim, k: number): Promise<ScriptReply> {
    const { ks } = this;
    const p = subStockPartition(ks, c.templateId, k);
    return this.fence.run('take',
      [stockKey(ks, c.templateId, k), seqKey(ks, p), streamKey(ks, p), releasedKey(ks, p), budgetKey(ks, c.templateId, k)],
      [c.templateId, c.userId, c.requestId, c.shardPrefix, p, c.homePartition, c.token, c.minAmount ?? '']);
  }

  /**
   * code-take-6.lua: redeem code number `code` for a reserved claim (its request id is the
   * code's), from sub-stock k, the one the number picks, or hold the code when k is empty.
   */
  codeTake(c: ReservedClaim, k: number, code: number): Promise<ScriptReply> {
    const { ks } = this;
    const p = subStockPartition(ks, c.templateId, k);
    return this.fence.run('code', [stockKey(ks, c.templateId, k), seqKey(ks, p), streamKey(ks, p), releasedKey(ks, p),
      codeMarksKey(ks, c.templateId, k), codeHoldsKey(ks, p)], [c.templateId, c.userId, c.requestId, c.shardPrefix, p, c.homePartition, c.token, code, this.fence.waitArg]);
  }

  /**
   * code-bind-2.lua: ends the hold of code `code` (in sub-stock k's partition) by the
   * reservation `token` of `userId`: binds it to `answer`, or releases it ('').
   */
  codeBind(templateId: string, k: number, code: number, userId: string, token: string, answer: string): Promise<ScriptReply> {
    const { ks } = this;
    return this.redis.codeBind(codeMarksKey(ks, templateId, k), codeHoldsKey(ks, subStockPartition(ks, templateId, k)),
      templateId, code, userId, token, answer);
  }

  /** claim-replay-1.lua: the answer stored for the claim's request. */
  claimReplay(c: HomeClaim): Promise<ScriptReply> {
    return this.fence.run('replay', [usersKey(this.ks, c.homePartition, c.templateId)], [`${c.userId}|${c.requestId}`, this.fence.waitArg]);
  }

  /** claim-settle-2.lua: confirm the reservation with `couponId`, or release it (''). */
  claimSettle(c: Pick<HomeClaim, 'templateId' | 'userId' | 'requestId' | 'remember' | 'homePartition'>,
    couponId: string): Promise<ScriptReply> {
    const { ks } = this;
    return this.redis.claimSettle(usersKey(ks, c.homePartition, c.templateId), pendingKey(ks, c.homePartition),
      c.templateId, c.userId, c.requestId, couponId, c.remember === '0' ? '0' : '1');
  }

  /** stock-change-3.lua: apply an operator change to sub-stock k, once per request. */
  stockChange(templateId: string, k: number, requestId: string, delta: number, keepMs: number): Promise<ScriptReply> {
    const { ks } = this;
    return this.fence.run('stock', [stockKey(ks, templateId, k), stockChangesKey(ks, templateId, k), stockChangesAtKey(ks, templateId, k)],
      [requestId, delta, keepMs, this.fence.waitArg]);
  }

  /** stock-shave-1.lua: take up to n out of sub-stock k (the reconciler's repair). */
  stockShave(templateId: string, k: number, n: number): Promise<ScriptReply> {
    return this.redis.stockShave(stockKey(this.ks, templateId, k), n);
  }

  /** stock-freeze-2.lua: set sub-stock k aside for a rebuild. */
  stockFreeze(templateId: string, k: number): Promise<ScriptReply> {
    return this.redis.stockFreeze(stockKey(this.ks, templateId, k), frozenStockKey(this.ks, templateId, k));
  }

  /** stock-thaw-2.lua: put sub-stock k back as it was. */
  stockThaw(templateId: string, k: number): Promise<ScriptReply> {
    return this.redis.stockThaw(stockKey(this.ks, templateId, k), frozenStockKey(this.ks, templateId, k));
  }

  /** stock-restore-3.lua: write sub-stock k's rebuilt remaining count (and a red packet's budget, else ''). */
  stockRestore(templateId: string, k: number, remaining: number, budget: number | ''): Promise<ScriptReply> {
    const { ks } = this;
    return this.redis.stockRestore(stockKey(ks, templateId, k), frozenStockKey(ks, templateId, k), budgetKey(ks, templateId, k),
      remaining, budget);
  }

  /** packet-shave-2.lua: lower a red packet's sub-stock k and its budget to what MySQL shows is left (the reconciler's repair). */
  packetShave(templateId: string, k: number, stockLeft: number, budgetLeft: number): Promise<ScriptReply> {
    const { ks } = this;
    return this.redis.packetShave(stockKey(ks, templateId, k), budgetKey(ks, templateId, k), stockLeft, budgetLeft);
  }

  /** users-swap-3.lua: replace partition p's users hash with the rebuilt one, keeping `unresolved` reservations. */
  usersSwap(templateId: string, p: number, unresolved: readonly string[]): Promise<ScriptReply> {
    const { ks } = this;
    return this.redis.usersSwap(usersKey(ks, p, templateId), rebuiltUsersKey(ks, p, templateId), pendingKey(ks, p), templateId, ...unresolved);
  }

  /** users-atleast-1.lua: raise users of partition p to what MySQL holds (user, held, answers triples). */
  usersAtLeast(templateId: string, p: number, triples: readonly S[]): Promise<ScriptReply> {
    return this.redis.usersAtLeast(usersKey(this.ks, p, templateId), ...triples);
  }

  /** template-put-1.lua: store the live copy if `version` is newer. */
  templatePut(templateId: string, version: number, data: string): Promise<ScriptReply> {
    return this.redis.templatePut(templateKey(this.ks, templateId), version, data);
  }

  /** stats-add-3.lua: add one gateway batch of claim counts, once per sequence. */
  statsAdd(b: StatsBatch, secondTtlS: number, appliedTtlS: number, reasonCounts: readonly S[]): Promise<ScriptReply> {
    const { ks } = this;
    return this.redis.statsAdd(statsTotalsKey(ks, b.templateId), statsSecondKey(ks, b.templateId, b.second),
      statsAppliedKey(ks, b.templateId, b.gatewayId), b.seq, b.claims, b.issued, secondTtlS, appliedTtlS, ...reasonCounts);
  }

  /** stream-trim-1.lua: trim partition p's stream below what the group acknowledged. */
  streamTrim(p: number): Promise<ScriptReply> {
    return this.redis.streamTrim(streamKey(this.ks, p));
  }

  /** lease-take-1.lua: take or renew the reconciler's lease. */
  leaseTake(owner: string, ttlMs: number): Promise<ScriptReply> {
    return this.redis.leaseTake(reconcileLeaseKey(this.ks), owner, ttlMs);
  }

  /** lease-drop-1.lua: give the lease back if `owner` holds it. */
  leaseDrop(owner: string): Promise<ScriptReply> {
    return this.redis.leaseDrop(reconcileLeaseKey(this.ks), owner);
  }
}
