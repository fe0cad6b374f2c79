/**
 * Hostile checkout tests against the real MariaDB: short locks racing confirms, cancels,
 * refunds and several concurrent sweeps on many coupons; connections killed mid-call; a call
 * past its deadline; case-variant order ids. (Reads under attack: checkout-hostile-reads.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { sweepLocks } from '../../../checkout/lock-sweep.ts';
import { CouponTcc } from '../../../checkout/tcc.ts';
import { openMysql } from '../../../core/mysql.ts';
import { withDeadlines } from '../../../core/mysql-deadlines.ts';
import { shardDbName, shardTableName } from '../../../core/shards.ts';
import { rng } from '../../support/hostile.ts';
import { answer, assertConsistent, couponState, type Op, orderRows, seedCoupon, tccOf, transitions } from '../../support/checkout.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';

let s: Storage;
before(async () => {
  s = await openStorage(testConfig());
});
after(async () => {
  await s.close();
});

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

const dbOf = (couponId: string) => Number(couponId.split('.')[0]);
const tableOf = (couponId: string) => `\`${shardDbName(s.cfg.mysql.dbPrefix, dbOf(couponId))}\`.\`${shardTableName(Number(couponId.split('.')[1]))}\``;

test('short locks racing confirm/cancel/refund/lock and three concurrent sweeps on 24 coupons: always consistent', async (t) => {
  const ttl = 60;
  const short = tccOf(s, ttl);
  try {
    const r = rng(7);
    const users = ['hu0', 'hu1', 'hu2', 'hu3'];
    const coupons = await Promise.all(Array.from({ length: 24 }, (_, i) => seedCoupon(s, { userId: users[i % users.length]! })));
    const userOf = new Map(coupons.map((c, i) => [c, users[i % users.length]!]));
    // Case variants on purpose: 'O1' and 'o1' are two orders.
    const log: { op: Op; couponId: string; order: string; answer: string; result?: unknown }[] = [];
    const until = Date.now() + 5_000;
    let sweeping = true;
    let swept = 0;
    const sweepErrors: unknown[] = [];
    const sweeper = async () => {
      while (sweeping) {
        try {
          swept += await sweepLocks(s.mysql, s.cfg.mysql, Date.now());
        } catch (err) {
          sweepErrors.push(err);
        }
        await sleep(r() * 3);
      }
    };
    let n = 0;
    const call = async (op: Op, couponId: string, order: string) => {
      const now = Date.now();
      const tc = short.tcc;
      const p = op === 'lock' ? tc.lock(couponId, userOf.get(couponId)!, order, now)
        : op === 'confirm' ? tc.confirm(couponId, order, now) : op === 'cancel' ? tc.cancel(couponId, order, now) : tc.refund(couponId, order, now);
      let result: unknown;
      const a = await answer(p.then((v) => { result = v; }));
      log.push({ op, couponId, order, answer: a, result });
      return a;
    };
    // One order's checkout: lock, wait around the TTL, then confirm (and often refund) or cancel;
    // now and then a call of the same order id in the other letter case, which is another order.
    const worker = async () => {
      while (Date.now() < until) {
        const couponId = coupons[Math.floor(r() * coupons.length)]!;
        const order = `${r() < 0.5 ? 'O' : 'o'}${++n}`;
        const other = order[0] === 'O' ? `o${order.slice(1)}` : `O${order.slice(1)}`;
        const ops: Op[] = ['lock', 'confirm', 'cancel', 'refund'];
        if (r() < 0.1) await call(ops[Math.floor(r() * 4)]!, couponId, other);
        const locked = await call('lock', couponId, order);
        await sleep(r() * ttl * 1.6);
        const x = r();
        if (x < 0.5) {
          if ((await call('confirm', couponId, order)) === 'ok' && r() < 0.95) await call('refund', couponId, order);
        } else if (x < 0.6) await call('cancel', couponId, order);
        else if (x < 0.7) await call('lock', couponId, order);
        // else: the order is abandoned, its lock left to run out
        if (locked !== 'ok' && r() < 0.3) await call('cancel', couponId, order);
      }
    };
    const sweepers = [sweeper(), sweeper(), sweeper()];
    await Promise.all(Array.from({ length: 24 }, worker));
    sweeping = false;
    await Promise.all(sweepers);

    const raw = log.filter((l) => l.answer.startsWith('raw:'));
    assert.deepEqual(raw.slice(0, 5), [], `${raw.length} calls failed with a non-API error`);
    assert.deepEqual(sweepErrors.slice(0, 3), [], 'a sweep failed');
    const by = (a: string) => log.filter((l) => l.answer === a).length;
    assert.ok(by('ok') > 100 && log.filter((l) => l.op === 'confirm' && l.answer === 'ok').length > 10 && by('lock_expired') > 5,
      `the race was exercised: ${log.length} calls, ${by('ok')} ok, ${by('lock_expired')} lock_expired, ${swept} swept`);
    t.diagnostic(JSON.stringify({ calls: log.length, swept, answers: Object.fromEntries([...new Set(log.map((l) => `${l.op}:${l.answer}`))].map((a) => [a, log.filter((l) => `${l.op}:${l.answer}` === a).length])) }));
    for (const c of coupons) await assertConsistent(s, c, 'after the race');

    // Every confirm that answered 200 left its order confirmed (or refunded, if a refund of it answered 200).
    for (const l of log.filter((x) => x.op === 'confirm' && x.answer === 'ok')) {
      const st = (await orderRows(s, l.couponId)).find((o) => o.order_id === l.order)?.state;
      const refunded = log.some((x) => x.op === 'refund' && x.answer === 'ok' && x.couponId === l.couponId && x.order === l.order);
      assert.ok(st === 'confirmed' || (st === 'refunded' && refunded), `confirm ${l.order} on ${l.couponId} answered 200, its row is ${st}`);
    }
    // Once everything is swept: no lock is left, and the sweep releases nothing more.
    await sleep(ttl + 10);
    await sweepLocks(s.mysql, s.cfg.mysql, Date.now());
    assert.equal(await sweepLocks(s.mysql, s.cfg.mysql, Date.now()), 0);
    for (const c of coupons) {
      assert.notEqual((await couponState(s, c)).status, 'locked', c);
      await assertConsistent(s, c, 'after the last sweep');
    }
    // Idempotent: every call whose outcome is final answers the same again.
    for (const l of log) {
      if (l.answer !== 'ok' || l.op === 'lock') continue;
      const rows = await orderRows(s, l.couponId);
      const st = rows.find((o) => o.order_id === l.order)?.state;
      const tc = short.tcc;
      if (l.op === 'cancel') assert.deepEqual(await tc.cancel(l.couponId, l.order, Date.now()), l.result, 'cancel again');
      if (l.op === 'refund') assert.deepEqual(await tc.refund(l.couponId, l.order, Date.now()), l.result, 'refund again');
      if (l.op === 'confirm' && st === 'confirmed') assert.deepEqual(await tc.confirm(l.couponId, l.order, Date.now()), l.result, 'confirm again');
    }
  } finally {
    await short.close();
  }
});

test('a sweep meeting a lock that takes over a stale lock: neither deadlocks, the new lock holds', async () => {
  const short = tccOf(s, 1_000);
  try {
    // Unused coupons around them: the sweep then finds the stale ones through idx_lock, as in production.
    await Promise.all(Array.from({ length: 60 }, () => seedCoupon(s, { userId: 'dead-lock' })));
    for (let round = 0; round < 3; round++) {
      // Stale locks on several coupons of one table, the one in the middle taken over by another order.
      const ids = await Promise.all(Array.from({ length: 5 }, () => seedCoupon(s, { userId: 'dead-lock' })));
      const past = Date.now() - 5_000;
      for (const [i, id] of ids.entries()) await short.tcc.lock(id, 'dead-lock', `A${round}-${i}`, past);
      const target = ids[2]!;
      // A takeover as a checkout call makes it: the coupon row locked first (by primary key), held
      // while the sweep starts, then updated (which moves its idx_lock entry).
      const conn = await s.mysql.forDb(dbOf(target)).getConnection();
      try {
        await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
        await conn.query('START TRANSACTION');
        await conn.query(`SELECT coupon_id FROM ${tableOf(target)} WHERE coupon_id = ? FOR UPDATE`, [target]);
        const sweep = answer(sweepLocks(s.mysql, s.cfg.mysql, Date.now()));
        await sleep(300);
        // The takeover's writes, as the lock procedure makes them: A's lapsed lock released, B's taken.
        const db = `\`${shardDbName(s.cfg.mysql.dbPrefix, dbOf(target))}\``;
        const now = new Date();
        await conn.query(`UPDATE ${tableOf(target)} SET status = 'locked', order_id = ?, locked_until = ? WHERE coupon_id = ?`,
          [`B${round}`, new Date(Date.now() + 600_000), target]);
        await conn.query(`UPDATE ${db}.coupon_order SET state = 'released', updated_at = ? WHERE coupon_id = ? AND order_id = ?`,
          [now, target, `A${round}-2`]);
        await conn.query(`INSERT INTO ${db}.coupon_order (coupon_id, order_id, state, locked_until, updated_at) VALUES (?, ?, 'locked', ?, ?)`,
          [target, `B${round}`, new Date(Date.now() + 600_000), now]);
        await conn.query(`INSERT INTO ${db}.coupon_transition (coupon_id, from_status, to_status, order_id, cause, at)
          VALUES (?, 'locked', 'unused', ?, 'lock_expired', ?), (?, 'unused', 'locked', ?, 'lock', ?)`,
        [target, `A${round}-2`, now, target, `B${round}`, now]);
        await conn.query('COMMIT');
        assert.equal(await sweep, 'ok', 'the sweep');
      } finally {
        conn.release();
      }
      assert.deepEqual(await couponState(s, target), { status: 'locked', order_id: `B${round}` });
      for (const id of ids) await assertConsistent(s, id, `round ${round}`);
      for (const id of ids.filter((x) => x !== target)) assert.deepEqual(await couponState(s, id), { status: 'unused', order_id: null });
    }
  } finally {
    await short.close();
  }
});

const kill = (threadId: number) => s.mysql.main.query(`KILL CONNECTION ${Number(threadId)}`).catch(() => undefined);

/** The thread of the checkout procedure running now, if any (inside it, the process list shows its statement). */
async function runningCall(): Promise<number | undefined> {
  const [rows] = await s.mysql.main.query<RowDataPacket[]>(
    "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%NAME_CONST(''p_coupon''%' LIMIT 1");
  return rows[0] ? Number(rows[0].ID) : undefined;
}

