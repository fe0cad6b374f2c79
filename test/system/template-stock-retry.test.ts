// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * Stock changes are idempotent per request id and survive a failure of any single step: the
 * same request applies once (also sent several times at once), a retry completes a change that
 * failed after MySQL (top-up) or after Redis (reduction), and a reused or expired request id is
 * refused. Storage is real; a failing step is a client of a closed port.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RowDataPacket } from 'mysql2/promise';
import { loadConfigWith } from '../../config/index.ts';
import { ApiError } from '../../core/errors.ts';
import { LiveTemplates } from '../../templates/live.ts';
import { subStockShare, type Template } from '../../templates/model.ts';
import { StockLedger } from '../../templates/stock-ledger.ts';
import { changeStock, RECORD_KEEP_MS, type StockDeps } from '../../templates/stock.ts';
import { TemplateStore } from '../../templates/store.ts';
import { createRedis } from '../../lua/client.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { stockChangesAtKey, stockChangesKey, stockKey } from '../../lua/keys.ts';
import { Commands } from '../../lua/commands.ts';
import { openMysql } from '../../core/mysql.ts';
import { mainDbName } from '../../core/shards.ts';
import { ADMIN, http } from '../support/http.ts';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';
import { templateFixture } from '../../tools/harness/template-fixture.ts';

const env = testEnv();
let s: Storage;
let d: StockDeps;
const cleanup: (() => unknown)[] = [];

/** Stock deps wired as the gateway wires them, on a storage. */
function depsOf(st: Storage): StockDeps {
  const ks = { prefix: st.cfg.redis.keyPrefix, partitions: st.cfg.redis.partitions };
  const live = new LiveTemplates(st.redis, ks);
  return { commands: new Commands(st.redis, ks), live, store: new TemplateStore(st.mysql, live, st.cfg.mysql), ledger: new StockLedger(st.mysql, st.cfg.mysql) };
}

before(async () => {
  s = await openStorage(testConfig(env));
  d = depsOf(s);
});
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await s?.close();
});

async function template(over: Partial<Template>): Promise<Template> {
  return (await d.store.create(templateFixture(over))).template;
}

/** MySQL total and the sum of the sub-stocks in Redis. */
async function stockOf(st: Storage, deps: StockDeps, t: Template): Promise<{ total: number; remaining: number }> {
  const cur = await deps.store.get(t.id);
  let remaining = 0;
  for (let k = 0; k < t.subStocks; k++) remaining += Number(await st.redis.get(stockKey(deps.commands.ks, t.id, k)));
  return { total: cur!.totalStock, remaining };
}

