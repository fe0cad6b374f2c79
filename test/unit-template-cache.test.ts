/** The local template cache: sold-out bookkeeping, bounded misses, versions, shared loads. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSoldOut, markEmpty, TemplateCache } from '../gateway/templates/cache.ts';
import type { Template } from '../gateway/templates/model.ts';

const tpl = (over: Partial<Template> = {}): Template => ({
  id: 't', name: 'n', type: 'direct', value: 1, threshold: null, maxDiscount: null, totalStock: 3,
  perUserLimit: 1, subStocks: 3, claimStart: null, claimEnd: null, validDays: 30, status: 'active',
  version: 1, createdAt: 0, ...over,
});

test('sold out only when every sub-stock was seen empty; repeats do not count twice', () => {
  const c = new TemplateCache(async () => null, 1000, 10).put(tpl());
  markEmpty(c, 0);
  markEmpty(c, 0);
  markEmpty(c, 2);
  assert.equal(isSoldOut(c), false);
  markEmpty(c, 1);
  assert.ok(isSoldOut(c));
});

test('concurrent misses share one load; a hit needs no load', async () => {
  let loads = 0;
  const cache = new TemplateCache(async (id) => { loads++; await new Promise((r) => setTimeout(r, 10)); return tpl({ id }); }, 1000, 10);
  const got = await Promise.all(Array.from({ length: 20 }, () => cache.get('x', 0)));
  assert.equal(loads, 1);
  assert.ok(got.every((g) => g === got[0]));
  await cache.get('x', 0);
  assert.equal(loads, 1);
});

test('misses are remembered for the TTL, and their number is bounded', async () => {
  let loads = 0;
  const cache = new TemplateCache(async () => { loads++; return null; }, 1000, 5);
  assert.equal(await cache.get('a', 0), null);
  assert.equal(await cache.get('a', 500), null);
  assert.equal(loads, 1);
  assert.equal(await cache.get('a', 1500), null);
  assert.equal(loads, 2);
  for (let i = 0; i < 100; i++) await cache.get(`rand${i}`, 2000);
  // 'a' was pushed out by newer misses: asking again loads again.
  await cache.get('a', 2000);
  assert.equal(loads, 2 + 100 + 1);
});

test('an older version never replaces a newer one; a new version keeps what is known empty', () => {
  const cache = new TemplateCache(async () => null, 1000, 10);
  const c2 = cache.put(tpl({ version: 2 }));
  markEmpty(c2, 1);
  assert.equal(cache.put(tpl({ version: 1, name: 'old' })).template.name, 'n');
  const c3 = cache.put(tpl({ version: 3, name: 'renamed' }));
  assert.equal(c3.template.name, 'renamed');
  assert.equal(c3.empty[1], 1);
});
