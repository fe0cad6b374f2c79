/**
 * Lock / confirm / cancel / refund against the real MariaDB (checkout/tcc.ts): one winner among
 * 50 concurrent locks, every concurrent history explained by a sequential one, the empty
 * rollback, stale locks released exactly, and the answers to ids that name no coupon.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { sweepLocks } from '../../../checkout/lock-sweep.ts';
import type { CouponTcc } from '../../../checkout/tcc.ts';
import { ApiError } from '../../../core/errors.ts';
import { ensureSchema } from '../../../core/schema.ts';
import { shardDbName } from '../../../core/shards.ts';
import { rng } from '../../support/hostile.ts';
import { couponState, type ModelState, type Op, seedCoupon, START, step, tccOf, transitions } from '../../support/checkout.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';

let s: Storage;
let tcc: CouponTcc;
let close: () => Promise<void>;
before(async () => {
  s = await openStorage(testConfig());
  ({ tcc, close } = tccOf(s));
});
after(async () => {
  await close();
  await s.close();
});

/** 'ok' or the error code of a call. */
async function answer(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof ApiError) return err.code;
    throw err;
  }
}

function call(t: CouponTcc, op: Op, couponId: string, order: string, userId: string): Promise<unknown> {
  const now = Date.now();
  switch (op) {
    case 'lock': return t.lock(couponId, userId, order, now);
    case 'confirm': return t.confirm(couponId, order, now);
    case 'cancel': return t.cancel(couponId, order, now);
    case 'refund': return t.refund(couponId, order, now);
  }
}

test('50 orders lock one coupon at once: exactly one wins, the others get 409 coupon_locked', async () => {
  const couponId = await seedCoupon(s, { userId: 'u-race' });
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => answer(tcc.lock(couponId, 'u-race', `o${i}`, Date.now()))));
  assert.equal(answers.filter((a) => a === 'ok').length, 1, answers.join(','));
  assert.equal(answers.filter((a) => a === 'coupon_locked').length, 49);
  const winner = `o${answers.indexOf('ok')}`;
  assert.deepEqual(await couponState(s, couponId), { status: 'locked', order_id: winner });
  assert.deepEqual(await transitions(s, couponId), [{ from: 'unused', to: 'locked', order: winner, cause: 'lock' }]);
  // 50 confirms at once: only the winner's works, and the coupon is used by it alone.
  const confirms = await Promise.all(Array.from({ length: 50 }, (_, i) => answer(tcc.confirm(couponId, `o${i}`, Date.now()))));
  assert.deepEqual(confirms.map((a, i) => (a === 'ok' ? `o${i}` : a)).filter((a) => a !== 'not_locked'), [winner]);
  assert.deepEqual(await couponState(s, couponId), { status: 'used', order_id: winner });
});

/** Every order of the model states the batch could leave, given the answers seen (all orders of the batch tried). */
function explain(states: ModelState[], batch: { op: Op; order: string; answer: string }[]): ModelState[] {
  const out = new Map<string, ModelState>();
  const perms = (xs: number[]): number[][] => (xs.length <= 1 ? [xs]
    : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p])));
  for (const m0 of states) {
    for (const p of perms(batch.map((_, i) => i))) {
      let m = m0;
      let ok = true;
      for (const i of p) {
        const r = step(m, batch[i]!.op, batch[i]!.order);
        if (r.answer !== batch[i]!.answer) { ok = false; break; }
        m = r.next;
      }
      if (ok) out.set(JSON.stringify(m), m);
    }
  }
  return [...out.values()];
}