/** A Redis client of a closed port: every command fails at once, as in an outage. */
function brokenRedis() {
  const redis = createRedis({ ...s.cfg.redis, url: 'redis://127.0.0.1:1', clusterNodes: [] }, { offlineQueue: false, name: 'test-broken' });
  redis.on('error', () => undefined);
  cleanup.push(() => redis.disconnect());
  return redis;
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

test('the same request id applies once, in both directions, also when sent at once', async () => {
  const t = await template({ totalStock: 100, subStocks: 4 });
  const first = await changeStock(d, t.id, 40, 'up-1', Date.now());
  const again = await changeStock(d, t.id, 40, 'up-1', Date.now());
  assert.deepEqual([first.added, first.replayed, again.added, again.replayed], [40, false, 40, true]);
  assert.deepEqual(await stockOf(s, d, t), { total: 140, remaining: 140 });

  const burst = await Promise.all(Array.from({ length: 5 }, () => changeStock(d, t.id, 10, 'up-burst', Date.now())));
  assert.equal(burst.filter((r) => !r.replayed).length, 1);
  assert.deepEqual(await stockOf(s, d, t), { total: 150, remaining: 150 });

  const down = await changeStock(d, t.id, -30, 'down-1', Date.now());
  const downAgain = await changeStock(d, t.id, -30, 'down-1', Date.now());
  assert.deepEqual([down.added, down.replayed, downAgain.added, downAgain.replayed], [-30, false, -30, true]);
  assert.deepEqual(await stockOf(s, d, t), { total: 120, remaining: 120 });

  const downBurst = await Promise.all(Array.from({ length: 4 }, () => changeStock(d, t.id, -7, 'down-burst', Date.now())));
  assert.ok(downBurst.every((r) => r.added === -7));
  assert.deepEqual(await stockOf(s, d, t), { total: 113, remaining: 113 });
  assert.equal(downBurst.at(-1)!.stock.total, 113);
});

test('a top-up whose Redis step failed after MySQL committed is completed by its retry, once', async () => {
  const t = await template({ totalStock: 100, subStocks: 4 });
  const redis = brokenRedis();
  const broken = { ...d, commands: new Commands(redis, d.commands.ks), live: new LiveTemplates(redis, d.commands.ks) };
  await rejectsWith(changeStock(broken, t.id, 25, 'up-lost', Date.now()), 'unavailable', /retry with requestId up-lost/);
  // MySQL first: the total is raised, Redis cannot issue any of it yet (never more than MySQL).
  assert.deepEqual(await stockOf(s, d, t), { total: 125, remaining: 100 });
  const retry = await changeStock(d, t.id, 25, 'up-lost', Date.now());
  assert.deepEqual([retry.added, retry.replayed], [25, true]);
  assert.deepEqual(await stockOf(s, d, t), { total: 125, remaining: 125 });
  await changeStock(d, t.id, 25, 'up-lost', Date.now());
  assert.deepEqual(await stockOf(s, d, t), { total: 125, remaining: 125 });

  // A crash after the first sub-stock only: the retry adds the rest, not that one again.
  await rejectsWith(changeStock(broken, t.id, 14, 'up-half', Date.now()), 'unavailable');
  const share0 = subStockShare(14, 4, 0);
  await d.commands.stockChange(t.id, 0, 'up-half', share0, RECORD_KEEP_MS);
  assert.deepEqual(await stockOf(s, d, t), { total: 139, remaining: 125 + share0 });
  await changeStock(d, t.id, 14, 'up-half', Date.now());
  assert.deepEqual(await stockOf(s, d, t), { total: 139, remaining: 139 });
});

test('a reduction whose MySQL step failed after Redis is completed by its retry, once', async () => {
  const t = await template({ totalStock: 100, subStocks: 4 });
  const mysql = openMysql({ ...s.cfg.mysql, url: 'mysql://root@127.0.0.1:1' });
  cleanup.push(() => mysql.close());
  const broken = { ...d, store: new TemplateStore(mysql, d.live, s.cfg.mysql) };
  await rejectsWith(changeStock(broken, t.id, -40, 'down-lost', Date.now()), 'unavailable', /retry with requestId down-lost/);
  // Redis first: the stock is withheld from claims, MySQL still has the old total.
  assert.deepEqual(await stockOf(s, d, t), { total: 100, remaining: 60 });
  const retry = await changeStock(d, t.id, -40, 'down-lost', Date.now());
  assert.deepEqual([retry.added, retry.replayed], [-40, false]);
  assert.deepEqual(await stockOf(s, d, t), { total: 60, remaining: 60 });
  const again = await changeStock(d, t.id, -40, 'down-lost', Date.now());
  assert.deepEqual([again.added, again.replayed], [-40, true]);
  assert.deepEqual(await stockOf(s, d, t), { total: 60, remaining: 60 });
});

test('a request id reused for another change is refused; a top-up retried too late is refused', async () => {
  const t = await template({ totalStock: 100, subStocks: 2 });
  await changeStock(d, t.id, 10, 'r-up', Date.now());
  await changeStock(d, t.id, -10, 'r-down', Date.now());
  await rejectsWith(changeStock(d, t.id, 11, 'r-up', Date.now()), 'request_conflict', /add 10/);
  await rejectsWith(changeStock(d, t.id, -10, 'r-up', Date.now()), 'request_conflict');
  await rejectsWith(changeStock(d, t.id, 10, 'r-down', Date.now()), 'request_conflict');
  await rejectsWith(changeStock(d, t.id, -5, 'r-down', Date.now()), 'request_conflict');
  assert.deepEqual(await stockOf(s, d, t), { total: 100, remaining: 100 });

  // Its Redis records may have expired: whether it completed can no longer be told.
  await s.mysql.main.query(`UPDATE \`${mainDbName(s.cfg.mysql.dbPrefix)}\`.coupon_stock_change
    SET created_at = ? WHERE template_id = ? AND request_id = 'r-up'`, [new Date(Date.now() - 30 * 24 * 3600 * 1000), t.id]);
  await rejectsWith(changeStock(d, t.id, 10, 'r-up', Date.now()), 'request_expired');
  assert.deepEqual(await stockOf(s, d, t), { total: 100, remaining: 100 });
});

test('the sub-stock script forgets requests older than the keep time, and only those', async () => {
  const t = await template({ totalStock: 10, subStocks: 1 });
  const ks = d.commands.ks;
  const keys = [stockKey(ks, t.id, 0), stockChangesKey(ks, t.id, 0), stockChangesAtKey(ks, t.id, 0)] as const;
  assert.deepEqual(await d.commands.stockChange(t.id, 0, 'old', 5, RECORD_KEEP_MS), [ScriptCode.StockChanged, 5]);
  assert.deepEqual(await d.commands.stockChange(t.id, 0, 'old', 5, RECORD_KEEP_MS), [ScriptCode.StockChangeKnown, 5]);
  assert.deepEqual(await d.commands.stockChange(t.id, 0, 'take', -100, RECORD_KEEP_MS), [ScriptCode.StockChanged, -15]);
  await sleep(20);
  // A new request with a keep time of 10 ms forgets both older ones, and records itself.
  assert.deepEqual(await d.commands.stockChange(t.id, 0, 'new', 2, 10), [ScriptCode.StockChanged, 2]);
  assert.deepEqual(await s.redis.hgetall(keys[1]), { new: '2' });
  assert.deepEqual(await s.redis.zrange(keys[2], '0', '-1'), ['new']);
  assert.equal(await s.redis.get(keys[0]), '2');
});

test('a retried top-up re-opens a gateway that had seen its new version sold out', async () => {
  const gw: GatewayProc = await spawnGateway(env);
  cleanup.push(() => gw.stop());
  const t = await template({ totalStock: 2, subStocks: 1 });
  for (const u of ['a', 'b']) assert.equal((await http('POST', `${gw.url}/v1/claim`, { userId: u, templateId: t.id })).status, 200);
  const redis = brokenRedis();
  await rejectsWith(changeStock({ ...d, commands: new Commands(redis, d.commands.ks), live: new LiveTemplates(redis, d.commands.ks) }, t.id, 5, 'up-seen', Date.now()), 'unavailable');
  // Another change publishes the raised total before the top-up reached Redis: the gateway
  // takes that version, finds the sub-stock empty and remembers it sold out.
  const patch = await http('PATCH', `${gw.url}/v1/admin/templates/${t.id}`, { name: 'renamed' }, ADMIN);
  assert.equal(patch.status, 200, patch.raw.toString());
  assert.equal((await http('POST', `${gw.url}/v1/claim`, { userId: 'c', templateId: t.id })).status, 410);
  assert.equal((await http('POST', `${gw.url}/v1/claim`, { userId: 'd', templateId: t.id })).status, 410);

  await changeStock(d, t.id, 5, 'up-seen', Date.now());
  await waitFor(async () => (await http('POST', `${gw.url}/v1/claim`, { userId: 'e', templateId: t.id })).status === 200,
    1000, 'the gateway to re-open the template');
});

test('top-ups and reductions run on Redis Cluster (sub-stocks on several nodes)', async () => {
  const nodes = loadConfigWith({}).test.clusterNodes;
  assert.ok(nodes.length >= 3, 'TEST_REDIS_CLUSTER_NODES is not set: run through `make test`, which starts the cluster');
  const cs = await openStorage(testConfig({ REDIS_CLUSTER_NODES: nodes.join(',') }));
  cleanup.push(() => cs.close());
  const cd = depsOf(cs);
  const t = (await cd.store.create(templateFixture({ totalStock: 80, subStocks: 8 }))).template;
  await changeStock(cd, t.id, 37, 'c-up', Date.now());
  await changeStock(cd, t.id, 37, 'c-up', Date.now());
  const down = await changeStock(cd, t.id, -100, 'c-down', Date.now());
  assert.equal(down.added, -100);
  assert.deepEqual(await stockOf(cs, cd, t), { total: 17, remaining: 17 });
  const [rows] = await cs.mysql.main.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n FROM \`${mainDbName(cs.cfg.mysql.dbPrefix)}\`.coupon_stock_change WHERE template_id = ?`, [t.id]);
  assert.equal(Number(rows[0]!.n), 2);
});
