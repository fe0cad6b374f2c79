/**
 * Group commit of claims: claims whose home sub-stocks lie in one partition go to Redis as ONE
 * claim-home call (lua/claim-home-n.lua), which decides them in order and answers each; the
 * claims of one template and sub-stock form a segment of the call. A hot template's sub-stock
 * gathers its claims, and so do a batch's templates or many small campaigns that meet in a
 * partition.
 *
 * Each partition has at most one call in flight. A claim for an idle partition goes out at the
 * end of the turn in which it arrived (setImmediate runs right after the turn's I/O), together
 * with the turn's other claims for it: at low load a lone claim goes out as fast as before.
 * Claims that arrive while a call is in flight wait for its reply (one Redis round trip, no
 * timer) and then go out together, so under load a group grows with the load instead of
 * staying one claim per call: the database's group commit. A call slower than STALE_MS (Redis
 * hung, or a timeout on its way) stops holding the next group back: it goes out beside it, as
 * every claim did before grouping, so no claim waits for another's timeout. The turn's calls
 * leave in one socket write. A group that fails (a timeout, a lost connection) fails each of its claims
 * with the same error: its outcome is unknown (503), the reconciler settles whatever ran, and
 * a retry with the same request id replays.
 */
import { performance } from 'node:perf_hooks';
import type { ScriptReply } from '../../lua/codes.ts';
import { GROUP_MAX } from '../../lua/commands.ts';
import type { ClaimCtx } from './answer.ts';

// A healthy Redis answers a call within a millisecond or two even under load; a call out
// longer than this no longer holds back the claims gathered behind it.
const STALE_MS = 10;

interface Waiting {
  resolve(r: ScriptReply): void;
  reject(err: unknown): void;
}

/** Claims waiting to be sent on one partition, with their callers. */
interface Group {
  readonly claims: ClaimCtx[];
  readonly waiting: Waiting[];
}

/** One home partition: the group being gathered and the calls in flight. */
interface Slot {
  group: Group | undefined;
  inFlight: number;
  /** When the last call went out (performance.now()). */
  sentAt: number;
  /** True while it is in the list of slots looked at after STALE_MS. */
  watched: boolean;
}

/** Sends a group (one call) and returns one reply per claim, in order. */
export type SendGroup = (claims: readonly ClaimCtx[]) => Promise<ScriptReply[]>;

/** Groups claims per home partition; see the file comment. */
export class ClaimGroups {
  // by home partition.
  private readonly slots: Slot[] = [];
  // slots with a group to send at the end of this turn.
  private due: Slot[] = [];
  private scheduled = false;
  // slots whose group waits behind a call in flight, looked at again after STALE_MS.
  private behind: Slot[] = [];
  private watching = false;
  /** Calls sent and claims they carried, since start (the mean group size under load). */
  calls = 0;
  claims = 0;

  /**
   * `together` runs the turn's sends so that their commands leave in one socket write; `observe`,
   * when given, gets each call's duration in milliseconds, failed calls included.
   */
  constructor(private readonly send: SendGroup, private readonly together: (sends: () => void) => void,
    private readonly observe?: (ms: number) => void) {}

  /** Queues a claim on its home partition's next call; resolves with its own reply. */
  claim(ctx: ClaimCtx): Promise<ScriptReply> {
    const slot = (this.slots[ctx.homePartition] ??= { group: undefined, inFlight: 0, sentAt: 0, watched: false });
    let g = slot.group;
    if (!g) {
      slot.group = g = { claims: [], waiting: [] };
      if (slot.inFlight === 0) this.schedule(slot);
      else this.watch(slot);
    }
    const reply = new Promise<ScriptReply>((resolve, reject) => g.waiting.push({ resolve, reject }));
    g.claims.push(ctx);
    // a full group goes out at once, a call in flight or not.
    if (g.claims.length >= GROUP_MAX) this.dispatch(slot);
    return reply;
  }

  private schedule(slot: Slot): void {
    this.due.push(slot);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private watch(slot: Slot): void {
    if (slot.watched) return;
    slot.watched = true;
    this.behind.push(slot);
    if (!this.watching) {
      this.watching = true;
      setTimeout(this.unstick, STALE_MS).unref();
    }
  }

  /** Sends the groups still waiting behind a call that has been out STALE_MS or longer. */
  private readonly unstick = (): void => {
    this.watching = false;
    const now = performance.now();
    const behind = this.behind;
    this.behind = [];
    const stale: Slot[] = [];
    for (const slot of behind) {
      slot.watched = false;
      // sent meanwhile, or its call came back (then its group is due this turn anyway).
      if (!slot.group || slot.inFlight === 0) continue;
      if (now - slot.sentAt >= STALE_MS) stale.push(slot);
      else this.watch(slot);
    }
    if (stale.length > 0) this.together(() => { for (const slot of stale) this.dispatch(slot); });
  };

  private readonly flush = (): void => {
    this.scheduled = false;
    this.together(this.dispatchDue);
  };

  private readonly dispatchDue = (): void => {
    const due = this.due;
    this.due = [];
    for (const slot of due) if (slot.group && slot.inFlight === 0) this.dispatch(slot);
  };

  private dispatch(slot: Slot): void {
    const g = slot.group;
    if (!g) return;
    slot.group = undefined;
    slot.inFlight++;
    const sentAt = slot.sentAt = performance.now();
    this.calls++;
    this.claims += g.claims.length;
    let sent: Promise<ScriptReply[]>;
    try {
      sent = this.send(g.claims);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then((replies) => {
      for (let i = 0; i < g.waiting.length; i++) g.waiting[i]!.resolve(replies[i]!);
    }, (err: unknown) => {
      for (const w of g.waiting) w.reject(err);
    }).finally(() => {
      this.observe?.(performance.now() - sentAt);
      // the claims that gathered meanwhile go out at the end of this turn.
      if (--slot.inFlight === 0 && slot.group) this.schedule(slot);
    });
  }
}
