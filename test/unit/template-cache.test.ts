/** The local template cache: sold-out bookkeeping, bounded misses, versions, shared loads. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSoldOut, markEmpty, TemplateCache } from '../../gateway/cache/template-cache.ts';
import type { Template } from '../../templates/model.ts';
import { templateFixture } from '../../tools/harness/template-fixture.ts';

const tpl = (over: Partial<Template> = {}): Template => templateFixture({ id: 't', totalStock: 3, subStocks: 3, ...over });

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

test('an older version never replaces a newer one; a new version forgets what was seen empty', () => {
  const cache = new TemplateCache(async () => null, 1000, 10);
  const c2 = cache.put(tpl({ version: 2 }));
  markEmpty(c2, 1);
  assert.equal(cache.put(tpl({ version: 1, name: 'old' })).template.name, 'test');
  // The same version again (a periodic reload) keeps the entry and what it learned.
  assert.equal(cache.put(tpl({ version: 2 })), c2);
  // A new version may have refilled sub-stocks (top-up, rebuild): learn emptiness again.
  const c3 = cache.put(tpl({ version: 3, name: 'renamed' }));
  assert.equal(c3.template.name, 'renamed');
  assert.equal(c3.empty[1], 0);
});

test('a notice reloads only an older cached version and forgets a remembered miss', async () => {
  let version = 1;
  let loads = 0;
  const cache = new TemplateCache(async (id) => { loads++; return id === 't' ? tpl({ version }) : null; }, 60_000, 10);
  assert.equal(await cache.get('gone', 0), null);
  await cache.get('t', 0);
  assert.equal(loads, 2);
  assert.ok(await cache.notice('t', 1));
  assert.equal(loads, 2);
  version = 2;
  assert.ok(await cache.notice('t', 2));
  assert.equal((await cache.get('t', 0))!.template.version, 2);
  // A notice for a template this process never loaded costs nothing, but clears its miss.
  assert.ok(await cache.notice('gone', 1));
  assert.equal(loads, 3);
  await cache.get('gone', 0);
  assert.equal(loads, 4);
});
