/**
 * The claim path: admission -> local template cache -> one Lua call on the user's home
 * sub-stock, shared with the turn's other claims on its partition (group-commit.ts) -> answer. The
 * overflow path (home empty) lives in overflow.ts; a redemption is a claim whose coupon is
 * taken where its code is marked (redeem.ts).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, orUnavailable } from '../../core/errors.ts';
import { codeRequestId } from '../../core/ids.ts';
import { couponIdPrefix } from '../../core/shards.ts';
import { writeTogether } from '../../lua/client.ts';
import { ScriptCode } from '../../lua/codes.ts';
import * as keys from '../../lua/keys.ts';
import { claimMinAmount } from '../../templates/model.ts';
import { type CachedTemplate, isSoldOut, type LoadGuard, markEmpty } from '../cache/template-cache.ts';
import type { Refusal } from '../http/errors.ts';
import { type ClaimAnswer, type ClaimCtx, type ClaimInput, issued, refused, restarted } from './answer.ts';
import { type ClaimDeps, groupCall, redisCall } from './deps.ts';
import { ClaimGroups } from './group-commit.ts';
import { takeOverflow } from './overflow.ts';
import { takeCode } from './redeem.ts';

/**
 * Repeats `attempt` with backoff (5, 10, 20 ms ...) until it gives an answer or `waitMs` is
 * spent, then answers 503: used while an earlier reservation of the same user is settling.
 */
async function untilSettled(waitMs: number, attempt: () => Promise<ClaimAnswer | undefined>): Promise<ClaimAnswer> {
  const deadline = Date.now() + waitMs;
  for (let wait = 5; ; wait *= 2) {
    const answer = await attempt();
    if (answer) return answer;
    if (Date.now() + wait > deadline) throw new ApiError('unavailable', 'an earlier claim of this user is still settling');
    await sleep(wait);
  }
}

/** The refusal this process can decide from memory alone, if any. */
function localRefusal(c: CachedTemplate, userId: string, now: number): Refusal | undefined {
  const t = c.template;
  if (t.status === 'paused') return 'paused';
  if (t.claimStart !== null && now < t.claimStart) return 'not_started';
  if (t.claimEnd !== null && now >= t.claimEnd) return 'ended';
  if (c.audience !== null && !c.audience.has(userId)) return 'not_eligible';
  if (isSoldOut(c)) return 'sold_out';
  return undefined;
}

// Generated request ids: unique per process start, cheap to make (no syscall per claim).
const ridPrefix = `~${randomBytes(6).toString('base64url')}.`;
let ridCounter = 0;

export class ClaimService {
  private readonly guard: LoadGuard;
  /** The claim-home calls of this process, grouped per turn and home partition. */
  readonly groups: ClaimGroups;
  // '<template>|<user>|<request id>' of the claims under way in this process, settling when they answer.
  private readonly inProgress = new Map<string, Promise<void>>();

  constructor(private readonly d: ClaimDeps) {
    this.guard = (load) => d.breaker.run(load);
    const latency = d.redisLatency;
    this.groups = new ClaimGroups((claims) => groupCall(d, () => d.commands.claimHomeGroup(claims)),
      (sends) => writeTogether(d.commands.redis, sends), latency && ((ms) => latency.observe(ms)));
  }

  /** Decides one claim; throws ApiError for errors of the error table. */
  async claim(input: ClaimInput): Promise<ClaimAnswer> {
    const { d } = this;
    const now = Date.now();
    const start = performance.now();
    if (!d.admission.admitGlobal(start)) {
      d.counter.refusedEarly('rate_limited');
      throw new ApiError('rate_limited');
    }
    // A cached template costs no Redis call; only a miss's load goes through the breaker.
    const c = d.cache.peek(input.templateId) ?? await this.load(input.templateId, now);
    if (!c) {
      d.counter.refusedEarly('template_not_found');
      throw new ApiError('template_not_found');
    }
    // From here on the template is known: every outcome is counted for its stats (stats/).
    let answer: ClaimAnswer;
    try {
      answer = await this.decide(c, input, now);
    } catch (err) {
      d.counter.failed(c.template.id, err);
      d.latency.observe(performance.now() - start);
      throw err;
    }
    d.counter.answered(c.template.id, answer);
    d.latency.observe(performance.now() - start);
    return answer;
  }

  /** A template missing from the cache, through the breaker; a storage failure is counted and a 503. */
  private async load(templateId: string, now: number): Promise<CachedTemplate | null> {
    try {
      return await orUnavailable('redis', () => this.d.cache.get(templateId, now, this.guard));
    } catch (err) {
      this.d.counter.refusedEarly('unavailable');
      throw err;
    }
  }

