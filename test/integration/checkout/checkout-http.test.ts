/**
 * Checkout through the real gateway and sink, as an order service calls it: claim, quote, lock
 * with a cart, confirm, refund; the listing by status; the 503 of a coupon the sink has not
 * stored yet; tokens; and clear 4xx answers to bad input.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { signUserToken } from '../../../core/user-token.ts';
import { createLog } from '../../../sink/log.ts';
import { startSink } from '../../../sink/sink.ts';
import { ADMIN, createTemplate, http } from '../../support/http.ts';
import { type GatewayProc, spawnGateway } from '../../support/processes.ts';
import { waitFor } from '../../support/sink-fixtures.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../../tools/harness/storage.ts';

const SECRET = 'user-token-secret-for-checkout-tests-0123456789';
const SERVICE = 'order-service-token-0123';
const env = testEnv({ USER_TOKEN_SECRETS: SECRET, ORDER_SERVICE_TOKEN: SERVICE, SINK_BATCH_MAX_WAIT_MS: '10' });
let s: Storage;
let gw: GatewayProc;
let base: string;
before(async () => {
  s = await openStorage(testConfig(env));
  gw = await spawnGateway(env);
  base = gw.url;
});
after(async () => {
  await gw.stop();
  await s.close();
});

const user = (u: string) => ({ authorization: `Bearer ${signUserToken(SECRET, u, Math.floor(Date.now() / 1000) + 600)}` });
const service = { authorization: `Bearer ${SERVICE}` };
const post = (path: string, body: unknown, h: Record<string, string>) => http('POST', `${base}${path}`, body, h);

async function claim(userId: string, templateId: string): Promise<string> {
  const r = await post('/v1/claim', { userId, templateId }, user(userId));
  assert.equal(r.status, 200, r.raw.toString());
  return r.json.couponId;
}

const cart = (userId: string) => ({
  userId,
  items: [
    { productId: 'p-shoe', categoryId: 'c-shoes', price: 6000, quantity: 1 },
    { productId: 'p-sock', categoryId: 'c-socks', price: 500, quantity: 4 },
    { productId: 'p-gift', categoryId: 'c-gifts', price: 9900, quantity: 1 },
  ],
});

test('a coupon the sink has not stored yet answers 503 with Retry-After; once stored, the checkout goes through', async () => {
  const t = await createTemplate(base, { name: 'Shoes 20 off 50', type: 'threshold', value: 2000, threshold: 5000, totalStock: 100,
    scope: { categories: ['c-shoes', 'c-socks'] }, stackable: true });
  const u = 'alice';
  // No sink yet: the claim is in the stream only.
  const couponId = await claim(u, t.id);
  const early = await post(`/v1/coupons/${couponId}/lock`, { userId: u, orderId: 'ord-1' }, user(u));
  assert.equal(early.status, 503, early.raw.toString());
  assert.equal(early.headers['retry-after'], '1');
  const sink = await startSink(s.cfg, { log: createLog(() => undefined) });
  try {
    await waitFor(async () => (await http('GET', `${base}/v1/users/${u}/coupons`, undefined, user(u))).json.coupons.length === 1, 10_000, 'stored');

    const q = await post('/v1/checkout/quote', cart(u), user(u));
    assert.equal(q.status, 200, q.raw.toString());
    assert.deepEqual(q.json.usable, [{ couponId, templateId: t.id, name: 'Shoes 20 off 50', discount: 2000, appliesTo: ['p-shoe', 'p-sock'] }]);
    assert.deepEqual(q.json.best, { couponIds: [couponId], discount: 2000 });

    const lock = await post(`/v1/coupons/${couponId}/lock`, { userId: u, orderId: 'ord-1', cart: cart(u) }, user(u));
    assert.equal(lock.status, 200, lock.raw.toString());
    assert.equal(lock.json.status, 'locked');
    assert.equal(lock.json.discount, 2000);
    const again = await post(`/v1/coupons/${couponId}/lock`, { userId: u, orderId: 'ord-1', cart: cart(u) }, user(u));
    assert.deepEqual(again.json, lock.json, 'locking again for the same order: the same answer');
    const other = await post(`/v1/coupons/${couponId}/lock`, { userId: u, orderId: 'ord-2' }, user(u));
    assert.deepEqual([other.status, other.json.error], [409, 'coupon_locked']);
    assert.equal((await post('/v1/checkout/quote', cart(u), user(u))).json.unusable[0].reason, 'locked');

    const locked = await http('GET', `${base}/v1/users/${u}/coupons?status=locked`, undefined, user(u));
    assert.deepEqual(locked.json.coupons.map((c: any) => [c.couponId, c.orderId]), [[couponId, 'ord-1']]);

    assert.equal((await post(`/v1/coupons/${couponId}/confirm`, { orderId: 'ord-1' }, {})).status, 401, 'confirm needs the service token');
    const confirm = await post(`/v1/coupons/${couponId}/confirm`, { orderId: 'ord-1' }, service);
    assert.equal(confirm.status, 200, confirm.raw.toString());
    assert.equal(confirm.json.status, 'used');
    assert.deepEqual((await post(`/v1/coupons/${couponId}/confirm`, { orderId: 'ord-1' }, service)).json, confirm.json);
    const cancel = await post(`/v1/coupons/${couponId}/cancel`, { orderId: 'ord-1' }, service);
    assert.deepEqual([cancel.status, cancel.json.error], [409, 'coupon_used']);
    assert.equal((await http('GET', `${base}/v1/users/${u}/coupons?status=used`, undefined, user(u))).json.coupons.length, 1);

    const refund = await post(`/v1/coupons/${couponId}/refund`, { orderId: 'ord-1' }, service);
    assert.equal(refund.status, 200, refund.raw.toString());
    assert.equal(refund.json.status, 'unused');
    assert.deepEqual((await post(`/v1/coupons/${couponId}/refund`, { orderId: 'ord-1' }, service)).json, refund.json);
    assert.equal((await http('GET', `${base}/v1/users/${u}/coupons?status=unused`, undefined, user(u))).json.coupons.length, 1);

    const history = await http('GET', `${base}/v1/admin/coupons/${couponId}`, undefined, ADMIN);
    assert.deepEqual(history.json.transitions.map((x: any) => `${x.from}>${x.to}:${x.cause}`),
      ['unused>locked:lock', 'locked>used:confirm', 'used>unused:refund']);
  } finally {
    await sink.stop();
  }
});

test('a cart that does not qualify: 422 not_applicable with the reason; quote explains each coupon', async () => {
  const sink = await startSink(s.cfg, { log: createLog(() => undefined) });
  try {
    const t = await createTemplate(base, { name: 'Gifts 10%', type: 'discount', value: 10, maxDiscount: 500, totalStock: 100,
      scope: { categories: ['c-gifts'] } });
    const big = await createTemplate(base, { name: 'Big spender', type: 'threshold', value: 5000, threshold: 50_000, totalStock: 100 });
    const u = 'bob';
    const gift = await claim(u, t.id);
    const spender = await claim(u, big.id);
    await waitFor(async () => (await http('GET', `${base}/v1/users/${u}/coupons`, undefined, user(u))).json.coupons.length === 2, 10_000, 'stored');
    const q = await post('/v1/checkout/quote', cart(u), user(u));
    assert.deepEqual(q.json.usable.map((c: any) => [c.couponId, c.discount]), [[gift, 500]], 'capped by maxDiscount');
    assert.deepEqual(q.json.unusable, [{ couponId: spender, reason: 'below_threshold' }]);
    const lock = await post(`/v1/coupons/${spender}/lock`, { userId: u, orderId: 'o9', cart: cart(u) }, user(u));
    assert.deepEqual([lock.status, lock.json.error, lock.json.reason], [422, 'not_applicable', 'below_threshold']);
    // another user's coupon, another user's token, forged and foreign ids.
    assert.equal((await post(`/v1/coupons/${gift}/lock`, { userId: 'mallory', orderId: 'o1' }, user('mallory'))).status, 403);
    assert.equal((await post(`/v1/coupons/${gift}/lock`, { userId: u, orderId: 'o1' }, user('mallory'))).status, 403);
    assert.equal((await post('/v1/checkout/quote', cart(u), user('mallory'))).status, 403);
    for (const id of ['0.0.0.1', '7.7.7.7', 'nope', '0.0.0.' + '9'.repeat(20)]) {
      const r = await post(`/v1/coupons/${encodeURIComponent(id)}/lock`, { userId: u, orderId: 'o1' }, user(u));
      assert.deepEqual([r.status, r.json.error], [404, 'coupon_not_found'], id);
    }
  } finally {
    await sink.stop();
  }
});

test('bad input: 400 naming the field, 405 and 415 where due, never a 500', async () => {
  const cases: [string, unknown, string][] = [
    ['/v1/checkout/quote', { userId: 'a', items: [] }, 'items'],
    ['/v1/checkout/quote', { userId: 'a', items: [{ productId: 'p', categoryId: 'c', price: -1, quantity: 1 }] }, 'items[0].price'],
    ['/v1/checkout/quote', { userId: 'a', items: Array.from({ length: 201 }, () => ({ productId: 'p', categoryId: 'c', price: 1, quantity: 1 })) }, 'items'],
    ['/v1/coupons/0.0.0.1/lock', { userId: 'a' }, 'orderId'],
    ['/v1/coupons/0.0.0.1/lock', { userId: 'a', orderId: 'o', cart: { userId: 'a', items: 'x' } }, 'cart.items'],
    ['/v1/coupons/0.0.0.1/lock', { userId: 'a', orderId: 'o', cart: cart('b') }, 'cart.userId'],
    ['/v1/coupons/0.0.0.1/confirm', { orderId: 'bad id!' }, 'orderId'],
    ['/v1/coupons/0.0.0.1/cancel', { orderId: 'o', extra: 1 }, 'extra'],
  ];
  for (const [path, body, field] of cases) {
    const r = await post(path, body, path.includes('quote') || path.includes('lock') ? user('a') : service);
    assert.equal(r.status, 400, `${path} ${JSON.stringify(body).slice(0, 80)}: ${r.raw.toString()}`);
    assert.ok(r.json.message.startsWith(field), `${r.json.message} names ${field}`);
  }
  assert.equal((await http('GET', `${base}/v1/checkout/quote`, undefined, user('a'))).status, 405);
  assert.equal((await post('/v1/checkout/quote', 'userId=a', { ...user('a'), 'content-type': 'text/plain' })).status, 415);
  assert.equal((await post('/v1/checkout/quote', '{"userId":', user('a'))).status, 400);
  assert.equal((await http('GET', `${base}/v1/users/a/coupons?status=gone`, undefined, user('a'))).status, 400);
});
