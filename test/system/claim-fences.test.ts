/**
 * The two windows the reconciler used to leave open (issue 9, item 4), on real gateway
 * processes, Redis, MariaDB and sink:
 *  - a Redis that restarted and lost its last claims: no claim runs on it until the reconciler
 *    has repaired users and stock from MySQL (lua/fenced.ts), and then every answer is right;
 *  - a gateway frozen between reserve and take while the reconciler releases its slot: when it
 *    wakes up, its take is refused, so the user never holds more than the limit.
 * And tenants sharing one Redis: each key space's fence is its own.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import * as keys from '../../lua/keys.ts';
import { reconcileCtx } from '../../reconcile/context.ts';
import { reconcileOnce } from '../../reconcile/reconcile.ts';
import { shardDbName, shardOfUser, shardTableName } from '../../core/shards.ts';
import { type CuttingProxy, startCuttingProxy } from '../../tools/harness/cutting-proxy.ts';
import { claimRig } from '../support/claims.ts';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { type Stack, openStack } from '../support/stack.ts';
import { openStorage, type Storage, testConfig, testEnv, drained } from '../../tools/harness/storage.ts';

const env = testEnv({ RECONCILE_PENDING_AGE_MS: '1000', SINK_BATCH_MAX_WAIT_MS: '20' });
let stack: Stack;
let s: Storage;
let gw: GatewayProc;

before(async () => {
  stack = await openStack(env);
  ({ s, gw } = stack);
});
after(() => stack?.close());

const ks = () => ({ prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions });
const pass = () => reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));
const claim = (g: GatewayProc, userId: string, templateId: string, requestId?: string) =>
  http('POST', `${g.url}/v1/claim`, { userId, templateId, requestId });
const template = (id: string, totalStock: number, subStocks: number) =>
  createTemplate(gw.url, { id, name: id, type: 'direct', value: 100, totalStock, perUserLimit: 1, subStocks });

/** Coupon ids MySQL holds for the user and template. */
async function storedCoupons(userId: string, templateId: string): Promise<string[]> {
  const sh = shardOfUser({ dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables }, userId);
  const [rows] = await s.mysql.forDb(sh.db).query<RowDataPacket[]>(
    `SELECT coupon_id FROM \`${shardDbName(s.cfg.mysql.dbPrefix, sh.db)}\`.\`${shardTableName(sh.table)}\`
      WHERE user_id = ? AND template_id = ?`, [userId, templateId]);
  return rows.map((r) => String(r.coupon_id));
}

/** Issued + remaining from the admin view; MySQL's total. */
async function stockView(id: string): Promise<{ total: number; issued: number; remaining: number }> {
  const r = await http('GET', `${gw.url}/v1/admin/templates/${id}`, undefined, ADMIN);
  return r.json.stock;
}

test('after a Redis restart that lost claims, no claim runs until the reconciler repaired it; then limits, replays and stock are right', async () => {
  await template('restart', 50, 2);
  const users = ['ra', 'rb', 'rc'];
  const first = await Promise.all(users.map((u) => claim(gw, u, 'restart', `q-${u}`)));
  assert.ok(first.every((a) => a.status === 200));
  await waitFor(() => drained(s), 10_000, 'the sink stored the coupons');
  await new Promise((r) => setTimeout(r, 600)); // beyond the clock margin of the counts step

  // Redis comes back from an AOF that missed those claims: a new run (the recorded one is not
  // it), an empty script cache, and users and stock that forget them.
  for (const u of users) {
    const k = keys.homeSubStock('restart', u, 2);
    const p = keys.subStockPartition(ks(), 'restart', k);
    await s.redis.incr(keys.stockKey(ks(), 'restart', k));
    await s.redis.hdel(keys.usersKey(ks(), p, 'restart'), u, `${u}|q-${u}`);
  }
  await s.redis.set(keys.reconcileRunKey(ks()), 'a-run-before-the-crash');
  await s.redis.script('FLUSH');

  // Fenced: a second coupon for a user at the limit, or a new coupon for a replay, would be
  // wrong; every claim is a 503 that names the reason, and nothing is issued.
  for (const u of users) {
    const again = await claim(gw, u, 'restart', `new-${u}`);
    assert.equal(again.status, 503, again.raw.toString());
    assert.match(again.json.message, /Redis restarted/);
    assert.equal((await claim(gw, u, 'restart', `q-${u}`)).status, 503);
  }
  assert.equal((await claim(gw, 'fresh', 'restart')).status, 503);
  assert.equal((await stockView('restart')).issued, 0, 'Redis still forgets them: no claim has run');

  const started = performance.now();
  const r = await pass();
  assert.equal(r.restarted, true);
  // Claims resume on their own, on the gateway that was fenced.
  await waitFor(async () => (await claim(gw, 'fresh', 'restart', 'fresh-1')).status === 200, 5_000, 'claims to resume');
  const fencedMs = performance.now() - started;
  for (const [i, u] of users.entries()) {
    const replay = await claim(gw, u, 'restart', `q-${u}`);
    assert.deepEqual([replay.status, replay.json.couponId, replay.json.replayed], [200, first[i]!.json.couponId, true]);
    assert.equal((await claim(gw, u, 'restart', `new-${u}`)).json.status, 'limit_reached');
  }
  assert.deepEqual(await stockView('restart'), { total: 50, issued: 4, remaining: 46 });
  await waitFor(() => drained(s), 10_000, 'the sink stored the new coupon');
  for (const u of users) assert.equal((await storedCoupons(u, 'restart')).length, 1, `${u} holds one coupon`);
  console.log(`restart fence: claims resumed ${fencedMs.toFixed(0)} ms after the reconciler pass began`);
});

