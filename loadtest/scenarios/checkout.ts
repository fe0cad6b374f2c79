/**
 * checkout: shoppers claim one coupon of each template (each scoped to its own category, every
 * other one stackable), wait until the sink stored them, then place orders, `connections` at a
 * time: quote a random cart holding an item of a category the user still has an unused coupon
 * for, lock the quote's best coupon with that cart, then confirm or cancel it (some leave the
 * lock in place); some calls are sent twice, and some confirmed orders are refunded. Each
 * worker owns its users, so it knows what each of their coupons must end as; the verifier holds
 * MySQL, the control rows and the listings to that (verify-checkout.ts).
 */
import { storedCheckout } from '../checkout-facts.ts';
import type { FlowAnswer, Send } from '../flow-loop.ts';
import { type CheckoutKind, checkoutRequest, claimRequest } from '../requests.ts';
import type { RunContext, Scenario } from '../run-context.ts';
import type { CheckoutFacts, CheckoutTallies, CouponOutcome, Expected } from '../verify-checkout.ts';

// Shares of the orders: left locked, cancelled; the rest confirm. Then refunds among confirms,
// and calls sent a second time (the answer must be the same).
const LEAVE_LOCKED = 0.05;
const CANCEL = 0.35;
const REFUND = 0.2;
const RETRY = 0.1;
// Items besides the one in the chosen category: 0 to this many, from any category.
const EXTRA_ITEMS = 4;
const UNEXPECTED_KEPT = 20;

const user = (runId: string, i: number) => `${runId}s${i}`;
const category = (t: number) => `c${t}`;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

interface Held { readonly couponId: string; readonly category: string; state: Expected }

/** The cart of one order: an item of `cat` worth more than any coupon, and a few others. */
function cartOf(userId: string, cat: string, categories: readonly string[]) {
  const item = (c: string) => ({ productId: `p-${c}-${Math.floor(Math.random() * 50)}`, categoryId: c,
    price: 1000 + Math.floor(Math.random() * 4000), quantity: 1 + Math.floor(Math.random() * 3) });
  const others = Array.from({ length: Math.floor(Math.random() * (EXTRA_ITEMS + 1)) }, () => item(pick([...categories, 'c-none'])));
  return { userId, items: [item(cat), ...others] };
}

const parse = (a: FlowAnswer): Record<string, any> => {
  try {
    return JSON.parse(a.body.toString('utf8')) as Record<string, any>;
  } catch {
    return {};
  }
};

/** The orders of one run: the users' coupons, what each order did, and the flow that places them. */
class Orders {
  readonly tallies = { orders: 0, locksWon: 0, confirms: 0, cancels: 0, refunds: 0, stillLocked: 0, retries: 0 } satisfies CheckoutTallies;
  readonly outcomes = new Map<string, CouponOutcome>();
  readonly unexpected = { count: 0, first: [] as string[] };
  private readonly cursor: number[];
  private seq = 0;

  constructor(private readonly ctx: RunContext, private readonly held: ReadonlyMap<string, Held[]>,
    private readonly users: readonly string[], private readonly workers: number) {
    this.cursor = Array.from({ length: workers }, (_, w) => w);
  }

  private miss(what: string): void {
    if (++this.unexpected.count <= UNEXPECTED_KEPT) this.unexpected.first.push(what);
  }

  /** The next user of worker `w` (users w, w + workers, ...) holding an unused coupon, and one such coupon. */
  private next(w: number): { userId: string; coupons: Held[]; target: Held } | undefined {
    for (let tried = 0; tried < this.users.length; tried += this.workers) {
      const i = this.cursor[w]!;
      this.cursor[w] = i + this.workers >= this.users.length ? w : i + this.workers;
      if (i >= this.users.length) return undefined;
      const coupons = this.held.get(this.users[i]!) ?? [];
      const free = coupons.filter((c) => c.state === 'unused');
      if (free.length > 0) return { userId: this.users[i]!, coupons, target: pick(free) };
    }
    return undefined;
  }

  /** One call on a coupon; with RETRY probability sent again, and the second answer must be the first. */
  private async call(send: Send, kind: CheckoutKind, couponId: string, body: unknown, headers: Readonly<Record<string, string>>): Promise<FlowAnswer> {
    const a = await send(checkoutRequest(kind, body, headers, couponId));
    if (a.status !== 200 || Math.random() >= RETRY) return a;
    this.tallies.retries++;
    const again = await send(checkoutRequest(kind, body, headers, couponId));
    if (again.status !== 200 || !again.body.equals(a.body)) this.miss(`${kind} ${couponId} again: ${again.status} ${again.body.toString().slice(0, 120)}`);
    return a;
  }

