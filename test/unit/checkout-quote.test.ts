/**
 * The checkout quote: each rule of "usable" and its reason, the discount of each type, and the
 * best combination, checked against a brute-force enumeration of every valid combination.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Candidate, bestCombination } from '../../checkout/best.ts';
import { cartTotal } from '../../checkout/cart.ts';
import { judgeCoupon, type UnusableReason } from '../../checkout/judge.ts';
import type { Cart, CartItem, CheckoutRules, HeldCoupon, ItemBlacklist } from '../../checkout/model.ts';
import { quote } from '../../checkout/quote.ts';
import { ALL_PRODUCTS, type Scope } from '../../templates/model.ts';

const NOW = Date.UTC(2026, 10, 22, 12);
const DAY = 86_400_000;
const NONE: ItemBlacklist = { categories: new Set(), products: new Set() };

const coupon = (over: Partial<HeldCoupon> = {}): HeldCoupon => ({
  couponId: 'k1', userId: 'u1', templateId: 't1', name: 'Rain', type: 'direct', value: 500, threshold: null,
  maxDiscount: null, amount: null, validFrom: NOW - DAY, validTo: NOW + DAY, status: 'unused', orderId: null,
  lockedUntil: null, usedAt: null, ...over,
});
const item = (productId: string, categoryId: string, price: number, quantity = 1): CartItem => ({ productId, categoryId, price, quantity });
const cartOf = (...items: CartItem[]): Cart => ({ userId: 'u1', items });
const scope = (over: Partial<Scope>): Scope => ({ ...ALL_PRODUCTS, ...over });
const rules = (over: Partial<Scope> = {}, stackable = false): CheckoutRules => ({ scope: scope(over), stackable });
const CART = cartOf(item('p1', 'c1', 1000, 2), item('p2', 'c2', 3000), item('p3', 'c1', 500));

/** Judges one coupon with `r` as its rules. */
const judge = (c: HeldCoupon, r: CheckoutRules | undefined = rules(), cart = CART, bl = NONE, now = NOW) =>
  judgeCoupon(c, r, cart, bl, now);
const reason = (...args: Parameters<typeof judge>): UnusableReason | undefined => {
  const j = judge(...args);
  return j.usable ? undefined : j.reason;
};
const discount = (...args: Parameters<typeof judge>): number => {
  const j = judge(...args);
  assert.ok(j.usable, `expected usable, got ${JSON.stringify(j)}`);
  return j.discount;
};

test('a coupon with an all-products scope applies to every item', () => {
  assert.deepEqual(judge(coupon()), { usable: true, discount: 500, subtotal: 5500, appliesTo: ['p1', 'p2', 'p3'], stackable: false });
});

test('scope: products or categories include an item', () => {
  const j = judge(coupon(), rules({ products: ['p2'], categories: ['c1'] }, true));
  assert.deepEqual(j, { usable: true, discount: 500, subtotal: 5500, appliesTo: ['p1', 'p2', 'p3'], stackable: true });
  assert.deepEqual(judge(coupon(), rules({ categories: ['c2'] })), { usable: true, discount: 500, subtotal: 3000, appliesTo: ['p2'], stackable: false });
  assert.deepEqual(judge(coupon(), rules({ products: ['p3'] })), { usable: true, discount: 500, subtotal: 500, appliesTo: ['p3'], stackable: false });
});

test('scope: excludes and the blacklist beat the includes', () => {
  const exP = judge(coupon(), rules({ categories: ['c1'], excludeProducts: ['p1'] }));
  assert.deepEqual(exP.usable && [exP.subtotal, exP.appliesTo], [500, ['p3']]);
  const exC = judge(coupon(), rules({ products: ['p1', 'p2'], excludeCategories: ['c1'] }));
  assert.deepEqual(exC.usable && [exC.subtotal, exC.appliesTo], [3000, ['p2']]);
  const blP = judge(coupon(), rules({ products: ['p1', 'p2'] }), CART, { categories: new Set(), products: new Set(['p2']) });
  assert.deepEqual(blP.usable && [blP.subtotal, blP.appliesTo], [2000, ['p1']]);
  const blC = judge(coupon(), rules(), CART, { categories: new Set(['c1']), products: new Set() });
  assert.deepEqual(blC.usable && [blC.subtotal, blC.appliesTo], [3000, ['p2']]);
});

