/**
 * Group commit of claims: the claims of one event-loop turn that share a template's home
 * sub-stock go to Redis as ONE claim-home call (lua/claim-home-5.lua), which decides them in
 * order and answers each. Nothing waits for a group to fill: the groups are sent at the end of
 * the turn in which their first claim arrived (setImmediate runs right after the turn's I/O),
 * so a lone claim goes out as fast as before, and under load one call and one stream entry
 * carry many claims. A group that fails (a timeout, a lost connection) fails each of its
 * claims with the same error: its outcome is unknown (503), the reconciler settles whatever
 * ran, and a retry with the same request id replays.
 */
import type { ScriptReply } from '../../lua/codes.ts';
import type { CachedTemplate } from '../cache/template-cache.ts';
import type { ClaimCtx } from './answer.ts';

// Claims per call, at most: bounds the time one script holds Redis (~2 µs a claim) and the
// claims one failed call takes down with it.
export const GROUP_MAX = 64;

/** Claims of one template version and home sub-stock waiting to be sent, with their callers. */
interface Group {
  readonly claims: ClaimCtx[];
  readonly waiting: { resolve(r: ScriptReply): void; reject(err: unknown): void }[];
}

/** Sends a group (one call) and returns one reply per claim, in order. */
export type SendGroup = (claims: readonly ClaimCtx[]) => Promise<ScriptReply[]>;

/** Groups claims per turn and home sub-stock; see the file comment. */
export class ClaimGroups {
  // open groups of this turn, by template version (the cached object) and home sub-stock.
  private readonly open = new Map<CachedTemplate, (Group | undefined)[]>();
  private scheduled = false;
  /** Calls sent and claims they carried, since start (the mean group size under load). */
  calls = 0;
  claims = 0;

  /** `together` runs the turn's sends so that their commands leave in one socket write. */
  constructor(private readonly send: SendGroup, private readonly together: (sends: () => void) => void) {}

  /** Queues a claim for this turn's call on its home sub-stock; resolves with its own reply. */
  claim(ctx: ClaimCtx): Promise<ScriptReply> {
    let homes = this.open.get(ctx.c);
    if (!homes) this.open.set(ctx.c, (homes = []));
    let g = homes[ctx.home];
    if (!g) homes[ctx.home] = g = { claims: [], waiting: [] };
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
    const reply = new Promise<ScriptReply>((resolve, reject) => g.waiting.push({ resolve, reject }));
    g.claims.push(ctx);
    if (g.claims.length >= GROUP_MAX) {
      homes[ctx.home] = undefined;
      this.dispatch(g);
    }
    return reply;
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    this.together(this.dispatchOpen);
  };

  private readonly dispatchOpen = (): void => {
    for (const homes of this.open.values()) for (const g of homes) if (g) this.dispatch(g);
    this.open.clear();
  };

  private dispatch(g: Group): void {
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
    });
  }
}