test('random concurrent histories of lock/confirm/cancel/refund (retries and reorders included) match a sequential one', async () => {
  const r = rng(13);
  const ops: Op[] = ['lock', 'confirm', 'cancel', 'refund'];
  for (let round = 0; round < 40; round++) {
    const userId = `u-hist${round}`;
    const couponId = await seedCoupon(s, { userId });
    let states: ModelState[] = [START];
    for (let b = 0; b < 8; b++) {
      const batch = Array.from({ length: 1 + Math.floor(r() * 4) }, () =>
        ({ op: ops[Math.floor(r() * ops.length)]!, order: `o${Math.floor(r() * 3)}` }));
      const answers = await Promise.all(batch.map((c) => answer(call(tcc, c.op, couponId, c.order, userId))));
      const next = explain(states, batch.map((c, i) => ({ ...c, answer: answers[i]! })));
      assert.ok(next.length > 0, `round ${round} batch ${b}: no sequential order explains ${JSON.stringify(batch.map((c, i) => [c.op, c.order, answers[i]]))} from ${JSON.stringify(states)}`);
      states = next;
    }
    // The stored state is one the model allows, and the order rows agree with it.
    const row = await couponState(s, couponId);
    const [orders] = await s.mysql.forDb(Number(couponId.split('.')[0])).query<RowDataPacket[]>(
      `SELECT order_id, state FROM \`${shardDbName(s.cfg.mysql.dbPrefix, Number(couponId.split('.')[0]))}\`.coupon_order WHERE coupon_id = ?`, [couponId]);
    const stored: ModelState = { status: row.status as ModelState['status'], holder: row.order_id,
      orders: Object.fromEntries(orders.map((o) => [o.order_id, o.state])) };
    assert.ok(states.some((m) => JSON.stringify({ ...m, orders: Object.fromEntries(Object.entries(m.orders).sort()) }) ===
      JSON.stringify({ ...stored, orders: Object.fromEntries(Object.entries(stored.orders).sort()) })),
    `round ${round}: stored ${JSON.stringify(stored)} is none of ${JSON.stringify(states)}`);
    // At most one order ever holds it as used at a time; the transitions chain from unused.
    assert.ok(orders.filter((o) => o.state === 'confirmed').length <= 1);
    let at = 'unused';
    for (const t of await transitions(s, couponId)) {
      assert.equal(t.from, at, `round ${round}: transition from ${t.from} while the coupon was ${at}`);
      at = t.to;
    }
    assert.equal(at, row.status);
  }
});

test('a cancel before its lock is remembered: the late lock is refused, other orders still can lock', async () => {
  const couponId = await seedCoupon(s, { userId: 'u-empty' });
  assert.deepEqual(await tcc.cancel(couponId, 'late', Date.now()), { couponId, status: 'unused', orderId: 'late' });
  assert.equal(await answer(tcc.lock(couponId, 'u-empty', 'late', Date.now())), 'order_cancelled');
  assert.deepEqual(await couponState(s, couponId), { status: 'unused', order_id: null });
  assert.equal(await answer(tcc.lock(couponId, 'u-empty', 'other', Date.now())), 'ok');
  // a second cancel of the same order: the same answer, and the other order's lock stays.
  assert.deepEqual(await tcc.cancel(couponId, 'late', Date.now()), { couponId, status: 'unused', orderId: 'late' });
  assert.deepEqual(await couponState(s, couponId), { status: 'locked', order_id: 'other' });
});

test('refund: back to unused inside the use window, expired after it; repeated, the same answer', async () => {
  const now = Date.now();
  const inside = await seedCoupon(s, { userId: 'u-refund' });
  const ending = await seedCoupon(s, { userId: 'u-refund', validTo: now + 1500 });
  for (const id of [inside, ending]) {
    await tcc.lock(id, 'u-refund', 'o1', Date.now());
    await tcc.confirm(id, 'o1', Date.now());
  }
  const a = await tcc.refund(inside, 'o1', Date.now());
  assert.equal(a.status, 'unused');
  assert.deepEqual(await tcc.refund(inside, 'o1', Date.now() + 10), a, 'the same answer again');
  await new Promise((res) => setTimeout(res, 1600));
  assert.equal((await tcc.refund(ending, 'o1', Date.now())).status, 'expired');
  assert.equal(await answer(tcc.refund(inside, 'o2', Date.now())), 'not_used');
  assert.equal(await answer(tcc.cancel(inside, 'o1', Date.now())), 'order_refunded');
  assert.deepEqual((await transitions(s, ending)).map((t) => t.to), ['locked', 'used', 'expired']);
  // an expired coupon cannot be locked; one not valid yet says why.
  assert.equal(await answer(tcc.lock(ending, 'u-refund', 'o3', Date.now())), 'coupon_expired');
  const later = await seedCoupon(s, { userId: 'u-refund', validFrom: Date.now() + 60_000 });
  await assert.rejects(tcc.lock(later, 'u-refund', 'o3', Date.now()),
    (e: ApiError) => e.code === 'not_applicable' && e.details?.reason === 'not_started');
});