test('out_of_scope: no item in scope, everything excluded, or the template unknown', () => {
  assert.equal(reason(coupon(), rules({ products: ['p9'] })), 'out_of_scope');
  assert.equal(reason(coupon(), rules({ excludeCategories: ['c1', 'c2'] })), 'out_of_scope');
  assert.equal(reason(coupon(), rules({ products: ['p2'] }), CART, { categories: new Set(['c2']), products: new Set() }), 'out_of_scope');
  assert.deepEqual(judgeCoupon(coupon(), undefined, CART, NONE, NOW), { usable: false, reason: 'out_of_scope' });
});

test('appliesTo lists productIds in cart order, each once', () => {
  const cart = cartOf(item('p2', 'c2', 100), item('p1', 'c1', 100), item('p2', 'c9', 100, 3));
  const j = judge(coupon(), rules(), cart);
  assert.deepEqual(j.usable && [j.appliesTo, j.subtotal], [['p2', 'p1'], 500]);
});

test('threshold: the in-scope subtotal must reach it; null means none', () => {
  const t = coupon({ type: 'threshold', value: 300, threshold: 3000 });
  assert.equal(discount(t, rules({ categories: ['c2'] })), 300);
  assert.equal(reason(coupon({ ...t, threshold: 3001 }), rules({ categories: ['c2'] })), 'below_threshold');
  // The cart total (5500) reaches 3001; only the in-scope subtotal counts.
  assert.equal(discount(coupon({ ...t, threshold: 3001 })), 300);
  assert.equal(discount(coupon({ type: 'discount', value: 10, threshold: null })), 550);
});

test('status: effective status first, then the use window', () => {
  assert.equal(reason(coupon({ status: 'used', usedAt: NOW - 1 })), 'used');
  assert.equal(reason(coupon({ status: 'locked', lockedUntil: NOW + 1 })), 'locked');
  assert.equal(reason(coupon({ status: 'expired' })), 'expired');
  assert.equal(reason(coupon({ validFrom: NOW + 1 })), 'not_started');
  // A stale lock is unused again.
  assert.equal(discount(coupon({ status: 'locked', orderId: 'o1', lockedUntil: NOW })), 500);
  assert.equal(discount(coupon({ status: 'locked', orderId: 'o1', lockedUntil: NOW - 1 })), 500);
  // A lock held past validTo stays locked; a stale one past validTo is expired.
  assert.equal(reason(coupon({ status: 'locked', lockedUntil: NOW + 1, validTo: NOW })), 'locked');
  assert.equal(reason(coupon({ status: 'locked', lockedUntil: NOW, validTo: NOW })), 'expired');
});

test('window boundaries: validFrom == now is usable, validTo == now is expired', () => {
  assert.equal(discount(coupon({ validFrom: NOW })), 500);
  assert.equal(reason(coupon({ validFrom: NOW + 1 })), 'not_started');
  assert.equal(discount(coupon({ validTo: NOW + 1 })), 500);
  assert.equal(reason(coupon({ validTo: NOW })), 'expired');
});

