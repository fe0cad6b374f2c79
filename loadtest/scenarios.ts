/**
 * The scenarios: which templates each creates and what traffic it sends (those of the other
 * issuance paths in scenarios/). Users and templates carry the run id, so runs never see each
 * other's data.
 */
import type { CreatedTemplate, TemplateSpec } from './admin.ts';
import type { Bound } from './closed-loop.ts';
import type { LoadOptions, ScenarioName } from './options.ts';
import type { RunContext, Scenario } from './run-context.ts';
import { checkout } from './scenarios/checkout.ts';
import { codes } from './scenarios/codes.ts';
import { grant } from './scenarios/grant.ts';
import { batchRequest, claimRequest, listRequest, type Workload } from './requests.ts';

const user = (runId: string, pool: string, i: number) => `${runId}${pool}${i}`;
const specs = (idPrefix: string, n: number, totalStock: number, perUserLimit: number): TemplateSpec[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${idPrefix}${i}`, totalStock, perUserLimit }));

/** Every request a claim of template t by user i of `pool`, each user once per cycle. */
function usersClaiming(ctx: RunContext, t: CreatedTemplate, pool: string, users: number): Workload {
  return {
    distinct: users,
    request: (g) => claimRequest({ templateId: t.id, userId: user(ctx.runId, pool, g % users) }, ctx.o.format, ctx.auth),
  };
}

const bound = (o: LoadOptions): Bound => ({ durationS: o.durationS, requests: o.requests });

const hot: Scenario = {
  summary: 'one template, stock far below demand, many users (the red-packet rain)',
  templates: (o, p) => specs(p, 1, o.stock, 1),
  run: async (ctx) => {
    await ctx.phase('rain', usersClaiming(ctx, ctx.templates[0]!, 'u', ctx.o.users), bound(ctx.o));
    return {};
  },
};

const packets: Scenario = {
  summary: 'the red-packet rain with random amounts: one budget shared out exactly over the packets',
  templates: (o, p) => specs(p, 1, o.stock, 1).map((s) => ({ ...s, budget: s.totalStock * 100 })),
  run: async (ctx) => {
    await ctx.phase('rain', usersClaiming(ctx, ctx.templates[0]!, 'u', ctx.o.users), bound(ctx.o));
    return {};
  },
};

const spread: Scenario = {
  summary: 'thousands of templates, uniform traffic over them',
  templates: (o, p) => specs(p, o.templates, o.stock, 1),
  run: async (ctx) => {
    const { users } = ctx.o;
    const ts = ctx.templates;
    await ctx.phase('spread', {
      distinct: Math.max(users, ts.length),
      request: (g) => claimRequest({ templateId: ts[g % ts.length]!.id, userId: user(ctx.runId, 'u', g % users) }, ctx.o.format, ctx.auth),
    }, bound(ctx.o));
    return {};
  },
};

// Per user, rounds of clicks: request r0 twice (retries), two plain clicks, r1 and r2 once.
// With a limit of 2 the first r0 and the first plain click issue; the r0 retry must replay
// the same coupon; everything else is limit_reached.
const DUPE_ROUNDS: readonly (string | undefined)[] = ['r0', undefined, 'r1', undefined, 'r0', 'r2'];

const dupes: Scenario = {
  summary: 'the same users clicking again and again, with and without retried request ids',
  templates: (o, p) => specs(p, 1, o.stock, 2),
  run: async (ctx) => {
    const { users } = ctx.o;
    const t = ctx.templates[0]!;
    // requests 2s and 2s + 1 are identical: a double click, sent on two connections at once.
    const distinct = users * DUPE_ROUNDS.length * 2;
    await ctx.phase('clicks', {
      distinct,
      request: (g) => {
        const slot = (g % distinct) >> 1;
        const requestId = DUPE_ROUNDS[Math.floor(slot / users) % DUPE_ROUNDS.length];
        return claimRequest({ templateId: t.id, userId: user(ctx.runId, 'u', slot % users), requestId }, ctx.o.format, ctx.auth);
      },
    }, bound(ctx.o));
    return { expectReplays: true };
  },
};

// Rounds of sell-out traffic before giving up on emptying the stock (503s can leave some).
const SELL_OUT_ROUNDS = 3;

const soldout: Scenario = {
  summary: 'traffic that keeps coming after the stock is gone (answered from memory)',
  templates: (o, p) => specs(p, 1, o.stock, 1),
  run: async (ctx) => {
    const t = ctx.templates[0]!;
    // 1. sell out: twice the stock in distinct users, closed loop (set-up, not the measurement).
    for (let round = 0; round < SELL_OUT_ROUNDS && (await ctx.remaining(t)) > 0; round++) {
      const n = 2 * t.totalStock;
      await ctx.phase(`sell-out ${round + 1}`, usersClaiming(ctx, t, `a${round}-`, n), { requests: Math.max(n, ctx.o.connections) }, true);
    }
    // the first claim after the sell-out teaches the gateway's memory, if the last phase did not.
    await ctx.claimOnce({ templateId: t.id, userId: user(ctx.runId, 'probe', 0) });
    // 2. the measured phase: fresh users, none with a request id (those may be replays: one Redis read).
    // Any claim script it causes touches a sub-stock after the reference key was read.
    await ctx.markKeyClock(t);
    const after = await ctx.phase('after sell-out', usersClaiming(ctx, t, 'b', ctx.o.users), bound(ctx.o));
    const idle = await ctx.stockIdle(t);
    return { soldOutPhase: { seconds: after.seconds, idle, statuses: after.statuses } };
  },
};

// Templates one mixed user visits in turn (bounds the prebuilt request set).
const MIXED_TEMPLATES_PER_USER = 10;

const mixed: Scenario = {
  summary: 'claims plus listings of the claiming users\' coupons',
  templates: (o, p) => specs(p, o.templates, o.stock, 1),
  run: async (ctx) => {
    const { users } = ctx.o;
    const ts = ctx.templates;
    const distinct = 2 * users * Math.min(ts.length, MIXED_TEMPLATES_PER_USER);
    await ctx.phase('mixed', {
      distinct,
      // even: a claim; odd: the listing of the user who just claimed.
      request: (g) => {
        const slot = (g % distinct) >> 1;
        const u = user(ctx.runId, 'u', slot % users);
        if (g % 2 === 1) return listRequest(u, ctx.auth);
        return claimRequest({ templateId: ts[(slot + Math.floor(slot / users)) % ts.length]!.id, userId: u }, ctx.o.format, ctx.auth);
      },
    }, bound(ctx.o));
    return { listingSample: 100 };
  },
};

const batch: Scenario = {
  summary: '"claim all": each user asks for every template in one request, then retries it',
  templates: (o, p) => specs(p, o.templates, o.stock, 1),
  run: async (ctx) => {
    const { users } = ctx.o;
    const templateIds = ctx.templates.map((t) => t.id);
    // requests 2s and 2s + 1 are the same user's click and its retry (same request id): the
    // retry replays what the click issued, template by template.
    await ctx.phase('claim all', {
      distinct: 2 * users,
      request: (g) => {
        const u = (g % (2 * users)) >> 1;
        return batchRequest({ userId: user(ctx.runId, 'u', u), templateIds, requestId: 'all' }, ctx.o.format, ctx.auth);
      },
    }, bound(ctx.o));
    return { expectReplays: true };
  },
};

export const SCENARIO: Record<ScenarioName, Scenario> = { hot, spread, dupes, soldout, mixed, batch, packets, codes, grant, checkout };
