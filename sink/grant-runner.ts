/**
 * Runs one grant job to its end, chunk by chunk: re-reads the job (state, rate) and its template
 * before each chunk, waits for tokens of the job's rate, decides the chunk (grant-chunk.ts) and
 * commits its cursor and counts in one transaction (issuance/grant-store.ts). Everything it
 * knows is in MySQL: a process that dies loses at most the chunk in hand, which the next run
 * decides again (its claims replay) and counts once.
 *
 * The job waits, without deciding anyone, while its template is paused or its claim window not
 * open yet (a grant honors the operator's pause and schedule), and while the sink's stream
 * backlog is above GRANT_BACKLOG_MAX (a grant must not crowd out claims). After the window's
 * end, or once every sub-stock was seen empty, the rest is refused (ended, sold_out) in big
 * chunks without Redis calls or tokens.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/index.ts';
import { hash32 } from '../core/shards.ts';
import type { RedisClient } from '../lua/client.ts';
import { totalBacklog } from '../lua/backlog.ts';
import { homePrefix, type KeySpace } from '../lua/keys.ts';
import { type Grant, GRANT_REFUSALS, templateHold } from '../issuance/grant-model.ts';
import type { GrantStore, Tally } from '../issuance/grant-store.ts';
import { emptyMarks } from '../issuance/sub-stocks.ts';
import type { Template } from '../templates/model.ts';
import { type ChunkDeps, decideChunk, type JobTemplate, refusedLocally } from './grant-chunk.ts';

// Users per chunk refused without Redis (after the window's end, sold out): one INSERT each.
const LOCAL_CHUNK = 5_000;
// Lifetimes of the stats keys, as the gateways' flush sets them (gateway/stats/flusher.ts).
const STATS_SECOND_TTL_S = 120;
const STATS_APPLIED_TTL_S = 86_400;
// How long a backlog sample is trusted: one sample costs an XINFO per partition.
const BACKLOG_SAMPLE_MS = 250;
// Users after its starting cursor a run decides as a re-run: GRANT_CHUNK_MAX's upper bound, the
// longest chunk a run that died could have had in hand, whatever its rate or config were.
const RERUN_USERS = 10_000;

/** What a job runs on. */
export interface GrantRunDeps extends ChunkDeps {
  readonly redis: RedisClient;
  readonly ks: KeySpace;
  readonly grants: GrantStore;
  /** The template's row in MySQL (templates/store.ts), or null. */
  readonly template: (id: string) => Promise<Template | null>;
  /** The sink's consumer group (the backlog it has not stored). */
  readonly group: string;
  readonly cfg: Config['grants'];
  /** Users decided and coupons granted by committed chunks of this process (read by /metrics). */
  readonly progress?: GrantProgress;
}

/** What the grant runners of a process have done since it started. */
export interface GrantProgress {
  users: number;
  granted: number;
}

/** Users per chunk at `rate`: a chunk takes at most half a second of tokens, so changes apply within a second. */
export const chunkSize = (rate: number, max: number): number => Math.max(1, Math.min(max, Math.floor(rate / 2)));

/** Runs one job; returns when it ended, stopped running, or `stopping()` became true. */
export class GrantRunner {
  private jt: JobTemplate | undefined;
  private tokens = 0;
  private tokensAt = Date.now();
  // The last backlog sample, and coupons this job granted since: at most one stream entry each.
  private backlog = { at: 0, value: 0, added: 0 };
  // The users a process first decides of a job may have been decided before a crash (by a chunk
  // longer than this run's, if the rate changed): they replay first, until RERUN_USERS are past.
  private rerunLeft = RERUN_USERS;
  // The end-of-job pass over users recorded failed: where it is, and whether it is over.
  private retryAfter = '';
  private retried = false;

  constructor(private readonly d: GrantRunDeps, readonly grantId: string, private readonly stopping: () => boolean) {}