test('reasons come in order: expired, used, locked, not_started, out_of_scope, below_threshold', () => {
  const out = rules({ products: ['p9'] });
  const below = coupon({ type: 'threshold', value: 100, threshold: 1e9 });
  assert.equal(reason(coupon({ ...below, status: 'expired', validFrom: NOW + 1 }), out), 'expired');
  assert.equal(reason(coupon({ ...below, status: 'unused', validTo: NOW, validFrom: NOW + 1 }), out), 'expired');
  assert.equal(reason(coupon({ ...below, status: 'used', validFrom: NOW + 1 }), out), 'used');
  assert.equal(reason(coupon({ ...below, status: 'locked', lockedUntil: NOW + 5, validFrom: NOW + 1 }), out), 'locked');
  assert.equal(reason(coupon({ ...below, validFrom: NOW + 1 }), out), 'not_started');
  assert.deepEqual(judgeCoupon(coupon({ ...below, validFrom: NOW + 1 }), undefined, CART, NONE, NOW), { usable: false, reason: 'not_started' });
  assert.equal(reason(below, out), 'out_of_scope');
  assert.equal(reason(below), 'below_threshold');
});

test('discount per type: direct and threshold take the value, red packets their amount', () => {
  assert.equal(discount(coupon({ type: 'direct', value: 700 })), 700);
  assert.equal(discount(coupon({ type: 'threshold', value: 700, threshold: 5500 })), 700);
  assert.equal(discount(coupon({ type: 'red_packet', value: 0, amount: 321 })), 321);
});

test('percent discounts round down, stop at maxDiscount, and stay exact on the largest carts', () => {
  const pct = (value: number, subtotal: number, maxDiscount: number | null = null) =>
    discount(coupon({ type: 'discount', value, maxDiscount }), rules(), cartOf(item('p', 'c', subtotal)));
  assert.equal(pct(15, 999), 149); // 149.85
  assert.equal(pct(99, 1), 0); // usable, worth nothing
  assert.equal(pct(33, 100), 33);
  assert.equal(pct(15, 10_000, 1000), 1000);
  assert.equal(pct(15, 10_000, 1500), 1500);
  assert.equal(pct(15, 10_000, 2000), 1500);
  const big = cartOf(...Array.from({ length: 200 }, (_, i) => item(`p${i}`, 'c', i === 0 ? 1e9 - 1 : 1e9, 10_000)));
  const total = cartTotal(big); // 1999999999990000 cents
  const exact = Number((BigInt(total) * 99n) / 100n);
  assert.equal(discount(coupon({ type: 'discount', value: 99 }), rules(), big), exact);
  assert.notEqual(Math.floor((total * 99) / 100), exact, 'the naive product is off here, so the split formula matters');
});

test('a discount never exceeds the in-scope subtotal', () => {
  assert.equal(discount(coupon({ value: 5000 }), rules({ products: ['p3'] })), 500);
  assert.equal(discount(coupon({ type: 'red_packet', value: 0, amount: 900 }), rules({ products: ['p3'] })), 500);
  assert.equal(discount(coupon({ value: 100 }), rules(), cartOf(item('free', 'c', 0))), 0);
});

/** Quotes `cs`, each coupon's rules given by `rulesById` (default: all products, not stackable). */
const quoteOf = (cs: HeldCoupon[], rulesById: Record<string, CheckoutRules> = {}, cart = CART) =>
  quote(cs, (t) => rulesById[t] ?? (t === 'gone' ? undefined : rules()), cart, NONE, NOW);

test('a quote lists usable coupons by discount, validTo, couponId, and unusable ones in input order', () => {
  const q = quoteOf([
    coupon({ couponId: 'b', value: 500 }),
    coupon({ couponId: 'x', status: 'used' }),
    coupon({ couponId: 'a', value: 500 }),
    coupon({ couponId: 'c', value: 500, validTo: NOW + 10 }),
    coupon({ couponId: 'd', value: 900, templateId: 't2', name: 'Big' }),
    coupon({ couponId: 'y', templateId: 'gone' }),
    coupon({ couponId: 'z', type: 'discount', value: 1, threshold: null }),
  ]);
  assert.deepEqual(q.usable.map((u) => u.couponId), ['d', 'c', 'a', 'b', 'z']);
  assert.deepEqual(q.usable[0], { couponId: 'd', templateId: 't2', name: 'Big', discount: 900, appliesTo: ['p1', 'p2', 'p3'] });
  assert.deepEqual(q.unusable, [{ couponId: 'x', reason: 'used' }, { couponId: 'y', reason: 'out_of_scope' }]);
  assert.deepEqual(q.best, { couponIds: ['d'], discount: 900 });
});