test('the connection killed mid-call: nothing half-written, and the retry answers as if the call ran once', async (t) => {
  const pools = openMysql(s.cfg.mysql);
  const tcc = new CouponTcc(pools, s.cfg.mysql, 900_000);
  try {
    // Killed at a random moment of a lock, a confirm, a refund or a cancel: all or nothing, and the retry agrees.
    const r = rng(99);
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 24; round++) {
      const id = await seedCoupon(s, { userId: 'killed' });
      const order = round % 2 === 0 ? `Kr${round}` : `kr${round}`;
      const ops: Op[] = ['lock', 'confirm', 'refund', 'cancel'];
      const op = ops[round % 4]!;
      if (op !== 'lock') await tcc.lock(id, 'killed', order, Date.now());
      if (op === 'refund') await tcc.confirm(id, order, Date.now());
      const run = (o: Op) => (o === 'lock' ? tcc.lock(id, 'killed', order, Date.now()) : o === 'confirm' ? tcc.confirm(id, order, Date.now())
        : o === 'refund' ? tcc.refund(id, order, Date.now()) : tcc.cancel(id, order, Date.now()));
      // Another session holds the row for a random moment, so the call is caught inside its procedure.
      const holder = await s.mysql.forDb(dbOf(id)).getConnection();
      await holder.query('START TRANSACTION');
      await holder.query(`SELECT coupon_id FROM ${tableOf(id)} WHERE coupon_id = ? FOR UPDATE`, [id]);
      const call = answer(run(op));
      const killer = (async () => {
        let thread: number | undefined;
        for (let i = 0; i < 200 && thread === undefined; i++) thread = await runningCall();
        await sleep(r() * 4);
        await holder.query('COMMIT');
        holder.release();
        if (thread !== undefined && r() < 0.8) await kill(thread);
      })();
      const [got] = await Promise.all([call, killer]);
      outcomes.set(got.startsWith('raw:') ? 'failed' : got, (outcomes.get(got.startsWith('raw:') ? 'failed' : got) ?? 0) + 1);
      await assertConsistent(s, id, `round ${round} (${op} ${got})`);
      // The retry: the answer of one call, whether or not the killed one committed. A killed
      // connection left idle in the pool may fail a retry or two (the driver learns late); then the answer.
      await sleep(20);
      let again = await answer(run(op));
      for (let i = 0; i < 3 && again.startsWith('raw:'); i++) again = await answer(run(op));
      assert.equal(again, 'ok', `round ${round}: ${op} retried after ${got}`);
      await assertConsistent(s, id, `round ${round} retried`);
    }
    t.diagnostic(JSON.stringify([...outcomes]));
    assert.ok((outcomes.get('failed') ?? 0) > 0, `some calls were killed: ${JSON.stringify([...outcomes])}`);
  } finally {
    await pools.close();
  }
});