  /** One order of worker `w`; false when its users hold no unused coupon any more. */
  readonly flow = async (w: number, send: Send): Promise<boolean> => {
    const n = this.next(w);
    if (!n) return false;
    const { userId, coupons } = n;
    const t = this.tallies;
    t.orders++;
    const orderId = `lt-${this.ctx.runId}-o${this.seq++}`;
    const cart = cartOf(userId, n.target.category, this.ctx.templates.map((_, i) => category(i)));
    const auth = this.ctx.auth(userId);
    const q = await send(checkoutRequest('quote', cart, auth));
    const best = q.status === 200 ? (parse(q).best?.couponIds as string[] | undefined) ?? [] : [];
    const c = coupons.find((x) => x.couponId === best[0] && x.state === 'unused');
    if (!c) {
      this.miss(`quote for ${userId} (${n.target.category}): ${q.status}, best ${JSON.stringify(best)} names none of the user's unused coupons`);
      return true;
    }
    const lock = await this.call(send, 'lock', c.couponId, { userId, orderId, cart }, auth);
    if (lock.status !== 200) {
      this.miss(`lock ${c.couponId} by ${orderId}: ${lock.status} ${lock.body.toString().slice(0, 120)}`);
      return true;
    }
    t.locksWon++;
    c.state = 'locked';
    const leave = (expect: Expected) => {
      c.state = expect;
      this.outcomes.set(c.couponId, { couponId: c.couponId, userId, orderId, expect });
    };
    const service = this.ctx.cfg.checkout.orderServiceToken;
    const svc: Record<string, string> = service === undefined ? {} : { authorization: `Bearer ${service}` };
    const r = Math.random();
    if (r < LEAVE_LOCKED) {
      t.stillLocked++;
      return leave('locked'), true;
    }
    const cancel = r < LEAVE_LOCKED + CANCEL;
    const end = await this.call(send, cancel ? 'cancel' : 'confirm', c.couponId, { orderId }, svc);
    if (end.status !== 200) {
      this.miss(`${cancel ? 'cancel' : 'confirm'} ${c.couponId} by ${orderId}: ${end.status} ${end.body.toString().slice(0, 120)}`);
      // what the coupon is now nobody knows: no state to check, and the counts will not add up.
      c.state = 'used';
      return true;
    }
    if (cancel) {
      t.cancels++;
      return leave('unused'), true;
    }
    t.confirms++;
    leave('used');
    if (Math.random() >= REFUND) return true;
    const refund = await this.call(send, 'refund', c.couponId, { orderId }, svc);
    if (refund.status !== 200 || parse(refund).status !== 'unused') {
      this.miss(`refund ${c.couponId} by ${orderId}: ${refund.status} ${refund.body.toString().slice(0, 120)}`);
      return true;
    }
    t.refunds++;
    return leave('unused'), true;
  };
}

export const checkout: Scenario = {
  summary: 'claims, then orders: quote a cart, lock its best coupon, confirm or cancel, some retried, some refunded',
  templates: (o, p) => Array.from({ length: o.templates }, (_, i) => ({
    id: `${p}${i}`, totalStock: o.stock, perUserLimit: 1, checkout: { categories: [category(i)], stackable: i % 2 === 0 },
  })),
  run: async (ctx) => {
    const { users: n, connections } = ctx.o;
    const ts = ctx.templates;
    const users = Array.from({ length: n }, (_, i) => user(ctx.runId, i));
    // each user claims each template once; closed loop, bounded by the claims themselves.
    await ctx.phase('claim', {
      distinct: n * ts.length,
      request: (g) => claimRequest({ templateId: ts[Math.floor(g / n) % ts.length]!.id, userId: users[g % n]! }, ctx.o.format, ctx.auth),
    }, { requests: n * ts.length }, true);
    if (!(await ctx.waitForStored())) throw new Error(`the sink did not store the claimed coupons within ${ctx.o.drainWaitS} s (--drain-wait)`);
    const index = new Map(ts.map((t, i) => [t.id, i]));
    const held = new Map<string, Held[]>();
    for (const a of ctx.collected.answers) {
      if (a.replayed) continue;
      (held.get(a.userId) ?? held.set(a.userId, []).get(a.userId)!).push({ couponId: a.couponId, category: category(index.get(a.templateId)!), state: 'unused' });
    }
    const orders = new Orders(ctx, held, users, connections);
    const phase = await ctx.flows('orders', orders.flow, { durationS: ctx.o.durationS, requests: ctx.o.requests });
    const outcomes = [...orders.outcomes.values()];
    const statuses = Object.fromEntries(Object.entries(phase.kinds).map(([k, s]) => [k, s!.statuses]));
    const stored = await storedCheckout(ctx.checkoutSources, `lt-${ctx.runId}-o`,
      new Map([...held].map(([u, cs]) => [u, cs.map((c) => c.couponId)])), outcomes);
    const facts: CheckoutFacts = { tallies: orders.tallies, outcomes, statuses, unexpected: orders.unexpected, ...stored };
    return { checkout: facts };
  },
};
