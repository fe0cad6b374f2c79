/**
 * A redemption whose code's sub-stock is empty holds the code while it takes from another
 * sub-stock (lua/code-take-6.lua, code-bind-2.lua). A gateway that dies after the hold (before
 * the take), after the take (before the bind) or after the bind (before the settle) leaves the
 * reconciler to end it from MySQL (reconcile/reservations.ts, code-holds.ts): each code ends
 * bound to the coupon MySQL holds for it, or free, never both nor twice; a hold whose
 * reservation is gone is resolved the same way; a hold lost in a Redis restart is put back
 * before claims run again, and a hold whose bind was lost gives way to the mark MySQL shows, as
 * it does in a rebuild. The steps are the real scripts, called one by one, stopping where a
 * gateway would have died.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { codeRequestId } from '../../core/ids.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { Commands, type ReservedClaim } from '../../lua/commands.ts';
import {
  codeHoldsKey, codeMarksKey, pendingKey, reconcileRunKey, stockKey, subStockPartition, usersKey,
} from '../../lua/keys.ts';
import { reconcileCtx } from '../../reconcile/context.ts';
import { reconcileOnce } from '../../reconcile/reconcile.ts';
import type { Template } from '../../templates/model.ts';
import { rebuildDeps, rebuildTemplate } from '../../templates/rebuild/rebuild.ts';
import { createLog } from '../../sink/log.ts';
import { startSink } from '../../sink/sink.ts';
import type { Told } from '../../tools/verify/oracle.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../support/claims.ts';
import { codeRig, type CodeRig, reserveCode } from '../support/codes.ts';
import { keySpace, waitFor } from '../support/sink-fixtures.ts';
import { drained, openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const env = testEnv({ RECONCILE_PENDING_AGE_MS: '1000', SINK_BATCH_MAX_WAIT_MS: '20' });
let s: Storage;
let rig: ClaimRig;
let codes: CodeRig;
let commands: Commands;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  s = await openStorage(testConfig(env));
  rig = claimRig(s);
  codes = codeRig(s, rig.service);
  commands = new Commands(s.redis, keySpace(s.cfg));
  const sink = await startSink(s.cfg, { log: createLog(() => undefined) });
  cleanup.push(() => sink.stop());
});
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await s?.close();
});

const reserve = (t: Template, userId: string, n: number) => reserveCode(s, t, userId, n);

/** Code-take of code n for reservation c: HELD expected (its sub-stock is empty). */
async function hold(c: ReservedClaim, t: Template, n: number): Promise<void> {
  assert.deepEqual(await commands.codeTake(c, n % t.subStocks, n), [ScriptCode.CodeHeld]);
}

/** The overflow take of reservation c from sub-stock j: the coupon. */
async function takeFrom(c: ReservedClaim, j: number): Promise<string> {
  const [code, coupon] = await commands.claimTake(c, j);
  assert.equal(code, ScriptCode.Issued);
  return String(coupon);
}

const markOf = (t: Template, n: number) => s.redis.hget(codeMarksKey(keySpace(s.cfg), t.id, n % t.subStocks), String(n));
const holdsOf = (t: Template, n: number) => s.redis.zcard(codeHoldsKey(keySpace(s.cfg), subStockPartition(keySpace(s.cfg), t.id, n % t.subStocks)));

/** A template of 3 sub-stocks whose sub-stock k holds nothing (its share moved to k+1), and codes all of sub-stock k. */
async function emptyCodes(count: number): Promise<{ t: Template; k: number; list: string[]; numbers: number[] }> {
  const t = await rig.template({ totalStock: 12, subStocks: 3, perUserLimit: 1 });
  const made = await codes.codes(t.id, count * 3);
  const k = made.numbers[0]! % 3;
  const ks = keySpace(s.cfg);
  const moved = Number(await s.redis.get(stockKey(ks, t.id, k)));
  await s.redis.set(stockKey(ks, t.id, k), 0);
  await s.redis.incrby(stockKey(ks, t.id, (k + 1) % 3), moved);
  const picked = made.numbers.map((n, i) => [n, made.codes[i]!] as const).filter(([n]) => n % 3 === k).slice(0, count);
  return { t, k, list: picked.map(([, c]) => c), numbers: picked.map(([n]) => n) };
}

const told = (t: Template, userId: string, n: number, couponId: string): Told => ({ templateId: t.id, userId, requestId: codeRequestId(n),
  couponId, replayed: false, toldUserId: userId, toldTemplateId: t.id, at: Date.now() });

