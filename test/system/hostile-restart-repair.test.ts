/**
 * Hostile cases of the restart fence (lua/fenced.ts) and its repair (reconcile/), on a real
 * gateway, Redis, MariaDB and sink. A Redis restarted from an AOF that lost its last second
 * forgets claims the sink already stored; every case here ends with claims running on it again,
 * and checks that nothing forgotten could be sold twice, pass a limit or change an answer:
 *  - a stock change in flight when the repair pass runs (its template is not compared);
 *  - an operator reduction sent while Redis is restarted and not repaired;
 *  - a template whose claim window ended before the pass (and is reopened later);
 *  - a pass that runs long after the restart (the sink or MySQL was down meanwhile);
 *  - a reduction half-done before the restart (it must not keep claims fenced for ever).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { LiveTemplates } from '../../templates/live.ts';
import { StockLedger } from '../../templates/stock-ledger.ts';
import { changeStock } from '../../templates/stock.ts';
import { TemplateStore } from '../../templates/store.ts';
import { Commands } from '../../lua/commands.ts';
import * as keys from '../../lua/keys.ts';
import { openMysql } from '../../core/mysql.ts';
import { reconcileCtx } from '../../reconcile/context.ts';
import { reconcileOnce } from '../../reconcile/reconcile.ts';
import { shardDbName, shardOfUser, shardTableName } from '../../core/shards.ts';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { type GatewayProc } from '../support/processes.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { type Stack, openStack } from '../support/stack.ts';
import { type Storage, testEnv, drained } from '../../tools/harness/storage.ts';

const env = testEnv({ RECONCILE_PENDING_AGE_MS: '1000', SINK_BATCH_MAX_WAIT_MS: '20', RECONCILE_RESTART_WINDOW_MS: '10000' });
let stack: Stack;
let s: Storage;
let gw: GatewayProc;

before(async () => {
  stack = await openStack(env);
  ({ s, gw } = stack);
});
after(() => stack?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ks = () => ({ prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions });
const pass = () => reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));
const claim = (userId: string, templateId: string, requestId?: string) =>
  http('POST', `${gw.url}/v1/claim`, { userId, templateId, requestId });
const stock = (id: string, add: number, requestId: string) =>
  http('POST', `${gw.url}/v1/admin/templates/${id}/stock`, { add, requestId }, ADMIN);
const template = (id: string, totalStock: number, extra: Record<string, unknown> = {}) =>
  createTemplate(gw.url, { id, name: id, type: 'direct', value: 100, totalStock, perUserLimit: 1, subStocks: 1, ...extra });

/** Coupon ids MySQL holds for the template (every shard table). */
async function storedCoupons(templateId: string, userId?: string): Promise<string[]> {
  const out: string[] = [];
  for (let db = 0; db < s.cfg.mysql.shardDbs; db++) {
    for (let t = 0; t < s.cfg.mysql.shardTables; t++) {
      if (userId !== undefined) {
        const sh = shardOfUser({ dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables }, userId);
        if (sh.db !== db || sh.table !== t) continue;
      }
      const [rows] = await s.mysql.forDb(db).query<RowDataPacket[]>(
        `SELECT coupon_id FROM \`${shardDbName(s.cfg.mysql.dbPrefix, db)}\`.\`${shardTableName(t)}\`
          WHERE template_id = ?${userId !== undefined ? ' AND user_id = ?' : ''}`, [templateId, userId]);
      out.push(...rows.map((r) => String(r.coupon_id)));
    }
  }
  return out;
}

async function totalStock(id: string): Promise<number> {
  const r = await http('GET', `${gw.url}/v1/admin/templates/${id}`, undefined, ADMIN);
  assert.equal(r.status, 200, r.raw.toString());
  return r.json.totalStock;
}

/** Claims `users` of `id`, each once, after the sink stored them and beyond the counts' clock margin. */
async function claimed(id: string, users: readonly string[]): Promise<string[]> {
  const answers = await Promise.all(users.map((u) => claim(u, id, `q-${u}`)));
  for (const a of answers) assert.equal(a.status, 200, a.raw.toString());
  await waitFor(() => drained(s), 10_000, 'the sink stored the coupons');
  await sleep(600);
  return answers.map((a) => a.json.couponId as string);
}

/**
 * Redis comes back from an AOF that missed the claims of `users` on `id` (one sub-stock): a new
 * run, an empty script cache, their decrements and user fields forgotten.
 */