  /** Redeems code number `code` of a template for a user: a claim whose request id is the code's. */
  redeem(userId: string, templateId: string, code: number): Promise<ClaimAnswer> {
    return this.claim({ userId, templateId, code, requestId: codeRequestId(code) });
  }

  /** Decides a claim for a cached template. */
  private async decide(c: CachedTemplate, input: ClaimInput, now: number): Promise<ClaimAnswer> {
    const { d } = this;
    const t = c.template;
    const refusal = localRefusal(c, input.userId, now);
    // Without a request id nothing can be a replay: the refusal costs no Redis call at all.
    if (refusal && input.requestId === undefined) return refused(refusal);
    if (!d.admission.admitTemplate(t.id, performance.now())) throw new ApiError('rate_limited');

    const home = keys.homeSubStockAt(c.homePrefix, input.userId, t.subStocks);
    const ctx: ClaimCtx = {
      c, templateId: t.id, perUserLimit: t.perUserLimit, userId: input.userId,
      requestId: input.requestId ?? ridPrefix + (ridCounter++).toString(36),
      // A redemption reserves the slot at home and takes its coupon where its code is marked.
      remember: input.code !== undefined ? '2' : input.requestId === undefined ? '0' : '1',
      home, homePartition: keys.partitionAt(d.ks, c.idHash, home),
      shardPrefix: couponIdPrefix(d.layout, input.userId),
      minAmount: claimMinAmount(t),
    };
    // A retry of a request that was issued before the window closed, the template paused or
    // the stock ran out still gets its coupon: idempotency outranks every refusal.
    if (refusal) return this.replayOr(ctx, refusal);
    if (d.backlog.overloaded) throw new ApiError('unavailable', 'issuance backlog is too deep');
    const claim = () => untilSettled(d.cfg.pendingWaitMs, async () => {
      // The group's call checks the breaker too; checking here spares a claim the wait behind a
      // call in flight on a Redis that is known to be failing.
      if (d.breaker.refusing()) throw new ApiError('unavailable', 'storage unavailable, retry shortly');
      const [code, value] = await this.groups.claim(ctx);
      switch (code) {
        case ScriptCode.Issued: return issued(ctx, String(value));
        case ScriptCode.Replayed: return issued(ctx, String(value), true);
        case ScriptCode.LimitReached: return refused('limit_reached');
        case ScriptCode.Reserved:
          if (input.code !== undefined) return takeCode(d, { ...ctx, token: String(value) }, input.code);
          markEmpty(ctx.c, ctx.home);
          return takeOverflow(d, { ...ctx, token: String(value) });
        case ScriptCode.StockMissing:
          throw new ApiError('unavailable', 'template stock is missing, retry shortly');
        case ScriptCode.Fenced:
          throw restarted();
        // Pending / Busy: an earlier reservation of this user decides the answer: wait for it.
        case ScriptCode.Pending:
        case ScriptCode.Busy:
          return undefined;
        default:
          throw new Error(`claimHome returned unknown code ${code}`);
      }
    });
    // Only a client's request id can be asked for again; generated ones cost no bookkeeping.
    return ctx.remember === '0' ? claim() : this.tracked(ctx, claim);
  }

  /**
   * Runs the claim of a client's request id, known meanwhile to later requests of the same id:
   * one refused from memory (a pause landed in between: a double click) waits for it instead of
   * overtaking it, since a claim gathering in a group has not stored its answer yet.
   */
  private async tracked(ctx: ClaimCtx, run: () => Promise<ClaimAnswer>): Promise<ClaimAnswer> {
    const key = `${ctx.templateId}|${ctx.userId}|${ctx.requestId}`;
    const p = run();
    const done = p.then(() => undefined, () => undefined);
    this.inProgress.set(key, done);
    try {
      return await p;
    } finally {
      if (this.inProgress.get(key) === done) this.inProgress.delete(key);
    }
  }

  private async replayOr(ctx: ClaimCtx, refusal: Refusal): Promise<ClaimAnswer> {
    await this.inProgress.get(`${ctx.templateId}|${ctx.userId}|${ctx.requestId}`);
    return untilSettled(this.d.cfg.pendingWaitMs, async () => {
      const [code, value] = await redisCall(this.d, () => this.d.commands.claimReplay(ctx));
      switch (code) {
        case ScriptCode.NoAnswer: return refused(refusal);
        case ScriptCode.Replayed: return issued(ctx, String(value), true);
        case ScriptCode.Pending: return undefined;
        case ScriptCode.Fenced: throw restarted();
        default: throw new Error(`claimReplay returned unknown code ${code}`);
      }
    });
  }
}