test('a gateway dead after the hold, after the take, after the bind: each code ends bound to its coupon or free, never twice', async () => {
  const { t, k, list, numbers: [n1, n2, n3] } = await emptyCodes(3);
  const j = (k + 1) % 3;
  const a = await reserve(t, 'ha', n1!);
  await hold(a, t, n1!); // ... and died before taking
  const b = await reserve(t, 'hb', n2!);
  await hold(b, t, n2!);
  const cb = await takeFrom(b, j); // ... and died before binding
  const c = await reserve(t, 'hc', n3!);
  await hold(c, t, n3!);
  const cc = await takeFrom(c, j);
  assert.deepEqual(await commands.codeBind(t.id, k, n3!, 'hc', c.token, cc), [ScriptCode.CodeBound]); // ... and died before settling
  // Meanwhile another user meets the holds: 503, never code_used while not bound.
  const busy = await codes.redeem({ userId: 'hz', code: list[0] });
  assert.deepEqual([busy.status, busy.body.error, busy.headers?.['Retry-After']], [503, 'unavailable', '1']);
  assert.equal((await codes.redeem({ userId: 'hz', code: list[1] })).status, 503);
  assert.deepEqual((await codes.redeem({ userId: 'hz', code: list[2] })).body, { status: 'code_used' });
  // Its own user's retry waits for its reservation, as any pending claim's, and answers 503.
  assert.deepEqual((await codes.redeem({ userId: 'ha', code: list[0] })).body.error, 'unavailable');
  await sleep(1100);

  const r = await reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));
  assert.deepEqual([r.reservations.found, r.reservations.confirmed, r.reservations.released], [3, 2, 1]);
  assert.deepEqual(r.reservations.unresolved, []);
  assert.equal(await markOf(t, n1!), null, 'no coupon for the first: free');
  assert.equal(await markOf(t, n2!), `hb|${cb}`);
  assert.equal(await markOf(t, n3!), `hc|${cc}`);
  assert.equal(await holdsOf(t, n1!), 0, 'no hold left');
  // The first dead gateway waking up cannot take; its code redeems for anyone now.
  assert.deepEqual(await commands.claimTake(a, j), [ScriptCode.Released]);
  assert.equal(await markOf(t, n1!), null);
  const fresh = await codes.redeem({ userId: 'hz', code: list[0] });
  assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
  // The others: used, and their users' retries replay their coupons.
  assert.deepEqual((await codes.redeem({ userId: 'hy', code: list[1] })).body, { status: 'code_used' });
  assert.deepEqual((await codes.redeem({ userId: 'hy', code: list[2] })).body, { status: 'code_used' });
  const replay = await codes.redeem({ userId: 'hb', code: list[1] });
  assert.deepEqual([replay.body.couponId, replay.body.replayed], [cb, true]);

  const verdict = await judgeAfterSink(s, keySpace(s.cfg), [t],
    { told: [told(t, 'hb', n2!, cb), told(t, 'hc', n3!, cc), told(t, 'hz', n1!, fresh.body.couponId)] });
  assert.deepEqual(verdict.violations, []);
  assert.equal(verdict.templates[0]!.rows, 3);
});

test('a hold whose reservation is gone (a Redis restart lost it): bound to the coupon MySQL shows, or released', async () => {
  const { t, k, list, numbers: [n1, n2] } = await emptyCodes(2);
  const ks = keySpace(s.cfg);
  const a = await reserve(t, 'ga', n1!);
  await hold(a, t, n1!);
  const b = await reserve(t, 'gb', n2!);
  await hold(b, t, n2!);
  const cb = await takeFrom(b, (k + 1) % 3);
  // Both reservations vanish from the home partitions, the holds stay.
  for (const c of [a, b]) {
    await s.redis.zrem(pendingKey(ks, c.homePartition), `${t.id}|${c.userId}|${c.requestId}`);
    await s.redis.hdel(usersKey(ks, c.homePartition, t.id), c.userId, `${c.userId}|${c.requestId}`, `${c.userId}#p`);
  }
  await waitFor(() => drained(s), 10_000, 'the sink stored the coupon');
  await sleep(1100);
  const r = await reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));
  assert.deepEqual([r.holds?.bound, r.holds?.released, r.holds?.unresolved], [1, 1, []]);
  assert.equal(await markOf(t, n1!), null);
  assert.equal(await markOf(t, n2!), `gb|${cb}`);
  assert.equal(await holdsOf(t, n1!), 0);
  assert.deepEqual(await commands.claimTake(a, (k + 1) % 3), [ScriptCode.Released], 'the stale hold was fenced');
  assert.equal((await codes.redeem({ userId: 'gz', code: list[0] })).status, 200);
  assert.deepEqual((await codes.redeem({ userId: 'gy', code: list[1] })).body, { status: 'code_used' });
});