test('best: nothing usable, or only zero discounts, is an empty best', () => {
  assert.deepEqual(quoteOf([]).best, { couponIds: [], discount: 0 });
  assert.deepEqual(quoteOf([coupon({ status: 'used' })]).best, { couponIds: [], discount: 0 });
  const zero = quoteOf([coupon({ type: 'discount', value: 10 })], {}, cartOf(item('p', 'c', 5)));
  assert.deepEqual([zero.usable.length, zero.best], [1, { couponIds: [], discount: 0 }]);
});

test('best: stackable coupons combine, each on its own subtotal, capped at the cart total', () => {
  const s = (over: Partial<Scope> = {}) => rules(over, true);
  const q = quoteOf([
    coupon({ couponId: 'a', templateId: 'sa', value: 2000 }),
    coupon({ couponId: 'b', templateId: 'sb', value: 2000 }),
    coupon({ couponId: 'n', templateId: 'n', value: 3500 }),
  ], { sa: s({ categories: ['c1'] }), sb: s({ categories: ['c2'] }) });
  assert.deepEqual(q.best, { couponIds: ['a', 'b'], discount: 4000 });
  const capped = quoteOf([
    coupon({ couponId: 'a', templateId: 'sa', value: 5000 }),
    coupon({ couponId: 'b', templateId: 'sa', value: 5000 }),
  ], { sa: s() });
  assert.deepEqual(capped.best, { couponIds: ['a', 'b'], discount: 5500 });
});

test('best: ties go to fewer coupons, then earliest validTo, then couponId', () => {
  const st = { s: rules({}, true) };
  const fewer = quoteOf([
    coupon({ couponId: 'a', templateId: 's', value: 1000 }),
    coupon({ couponId: 'b', templateId: 's', value: 1000 }),
    coupon({ couponId: 'n', value: 2000, validTo: NOW + 9 * DAY }),
  ], st);
  assert.deepEqual(fewer.best, { couponIds: ['n'], discount: 2000 });
  const expiry = quoteOf([coupon({ couponId: 'a', value: 800 }), coupon({ couponId: 'b', value: 800, validTo: NOW + 5 })]);
  assert.deepEqual(expiry.best.couponIds, ['b']);
  const id = quoteOf([coupon({ couponId: 'b', value: 800 }), coupon({ couponId: 'a', value: 800 })]);
  assert.deepEqual(id.best.couponIds, ['a']);
});

test('best: validTo lists are compared before couponIds, not coupon by coupon', () => {
  // Each pair that reaches the 100-cent cart total has validTo [1, 2]; {a, z} has the first
  // sorted couponIds, though y comes before z among the validTo-1 coupons.
  const c = (couponId: string, validTo: number, discount: number): Candidate => ({ couponId, validTo, discount, stackable: true });
  const cands = [c('y', 1, 30), c('z', 1, 40), c('a', 2, 60), c('b', 2, 70)];
  assert.deepEqual(bestCombination(cands, 100), { couponIds: ['a', 'z'], discount: 100 });
  assert.deepEqual(bestCombination(cands, 100), bruteBest(cands, 100));
});