  /** The job's loop. */
  async run(): Promise<void> {
    const { d } = this;
    while (!this.stopping()) {
      const g = await d.grants.get(this.grantId);
      if (!g || g.state !== 'running') return;
      const t = await d.template(g.templateId);
      if (!t) {
        await d.grants.finish(g.grantId, 'failed', `template ${g.templateId} not found`, Date.now());
        return;
      }
      const jt = this.jobTemplate(t);
      const now = Date.now();
      const held = templateHold(t, now) !== undefined || (await this.backlogDeep());
      if (held) {
        await sleep(d.cfg.pollMs);
        continue;
      }
      const mayBeRerun = this.rerunLeft > 0;
      const local = !mayBeRerun && refusedLocally(jt, now);
      const n = local ? LOCAL_CHUNK : chunkSize(g.ratePerSecond, d.cfg.chunkMax);
      if (!local && !(await this.takeTokens(g, n))) continue;
      const users = await d.grants.next(g.grantId, g.lastSeq, n);
      if (users.length === 0) {
        // Every user is decided: users recorded failed get one more pass, then the job is done.
        if (g.failed > 0 && !this.retried) {
          await this.retryFailed(g, jt, n);
          continue;
        }
        await d.grants.finish(g.grantId, 'done', null, Date.now());
        return;
      }
      const r = await decideChunk(d, jt, g.grantId, users, mayBeRerun);
      this.backlog.added += r.tally.granted;
      const committed = await d.grants.commit(g.grantId, g.lastSeq, users[users.length - 1]!.seq, r.tally, r.refusals);
      // Not committed: another process ran this chunk too (a lease handed over); the next
      // chunks may be ones it also ran, so this run replays first again.
      this.rerunLeft = committed ? this.rerunLeft - users.length : RERUN_USERS;
      if (committed && d.progress) {
        d.progress.users += users.length;
        d.progress.granted += r.tally.granted;
      }
      if (committed) await this.addStats(g, r.tally);
    }
  }

  /**
   * One page of the end-of-job pass over the users recorded `failed` (their claims kept failing
   * for GRANT_RETRY_MS: Redis away, a reservation left unsettled by a crash, a sub-stock key
   * missing): decided again like a re-run chunk (a coupon issued meanwhile replays), and what
   * changed is settled in MySQL. A user still failing stays recorded as failed.
   */
  private async retryFailed(g: Grant, jt: JobTemplate, n: number): Promise<void> {
    const page = await this.d.grants.failedUsers(g.grantId, this.retryAfter, n);
    if (page.length === 0) {
      this.retried = true;
      return;
    }
    const r = await decideChunk(this.d, jt, g.grantId, page.map((userId) => ({ seq: 0, userId })), true);
    await this.d.grants.settleFailed(g.grantId, r.decided);
    this.retryAfter = page[page.length - 1]!;
  }

  /**
   * Adds a committed chunk to the template's claim stats (gateway/stats/: claims, issued per
   * second, refusals), as one more "gateway" named after the job whose batch sequence is the
   * chunk's number: a resend after a lost reply is a no-op. Best effort: stats may miss the
   * chunk of a crash between its commit and this call; the stock (issued) is Redis's own count.
   */
  private async addStats(g: Grant, t: Tally): Promise<void> {
    const refused = GRANT_REFUSALS.flatMap((x) => (t.refused[x] > 0 ? [x, t.refused[x]] : []));
    const reasons = t.failed > 0 ? [...refused, 'unavailable', t.failed] : refused;
    const claims = t.granted + t.failed + GRANT_REFUSALS.reduce((n, x) => n + t.refused[x], 0);
    try {
      await this.d.commands.statsAdd({ templateId: g.templateId, second: Math.floor(Date.now() / 1000), gatewayId: `grant-${g.grantId}`,
        seq: g.chunks + 1, claims, issued: t.granted }, STATS_SECOND_TTL_S, STATS_APPLIED_TTL_S, reasons);
    } catch {
      // Redis failed: these counts are left out of the stats (the job's own counts are in MySQL).
    }
  }

  /** The job's view of the template: sub-stocks seen empty are forgotten with each new version (a top-up). */
  private jobTemplate(t: Template): JobTemplate {
    if (!this.jt || this.jt.t.version !== t.version) {
      this.jt = { t, ...emptyMarks(t.subStocks), audience: t.audience === null ? null : new Set(t.audience),
        idHash: hash32(t.id), homePrefix: homePrefix(t.id) };
    }
    return this.jt;
  }

  /** Takes `n` tokens of the job's rate, or waits at most one poll period and answers false (the caller re-reads the job). */
  private async takeTokens(g: Grant, n: number): Promise<boolean> {
    const now = Date.now();
    const rate = g.ratePerSecond;
    // At most a second's worth saved up (and at least one chunk's): a paused job does not burst.
    this.tokens = Math.min(Math.max(rate, n), this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    if (this.tokens >= n) {
      this.tokens -= n;
      return true;
    }
    await sleep(Math.min(this.d.cfg.pollMs, Math.ceil(((n - this.tokens) / rate) * 1000)));
    return false;
  }

  /**
   * True while the sink's unstored stream entries are above GRANT_BACKLOG_MAX. A sample is
   * trusted BACKLOG_SAMPLE_MS, unless what the job added since could have crossed the bound:
   * then it samples again, so a fast job passes the bound by one chunk at most.
   */
  private async backlogDeep(): Promise<boolean> {
    const now = Date.now();
    const max = this.d.cfg.backlogMax;
    if (now - this.backlog.at >= BACKLOG_SAMPLE_MS || this.backlog.value + this.backlog.added > max) {
      this.backlog = { at: now, value: await totalBacklog(this.d.redis, this.d.ks, this.d.group), added: 0 };
    }
    return this.backlog.value > max;
  }
}
