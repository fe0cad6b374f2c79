/**
 * The sink meets grouped entries (several records each, lua/record.ts v2) and single ones (v1,
 * still in a stream after an upgrade) in one stream. Each record lands once in its own shard
 * table; an entry is acknowledged only when all its records are stored or set aside; a poison
 * record goes to the dead letters alone (re-packed as v1) while its neighbours are written; an
 * entry with a record that must wait (its template row is missing) stays pending as a whole
 * and lands once the row exists.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pack } from 'msgpackr';
import { ScriptCode } from '../../../lua/codes.ts';
import { Commands, type HomeClaim } from '../../../lua/commands.ts';
import { deadKey, stockKey, streamKey, subStockPartition } from '../../../lua/keys.ts';
import { decodeRecords, type IssuanceRecord, packRecord, RECORD_FIELD } from '../../../lua/record.ts';
import { couponIdPrefix, shardOfUser } from '../../../core/shards.ts';
import { startSink } from '../../../sink/sink.ts';
import { createLog } from '../../../sink/log.ts';
import { openStorage, testConfig } from '../../../tools/harness/storage.ts';
import { couponRows, insertTemplate, keySpace, layout, pendingTotal, waitFor } from '../../support/sink-fixtures.ts';

const row = (id: string) => ({ id, name: id, type: 'direct', value: 100, threshold: null, maxDiscount: null, subStocks: 1, validDays: 7 }) as const;

test('grouped and single entries in one stream: every record once, poison alone, waiting entries whole', async () => {
  const cfg = testConfig({ SINK_BATCH_MAX_WAIT_MS: '20', SINK_RECLAIM_IDLE_MS: '300', SINK_RECLAIM_EVERY_MS: '100' });
  const st = await openStorage(cfg);
  const ks = keySpace(cfg);
  const lines: string[] = [];
  let sink: Awaited<ReturnType<typeof startSink>> | undefined;
  try {
    await insertTemplate(st, row('gA'));
    const p = subStockPartition(ks, 'gA', 0);
    const stream = streamKey(ks, p);
    const users = Array.from({ length: 12 }, (_, i) => `gu${i}`);
    // users over several shard tables, so one entry's records go to several INSERTs.
    assert.ok(new Set(users.map((u) => JSON.stringify(shardOfUser(layout(cfg), u)))).size > 2);

    // 1. a single v1 entry, as written before group commit.
    const v1: IssuanceRecord = { couponId: `${couponIdPrefix(layout(cfg), 'old')}.${p}.1`, templateId: 'gA', userId: 'old',
      requestId: 'r-old', claimedAtMs: Date.now(), homePartition: p, amount: null };
    await st.redis.xadd(stream, '*', RECORD_FIELD, packRecord(v1));
    // 2. one group of the real script: one entry, every record.
    await st.redis.set(stockKey(ks, 'gA', 0), 100);
    const claims: HomeClaim[] = users.map((userId) => ({ templateId: 'gA', userId, requestId: `r-${userId}`, remember: '1',
      perUserLimit: 1, home: 0, homePartition: p, shardPrefix: couponIdPrefix(layout(cfg), userId) }));
    const replies = await new Commands(st.redis, ks).claimHomeGroup(claims);
    assert.ok(replies.every(([c]) => c === ScriptCode.Issued));
    assert.equal(await st.redis.xlen(stream), 2, 'the group wrote one entry');
    // 3. a grouped entry with one record whose coupon id names the wrong shard, between two good ones.
    const now = Date.now();
    const good = (u: string, n: number) => [`${couponIdPrefix(layout(cfg), u)}.${p}.${n}`, u, `r-${u}`];
    const wrongShard = ['9.9.0.5', 'bad-user', 'r-bad'];
    await st.redis.xadd(stream, '*', RECORD_FIELD, pack([2, 'gA', now, p, ...good('m1', 2), ...wrongShard, ...good('m2', 3)]));
    // 4. a grouped entry of a template whose row does not exist yet.
    await st.redis.xadd(stream, '*', RECORD_FIELD, pack([2, 'gLate', now, p, ...good('l1', 4), ...good('l2', 5)]));
    // 5. an entry nothing can read.
    await st.redis.xadd(stream, '*', RECORD_FIELD, Buffer.from('not msgpack at all'));

    sink = await startSink(cfg, { redis: st.redis, mysql: st.mysql, log: createLog((l) => lines.push(l), 0) });
    const expectA = 1 + users.length + 2;
    await waitFor(async () => (await couponRows(st)).filter((r) => r.template_id === 'gA').length >= expectA, 10_000, 'rows of gA');
    await waitFor(async () => (await st.redis.xlen(deadKey(ks, p))) >= 2, 5_000, 'two dead letters');
    // the late template's entry is kept whole: pending, unacked, no row of it yet. (The others'
    // rows are visible a moment before their XACK: wait for it rather than read once.)
    await waitFor(async () => (await pendingTotal(st)) === 1, 5_000, 'only the waiting entry is pending');
    assert.equal((await couponRows(st)).filter((r) => r.template_id === 'gLate').length, 0);

    await insertTemplate(st, row('gLate'));
    await waitFor(async () => (await couponRows(st)).filter((r) => r.template_id === 'gLate').length === 2, 10_000, 'rows of gLate');
    await waitFor(async () => (await pendingTotal(st)) === 0, 5_000, 'every entry acknowledged');

    const rows = await couponRows(st);
    const ids = rows.map((r) => r.coupon_id);
    assert.equal(new Set(ids).size, ids.length, 'no record stored twice');
    assert.deepEqual(new Set(rows.filter((r) => r.template_id === 'gA').map((r) => r.user_id)), new Set(['old', ...users, 'm1', 'm2']));
    for (const r of rows) assert.deepEqual({ db: r.db, table: r.table }, shardOfUser(layout(cfg), r.user_id));

    const dead = await st.redis.xrangeBuffer(deadKey(ks, p), '-', '+');
    const field = (f: Buffer[], name: string) => f[f.findIndex((x, i) => i % 2 === 0 && x.toString() === name) + 1];
    const poison = dead.find(([, f]) => /does not name a shard/.test(String(field(f, 'error'))));
    assert.ok(poison, `the wrong-shard record is dead-lettered: ${dead.map(([, f]) => String(field(f, 'error'))).join("; ")}`);
    assert.deepEqual(decodeRecords(field(poison[1], RECORD_FIELD)!).map((r) => r.couponId), ['9.9.0.5'],
      'alone, readable as a single record');
    assert.ok(dead.some(([, f]) => /undecodable/.test(String(field(f, 'error')))), 'the unreadable entry is dead-lettered whole');
    assert.equal(dead.length, 2);
  } finally {
    await sink?.stop();
    await st.close();
  }
});