/** Every valid combination (each coupon alone, each set of stackable ones), the best by the tie rules. */
function bruteBest(cands: readonly Candidate[], total: number): { couponIds: string[]; discount: number } {
  const worth = cands.filter((c) => c.discount > 0);
  const stack = worth.filter((c) => c.stackable);
  const combos: Candidate[][] = worth.map((c) => [c]);
  for (let mask = 1; mask < 1 << stack.length; mask++) {
    const set = stack.filter((_, i) => mask & (1 << i));
    if (set.length > 1) combos.push(set);
  }
  const lex = <T>(a: readonly T[], b: readonly T[]) => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
    return 0;
  };
  const key = (set: Candidate[]) => ({
    value: Math.min(set.reduce((s, c) => s + c.discount, 0), total), n: set.length,
    validTo: set.map((c) => c.validTo).sort((x, y) => x - y), ids: set.map((c) => c.couponId).sort(),
  });
  let best: ReturnType<typeof key> | undefined;
  for (const set of combos) {
    const k = key(set);
    if (best === undefined || k.value > best.value || (k.value === best.value && (k.n < best.n
      || (k.n === best.n && (lex(k.validTo, best.validTo) < 0 || (lex(k.validTo, best.validTo) === 0 && lex(k.ids, best.ids) < 0)))))) best = k;
  }
  return best === undefined ? { couponIds: [], discount: 0 } : { couponIds: best.ids, discount: best.value };
}

/** A seeded PRNG (mulberry32), so a failing case reproduces from its seed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case { coupons: HeldCoupon[]; rulesOf: Map<string, CheckoutRules>; cart: Cart; blacklist: ItemBlacklist }

/** A random cart, blacklist, templates and up to `max` coupons, with many ties (few values, few validTo). */
function randomCase(r: () => number, max: number, usableOnly = false): Case {
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const some = (xs: readonly string[], p: number) => xs.filter(() => r() < p);
  const products = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
  const categories = ['c0', 'c1', 'c2'];
  const big = r() < 0.05;
  const cart = cartOf(...Array.from({ length: 1 + int(6) }, () =>
    item(pick(products), pick(categories), big ? 1e9 - int(3) : pick([0, 100, 250, 1000, 1999, 5000]), big ? 10_000 : 1 + int(3))));
  const blacklist: ItemBlacklist = usableOnly ? NONE
    : { products: new Set(r() < 0.2 ? some(products, 0.2) : []), categories: new Set(r() < 0.1 ? some(categories, 0.2) : []) };
  const rulesOf = new Map<string, CheckoutRules>();
  for (let t = 0; t < 4; t++) {
    const wide = usableOnly || r() < 0.4;
    rulesOf.set(`t${t}`, {
      stackable: usableOnly ? r() < 0.85 : r() < 0.6,
      scope: wide ? ALL_PRODUCTS : scope({
        products: some(products, 0.3), categories: some(categories, 0.3),
        excludeProducts: some(products, 0.15), excludeCategories: some(categories, 0.1),
      }),
    });
  }
  const ids = Array.from({ length: 40 }, (_, i) => `k${String.fromCharCode(97 + (i * 7) % 26)}${i}`);
  const coupons: HeldCoupon[] = [];
  for (let i = int(max + 1); i > 0; i--) {
    const type = pick(['direct', 'direct', 'threshold', 'discount', 'red_packet'] as const);
    const value = type === 'discount' ? pick([5, 10, 50, 99]) : type === 'red_packet' ? 0 : pick([100, 300, 300, 500, 1000, 4000]);
    coupons.push(coupon({
      couponId: ids.splice(int(ids.length), 1)[0]!, templateId: usableOnly ? pick(['t0', 't1', 't2', 't3']) : pick(['t0', 't1', 't2', 't3', 'gone']),
      type, value,
      threshold: type === 'threshold' ? pick([0, 1000, 3000]) : type === 'discount' && r() < 0.3 ? 2000 : null,
      maxDiscount: type === 'discount' && r() < 0.5 ? pick([100, 500, 1e12]) : null,
      amount: type === 'red_packet' ? pick([1, 300, 777]) : null,
      validFrom: !usableOnly && r() < 0.1 ? NOW + 1 : NOW - pick([0, DAY]),
      validTo: usableOnly ? NOW + pick([1, 2, 3]) * DAY : NOW + pick([0, 1, 1, 2, 3]) * DAY,
      status: usableOnly ? 'unused' : pick(['unused', 'unused', 'unused', 'unused', 'used', 'locked', 'expired'] as const),
      lockedUntil: r() < 0.5 ? NOW + 1 : NOW,
    }));
  }
  return { coupons, rulesOf, cart, blacklist };
}

