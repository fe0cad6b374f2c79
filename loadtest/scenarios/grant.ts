/**
 * grant: a bulk grant job and a claim rain on one template at once. The job lists `users` users
 * (every DUPLICATE_EVERY-th twice: duplicates count once), paced to last about as long as the
 * rain when the bound says how long that is; the rain sends as many users, the first OVERLAP of
 * them the first listed, so both paths race for the same stock and the same users' limit of 1. The
 * job's coupons are told by its counts and refusals (GET /v1/admin/grants/{id}), read once it
 * is done: the verifier holds them to the rows of its request id (verify-paths.ts).
 */
import { GRANT_RATE_MAX, isFinished, type GrantState } from '../../issuance/grant-model.ts';
import type { LoadOptions } from '../options.ts';
import { claimRequest } from '../requests.ts';
import type { RunContext, Scenario } from '../run-context.ts';
import type { GrantJob } from '../verify-paths.ts';

const DUPLICATE_EVERY = 50;
const OVERLAP = 0.1;
const POLL_MS = 200;

const user = (runId: string, i: number) => `${runId}u${i}`;

/** Users per second that spread the job over the rain, when its length is known; else the gateway's default. */
function paceOf(o: LoadOptions, users: number): number | undefined {
  const seconds = o.durationS ?? (o.rate ? o.requests! / o.rate : undefined);
  return seconds === undefined ? undefined : Math.min(GRANT_RATE_MAX, Math.ceil(users / seconds));
}

/** Polls the job until it ends or the drain wait passes (then cancels it); returns its last view. */
async function waitForJob(ctx: RunContext, grantId: string): Promise<GrantJob & Record<string, unknown>> {
  const deadline = Date.now() + ctx.o.drainWaitS * 1000;
  for (;;) {
    const g = await ctx.admin.grant(grantId);
    if (isFinished(g.state as GrantState)) return g;
    if (Date.now() > deadline) {
      console.log(`grant ${grantId} still ${g.state} after ${ctx.o.drainWaitS} s (--drain-wait): cancelling it`);
      await ctx.admin.cancelGrant(grantId);
      return ctx.admin.grant(grantId);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export const grant: Scenario = {
  summary: 'a bulk grant job and a claim rain on one template at once, some users in both',
  templates: (o, p) => [{ id: `${p}0`, totalStock: o.stock, perUserLimit: 1 }],
  run: async (ctx) => {
    const { users } = ctx.o;
    const t = ctx.templates[0]!;
    const listed = Array.from({ length: users }, (_, i) => user(ctx.runId, i));
    const upload = listed.flatMap((u, i) => (i % DUPLICATE_EVERY === 0 ? [u, u] : [u]));
    const pace = paceOf(ctx.o, users);
    const job = await ctx.admin.startGrant(t.id, upload, pace);
    console.log(`grant ${job.grantId}: ${job.total} users (${upload.length} lines), ${pace ? `${pace}/s` : 'the gateway\'s default rate'}`);
    // the rain's users: the first OVERLAP of the listed ones, which the job also decides first,
    // then as many unlisted ones (numbered after the list).
    const overlap = Math.floor(users * OVERLAP);
    const rainUser = (j: number) => user(ctx.runId, j < overlap ? j : users + j - overlap);
    await ctx.phase('rain + grant', {
      distinct: users,
      request: (g) => claimRequest({ templateId: t.id, userId: rainUser(g % users) }, ctx.o.format, ctx.auth),
    }, { durationS: ctx.o.durationS, requests: ctx.o.requests });
    const end = await waitForJob(ctx, job.grantId);
    console.log(`grant ${job.grantId} ${end.state}: granted ${end.granted}, refused ${JSON.stringify(end.refused)}, failed ${end.failed}, ` +
      `from ${String(end.startedAt)} to ${String(end.finishedAt)}`);
    const refusals = await ctx.admin.grantRefusals(job.grantId);
    return { grant: { grantId: job.grantId, templateId: t.id, listed, job: end, refusals } };
  },
};
