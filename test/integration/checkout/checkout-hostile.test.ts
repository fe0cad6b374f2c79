/**
 * Hostile checkout tests against the real MariaDB: short locks racing confirms, cancels,
 * refunds and several concurrent sweeps on many coupons; connections killed mid-transaction;
 * case-variant order ids; the listing's status filter at its boundaries; a user holding more
 * coupons than a quote weighs.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { listCoupons, quoteCandidates } from '../../../checkout/coupon-list.ts';
import { sweepLocks } from '../../../checkout/lock-sweep.ts';
import { COUPON_STATUSES } from '../../../checkout/model.ts';
import { CouponTcc } from '../../../checkout/tcc.ts';
import { ApiError } from '../../../core/errors.ts';
import { openMysql, type MysqlPools } from '../../../core/mysql.ts';
import { withDeadlines } from '../../../core/mysql-deadlines.ts';
import { shardDbName, shardTableName } from '../../../core/shards.ts';
import { rng } from '../../support/hostile.ts';
import { couponState, type Op, seedCoupon, tccOf, transitions } from '../../support/checkout.ts';
import { createTemplate, http } from '../../support/http.ts';
import { spawnGateway } from '../../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../../tools/harness/storage.ts';

let s: Storage;
before(async () => {
  s = await openStorage(testConfig());
});
after(async () => {
  await s.close();
});

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** 'ok' or the error code of a call; any other failure as 'raw:<code>'. */
async function answer(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof ApiError) return err.code;
    return `raw:${(err as { code?: string }).code ?? (err as Error).message}`;
  }
}

const dbOf = (couponId: string) => Number(couponId.split('.')[0]);
const tableOf = (couponId: string) => `\`${shardDbName(s.cfg.mysql.dbPrefix, dbOf(couponId))}\`.\`${shardTableName(Number(couponId.split('.')[1]))}\``;

async function orderRows(couponId: string): Promise<{ order_id: string; state: string }[]> {
  const [rows] = await s.mysql.forDb(dbOf(couponId)).query<RowDataPacket[]>(
    `SELECT order_id, state FROM \`${shardDbName(s.cfg.mysql.dbPrefix, dbOf(couponId))}\`.coupon_order WHERE coupon_id = ? ORDER BY order_id`,
    [couponId]);
  return rows as { order_id: string; state: string }[];
}

/**
 * The stored coupon, its order rows and its transitions agree: at most one confirmed order, it
 * is the one using the coupon; a locked coupon's holder has a locked row and no other order
 * does; transitions chain from unused to the stored status and each names the right order.
 */
