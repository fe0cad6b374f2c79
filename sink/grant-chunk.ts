/**
 * Decides one chunk of a grant job's users through the same scripts as claims: one claim-home
 * call per home sub-stock (lua/commands.ts claimHomeGroup, at most GROUP_MAX users each, the
 * chunk's calls all in flight at once), the overflow path (issuance/overflow.ts) for users
 * whose home sub-stock is empty. Every claim carries the grant's request id with remember='1',
 * so a chunk run again after a crash replays the coupons it issued instead of issuing more.
 *
 * What claim-home does not check is decided here, as the gateway does before it calls Redis
 * (gateway/claim/service.ts localRefusal): the claim window's end, the audience, and a template
 * every sub-stock of which was seen empty (no Redis call per user). A chunk that may be a re-run
 * (the first users a process runs of a job, grant-runner.ts) asks Redis for a stored answer before any such
 * refusal: idempotency outranks every refusal, as for a claim.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { couponIdPrefix, type ShardLayout } from '../core/shards.ts';
import { ScriptCode } from '../lua/codes.ts';
import { type Commands, GROUP_MAX, type HomeClaim } from '../lua/commands.ts';
import { homeSubStockAt, type KeySpace, partitionAt } from '../lua/keys.ts';
import { type GrantOutcome, grantRequestId } from '../issuance/grant-model.ts';
import { emptyTally, type GrantRefusalRow, type ListedUser, type Tally } from '../issuance/grant-store.ts';
import { overflowTake, type OverflowDeps } from '../issuance/overflow.ts';
import { type EmptyMarks, isSoldOut, markEmpty } from '../issuance/sub-stocks.ts';
import { claimMinAmount, type Template } from '../templates/model.ts';

// Backoff between rounds of claims that failed (Redis away, an earlier reservation settling).
const BACKOFF_FIRST_MS = 50;
const BACKOFF_MAX_MS = 2_000;

/** The template as a job sees it: with the sub-stocks it found empty, for this version. */
export interface JobTemplate extends EmptyMarks {
  readonly t: Template;
  readonly audience: ReadonlySet<string> | null;
  readonly idHash: number;
  readonly homePrefix: number;
}

/** What deciding a chunk runs on. */
export interface ChunkDeps {
  readonly commands: Commands;
  readonly ks: KeySpace;
  readonly layout: ShardLayout;
  /** How long a user whose claim keeps failing is retried before it counts as failed. */
  readonly retryMs: number;
}

/** What a chunk decided: the counts and the users refused (or failed), for GrantStore.commit, and each user's outcome. */
export interface ChunkResult {
  readonly tally: Tally;
  readonly refusals: GrantRefusalRow[];
  readonly decided: ReadonlyMap<string, 'granted' | GrantOutcome>;
}

/** A user's outcome, or `retry` when its claim's outcome is not known yet. */
type Outcome = 'granted' | GrantOutcome | 'retry';


/** The refusal decided without Redis, if any (the template is active and its window open: the caller holds otherwise). */
function localRefusal(jt: JobTemplate, userId: string, now: number): GrantOutcome | undefined {
  if (jt.t.claimEnd !== null && now >= jt.t.claimEnd) return 'ended';
  if (jt.audience !== null && !jt.audience.has(userId)) return 'not_eligible';
  if (isSoldOut(jt)) return 'sold_out';
  return undefined;
}

/** True when every user of a chunk would be refused without a Redis call (a job may then take bigger chunks). */
export function refusedLocally(jt: JobTemplate, now: number): boolean {
  return (jt.t.claimEnd !== null && now >= jt.t.claimEnd) || isSoldOut(jt);
}