test('a statement past MYSQL_QUERY_TIMEOUT_MS: 503 material, the row lock not left behind, the retry works', async () => {
  const pools = withDeadlines(openMysql({ ...s.cfg.mysql, poolSize: 2 }), 150);
  const tcc = new CouponTcc(pools, s.cfg.mysql, 900_000);
  const id = await seedCoupon(s, { userId: 'slow' });
  try {
    await tcc.lock(id, 'slow', 'S1', Date.now());
    for (let round = 0; round < 3; round++) {
      // Another session holds the coupon row longer than the deadline.
      const blocker = await s.mysql.forDb(dbOf(id)).getConnection();
      try {
        await blocker.query('START TRANSACTION');
        await blocker.query(`SELECT coupon_id FROM ${tableOf(id)} WHERE coupon_id = ? FOR UPDATE`, [id]);
        const late = await answer(tcc.confirm(id, 'S1', Date.now()));
        assert.equal(late, 'raw:GATEWAY_MYSQL_DEADLINE');
        await sleep(100);
      } finally {
        await blocker.query('ROLLBACK');
        blocker.release();
      }
    }
    // The pool (2 connections) is not used up by the abandoned ones, and the confirm goes through once.
    const answers = await Promise.all(Array.from({ length: 6 }, () => answer(tcc.confirm(id, 'S1', Date.now()))));
    assert.deepEqual(answers, Array(6).fill('ok'));
    assert.deepEqual(await couponState(s, id), { status: 'used', order_id: 'S1' });
    assert.deepEqual((await transitions(s, id)).map((t) => t.cause), ['lock', 'confirm']);
  } finally {
    await pools.close();
  }
});