async function assertConsistent(couponId: string, label: string): Promise<void> {
  const row = await couponState(s, couponId);
  const orders = await orderRows(couponId);
  const confirmed = orders.filter((o) => o.state === 'confirmed').map((o) => o.order_id);
  const locked = orders.filter((o) => o.state === 'locked').map((o) => o.order_id);
  const ctx = `${label} ${couponId}: row ${JSON.stringify(row)} orders ${JSON.stringify(orders)}`;
  assert.ok(confirmed.length <= 1, `two orders confirmed: ${ctx}`);
  if (row.status === 'used') assert.deepEqual(confirmed, [row.order_id], `used, but not by its one confirmed order: ${ctx}`);
  else assert.deepEqual(confirmed, [], `an order is confirmed but the coupon is ${row.status}: ${ctx}`);
  if (row.status === 'locked') assert.deepEqual(locked, [row.order_id], `locked, but its holder's row disagrees: ${ctx}`);
  else assert.deepEqual(locked, [], `an order row is locked but the coupon is ${row.status}: ${ctx}`);
  if (row.status === 'unused') assert.equal(row.order_id, null, ctx);
  let at = 'unused';
  let holder: string | null = null;
  for (const t of await transitions(s, couponId)) {
    assert.equal(t.from, at, `transition ${JSON.stringify(t)} from ${t.from} while the coupon was ${at}: ${ctx}`);
    if (t.from === 'locked' || t.from === 'used') assert.equal(t.order, holder, `transition ${JSON.stringify(t)} names another order than ${holder}: ${ctx}`);
    at = t.to;
    holder = t.to === 'locked' || t.to === 'used' ? t.order : null;
  }
  assert.equal(at, row.status, `transitions end at ${at}: ${ctx}`);
  assert.equal(holder, row.order_id, `transitions end with holder ${holder}: ${ctx}`);
}

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
    for (const c of coupons) await assertConsistent(c, 'after the race');

    // Every confirm that answered 200 left its order confirmed (or refunded, if a refund of it answered 200).
    for (const l of log.filter((x) => x.op === 'confirm' && x.answer === 'ok')) {
      const st = (await orderRows(l.couponId)).find((o) => o.order_id === l.order)?.state;
      const refunded = log.some((x) => x.op === 'refund' && x.answer === 'ok' && x.couponId === l.couponId && x.order === l.order);
      assert.ok(st === 'confirmed' || (st === 'refunded' && refunded), `confirm ${l.order} on ${l.couponId} answered 200, its row is ${st}`);
    }
    // Once everything is swept: no lock is left, and the sweep releases nothing more.
    await sleep(ttl + 10);
    await sweepLocks(s.mysql, s.cfg.mysql, Date.now());
    assert.equal(await sweepLocks(s.mysql, s.cfg.mysql, Date.now()), 0);
    for (const c of coupons) {
      assert.notEqual((await couponState(s, c)).status, 'locked', c);
      await assertConsistent(c, 'after the last sweep');
    }
    // Idempotent: every call whose outcome is final answers the same again.
    for (const l of log) {
      if (l.answer !== 'ok' || l.op === 'lock') continue;
      const rows = await orderRows(l.couponId);
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
      for (const id of ids) await assertConsistent(id, `round ${round}`);
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
      await assertConsistent(id, `round ${round} (${op} ${got})`);
      // The retry: the answer of one call, whether or not the killed one committed. A killed
      // connection left idle in the pool may fail a retry or two (the driver learns late); then the answer.
      await sleep(20);
      let again = await answer(run(op));
      for (let i = 0; i < 3 && again.startsWith('raw:'); i++) again = await answer(run(op));
      assert.equal(again, 'ok', `round ${round}: ${op} retried after ${got}`);
      await assertConsistent(id, `round ${round} retried`);
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
    assert.deepEqual(await orderRows(id), [{ order_id: 'O1', state: 'refunded' }, { order_id: 'o1', state: 'cancelled' }]);
    // The user id is case-sensitive too.
    assert.equal(await answer(tcc.lock(id, 'CASE', 'o2', Date.now())), 'forbidden');

    // The sweep releases the stale lock of 'A' and leaves the cancelled 'a' alone.
    const b = await seedCoupon(s, { userId: 'case' });
    await tcc.cancel(b, 'a', Date.now());
    await short.tcc.lock(b, 'case', 'A', Date.now() - 5_000);
    await sweepLocks(s.mysql, s.cfg.mysql, Date.now());
    assert.deepEqual(await orderRows(b), [{ order_id: 'A', state: 'released' }, { order_id: 'a', state: 'cancelled' }]);
    assert.equal(await answer(tcc.confirm(b, 'A', Date.now())), 'lock_expired');
    assert.equal(await answer(tcc.lock(b, 'case', 'a', Date.now())), 'order_cancelled');
    await assertConsistent(id, 'case');
    await assertConsistent(b, 'case');
  } finally {
    await close();
    await short.close();
  }
});