/** Decides a chunk; `mayBeRerun` asks Redis for stored answers before refusing anyone locally. */
export async function decideChunk(d: ChunkDeps, jt: JobTemplate, grantId: string, users: readonly ListedUser[],
  mayBeRerun: boolean): Promise<ChunkResult> {
  const now = Date.now();
  const outcomes = new Map<string, Outcome>();
  const toClaim: HomeClaim[] = [];
  const replays: Promise<void>[] = [];
  const rid = grantRequestId(grantId);
  const t = jt.t;
  for (const { userId } of users) {
    const home = homeSubStockAt(jt.homePrefix, userId, t.subStocks);
    const claim: HomeClaim = {
      templateId: t.id, userId, requestId: rid, remember: '1', perUserLimit: t.perUserLimit,
      home, homePartition: partitionAt(d.ks, jt.idHash, home), shardPrefix: couponIdPrefix(d.layout, userId),
      minAmount: claimMinAmount(t),
    };
    const refusal = localRefusal(jt, userId, now);
    if (refusal === undefined) toClaim.push(claim);
    else if (mayBeRerun) replays.push(replayed(d, claim, refusal).then((o) => { outcomes.set(userId, o); }));
    else outcomes.set(userId, refusal);
  }
  await Promise.all(replays);
  let waiting = toClaim;
  const deadline = Date.now() + d.retryMs;
  for (let backoff = BACKOFF_FIRST_MS; waiting.length > 0; backoff = Math.min(backoff * 2, BACKOFF_MAX_MS)) {
    const round = await claimRound(d, jt, waiting);
    waiting = [];
    for (const [c, o] of round) {
      outcomes.set(c.userId, o);
      if (o === 'retry') waiting.push(c);
    }
    if (waiting.length === 0) break;
    if (Date.now() + backoff > deadline) {
      for (const c of waiting) outcomes.set(c.userId, 'failed');
      break;
    }
    await sleep(backoff);
  }
  const tally = emptyTally();
  const refusals: GrantRefusalRow[] = [];
  const decided = new Map<string, 'granted' | GrantOutcome>();
  for (const [userId, o] of outcomes) {
    if (o === 'granted') tally.granted++;
    else if (o === 'failed' || o === 'retry') {
      tally.failed++;
      refusals.push({ userId, reason: 'failed' });
    } else {
      tally.refused[o]++;
      refusals.push({ userId, reason: o });
    }
    decided.set(userId, o === 'retry' ? 'failed' : o);
  }
  return { tally, refusals, decided };
}

/** The answer stored for a claim of a re-run chunk: granted when it issued before the crash, else the local refusal. */
async function replayed(d: ChunkDeps, c: HomeClaim, refusal: GrantOutcome): Promise<Outcome> {
  const deadline = Date.now() + d.retryMs;
  for (let backoff = BACKOFF_FIRST_MS; ; backoff = Math.min(backoff * 2, BACKOFF_MAX_MS)) {
    try {
      const [code] = await d.commands.claimReplay(c);
      if (code === ScriptCode.Replayed) return 'granted';
      if (code === ScriptCode.NoAnswer) return refusal;
      // Pending: its reservation is settling; Fenced: Redis is being repaired. Both: wait.
    } catch {
      // Redis failed: retried below.
    }
    if (Date.now() + backoff > deadline) return 'failed';
    await sleep(backoff);
  }
}

/** One round: every claim in one call per home sub-stock (at most GROUP_MAX each), all at once. */
async function claimRound(d: ChunkDeps, jt: JobTemplate, claims: readonly HomeClaim[]): Promise<[HomeClaim, Outcome][]> {
  const byHome = new Map<number, HomeClaim[]>();
  for (const c of claims) {
    const list = byHome.get(c.home);
    if (list) list.push(c);
    else byHome.set(c.home, [c]);
  }
  const groups: HomeClaim[][] = [];
  for (const list of byHome.values()) for (let i = 0; i < list.length; i += GROUP_MAX) groups.push(list.slice(i, i + GROUP_MAX));
  const decided = await Promise.all(groups.map((g) => claimGroup(d, jt, g)));
  return decided.flat();
}

const overflowOf = (d: ChunkDeps): OverflowDeps => ({ commands: d.commands, step: (f) => f(), record: (f) => f() });

/** One claim-home call; a call that failed leaves every claim of it to retry (a re-run replays what ran). */
async function claimGroup(d: ChunkDeps, jt: JobTemplate, group: HomeClaim[]): Promise<[HomeClaim, Outcome][]> {
  let replies;
  try {
    replies = await d.commands.claimHomeGroup(group);
  } catch {
    return group.map((c) => [c, 'retry']);
  }
  return Promise.all(group.map(async (c, i): Promise<[HomeClaim, Outcome]> => {
    const [code, value] = replies[i]!;
    switch (code) {
      case ScriptCode.Issued:
      case ScriptCode.Replayed:
        return [c, 'granted'];
      case ScriptCode.LimitReached:
        return [c, 'limit_reached'];
      case ScriptCode.Reserved: {
        markEmpty(jt, c.home);
        try {
          const r = await overflowTake(overflowOf(d), { ...c, token: String(value) }, jt);
          return [c, r === undefined ? 'sold_out' : 'granted'];
        } catch {
          // Nothing taken for a reason other than stock, or a take whose outcome is unknown
          // (then its reservation stays pending until the reconciler settles it): retried.
          return [c, 'retry'];
        }
      }
      // StockMissing, Fenced, Pending, Busy: not decided yet.
      default:
        return [c, 'retry'];
    }
  }));
}
