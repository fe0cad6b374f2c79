/**
 * Hostile checkout reads against the real MariaDB and gateway: the listing's status filter at
 * its boundaries, a user holding more coupons than a quote weighs, and hostile bodies to the
 * checkout routes with a 200-item cart against 520 coupons.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { listCoupons, quoteCandidates } from '../../../checkout/coupon-list.ts';
import { COUPON_STATUSES } from '../../../checkout/model.ts';
import { answer, assertConsistent, couponState, orderRows, seedCoupon, tccOf } from '../../support/checkout.ts';
import { createTemplate, http } from '../../support/http.ts';
import { spawnGateway } from '../../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../../tools/harness/storage.ts';

let s: Storage;
before(async () => {
  s = await openStorage(testConfig());
});
after(async () => {
  await s.close();
});

test('the listing by status agrees with the unfiltered listing at validTo == now and locked_until == now', async () => {
  const ttl = 1_000;
  const short = tccOf(s, ttl);
  try {
    const u = 'edges';
    const T = Math.floor(Date.now() / 1000) * 1000 + 3_600_000;
    const DAY = 86_400_000;
    const mk = (validTo: number) => seedCoupon(s, { userId: u, validFrom: T - DAY, validTo });
    const ends = await mk(T);
    const staleAtT = await mk(T + DAY);
    const staleAndEnds = await mk(T);
    const lockPastEnd = await mk(T);
    const used = await mk(T);
    await short.tcc.lock(staleAtT, u, 'L1', T - ttl);
    await short.tcc.lock(staleAndEnds, u, 'L2', T - ttl);
    await short.tcc.lock(lockPastEnd, u, 'L3', T - ttl + 1);
    await short.tcc.lock(used, u, 'L4', T - ttl);
    await short.tcc.confirm(used, 'L4', T - ttl + 5);
    const expect: Record<string, [string, string, string]> = {
      // at T - 1, at T, at T + 1
      [ends]: ['unused', 'expired', 'expired'],
      [staleAtT]: ['locked', 'unused', 'unused'],
      [staleAndEnds]: ['locked', 'expired', 'expired'],
      [lockPastEnd]: ['locked', 'locked', 'expired'],
      [used]: ['used', 'used', 'used'],
    };
    for (const [i, now] of [T - 1, T, T + 1].entries()) {
      const all = await listCoupons(s.mysql, s.cfg.mysql, u, undefined, 200, now);
      assert.deepEqual(Object.fromEntries(all.map((c) => [c.couponId, c.status])),
        Object.fromEntries(Object.entries(expect).map(([id, st]) => [id, st[i]])), `unfiltered at T${now - T}`);
      for (const status of COUPON_STATUSES) {
        const only = await listCoupons(s.mysql, s.cfg.mysql, u, status, 200, now);
        assert.deepEqual(only.map((c) => c.couponId), all.filter((c) => c.status === status).map((c) => c.couponId), `${status} at T${now - T}`);
      }
    }
    // The calls agree with the listing at T: the stale lock is free, the ended coupon is not.
    const { tcc, close } = tccOf(s);
    try {
      assert.equal(await answer(tcc.lock(ends, u, 'M1', T)), 'coupon_expired');
      assert.equal(await answer(tcc.lock(staleAndEnds, u, 'M2', T)), 'coupon_expired');
      assert.equal(await answer(tcc.confirm(staleAtT, 'L1', T)), 'lock_expired');
      assert.equal(await answer(tcc.lock(staleAtT, u, 'M3', T)), 'ok');
      assert.equal(await answer(tcc.confirm(lockPastEnd, 'L3', T)), 'ok', 'a lock taken in time holds past validTo');
    } finally {
      await close();
    }
    for (const id of Object.keys(expect)) await assertConsistent(s, id, 'edges');
  } finally {
    await short.close();
  }
});

test('a quote weighs the coupons that may be usable first: used and ended ones do not crowd them out', async () => {
  const u = 'crowd';
  const now = Date.now();
  const { tcc, close } = tccOf(s);
  try {
    // Six coupons used, three ended within the week, all ending before the usable one.
    for (let i = 0; i < 6; i++) {
      const id = await seedCoupon(s, { userId: u, validTo: now + 60_000 + i });
      await tcc.lock(id, u, `used${i}`, now);
      await tcc.confirm(id, `used${i}`, now);
    }
    for (let i = 0; i < 3; i++) await seedCoupon(s, { userId: u, validFrom: now - 10 * 86_400_000, validTo: now - 86_400_000 + i });
    const usable = await seedCoupon(s, { userId: u, validTo: now + 86_400_000 });
    const got = await quoteCandidates(s.mysql, s.cfg.mysql, u, now - 7 * 86_400_000, 5, now);
    assert.equal(got.length, 5);
    assert.ok(got.some((c) => c.couponId === usable), `the usable coupon is weighed: ${got.map((c) => `${c.couponId}:${c.status}`).join(' ')}`);
  } finally {
    await close();
  }
});

test('hostile bodies to the checkout routes, a 200-item cart against 520 coupons with 1,000-id scopes: 4xx or 200, never a 500', async () => {
  const env = testEnv({ DB_PREFIX: s.cfg.mysql.dbPrefix, KEY_PREFIX: s.cfg.redis.keyPrefix, QUOTE_MAX_COUPONS: '600' });
  const gw = await spawnGateway(env);
  try {
    const base = gw.url;
    const post = (path: string, body: unknown, h: Record<string, string> = {}) => http('POST', `${base}${path}`, body, h);
    const u = 'hostile-http';
    const products = Array.from({ length: 1_000 }, (_, i) => `p${String(i).padStart(60, '0')}`);
    const wide = await createTemplate(base, { name: 'Wide 1%', type: 'discount', value: 1, totalStock: 10_000, scope: { products }, stackable: true });
    const big = await createTemplate(base, { name: 'Big', type: 'direct', value: 1_000_000_000_000, totalStock: 10_000, stackable: true });
    const twice = await createTemplate(base, { name: 'Over 1000', type: 'threshold', value: 700, threshold: 1000, totalStock: 10 });
    const ids = await Promise.all(Array.from({ length: 520 }, (_, i) => seedCoupon(s, { userId: u, templateId: i % 2 ? wide.id : big.id,
      type: i % 2 ? 'discount' : 'direct', value: i % 2 ? 1 : 9_000_000_000_000 })));
    const item = (i: number) => ({ productId: products[i * 5]!, categoryId: `c${'x'.repeat(63)}`, price: 1_000_000_000, quantity: 10_000 });
    const cart = { userId: u, items: Array.from({ length: 200 }, (_, i) => item(i)) };
    const raw = Buffer.from(JSON.stringify(cart));
    assert.ok(raw.length > 35_000 && raw.length < 64 << 10, `${raw.length} bytes`);
    const started = Date.now();
    const q = await post('/v1/checkout/quote', raw);
    assert.equal(q.status, 200, q.raw.toString().slice(0, 300));
    assert.ok(Date.now() - started < 5_000, `quote took ${Date.now() - started} ms`);
    const total = 200 * 1_000_000_000 * 10_000;
    assert.equal(q.json.usable.length + q.json.unusable.length, 520);
    for (const c of q.json.usable) assert.ok(Number.isSafeInteger(c.discount) && c.discount >= 0 && c.discount <= total, JSON.stringify(c));
    assert.ok(q.json.best.discount <= total && Number.isSafeInteger(q.json.best.discount), JSON.stringify(q.json.best));
    assert.equal(q.json.best.discount, total, 'the stack of large coupons takes the whole cart, no more');

    // The same product on two lines: their sum reaches the threshold.
    const t2 = await seedCoupon(s, { userId: u, templateId: twice.id, type: 'threshold', value: 700, threshold: 1000 });
    const dup = { userId: u, items: [{ productId: 'p', categoryId: 'c', price: 600, quantity: 1 }, { productId: 'p', categoryId: 'c', price: 600, quantity: 1 }] };
    const lk = await post(`/v1/coupons/${t2}/lock`, { userId: u, orderId: 'dup', cart: dup });
    assert.deepEqual([lk.status, lk.json.discount], [200, 700], lk.raw.toString());

    const id = ids[0]!;
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const hostile: [string, string | Buffer, Record<string, string>?][] = [
      ['/v1/checkout/quote', deep(3000)],
      ['/v1/checkout/quote', `{"userId":"${u}","items":${deep(20)}}`],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[{"productId":"p","categoryId":"c","price":1e400,"quantity":1}]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[{"productId":"p","categoryId":"c","price":9007199254740993,"quantity":1}]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[{"productId":"p","categoryId":"c","price":1.5,"quantity":1}]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[{"productId":"p","categoryId":"c","price":1,"quantity":0}]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[{"productId":"p\u00e9","categoryId":"c","price":1,"quantity":1}]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","__proto__":{"items":[]},"items":[]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[{"__proto__":{"price":1},"productId":"p","categoryId":"c","quantity":1}]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","userId":"other\\u0000","items":[]}`],
      ['/v1/checkout/quote', Buffer.from([0x82, 0xa6]), { 'content-type': 'application/msgpack' }],
      ['/v1/checkout/quote', JSON.stringify(cart), { 'content-type': '' }],
      ['/v1/checkout/quote', JSON.stringify(cart), { 'content-type': 'application/json; charset=latin1' }],
      ['/v1/checkout/quote', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[${Array(201).fill('{}').join(',')}]}`],
      ['/v1/checkout/quote', `{"${'k'.repeat(60_000)}":1}`],
      ['/v1/checkout/quote', Buffer.alloc((64 << 10) + 1, 0x20)],
      ['/v1/checkout/quote', 'null'],
      ['/v1/checkout/quote', '"str"'],
      [`/v1/coupons/${id}/lock`, `{"userId":"${u}","orderId":"o","cart":${deep(25)}}`],
      [`/v1/coupons/${id}/lock`, `{"userId":"${u}","orderId":"o","cart":{"userId":"${u}","items":[{"productId":"p","categoryId":"c","price":-0.0001,"quantity":1}]}}`],
      [`/v1/coupons/${id}/lock`, `{"userId":"${u}","orderId":"${'o'.repeat(65)}"}`],
      [`/v1/coupons/${id}/lock`, `{"userId":"${u}","orderId":"o\\u0130"}`],
      [`/v1/coupons/${id}/lock`, `{"userId":["${u}"],"orderId":"o"}`],
      [`/v1/coupons/${id}/lock`, `{"userId":"${u}","orderId":{"toString":"x"}}`],
      [`/v1/coupons/${id}/confirm`, `{"orderId":"o","__proto__":1}`],
      [`/v1/coupons/${id}/confirm`, `{"orderId":12345}`],
      [`/v1/coupons/${id}/cancel`, '{}'],
      [`/v1/coupons/${id}/refund`, '[{"orderId":"o"}]'],
      [`/v1/coupons/${id}%00/confirm`, '{"orderId":"o"}'],
      [`/v1/coupons/${encodeURIComponent('0.0.0.1 OR 1=1')}/cancel`, '{"orderId":"o"}'],
      [`/v1/coupons/${'9'.repeat(5000)}/cancel`, '{"orderId":"o"}'],
      [`/v1/coupons/%F0%9F%92%A9/lock`, `{"userId":"${u}","orderId":"o"}`],
    ];
    const seen = new Set<number>();
    for (const [path, body, headers] of hostile) {
      const r = await post(path, body, headers);
      seen.add(r.status);
      assert.ok([400, 404, 413, 415].includes(r.status), `${path} ${String(body).slice(0, 60)}: ${r.status} ${r.raw.toString().slice(0, 200)}`);
      assert.equal(typeof r.json?.error, 'string', `${path}: ${r.raw.toString().slice(0, 100)}`);
    }
    assert.ok(seen.has(400) && seen.has(404) && seen.has(413) && seen.has(415), [...seen].join(','));
    // Nothing was locked, confirmed or cancelled by the hostile calls; the gateway still answers.
    assert.deepEqual(await couponState(s, id), { status: 'unused', order_id: null });
    assert.deepEqual(await orderRows(s, id), []);
    assert.equal((await http('GET', `${base}/healthz`)).status, 200);
    assert.doesNotMatch(gw.log(), /answered 500/);
  } finally {
    await gw.stop();
  }
});