test('a gateway frozen between reserve and take: the reconciler releases its slot, and the late take is refused', async () => {
  await template('frozen', 20, 2);
  // A user whose home sub-stock is empty: the claim reserves, then takes from the other one.
  const user = Array.from({ length: 50 }, (_, i) => `z${i}`).find((u) => keys.homeSubStock('frozen', u, 2) === 0)!;
  await s.redis.set(keys.stockKey(ks(), 'frozen', 0), 0);
  const proxy: CuttingProxy = await startCuttingProxy('127.0.0.1', Number(new URL(s.cfg.redis.url).port));
  stack.cleanup.push(() => proxy.close());
  const zombie = await spawnGateway({ ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
  stack.cleanup.push(() => zombie.stop('SIGKILL'));
  // claim-home's RESERVED reply ({4, token}) passes; the take behind it is held, and the
  // gateway is frozen before it can time out: a process stopped between its two steps.
  proxy.hangAfterReply(/\*[12]\r\n:4\r\n/, () => zombie.child.kill('SIGSTOP'));
  const late = claim(zombie, user, 'frozen', 'slow-1');
  await waitFor(async () => (await s.redis.zcard(keys.pendingKey(ks(), keys.subStockPartition(ks(), 'frozen', 0)))) === 1,
    5_000, 'the reservation');
  await new Promise((r) => setTimeout(r, 1_100)); // older than RECONCILE_PENDING_AGE_MS

  const r = await pass();
  assert.deepEqual([r.reservations.found, r.reservations.confirmed, r.reservations.released], [1, 0, 1]);
  // The released user claims again, elsewhere, and gets the one coupon the limit allows.
  const fair = await claim(gw, user, 'frozen', 'fair-1');
  assert.equal(fair.status, 200, fair.raw.toString());

  // The frozen gateway wakes up and its take reaches Redis at last.
  zombie.child.kill('SIGCONT');
  proxy.setHung(false);
  const answer = await late;
  assert.notEqual(answer.status, 200, `the late claim must not get a coupon: ${answer.raw}`);
  await waitFor(() => drained(s), 10_000, 'the sink stored everything');
  assert.deepEqual(await storedCoupons(user, 'frozen'), [fair.json.couponId], 'one coupon, the fair one');
  assert.deepEqual(await stockView('frozen'), { total: 20, issued: 11, remaining: 9 });
  const users = await s.redis.hgetall(keys.usersKey(ks(), keys.subStockPartition(ks(), 'frozen', 0), 'frozen'));
  assert.deepEqual(users, { [user]: '1', [`${user}|fair-1`]: fair.json.couponId });
  // Its retry is a fresh claim: the user is at the limit.
  assert.equal((await claim(gw, user, 'frozen', 'slow-1')).json.status, 'limit_reached');
});

test('tenants sharing a Redis: one key space repaired does not open the fence of another', async () => {
  const other = await openStorage(testConfig(testEnv()));
  stack.cleanup.push(() => other.close());
  const rigs = [claimRig(s), claimRig(other)];
  const [a, b] = await Promise.all(rigs.map((r) => r.template({ totalStock: 10, subStocks: 1 })));
  // Both key spaces' Redis "restarted"; only the first one's reconciler has repaired it so far.
  await other.redis.set(keys.reconcileRunKey({ prefix: other.cfg.redis.keyPrefix, partitions: 16 }), 'a-run-before-the-crash');
  await s.redis.script('FLUSH');
  assert.equal((await rigs[0]!.service.claim({ userId: 'ta', templateId: a!.id })).status, 200, 'the repaired key space claims');
  await assert.rejects(rigs[1]!.service.claim({ userId: 'tb', templateId: b!.id }), /Redis restarted/,
    "the other's claim scripts are its own: still fenced");
});