test("order ids differ by case: 'O1' and 'o1' are two orders in every call and in the sweep", async () => {
  const short = tccOf(s, 1_000);
  const { tcc, close } = tccOf(s);
  try {
    const id = await seedCoupon(s, { userId: 'case' });
    assert.equal(await answer(tcc.lock(id, 'case', 'O1', Date.now())), 'ok');
    assert.equal(await answer(tcc.confirm(id, 'o1', Date.now())), 'not_locked');
    assert.equal(await answer(tcc.lock(id, 'case', 'o1', Date.now())), 'coupon_locked');
    // o1's cancel is an empty rollback: remembered for o1 alone, O1 keeps its lock.
    assert.deepEqual(await tcc.cancel(id, 'o1', Date.now()), { couponId: id, status: 'unused', orderId: 'o1' });
    assert.deepEqual(await couponState(s, id), { status: 'locked', order_id: 'O1' });
    assert.equal(await answer(tcc.refund(id, 'o1', Date.now())), 'not_used');
    assert.equal(await answer(tcc.confirm(id, 'O1', Date.now())), 'ok');
    assert.equal(await answer(tcc.refund(id, 'o1', Date.now())), 'not_used');
    assert.equal(await answer(tcc.refund(id, 'O1', Date.now())), 'ok');
    assert.equal(await answer(tcc.lock(id, 'case', 'o1', Date.now())), 'order_cancelled');
    assert.deepEqual(await orderRows(s, id), [{ order_id: 'O1', state: 'refunded' }, { order_id: 'o1', state: 'cancelled' }]);
    // The user id is case-sensitive too.
    assert.equal(await answer(tcc.lock(id, 'CASE', 'o2', Date.now())), 'forbidden');

    // The sweep releases the stale lock of 'A' and leaves the cancelled 'a' alone.
    const b = await seedCoupon(s, { userId: 'case' });
    await tcc.cancel(b, 'a', Date.now());
    await short.tcc.lock(b, 'case', 'A', Date.now() - 5_000);
    await sweepLocks(s.mysql, s.cfg.mysql, Date.now());
    assert.deepEqual(await orderRows(s, b), [{ order_id: 'A', state: 'released' }, { order_id: 'a', state: 'cancelled' }]);
    assert.equal(await answer(tcc.confirm(b, 'A', Date.now())), 'lock_expired');
    assert.equal(await answer(tcc.lock(b, 'case', 'a', Date.now())), 'order_cancelled');
    await assertConsistent(s, id, 'case');
    await assertConsistent(s, b, 'case');
  } finally {
    await close();
    await short.close();
  }
});