async function restartForgetting(id: string, users: readonly string[]): Promise<void> {
  const p = keys.subStockPartition(ks(), id, 0);
  await s.redis.incrby(keys.stockKey(ks(), id, 0), users.length);
  for (const u of users) await s.redis.hdel(keys.usersKey(ks(), p, id), u, `${u}|q-${u}`);
  await s.redis.set(keys.reconcileRunKey(ks()), 'a-run-before-the-crash');
  await s.redis.script('FLUSH');
}

/** Claims of fresh users until a refusal that is not a 503: how many were issued. */
async function claimAll(id: string, n: number, tag: string): Promise<{ issued: number; statuses: number[] }> {
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => claim(`${tag}${i}`, id, `r-${tag}${i}`)));
  return { issued: answers.filter((a) => a.status === 200).length, statuses: answers.map((a) => a.status) };
}

test('a stock change just recorded when the repair pass runs: claims stay fenced until its template is compared (no over-issue)', async () => {
  const users = ['mv0', 'mv1', 'mv2', 'mv3'];
  await template('moving', 10);
  await claimed('moving', users);
  await restartForgetting('moving', users);
  assert.equal((await claim('mvx', 'moving', 'x')).status, 503, 'fenced');

  // An operator top-up lands right before the reconciler's pass: recorded in MySQL, refused by
  // the fenced Redis (503: retry with its requestId), so it is half-done and just begun.
  const up = await stock('moving', 1, 'up-1');
  assert.equal(up.status, 503, up.raw.toString());
  const r = await pass();
  assert.equal(r.restarted, true);
  const finding = r.counts.find((f) => f.templateId === 'moving');
  // A pass that sees a restart takes T CLOCK_MARGIN_MS later (reconcile.ts), so this top-up
  // began before T: compared with the top-up set aside as in flight. Begun after T, the template
  // is skipped. Either way the fence holds until it was compared:
  assert.ok(finding && (finding.changing === true || finding.problem === undefined), JSON.stringify(finding));

  // Whatever the pass decided, nothing may be issued beyond the total of 11: 4 are issued.
  const a = await claimAll('moving', 20, 'mva');
  await waitFor(() => drained(s), 10_000, 'the sink stored the new coupons');
  const stored = (await storedCoupons('moving')).length;
  assert.ok(stored <= await totalStock('moving'), `OVER-ISSUE: ${stored} coupons stored for a total of ${await totalStock('moving')}`);

  // And the fence does not stay shut: the next pass compares, repairs and lets claims run; the
  // top-up's retry completes it.
  await sleep(600);
  await pass();
  assert.equal((await stock('moving', 1, 'up-1')).status, 200);
  const b = await claimAll('moving', 20, 'mvb');
  await waitFor(() => drained(s), 10_000, 'the sink stored the new coupons');
  assert.equal(a.issued + b.issued, 7, 'exactly what was left of the total');
  assert.equal((await storedCoupons('moving')).length, 11);
});

test('an operator reduction on a restarted Redis not yet repaired never lowers the total below what is issued', async () => {
  const users = ['rd0', 'rd1', 'rd2', 'rd3'];
  await template('reduce', 10);
  await claimed('reduce', users);
  await restartForgetting('reduce', users);
  // "Stop the campaign": take all that is left. Redis believes 10 are left; 6 are.
  // Stock changes are fenced like claims: refused (503, retry with the requestId), nothing taken.
  const r = await stock('reduce', -10, 'end-1');
  assert.equal(r.status, 503, r.raw.toString());
  await pass();
  // Begun before the pass's T (taken CLOCK_MARGIN_MS after it saw the restart): compared with the
  // reduction set aside, and the retry completes it with what is really left; begun after T: fenced.
  const early = await stock('reduce', -10, 'end-1');
  assert.ok(early.status === 503 || (early.status === 200 && early.json.added === -6), early.raw.toString());
  await sleep(600);
  await pass();
  // Repaired: the retry takes what is really left.
  const retry = await stock('reduce', -10, 'end-1');
  assert.deepEqual([retry.status, retry.json.added], [200, -6], retry.raw.toString());
  assert.equal((await claim('rdx', 'reduce', 'x')).json.status, 'sold_out', 'repaired');
  const total = await totalStock('reduce');
  assert.equal((await storedCoupons('reduce')).length, 4);
  assert.ok(total >= 4, `the total was lowered to ${total} below the 4 coupons issued (reduction answered ${r.status}: ${r.raw})`);
});

