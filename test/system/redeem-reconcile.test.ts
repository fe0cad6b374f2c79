// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * A redemption left half-way by a gateway that died between its steps is settled by the
 * reconciler like any overflow claim (reconcile/reservations.ts), from the record's request id
 * 'code:<number>': after the take, the coupon is confirmed and the code stays its user's; before
 * it, the slot is released, the code stays unused, and a late take of the dead gateway is refused.
 * The steps are the real scripts, called one by one, stopping where a gateway would have died.
 * And after a Redis restart that lost a redemption, or a rebuild, the code's mark comes back from MySQL.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { codeRequestId } from '../../core/ids.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { Commands, type ReservedClaim } from '../../lua/commands.ts';
import { codeMarksKey, homeSubStock, reconcileRunKey, stockKey, subStockPartition, usersKey } from '../../lua/keys.ts';
import { reconcileCtx } from '../../reconcile/context.ts';
import { reconcileOnce } from '../../reconcile/reconcile.ts';
import type { Template } from '../../templates/model.ts';
import { rebuildDeps, rebuildTemplate } from '../../templates/rebuild/rebuild.ts';
import { claimHandler } from '../../gateway/routes/claim.ts';
import { createLog } from '../../sink/log.ts';
import { startSink } from '../../sink/sink.ts';
import { claimRig, type ClaimRig } from '../support/claims.ts';
import { codeRig, type CodeRig, reserveCode } from '../support/codes.ts';
import { keySpace, waitFor } from '../support/sink-fixtures.ts';
import { drained, openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const env = testEnv({ RECONCILE_PENDING_AGE_MS: '1000', SINK_BATCH_MAX_WAIT_MS: '20' });
let s: Storage;
let rig: ClaimRig;
let codes: CodeRig;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  s = await openStorage(testConfig(env));
  rig = claimRig(s);
  codes = codeRig(s, rig.service);
  const sink = await startSink(s.cfg, { log: createLog(() => undefined) });
  cleanup.push(() => sink.stop());
});
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await s?.close();
});

const reserve = (t: Template, userId: string, n: number) => reserveCode(s, t, userId, n);

const take = (c: ReservedClaim, t: Template, n: number) => new Commands(s.redis, keySpace(s.cfg)).codeTake(c, n % t.subStocks, n);
const markOf = (t: Template, n: number) => s.redis.hget(codeMarksKey(keySpace(s.cfg), t.id, n % t.subStocks), String(n));

test('a gateway dead after the take: confirmed, replayed, the code stays used; dead before it: released, the code redeems', async () => {
  const t = await rig.template({ totalStock: 10, subStocks: 2, perUserLimit: 1 });
  const { codes: [taken, untaken], numbers: [n1, n2] } = await codes.codes(t.id, 2);
  const a = await reserve(t, 'ua', n1!);
  const [code, coupon] = await take(a, t, n1!); // ... and the gateway died before settling
  assert.equal(code, ScriptCode.Issued);
  const b = await reserve(t, 'ub', n2!); // ... and died before taking
  // Meanwhile the user's retry waits for its reservation, and answers 503 (outcome unknown).
  const early = await codes.redeem({ userId: 'ua', code: taken });
  assert.deepEqual([early.status, early.body.error], [503, 'unavailable']);
  await sleep(1100);

  const r = await reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));
  assert.deepEqual([r.reservations.found, r.reservations.confirmed, r.reservations.released], [2, 1, 1]);
  const replay = await codes.redeem({ userId: 'ua', code: taken });
  assert.deepEqual([replay.status, replay.body.couponId, replay.body.replayed], [200, String(coupon), true]);
  assert.deepEqual((await codes.redeem({ userId: 'uz', code: taken })).body, { status: 'code_used' });
  assert.equal(await markOf(t, n1!), `ua|${coupon}`);

  // The released one: the dead gateway waking up cannot take; the code is still unused.
  assert.deepEqual(await take(b, t, n2!), [ScriptCode.Released]);
  assert.equal(await markOf(t, n2!), null);
  const fresh = await codes.redeem({ userId: 'ub', code: untaken });
  assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
  assert.equal(await markOf(t, n2!), `ub|${fresh.body.couponId}`);
});