test("a Redis restart that lost a hold but kept its reservation: the hold is put back before claims run, then bound", async () => {
  const { t, k, list, numbers: [n] } = await emptyCodes(1);
  const ks = keySpace(s.cfg);
  const a = await reserve(t, 'ra', n!);
  await hold(a, t, n!);
  // As if Redis came back from an AOF written between the hold and the take.
  await s.redis.hdel(codeMarksKey(ks, t.id, k), String(n));
  await s.redis.del(codeHoldsKey(ks, subStockPartition(ks, t.id, k)));
  await s.redis.set(reconcileRunKey(ks), 'a-run-before-the-crash');
  // A pass that does not judge this young reservation stale: only the restart repair touches it.
  const cfg = { ...s.cfg, reconcile: { ...s.cfg.reconcile, pendingAgeMs: 600_000 } };
  const r = await reconcileOnce(reconcileCtx(cfg, s.redis, s.mysql));
  assert.equal(r.restarted, true);
  assert.equal(await markOf(t, n!), `|ra|${a.token}`, 'held again for the redemption in flight');
  // Another user meets the hold; the gateway in flight takes and binds as if nothing happened.
  assert.equal((await codes.redeem({ userId: 'rz', code: list[0] })).status, 503);
  const coupon = await takeFrom(a, (k + 1) % 3);
  assert.deepEqual(await commands.codeBind(t.id, k, n!, 'ra', a.token, coupon), [ScriptCode.CodeBound]);
  assert.equal((await commands.claimSettle(a, coupon))[0], ScriptCode.Settled);
  assert.deepEqual((await codes.redeem({ userId: 'rz', code: list[0] })).body, { status: 'code_used' });
  assert.equal(await holdsOf(t, n!), 0);
});

test('a Redis restart that kept a hold but lost its bind: the repair marks the code with the coupon MySQL holds', async () => {
  const { t, k, list, numbers: [n] } = await emptyCodes(1);
  const ks = keySpace(s.cfg);
  const a = await reserve(t, 'rb', n!);
  await hold(a, t, n!);
  const coupon = await takeFrom(a, (k + 1) % 3); // the bind and the settle were lost with Redis
  await waitFor(() => drained(s), 10_000, 'the sink stored the coupon');
  await sleep(600); // beyond the clock margin within which a pass does not trust stamps
  await s.redis.set(reconcileRunKey(ks), 'a-run-before-the-crash');
  const cfg = { ...s.cfg, reconcile: { ...s.cfg.reconcile, pendingAgeMs: 600_000 } };
  const r = await reconcileOnce(reconcileCtx(cfg, s.redis, s.mysql));
  assert.equal(r.restarted, true);
  assert.equal(await markOf(t, n!), `rb|${coupon}`, 'the hold gave way to the redemption MySQL shows');
  assert.deepEqual((await codes.redeem({ userId: 'rx', code: list[0] })).body, { status: 'code_used' });
});

test('a rebuild while codes are held: the one MySQL shows redeemed is marked, the other stays held for the reconciler', async () => {
  const { t, k, list, numbers: [n1, n2] } = await emptyCodes(2);
  const a = await reserve(t, 'ba', n1!);
  await hold(a, t, n1!);
  const coupon = await takeFrom(a, (k + 1) % 3); // ... and died before binding
  const b = await reserve(t, 'bb', n2!);
  await hold(b, t, n2!); // ... and died before taking
  const report = await rebuildTemplate(rebuildDeps(s.cfg, s.redis, s.mysql, { drainTimeoutMs: 5000, progress: () => undefined }), t.id);
  assert.equal(report.outcome, 'rebuilt', report.message);
  assert.equal(await markOf(t, n1!), `ba|${coupon}`);
  assert.equal(await markOf(t, n2!), `|bb|${b.token}`);
  await sleep(1100);
  await reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));
  assert.equal(await markOf(t, n2!), null, 'released with its reservation');
  assert.deepEqual((await codes.redeem({ userId: 'bz', code: list[0] })).body, { status: 'code_used' });
  assert.equal((await codes.redeem({ userId: 'bz', code: list[1] })).status, 200);
  const replay = await codes.redeem({ userId: 'ba', code: list[0] });
  assert.deepEqual([replay.body.couponId, replay.body.replayed], [coupon, true]);
});
