/**
 * A rebuild and operator stock changes caught half-way (templates/rebuild/stock-changes.ts): a
 * top-up recorded in MySQL is never added a second time by its retry, and stock a reduction
 * took in Redis stays withheld until the reduction is recorded. Either mistake over-issues.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { rebuildDeps, rebuildTemplate } from '../../../templates/rebuild/rebuild.ts';
import { LiveTemplates } from '../../../templates/live.ts';
import type { Template } from '../../../templates/model.ts';
import { StockLedger } from '../../../templates/stock-ledger.ts';
import { changeStock, type StockDeps } from '../../../templates/stock.ts';
import { TemplateStore } from '../../../templates/store.ts';
import { createRedis } from '../../../lua/client.ts';
import { stockKey } from '../../../lua/keys.ts';
import { Commands } from '../../../lua/commands.ts';
import { openMysql } from '../../../core/mysql.ts';
import { deleteKeys, openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import { templateFixture } from '../../../tools/harness/template-fixture.ts';

let s: Storage;
let d: StockDeps;
const cleanup: (() => unknown)[] = [];

before(async () => {
  s = await openStorage(testConfig());
  const ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  const live = new LiveTemplates(s.redis, ks);
  d = { commands: new Commands(s.redis, ks), live, store: new TemplateStore(s.mysql, live, s.cfg.mysql), ledger: new StockLedger(s.mysql, s.cfg.mysql) };
});
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await s?.close();
});

const rebuild = async (t: Template) => {
  const r = await rebuildTemplate(rebuildDeps(s.cfg, s.redis, s.mysql, { drainTimeoutMs: 5000, progress: () => undefined }), t.id);
  assert.equal(r.outcome, 'rebuilt', r.message);
};

/** MySQL total and the sum of the sub-stocks in Redis. */
async function stockOf(t: Template): Promise<{ total: number; remaining: number }> {
  let remaining = 0;
  for (let k = 0; k < t.subStocks; k++) remaining += Number(await s.redis.get(stockKey(d.commands.ks, t.id, k)));
  return { total: (await d.store.get(t.id))!.totalStock, remaining };
}

const template = async () => (await d.store.create(templateFixture({ totalStock: 100, subStocks: 4 }))).template;

test('a top-up whose Redis step failed, then a rebuild: its retry adds nothing more', async () => {
  const t = await template();
  const redis = createRedis({ ...s.cfg.redis, url: 'redis://127.0.0.1:1', clusterNodes: [] }, { offlineQueue: false, name: 'test-broken' });
  redis.on('error', () => undefined);
  cleanup.push(() => redis.disconnect());
  await assert.rejects(changeStock({ ...d, commands: new Commands(redis, d.commands.ks), live: new LiveTemplates(redis, d.commands.ks) }, t.id, 25, 'up-1', Date.now()));
  assert.deepEqual(await stockOf(t), { total: 125, remaining: 100 });
  await rebuild(t);
  assert.deepEqual(await stockOf(t), { total: 125, remaining: 125 }, 'the rebuild counts the recorded top-up');
  await changeStock(d, t.id, 25, 'up-1', Date.now());
  assert.deepEqual(await stockOf(t), { total: 125, remaining: 125 }, 'the retry must not add it again');
});

test('Redis lost everything after a top-up: the rebuilt stock includes it and a late retry adds nothing', async () => {
  const t = await template();
  await changeStock(d, t.id, 30, 'up-2', Date.now());
  await deleteKeys(s.redis, `${s.cfg.redis.keyPrefix}:*`);
  await rebuild(t);
  assert.deepEqual(await stockOf(t), { total: 130, remaining: 130 });
  await changeStock(d, t.id, 30, 'up-2', Date.now());
  assert.deepEqual(await stockOf(t), { total: 130, remaining: 130 });
});

test('a reduction that took from Redis but was not recorded stays withheld through a rebuild', async () => {
  const t = await template();
  const mysql = openMysql({ ...s.cfg.mysql, url: 'mysql://root@127.0.0.1:1' });
  cleanup.push(() => mysql.close());
  await assert.rejects(changeStock({ ...d, store: new TemplateStore(mysql, d.live, s.cfg.mysql) }, t.id, -40, 'down-1', Date.now()));
  assert.deepEqual(await stockOf(t), { total: 100, remaining: 60 });
  await rebuild(t);
  assert.deepEqual(await stockOf(t), { total: 100, remaining: 60 }, 'giving the 40 back would over-issue once the reduction is recorded');
  const retry = await changeStock(d, t.id, -40, 'down-1', Date.now());
  assert.equal(retry.added, -40);
  assert.deepEqual(await stockOf(t), { total: 60, remaining: 60 });
});