test('after a Redis restart that lost a redemption the sink had stored: the code is marked redeemed again', async () => {
  const t = await rig.template({ totalStock: 10, subStocks: 2, perUserLimit: 1 });
  const { codes: [code], numbers: [n] } = await codes.codes(t.id, 1);
  const first = await codes.redeem({ userId: 'ur', code });
  assert.equal(first.status, 200);
  await waitFor(() => drained(s), 10_000, 'the sink stored the coupon');
  await sleep(600); // beyond the clock margin within which a pass does not trust stamps
  // As if Redis came back from an AOF written before the redemption: stock, user and mark forget it.
  const ks = keySpace(s.cfg);
  const home = homeSubStock(t.id, 'ur', 2);
  await s.redis.incr(stockKey(ks, t.id, n! % 2));
  await s.redis.hdel(usersKey(ks, subStockPartition(ks, t.id, home), t.id), 'ur', `ur|${codeRequestId(n!)}`);
  await s.redis.hdel(codeMarksKey(ks, t.id, n! % 2), String(n));
  await s.redis.set(reconcileRunKey(ks), 'a-run-before-the-crash');

  const r = await reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));
  assert.equal(r.restarted, true);
  assert.equal(await markOf(t, n!), `ur|${first.body.couponId}`);
  assert.deepEqual((await codes.redeem({ userId: 'someone', code })).body, { status: 'code_used' });
  const replay = await codes.redeem({ userId: 'ur', code });
  assert.deepEqual([replay.body.couponId, replay.body.replayed], [first.body.couponId, true]);
});

test('a rebuild of Redis from MySQL writes the marks of redeemed codes back', async () => {
  const t = await rig.template({ totalStock: 10, subStocks: 2, perUserLimit: 1 });
  const { codes: [code, unused], numbers: [n, m] } = await codes.codes(t.id, 2);
  const first = await codes.redeem({ userId: 'rb', code });
  assert.equal(first.status, 200);
  await waitFor(() => drained(s), 10_000, 'the sink stored the coupon');
  await s.redis.hdel(codeMarksKey(keySpace(s.cfg), t.id, n! % 2), String(n)); // lost with Redis
  const report = await rebuildTemplate(rebuildDeps(s.cfg, s.redis, s.mysql, { drainTimeoutMs: 5000, progress: () => undefined }), t.id);
  assert.equal(report.outcome, 'rebuilt', report.message);
  assert.equal(await markOf(t, n!), `rb|${first.body.couponId}`);
  assert.equal(await markOf(t, m!), null);
  assert.deepEqual((await codes.redeem({ userId: 'other', code })).body, { status: 'code_used' });
  assert.equal((await codes.redeem({ userId: 'other', code: unused })).status, 200);
});

test("a plain claim cannot borrow a code's request id: refused, so no repair from MySQL marks that code redeemed", async () => {
  const t = await rig.template({ totalStock: 10, subStocks: 1, perUserLimit: 1 });
  const { codes: [code], numbers: [n] } = await codes.codes(t.id, 1);
  // A code's number is batch x 2^20 + serial: guessable without the code. A claim whose
  // request id is 'code:<n>' would be read back from MySQL as that code's redemption.
  const body = { userId: 'squatter', templateId: t.id, requestId: codeRequestId(n!) };
  const r = await claimHandler(rig.service, [])({ method: 'post', url: '/v1/claim', query: '', params: [], contentType: 'application/json',
    authorization: '', remoteAddress: '', body: Buffer.from(JSON.stringify(body)) });
  assert.deepEqual([r.status, (r.body as Record<string, unknown>).error], [400, 'bad_request']);
  await waitFor(() => drained(s), 10_000, 'the sink stored whatever was issued');
  const report = await rebuildTemplate(rebuildDeps(s.cfg, s.redis, s.mysql, { drainTimeoutMs: 5000, progress: () => undefined }), t.id);
  assert.equal(report.outcome, 'rebuilt', report.message);
  assert.equal(await markOf(t, n!), null, "the code is nobody's");
  assert.equal((await codes.redeem({ userId: 'holder', code })).status, 200);
});