test('the listing by status agrees with the unfiltered listing at validTo == now and locked_until == now', async () => {
  const ttl = 1_000;
  const short = tccOf(s, ttl);
  try {
    const u = 'edges';
    const T = Math.floor(Date.now() / 1000) * 1000 + 3_600_000;
    const DAY = 86_400_000;
    const mk = (validTo: number) => seedCoupon(s, { userId: u, validFrom: T - DAY, validTo });
    const ends = await mk(T);
    const staleAtT = await mk(T + DAY);
    const staleAndEnds = await mk(T);
    const lockPastEnd = await mk(T);
    const used = await mk(T);
    await short.tcc.lock(staleAtT, u, 'L1', T - ttl);
    await short.tcc.lock(staleAndEnds, u, 'L2', T - ttl);
    await short.tcc.lock(lockPastEnd, u, 'L3', T - ttl + 1);
    await short.tcc.lock(used, u, 'L4', T - ttl);
    await short.tcc.confirm(used, 'L4', T - ttl + 5);
    const expect: Record<string, [string, string, string]> = {
      // at T - 1, at T, at T + 1
      [ends]: ['unused', 'expired', 'expired'],
      [staleAtT]: ['locked', 'unused', 'unused'],
      [staleAndEnds]: ['locked', 'expired', 'expired'],
      [lockPastEnd]: ['locked', 'locked', 'expired'],
      [used]: ['used', 'used', 'used'],
    };
    for (const [i, now] of [T - 1, T, T + 1].entries()) {
      const all = await listCoupons(s.mysql, s.cfg.mysql, u, undefined, 200, now);
      assert.deepEqual(Object.fromEntries(all.map((c) => [c.couponId, c.status])),
        Object.fromEntries(Object.entries(expect).map(([id, st]) => [id, st[i]])), `unfiltered at T${now - T}`);
      for (const status of COUPON_STATUSES) {
        const only = await listCoupons(s.mysql, s.cfg.mysql, u, status, 200, now);
        assert.deepEqual(only.map((c) => c.couponId), all.filter((c) => c.status === status).map((c) => c.couponId), `${status} at T${now - T}`);
      }
    }
    // The calls agree with the listing at T: the stale lock is free, the ended coupon is not.
    const { tcc, close } = tccOf(s);
    try {
      assert.equal(await answer(tcc.lock(ends, u, 'M1', T)), 'coupon_expired');
      assert.equal(await answer(tcc.lock(staleAndEnds, u, 'M2', T)), 'coupon_expired');
      assert.equal(await answer(tcc.confirm(staleAtT, 'L1', T)), 'lock_expired');
      assert.equal(await answer(tcc.lock(staleAtT, u, 'M3', T)), 'ok');
      assert.equal(await answer(tcc.confirm(lockPastEnd, 'L3', T)), 'ok', 'a lock taken in time holds past validTo');
    } finally {
      await close();
    }
    for (const id of Object.keys(expect)) await assertConsistent(id, 'edges');
  } finally {
    await short.close();
  }
});

test('a quote weighs the coupons that may be usable first: used and ended ones do not crowd them out', async () => {
  const u = 'crowd';
  const now = Date.now();
  const { tcc, close } = tccOf(s);
  try {
    // Six coupons used, three ended within the week, all ending before the usable one.
    for (let i = 0; i < 6; i++) {
      const id = await seedCoupon(s, { userId: u, validTo: now + 60_000 + i });
      await tcc.lock(id, u, `used${i}`, now);
      await tcc.confirm(id, `used${i}`, now);
    }
    for (let i = 0; i < 3; i++) await seedCoupon(s, { userId: u, validFrom: now - 10 * 86_400_000, validTo: now - 86_400_000 + i });
    const usable = await seedCoupon(s, { userId: u, validTo: now + 86_400_000 });
    const got = await quoteCandidates(s.mysql, s.cfg.mysql, u, now - 7 * 86_400_000, 5, now);
    assert.equal(got.length, 5);
    assert.ok(got.some((c) => c.couponId === usable), `the usable coupon is weighed: ${got.map((c) => `${c.couponId}:${c.status}`).join(' ')}`);
  } finally {
    await close();
  }
});

