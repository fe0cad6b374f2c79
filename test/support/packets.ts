/**
 * A red-packet rain for the tests: many users claim one red-packet template at once through
 * every issuance path (PATHS), in-process on a test's storage, each request retried with its
 * request id until it has a definite answer. What every rain must show: exactly the packets
 * issued, each at least the minimum, summing to the budget.
 */
import assert from 'node:assert/strict';
import { claimBatchHandler } from '../../gateway/routes/claim-batch.ts';
import type { Incoming } from '../../gateway/http/route.ts';
import { ApiError } from '../../core/errors.ts';
import { homeSubStock, subStockPartition } from '../../lua/keys.ts';
import type { Template } from '../../templates/model.ts';
import type { Told } from '../../tools/verify/oracle.ts';
import type { ClaimRig } from './claims.ts';

/**
 * Settings for a rain of thousands of claims: admission sized so none is refused (a refusal
 * would only be retried), and Redis calls that may wait long on a test box shared with other
 * suites (a timeout would leave an outcome unknown).
 */
export const RAIN_ENV = { REDIS_COMMAND_TIMEOUT_MS: '5000', ADMIT_GLOBAL_RPS: '1000000', ADMIT_GLOBAL_BURST: '1000000',
  ADMIT_TEMPLATE_RPS: '1000000', ADMIT_TEMPLATE_BURST: '1000000', CLAIM_PENDING_WAIT_MS: '3000' };

/** What one claim of a template answered: its status and body (the claim answer's fields). */
export interface PathAnswer {
  readonly status: number;
  readonly body: Record<string, any>;
}

/** One way a client gets a packet. */
export interface ClaimPath {
  readonly name: string;
  /** Claims `templateId` for `userId` with `requestId`; `side` is a plain template a path may claim alongside. */
  claim(rig: ClaimRig, templateId: string, userId: string, requestId: string, side: string): Promise<PathAnswer>;
}

const batchRequest = (body: unknown): Incoming => ({ method: 'post', url: '/v1/claim/batch', query: '', params: [],
  contentType: 'application/json', authorization: '', remoteAddress: '', body: Buffer.from(JSON.stringify(body)) });

/**
 * The issuance paths of the rain: a single claim (home sub-stock, or overflow when the home is
 * empty), and a batch that claims the packet beside a plain coupon (two segments of one
 * partition call when they meet). Another path (bulk grants) joins by adding an entry here.
 */
export const PATHS: ClaimPath[] = [
  { name: 'claim', claim: (rig, templateId, userId, requestId) => rig.service.claim({ userId, templateId, requestId }) },
  {
    name: 'batch',
    claim: async (rig, templateId, userId, requestId, side) => {
      const reply = await claimBatchHandler(rig.service, [])(batchRequest({ userId, templateIds: [side, templateId], requestId }));
      const r = (reply.body as { results?: Record<string, any>[] }).results?.find((x) => x.templateId === templateId);
      if (reply.status !== 200 || !r) return { status: reply.status, body: reply.body as Record<string, any> };
      // a storage failure of this template is its own: retried like a single claim's 503.
      if (r.status === 'unavailable' || r.status === 'rate_limited') return { status: 503, body: r };
      return { status: r.status === 'issued' ? 200 : 409, body: { ...r, userId } };
    },
  },
];

/** A red-packet template as the rain needs it. */
export type Packet = Template & { readonly budget: number; readonly minAmount: number };

/** Creates a red-packet template and a plain one beside it (the batch path claims both). */
export async function packetTemplates(rig: ClaimRig, o: { packets: number; budget: number; minAmount: number; subStocks: number }):
  Promise<{ t: Packet; side: Template }> {
  const t = await rig.template({ type: 'red_packet', value: 0, budget: o.budget, minAmount: o.minAmount, totalStock: o.packets,
    subStocks: o.subStocks, perUserLimit: 1 });
  const side = await rig.template({ totalStock: 1_000_000, perUserLimit: 1, subStocks: 1 });
  return { t: t as Packet, side };
}

/**
 * `n` user ids of run `tag`, most of them homed on the first quarter of the sub-stocks: those
 * run dry early and their users overflow to the others.
 */
export function unevenUsers(t: Template, tag: string, n: number): string[] {
  const crowded = Math.max(1, Math.floor(t.subStocks / 4));
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const u = `${tag}${i}`;
    if (homeSubStock(t.id, u, t.subStocks) < crowded || i % 4 === 0) out.push(u);
  }
  return out;
}