test('locks run out: a confirm after the TTL is lock_expired, and the sweep releases exactly the stale locks', async () => {
  const short = tccOf(s, 300);
  try {
    const stale = await Promise.all(Array.from({ length: 5 }, () => seedCoupon(s, { userId: 'u-ttl' })));
    const fresh = await Promise.all(Array.from({ length: 5 }, () => seedCoupon(s, { userId: 'u-ttl' })));
    for (const [i, id] of stale.entries()) await short.tcc.lock(id, 'u-ttl', `stale${i}`, Date.now());
    for (const [i, id] of fresh.entries()) await tcc.lock(id, 'u-ttl', `fresh${i}`, Date.now());
    await new Promise((res) => setTimeout(res, 400));
    // the first stale one is met by its confirm before any sweep: released on the way.
    assert.equal(await answer(tcc.confirm(stale[0]!, 'stale0', Date.now())), 'lock_expired');
    assert.equal(await sweepLocks(s.mysql, s.cfg.mysql, Date.now()), 4);
    assert.equal(await sweepLocks(s.mysql, s.cfg.mysql, Date.now()), 0, 'nothing left to release');
    for (const id of stale) assert.deepEqual(await couponState(s, id), { status: 'unused', order_id: null });
    for (const [i, id] of fresh.entries()) assert.deepEqual(await couponState(s, id), { status: 'locked', order_id: `fresh${i}` });
    assert.equal(await answer(tcc.confirm(stale[1]!, 'stale1', Date.now())), 'lock_expired');
    assert.equal(await answer(tcc.lock(stale[1]!, 'u-ttl', 'stale1', Date.now())), 'lock_expired');
    assert.equal(await answer(tcc.lock(stale[1]!, 'u-ttl', 'next', Date.now())), 'ok', 'another order may take it');
    assert.deepEqual((await transitions(s, stale[2]!)).map((t) => t.cause), ['lock', 'lock_expired']);
  } finally {
    await short.close();
  }
});

test('ids that name no stored coupon, of another layout or forged: coupon_not_found, never a crash', async () => {
  const ids = ['9.9.0.1', '0.99.0.1', '0.0.0.1', 'x', '', '0.0.0.99999999999999999999', '../../etc', "0.0.0.1' OR 1=1"];
  for (const id of ids) assert.equal(await answer(tcc.lock(id, 'u', 'o', Date.now())), 'coupon_not_found', id);
  const couponId = await seedCoupon(s, { userId: 'owner' });
  assert.equal(await answer(tcc.lock(couponId, 'thief', 'o', Date.now())), 'forbidden');
  assert.equal(await answer(tcc.confirm(couponId, 'o', Date.now())), 'not_locked');
});

test('coupon tables of an older release gain the checkout columns and the lock index; their coupons can be locked', async () => {
  const couponId = await seedCoupon(s, { userId: 'u-upgrade' });
  const [db, table] = couponId.split('.').map(Number) as [number, number];
  const target = `\`${shardDbName(s.cfg.mysql.dbPrefix, db)}\`.\`user_coupon_${table}\``;
  await s.mysql.forDb(db).query(`ALTER TABLE ${target} DROP INDEX idx_lock, DROP COLUMN order_id, DROP COLUMN locked_until, DROP COLUMN used_at`);
  await ensureSchema(s.mysql, s.cfg.mysql);
  const [idx] = await s.mysql.forDb(db).query<RowDataPacket[]>(`SHOW INDEX FROM ${target} WHERE Key_name = 'idx_lock'`);
  assert.deepEqual(idx.map((r) => r.Column_name), ['status', 'locked_until']);
  assert.equal(await answer(tcc.lock(couponId, 'u-upgrade', 'o1', Date.now())), 'ok');
  assert.deepEqual(await couponState(s, couponId), { status: 'locked', order_id: 'o1' });
});