test('hostile bodies to the checkout routes, a 200-item cart against 520 coupons with 1,000-id scopes: 4xx or 200, never a 500', async () => {
  const env = testEnv({ DB_PREFIX: s.cfg.mysql.dbPrefix, KEY_PREFIX: s.cfg.redis.keyPrefix, QUOTE_MAX_COUPONS: '600' });
  const gw = await spawnGateway(env);
  try {
    const base = gw.url;
    const post = (path: string, body: unknown, h: Record<string, string> = {}) => http('POST', `${base}${path}`, body, h);
    const u = 'hostile-http';
    const products = Array.from({ length: 1_000 }, (_, i) => `p${String(i).padStart(60, '0')}`);
    const wide = await createTemplate(base, { name: 'Wide 1%', type: 'discount', value: 1, totalStock: 10_000, scope: { products }, stackable: true });
    const big = await createTemplate(base, { name: 'Big', type: 'direct', value: 1_000_000_000_000, totalStock: 10_000, stackable: true });
    const twice = await createTemplate(base, { name: 'Over 1000', type: 'threshold', value: 700, threshold: 1000, totalStock: 10 });
    const ids = await Promise.all(Array.from({ length: 520 }, (_, i) => seedCoupon(s, { userId: u, templateId: i % 2 ? wide.id : big.id,
      type: i % 2 ? 'discount' : 'direct', value: i % 2 ? 1 : 9_000_000_000_000 })));
    const item = (i: number) => ({ productId: products[i * 5]!, categoryId: `c${'x'.repeat(63)}`, price: 1_000_000_000, quantity: 10_000 });
    const cart = { userId: u, items: Array.from({ length: 200 }, (_, i) => item(i)) };
    const raw = Buffer.from(JSON.stringify(cart));
    assert.ok(raw.length > 35_000 && raw.length < 64 << 10, `${raw.length} bytes`);
    const started = Date.now();
    const q = await post('/v1/checkout/quote', raw);
    assert.equal(q.status, 200, q.raw.toString().slice(0, 300));
    assert.ok(Date.now() - started < 5_000, `quote took ${Date.now() - started} ms`);
    const total = 200 * 1_000_000_000 * 10_000;
    assert.equal(q.json.usable.length + q.json.unusable.length, 520);
    for (const c of q.json.usable) assert.ok(Number.isSafeInteger(c.discount) && c.discount >= 0 && c.discount <= total, JSON.stringify(c));
    assert.ok(q.json.best.discount <= total && Number.isSafeInteger(q.json.best.discount), JSON.stringify(q.json.best));
    assert.equal(q.json.best.discount, total, 'the stack of large coupons takes the whole cart, no more');

    // The same product on two lines: their sum reaches the threshold.
    const t2 = await seedCoupon(s, { userId: u, templateId: twice.id, type: 'threshold', value: 700, threshold: 1000 });
    const dup = { userId: u, items: [{ productId: 'p', categoryId: 'c', price: 600, quantity: 1 }, { productId: 'p', categoryId: 'c', price: 600, quantity: 1 }] };
    const lk = await post(`/v1/coupons/${t2}/lock`, { userId: u, orderId: 'dup', cart: dup });
    assert.deepEqual([lk.status, lk.json.discount], [200, 700], lk.raw.toString());

    const id = ids[0]!;
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const hostile: [string, string | Buffer, Record<string, string>?][] = [
      ['/v1/checkout/quote', deep(3000)],
      ['/v1/checkout/quote', `{"userId":"${u}","items":${deep(20)}}`],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[{"productId":"p","categoryId":"c","price":1e400,"quantity":1}]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[{"productId":"p","categoryId":"c","price":9007199254740993,"quantity":1}]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[{"productId":"p","categoryId":"c","price":1.5,"quantity":1}]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[{"productId":"p","categoryId":"c","price":1,"quantity":0}]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[{"productId":"p\u00e9","categoryId":"c","price":1,"quantity":1}]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","__proto__":{"items":[]},"items":[]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[{"__proto__":{"price":1},"productId":"p","categoryId":"c","quantity":1}]}`],
      ['/v1/checkout/quote', `{"userId":"${u}","userId":"other\\u0000","items":[]}`],
      ['/v1/checkout/quote', Buffer.from([0x82, 0xa6]), { 'content-type': 'application/msgpack' }],
      ['/v1/checkout/quote', JSON.stringify(cart), { 'content-type': '' }],
      ['/v1/checkout/quote', JSON.stringify(cart), { 'content-type': 'application/json; charset=latin1' }],
      ['/v1/checkout/quote', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
      ['/v1/checkout/quote', `{"userId":"${u}","items":[${Array(201).fill('{}').join(',')}]}`],
      ['/v1/checkout/quote', `{"${'k'.repeat(60_000)}":1}`],
      ['/v1/checkout/quote', Buffer.alloc((64 << 10) + 1, 0x20)],
      ['/v1/checkout/quote', 'null'],
      ['/v1/checkout/quote', '"str"'],
      [`/v1/coupons/${id}/lock`, `{"userId":"${u}","orderId":"o","cart":${deep(25)}}`],
      [`/v1/coupons/${id}/lock`, `{"userId":"${u}","orderId":"o","cart":{"userId":"${u}","items":[{"productId":"p","categoryId":"c","price":-0.0001,"quantity":1}]}}`],
      [`/v1/coupons/${id}/lock`, `{"userId":"${u}","orderId":"${'o'.repeat(65)}"}`],
      [`/v1/coupons/${id}/lock`, `{"userId":"${u}","orderId":"o\\u0130"}`],
      [`/v1/coupons/${id}/lock`, `{"userId":["${u}"],"orderId":"o"}`],
      [`/v1/coupons/${id}/lock`, `{"userId":"${u}","orderId":{"toString":"x"}}`],
      [`/v1/coupons/${id}/confirm`, `{"orderId":"o","__proto__":1}`],
      [`/v1/coupons/${id}/confirm`, `{"orderId":12345}`],
      [`/v1/coupons/${id}/cancel`, '{}'],
      [`/v1/coupons/${id}/refund`, '[{"orderId":"o"}]'],
      [`/v1/coupons/${id}%00/confirm`, '{"orderId":"o"}'],
      [`/v1/coupons/${encodeURIComponent('0.0.0.1 OR 1=1')}/cancel`, '{"orderId":"o"}'],
      [`/v1/coupons/${'9'.repeat(5000)}/cancel`, '{"orderId":"o"}'],
      [`/v1/coupons/%F0%9F%92%A9/lock`, `{"userId":"${u}","orderId":"o"}`],
    ];
    const seen = new Set<number>();
    for (const [path, body, headers] of hostile) {
      const r = await post(path, body, headers);
      seen.add(r.status);
      assert.ok([400, 404, 413, 415].includes(r.status), `${path} ${String(body).slice(0, 60)}: ${r.status} ${r.raw.toString().slice(0, 200)}`);
      assert.equal(typeof r.json?.error, 'string', `${path}: ${r.raw.toString().slice(0, 100)}`);
    }
    assert.ok(seen.has(400) && seen.has(404) && seen.has(413) && seen.has(415), [...seen].join(','));
    // Nothing was locked, confirmed or cancelled by the hostile calls; the gateway still answers.
    assert.deepEqual(await couponState(s, id), { status: 'unused', order_id: null });
    assert.deepEqual(await orderRows(id), []);
    assert.equal((await http('GET', `${base}/healthz`)).status, 200);
    assert.doesNotMatch(gw.log(), /unhandled error/);
  } finally {
    await gw.stop();
  }
});