test('a template whose claim window ended before the repair pass is repaired too: replays answer the coupon, a reopened window neither passes the limit nor over-issues', async () => {
  const users = ['en0', 'en1', 'en2'];
  const end = Date.now() + 3_000;
  await template('ended', 5, { claimEnd: new Date(end).toISOString() });
  const coupons = await claimed('ended', users);
  await sleep(Math.max(0, end - Date.now()) + 100);
  await restartForgetting('ended', users);
  await pass();

  // A retry of an issued claim gets its coupon, whatever the window says (idempotency).
  for (const [i, u] of users.entries()) {
    const replay = await claim(u, 'ended', `q-${u}`);
    assert.deepEqual([replay.status, replay.json.couponId], [200, coupons[i]], `replay of ${u}: ${replay.raw}`);
  }
  // The operator extends the campaign.
  const p = await http('PATCH', `${gw.url}/v1/admin/templates/ended`, { claimEnd: new Date(Date.now() + 3_600_000).toISOString() }, ADMIN);
  assert.equal(p.status, 200, p.raw.toString());
  await waitFor(async () => (await claim('en-probe', 'ended', 'probe')).status === 200, 5_000, 'the new window');
  for (const u of users) assert.equal((await claim(u, 'ended', `again-${u}`)).json.status, 'limit_reached', `${u} is at the limit`);
  await claimAll('ended', 10, 'ena');
  await waitFor(() => drained(s), 10_000, 'the sink stored the new coupons');
  const stored = await storedCoupons('ended');
  assert.ok(stored.length <= 5, `OVER-ISSUE: ${stored.length} coupons stored for a total of 5`);
  for (const u of users) assert.equal((await storedCoupons('ended', u)).length, 1, `${u} holds one coupon`);
});

test('a repair pass that runs long after the restart (sink or MySQL down meanwhile) still restores the users the restart forgot', async () => {
  const users = ['lt0', 'lt1'];
  await template('late', 5);
  const coupons = await claimed('late', users);
  await restartForgetting('late', users);
  // The pass runs longer than RECONCILE_RESTART_WINDOW_MS (10 s here) after the crash: the sink
  // (or MySQL) was down meanwhile, and claims were fenced all along.
  await sleep(10_500);
  const r = await pass();
  assert.equal(r.restarted, true);
  for (const [i, u] of users.entries()) {
    const replay = await claim(u, 'late', `q-${u}`);
    assert.deepEqual([replay.status, replay.json.couponId], [200, coupons[i]], `replay of ${u}: ${replay.raw}`);
    assert.equal((await claim(u, 'late', `again-${u}`)).json.status, 'limit_reached', `${u} is at the limit`);
  }
  await waitFor(() => drained(s), 10_000, 'the sink stored everything');
  for (const u of users) assert.equal((await storedCoupons('late', u)).length, 1, `${u} holds one coupon`);
});

test('a reduction half-done before the restart does not keep the fence shut: the pass sets what it took aside, its retry finishes it', async () => {
  const users = ['hd0', 'hd1', 'hd2', 'hd3'];
  await template('halfdone', 10);
  await claimed('halfdone', users);
  // The reduction took 3 from Redis; its MySQL step failed (a server that is not there).
  const ks2 = ks();
  const live = new LiveTemplates(s.redis, ks2);
  const broken = openMysql({ ...s.cfg.mysql, url: 'mysql://root@127.0.0.1:1' });
  stack.cleanup.push(() => broken.close());
  const deps = { commands: new Commands(s.redis, ks2), live,
    store: new TemplateStore(broken, live, s.cfg.mysql), ledger: new StockLedger(s.mysql, s.cfg.mysql) };
  await assert.rejects(changeStock(deps, 'halfdone', -3, 'cut-3', Date.now()), /retry with requestId cut-3/);
  await sleep(600); // it began before the pass's clock margin: half-done, not just begun
  await restartForgetting('halfdone', users);

  const r = await pass();
  const f = r.counts.find((x) => x.templateId === 'halfdone')!;
  assert.deepEqual([f.changing, f.shaved], [undefined, 4], 'compared, with the 3 taken set aside');
  assert.equal((await claim('hdx', 'halfdone', 'x')).status, 200, 'the fence is open');
  const retry = await stock('halfdone', -3, 'cut-3');
  assert.deepEqual([retry.status, retry.json.added, retry.json.template.totalStock], [200, -3, 7], retry.raw.toString());
  const more = await claimAll('halfdone', 10, 'hdm');
  await waitFor(() => drained(s), 10_000, 'the sink stored the new coupons');
  assert.equal(more.issued, 2, 'what was left: 7 - 4 - 1');
  assert.equal((await storedCoupons('halfdone')).length, 7);
});