/** Claims until a definite answer: a 503 or 429 is retried with the same request id (it may be a replay). */
async function definite(path: ClaimPath, rig: ClaimRig, t: Template, userId: string, requestId: string, side: string): Promise<PathAnswer> {
  for (let attempt = 0; ; attempt++) {
    let a: PathAnswer;
    try {
      a = await path.claim(rig, t.id, userId, requestId, side);
    } catch (err) {
      if (!(err instanceof ApiError) || (err.code !== 'unavailable' && err.code !== 'rate_limited')) throw err;
      a = { status: 503, body: { error: err.code } };
    }
    if (a.status !== 503 && a.status !== 429) return a;
    assert.ok(attempt < 200, `${userId}: no definite answer after 200 attempts (${JSON.stringify(a.body)})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The answer of one user's claim as the oracle takes it. */
export function told(t: Template, userId: string, requestId: string, a: PathAnswer): Told {
  return { templateId: t.id, userId, requestId, couponId: String(a.body.couponId), amount: a.body.amount, replayed: a.body.replayed === true,
    toldUserId: String(a.body.userId), toldTemplateId: String(a.body.templateId ?? t.id), at: Date.now() };
}

// Claims in flight at once: a crowd, yet few enough that a shared test Redis answers each call
// well inside its timeout (a timed-out overflow step leaves its user pending until a reconciler
// pass, which these tests do not run).
const IN_FLIGHT = 256;

/** Runs `f` over `items` with at most IN_FLIGHT at a time; the results in order. */
async function crowd<T, R>(items: readonly T[], f: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i]!, i);
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, items.length) }, worker));
  return out;
}

/** Every user claims once, a crowd at a time, path by path in turn; the "issued" answers. `refusals` other than sold_out a caller expects. */
export async function rain(rig: ClaimRig, t: Template, side: string, users: readonly string[],
  refusals: readonly string[] = []): Promise<Told[]> {
  const answers = await crowd(users, async (u, i) => {
    const path = PATHS[i % PATHS.length]!;
    return { u, path: path.name, a: await definite(path, rig, t, u, `r-${u}`, side) };
  });
  for (const { u, a } of answers) {
    const refusal = String(a.body.status ?? a.body.error);
    assert.ok(a.status === 200 || refusal === 'sold_out' || refusals.includes(refusal), `${u}: ${a.status} ${JSON.stringify(a.body)}`);
  }
  return answers.filter(({ a }) => a.status === 200).map(({ u, a }) => told(t, u, `r-${u}`, a));
}

/** Retries every told request by its path again: each must replay the same coupon and amount. */
export async function replayAll(rig: ClaimRig, t: Template, side: string, issued: readonly Told[]): Promise<Told[]> {
  return crowd(issued, async (x, i) => {
    const a = await definite(PATHS[i % PATHS.length]!, rig, t, x.userId, x.requestId!, side);
    assert.equal(a.status, 200, `replay of ${x.userId}: ${JSON.stringify(a.body)}`);
    assert.deepEqual([a.body.couponId, a.body.amount, a.body.replayed], [x.couponId, x.amount, true], `replay of ${x.userId}`);
    return told(t, x.userId, x.requestId!, a);
  });
}

/** The packets' own arithmetic: every packet issued, none below the minimum, the sum (so the mean) exact. */
export function assertExact(t: Packet, issued: readonly { readonly amount?: number | null }[]): void {
  const amounts = issued.map((x) => x.amount);
  assert.equal(amounts.length, t.totalStock, 'every packet issued');
  for (const a of amounts) assert.ok(Number.isSafeInteger(a) && a! >= t.minAmount, `a packet of ${a} cents, minimum ${t.minAmount}`);
  const sum = amounts.reduce((s: number, a) => s + a!, 0);
  assert.equal(sum, t.budget, 'the packets sum to the budget');
  assert.equal(sum / amounts.length, t.budget / t.totalStock, 'the mean is budget / packets');
}

/** How many packets came from a sub-stock other than their user's home (the overflow path). */
export function overflowed(rig: ClaimRig, t: Template, issued: readonly Told[]): number {
  return issued.filter((x) => Number(x.couponId.split('.')[2]) !== subStockPartition(rig.ks, t.id, homeSubStock(t.id, x.userId, t.subStocks)))
    .length;
}
