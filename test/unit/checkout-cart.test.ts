/** The cart parser: every bad field is a 400 naming its path, and no JSON value makes it throw anything else. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cartTotal, MAX_CART_ITEMS, parseCart } from '../../checkout/cart.ts';
import { ApiError } from '../../core/errors.ts';

const line = { productId: 'p1', categoryId: 'c1', price: 1999, quantity: 2 };
const cart = (over: Record<string, unknown> = {}) => ({ userId: 'u1', items: [line], ...over });
const withLine = (over: Record<string, unknown>) => cart({ items: [line, line, line, { ...line, ...over }] });

/** Asserts a 400 whose message is `path: ` followed by text matching `why` (when given). */
function refuses(v: unknown, path: string, why?: RegExp, field?: string): void {
  assert.throws(() => parseCart(v, field), (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.equal(e.code, 'bad_request');
    assert.ok(e.message.startsWith(`${path}: `), `message "${e.message}" should name ${path}`);
    if (why) assert.match(e.message, why);
    return true;
  });
}

test('a valid cart parses to a fresh copy of its fields', () => {
  const v = cart({ items: [line, { productId: 'p2', categoryId: 'c2', price: 0, quantity: 10_000 }] });
  const c = parseCart(v);
  assert.deepEqual(c, v);
  assert.notEqual(c.items[0], line);
  assert.equal(cartTotal(c), 3998);
});

test('the largest cart is accepted and its total is exact', () => {
  const big = { productId: 'p', categoryId: 'c', price: 1e9, quantity: 10_000 };
  const c = parseCart(cart({ items: Array.from({ length: MAX_CART_ITEMS }, () => big) }));
  assert.equal(cartTotal(c), 2e15);
  assert.ok(Number.isSafeInteger(cartTotal(c)));
});

test('the body must be an object with only userId and items', () => {
  for (const v of [null, [], 'cart', 3, true, undefined]) refuses(v, 'body', /must be an object with userId, items/);
  refuses(cart({ coupons: [] }), 'coupons', /unknown field/);
  refuses(JSON.parse('{"userId":"u1","items":[],"__proto__":{"x":1}}'), '__proto__', /unknown field/);
  refuses(new Date(), 'body');
});

test('userId must be an id', () => {
  refuses(cart({ userId: undefined }), 'userId', /is required/);
  for (const u of ['', 'a b', 'x'.repeat(65), 5, null, ['u1']]) refuses(cart({ userId: u }), 'userId', /1-64 characters/);
});

test('items: an array of 1-200 lines', () => {
  refuses(cart({ items: undefined }), 'items', /array of 1-200 items/);
  refuses(cart({ items: [] }), 'items', /array of 1-200 items/);
  refuses(cart({ items: { 0: line } }), 'items', /array of 1-200 items/);
  refuses(cart({ items: Array.from({ length: MAX_CART_ITEMS + 1 }, () => line) }), 'items', /array of 1-200 items/);
});

test('each line names its index and field', () => {
  refuses(withLine({ price: 1.5 }), 'items[3].price', /^items\[3\]\.price: must be an integer between 0 and 1000000000$/);
  refuses(withLine({ price: -1 }), 'items[3].price');
  refuses(withLine({ price: 1e9 + 1 }), 'items[3].price');
  refuses(withLine({ price: '100' }), 'items[3].price');
  refuses(withLine({ price: Number.NaN }), 'items[3].price');
  refuses(withLine({ price: Infinity }), 'items[3].price');
  refuses(withLine({ price: 1e308 }), 'items[3].price');
  refuses(withLine({ price: undefined }), 'items[3].price', /is required/);
  refuses(withLine({ quantity: 0 }), 'items[3].quantity', /between 1 and 10000/);
  refuses(withLine({ quantity: 10_001 }), 'items[3].quantity');
  refuses(withLine({ quantity: null }), 'items[3].quantity');
  refuses(withLine({ productId: 'bad id' }), 'items[3].productId');
  refuses(withLine({ categoryId: undefined }), 'items[3].categoryId', /is required/);
  refuses(withLine({ discount: 5 }), 'items[3].discount', /unknown field/);
  refuses(cart({ items: [line, null] }), 'items[1]', /must be an object with productId, categoryId, price, quantity/);
  refuses(cart({ items: [[line]] }), 'items[0]');
});

test('a nested cart prefixes every path with its field', () => {
  refuses(null, 'cart', /must be an object/, 'cart');
  refuses(cart({ extra: 1 }), 'cart.extra', /unknown field/, 'cart');
  refuses(cart({ userId: '' }), 'cart.userId', undefined, 'cart');
  refuses(cart({ items: [] }), 'cart.items', undefined, 'cart');
  refuses(withLine({ price: -5 }), 'cart.items[3].price', /between 0 and 1000000000/, 'cart');
});

test('fuzz: random JSON never makes the parser throw anything but a 400', () => {
  let seed = 12345;
  const r = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const keys = ['userId', 'items', 'productId', 'categoryId', 'price', 'quantity', '__proto__', 'constructor', 'toString', 'x'];
  const scalars = [null, true, false, 0, -1, 1.5, 1e9, 1e9 + 1, 1e308, -0, 2 ** 53, 'u1', '', 'p 1', 'c1', '__proto__', '1e3'];
  const junk = (depth: number): unknown => {
    const k = r();
    if (depth > 3 || k < 0.4) return pick(scalars);
    if (k < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => junk(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(r() * 5); i > 0; i--) o[pick(keys)] = junk(depth + 1);
    return o;
  };
  // Near-valid carts with one field mangled reach deeper checks than pure junk.
  const mangled = (): unknown => {
    const items = Array.from({ length: 1 + Math.floor(r() * 3) }, () => ({ ...line } as Record<string, unknown>));
    const c: Record<string, unknown> = { userId: 'u1', items };
    const target = r() < 0.3 ? c : pick(items);
    target[pick(keys)] = junk(2);
    return r() < 0.1 ? JSON.parse(JSON.stringify(c)) : c;
  };
  let parsed = 0;
  for (let i = 0; i < 5000; i++) {
    const v = i % 2 === 0 ? junk(0) : mangled();
    for (const field of [undefined, 'cart']) {
      try {
        parseCart(v, field);
        parsed++;
      } catch (e) {
        assert.ok(e instanceof ApiError && e.code === 'bad_request', `case ${i}: ${String(e)} for ${JSON.stringify(v)}`);
        assert.match(e.message, field === undefined ? /^[^:]+: / : /^cart(\.[^:]+)?: /);
      }
    }
  }
  assert.ok(parsed > 0, 'some mangled carts stay valid (a mangled field set to a valid value)');
});