/** Quotes a case and checks best against brute force and the invariants. */
function check(c: Case, label: string): ReturnType<typeof quote> {
  const q = quote(c.coupons, (t) => c.rulesOf.get(t), c.cart, c.blacklist, NOW);
  const total = cartTotal(c.cart);
  const byId = new Map(c.coupons.map((k) => [k.couponId, k]));
  const cands = q.usable.map((u): Candidate => {
    const k = byId.get(u.couponId)!;
    const j = judgeCoupon(k, c.rulesOf.get(k.templateId), c.cart, c.blacklist, NOW);
    assert.ok(j.usable && j.discount === u.discount, label);
    assert.ok(u.discount >= 0 && u.discount <= j.subtotal && u.discount <= total, `${label}: ${u.couponId} worth ${u.discount}`);
    return { couponId: u.couponId, validTo: k.validTo, discount: u.discount, stackable: j.stackable };
  });
  assert.equal(q.usable.length + q.unusable.length, c.coupons.length, label);
  assert.ok(q.best.discount <= total, label);
  assert.deepEqual(q.best, bruteBest(cands, total), label);
  return q;
}

test('property: best equals brute force on 3,000 random carts of up to 12 coupons', () => {
  let withStacks = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const q = check(randomCase(prng(seed), 12), `seed ${seed}`);
    if (q.best.couponIds.length > 1) withStacks++;
  }
  assert.ok(withStacks > 300, `only ${withStacks} cases had a best of several coupons`);
});

test('property: best equals brute force on 2,000 random sets of up to 12 usable, mostly stackable coupons', () => {
  for (let seed = 1; seed <= 2000; seed++) check(randomCase(prng(500_000 + seed), 12, true), `seed ${500_000 + seed}`);
});

test('property: best equals brute force on sets of 18 usable coupons', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = prng(1_000_000 + seed);
    let c = randomCase(r, 18, true);
    while (c.coupons.length < 16) c = randomCase(r, 18, true);
    check(c, `seed ${1_000_000 + seed}`);
  }
});

test('60 usable stackable coupons get an exact best', () => {
  const r = prng(42);
  const cands = Array.from({ length: 60 }, (_, i): Candidate => ({
    couponId: `k${String(i).padStart(2, '0')}`, validTo: NOW + (1 + Math.floor(r() * 3)) * DAY, discount: 1 + Math.floor(r() * 50) * 10, stackable: true,
  }));
  const sorted = cands.map((c) => c.discount).sort((a, b) => b - a);
  const total = sorted.slice(0, 7).reduce((s, d) => s + d, 0) - 3;
  const b = bestCombination(cands, total);
  assert.equal(b.discount, total);
  assert.equal(b.couponIds.length, 7, 'the fewest coupons that reach the total');
  const picked = cands.filter((c) => b.couponIds.includes(c.couponId));
  assert.ok(picked.reduce((s, c) => s + c.discount, 0) >= total);
  const coupons = cands.map((c) => coupon({ couponId: c.couponId, templateId: 's', value: c.discount, validTo: c.validTo }));
  const q = quote(coupons, () => rules({}, true), cartOf(item('p', 'c', 1e9, 10_000)), NONE, NOW);
  assert.equal(q.usable.length, 60);
  assert.deepEqual(q.best, { couponIds: [...q.usable.map((u) => u.couponId)].sort(), discount: sorted.reduce((s, d) => s + d, 0) });
});
