/**
 * The reconciler (issue 5, item 2) on the real Redis, MariaDB and sink: it settles reservations
 * a dead gateway left behind, repairs what a Redis restart lost, reports what it must not
 * repair, re-drives dead letters whose template now exists, and runs one instance at a time.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Template } from '../../templates/model.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { homeSubStock, reconcileRunKey, stockKey, usersKey, subStockPartition } from '../../lua/keys.ts';
import { createLog } from '../../sink/log.ts';
import { reconcileCtx } from '../../reconcile/context.ts';
import { Lease } from '../../reconcile/lease.ts';
import { reconcileOnce } from '../../reconcile/reconcile.ts';
import { startSink } from '../../sink/sink.ts';
import { claimRig, type ClaimRig } from '../support/claims.ts';
import { keySpace, layout, waitFor } from '../support/sink-fixtures.ts';
import { openStorage, type Storage, testConfig, testEnv, drained } from '../../tools/harness/storage.ts';
import { userScripts } from '../support/user-scripts.ts';

const env = testEnv({ RECONCILE_PENDING_AGE_MS: '1000', SINK_BATCH_MAX_WAIT_MS: '20' });
let s: Storage;
let rig: ClaimRig;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  s = await openStorage(testConfig(env));
  rig = claimRig(s);
  const sink = await startSink(s.cfg, { log: createLog(() => undefined) });
  cleanup.push(() => sink.stop());
});
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await s?.close();
});

const ks = () => keySpace(s.cfg);
const pass = () => reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));
const scripts = (t: Template, userId: string) => userScripts(s.redis, ks(), layout(s.cfg), t, userId);

/** Two users of `t` whose home is sub-stock 0, and the home emptied so their claims reserve. */
async function reservingUsers(t: Template, n: number): Promise<string[]> {
  const users = Array.from({ length: 200 }, (_, i) => `${t.id}-u${i}`).filter((u) => homeSubStock(t.id, u, 2) === 0).slice(0, n);
  await s.redis.set(stockKey(ks(), t.id, 0), 0);
  return users;
}

test('reservations of a dead gateway: a taken coupon is confirmed, an untaken slot released, a young one left', async () => {
  const t = await rig.template({ totalStock: 10, subStocks: 2, perUserLimit: 1 });
  const [took, nothing, young] = await reservingUsers(t, 3);
  const a = scripts(t, took!);
  const b = scripts(t, nothing!);
  const c = scripts(t, young!);
  assert.equal((await a.claimHome('ra'))[0], ScriptCode.Reserved);
  const [, coupon] = await a.take('ra'); // the gateway died before settling
  assert.equal((await b.claimHome('rb'))[0], ScriptCode.Reserved); // ... and before taking
  await sleep(1100);
  assert.equal((await c.claimHome('rc'))[0], ScriptCode.Reserved);

  const r = await pass();
  assert.equal(r.stalled, undefined);
  assert.deepEqual([r.reservations.found, r.reservations.confirmed, r.reservations.released], [2, 1, 1]);
  assert.deepEqual(await a.users(), { [took!]: '1', [`${took}|ra`]: String(coupon) });
  assert.deepEqual(await b.users(), {});
  assert.deepEqual([await a.pending(), await b.pending(), (await c.pending()).length], [[], [], 1]);
  // The user with a coupon replays it and is at the limit; the released one may claim again.
  const replay = await rig.service.claim({ userId: took!, templateId: t.id, requestId: 'ra' });
  assert.deepEqual([replay.body.couponId, replay.body.replayed], [coupon, true]);
  assert.equal((await rig.service.claim({ userId: nothing!, templateId: t.id, requestId: 'rb2' })).status, 200);
});

test('after a Redis restart that lost issues the sink had stored: users and stock are repaired from MySQL', async () => {
  const t = await rig.template({ totalStock: 20, subStocks: 2, perUserLimit: 1 });
  const users = ['x1', 'x2', 'x3'];
  const issued = await Promise.all(users.map((u) => rig.service.claim({ userId: u, templateId: t.id, requestId: `q-${u}` })));
  await waitFor(() => drained(s), 10_000, 'the sink stored the coupons');
  // No wait: a pass that sees a restart takes its T beyond the clock margin itself (reconcile.ts).
  // As if Redis came back from an AOF written before those claims: its stock and users forget them.
  for (const u of users) {
    const k = homeSubStock(t.id, u, 2);
    await s.redis.incr(stockKey(ks(), t.id, k));
    await s.redis.hdel(usersKey(ks(), subStockPartition(ks(), t.id, k), t.id), u, `${u}|q-${u}`);
  }
  await s.redis.set(reconcileRunKey(ks()), 'a-run-before-the-crash');
  assert.equal((await rig.store.live.stock(t)).issued, 0);

  const r = await pass();
  assert.equal(r.restarted, true);
  assert.ok(r.usersRaised >= 6, `usersRaised ${r.usersRaised}`);
  const f = r.counts.find((x) => x.templateId === t.id)!;
  assert.equal(f.shaved, 3, f.problem);
  assert.deepEqual([f.missingInRedis, f.problem], [3, undefined], 'fully repaired: nothing left for a person');
  assert.equal((await rig.store.live.stock(t)).issued, 3, 'Redis counts them again: they cannot be sold twice');
  for (const [i, u] of users.entries()) {
    const again = await rig.service.claim({ userId: u, templateId: t.id, requestId: `q-${u}` });
    assert.equal(again.body.couponId, issued[i]!.body.couponId, 'the retry replays the stored coupon');
    assert.equal((await rig.service.claim({ userId: u, templateId: t.id })).body.status, 'limit_reached');
  }
  assert.equal((await pass()).restarted, false, 'the repaired run is remembered');
});

test('issues Redis counted but MySQL lacks are reported, never given back; a stock change in flight is left alone', async () => {
  const t = await rig.template({ totalStock: 10, subStocks: 2 });
  await s.redis.decrby(stockKey(ks(), t.id, 1), 2); // two coupons "issued" whose records are gone
  const r = await pass();
  const f = r.counts.find((x) => x.templateId === t.id)!;
  assert.match(f.problem ?? '', /2 coupon\(s\) counted issued by Redis are not in MySQL/);
  assert.deepEqual([f.missingInMysql, f.shaved], [2, 0]);
  assert.equal((await rig.store.live.stock(t)).remaining, 8, 'nothing given back');
});

test('dead letters whose template row appeared are re-driven and stored', async () => {
  const cfg = testConfig({ ...env, KEY_PREFIX: `${env.KEY_PREFIX}d`, DB_PREFIX: `${env.DB_PREFIX}d`, SINK_TEMPLATE_WAIT_MS: '1000',
    SINK_RECLAIM_IDLE_MS: '200', SINK_RECLAIM_EVERY_MS: '100' });
  const st = await openStorage(cfg);
  cleanup.push(() => st.close());
  const sink = await startSink(cfg, { log: createLog(() => undefined) });
  cleanup.push(() => sink.stop());
  const r2 = claimRig(st);
  const t = await r2.template({ totalStock: 5, subStocks: 1 });
  // The row disappears before the sink sees the record: it is dead-lettered after the wait.
  const table = `\`${cfg.mysql.dbPrefix}_main\`.coupon_template`;
  const [[row]] = await st.mysql.main.query(`SELECT * FROM ${table} WHERE id = ?`, [t.id]) as unknown as [Record<string, unknown>[]];
  await st.mysql.main.query(`DELETE FROM ${table} WHERE id = ?`, [t.id]);
  const answer = await r2.service.claim({ userId: 'd1', templateId: t.id, requestId: 'rd' });
  await waitFor(async () => sink.stats().deadLettered === 1, 15_000, 'the record dead-lettered');
  await st.mysql.main.query(`INSERT INTO ${table} SET ?`, [row]);

  const r = await reconcileOnce(reconcileCtx(cfg, st.redis, st.mysql));
  assert.deepEqual([r.deadLetters, r.redriven], [1, 1]);
  await waitFor(async () => {
    const [rows] = await st.mysql.forDb(0).query(`SELECT 1 FROM \`${cfg.mysql.dbPrefix}_${0}\`.user_coupon_0 LIMIT 0`);
    void rows;
    return drained(st);
  }, 10_000, 'the re-driven record stored');
  const listed = await r2.service.claim({ userId: 'd1', templateId: t.id, requestId: 'rd' });
  assert.equal(listed.body.couponId, answer.body.couponId);
});

test('one reconciler at a time: the lease; the CLI refuses while another holds it', async () => {
  const a = new Lease(s.redis, ks(), 'a', 5000);
  const b = new Lease(s.redis, ks(), 'b', 5000);
  assert.deepEqual(await a.take(), { ok: true });
  assert.deepEqual(await b.take(), { ok: false, holder: 'a' });
  const run = promisify(execFile);
  const opts = { cwd: new URL('../..', import.meta.url).pathname, env: { ...process.env, ...env } };
  await assert.rejects(run('npm', ['run', '--silent', 'reconcile'], opts), (e: { code?: number; stderr?: string }) =>
    e.code === 2 && /a holds the reconciler lease/.test(e.stderr ?? ''));
  await a.drop();
  assert.deepEqual(await b.take(), { ok: true });
  await b.drop();
  // Exit 1: the coupons of the test above that Redis counted and MySQL lacks need a person.
  await assert.rejects(run('npm', ['run', '--silent', 'reconcile', '--', '--json'], opts), (e: { code?: number; stdout?: string }) => {
    const report = JSON.parse(e.stdout ?? '{}') as { stalled?: string; attention?: string[] };
    assert.equal(report.stalled, undefined);
    assert.ok(report.attention?.some((line) => /not in MySQL/.test(line)), JSON.stringify(report.attention));
    return e.code === 1;
  });
});
