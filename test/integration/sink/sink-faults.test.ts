/**
 * The sink when things go wrong: a coupon id already stored for another claim, a MySQL table
 * that hangs every INSERT, a template row that never appears. Each case must end loudly or
 * pending, never with a record acknowledged and its row missing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { pack } from 'msgpackr';
import { deadKey, streamKey } from '../../../lua/keys.ts';
import { createLog } from '../../../sink/log.ts';
import { shardDbName, shardOfUser, shardTableName } from '../../../core/shards.ts';
import { startSink } from '../../../sink/sink.ts';
import { couponRows, insertTemplate, keySpace, layout, pendingTotal, produceClaims, waitFor } from '../../support/sink-fixtures.ts';
import { openStorage, testConfig, drained } from '../../../tools/harness/storage.ts';

const template = (id: string) => ({ id, name: 'n', type: 'direct', value: 100, threshold: null, maxDiscount: null,
  subStocks: 2, validDays: 7 } as const);

test('a record whose coupon id is stored for another claim is dead-lettered, the row kept', async () => {
  const cfg = testConfig({ SINK_BATCH_MAX_WAIT_MS: '20' });
  const st = await openStorage(cfg);
  const sink = await startSink(cfg, { redis: st.redis, mysql: st.mysql, log: createLog(() => {}, 0) });
  try {
    await insertTemplate(st, template('tpl-c'));
    const [first] = await produceClaims(st, 'tpl-c', ['alice'], 2);
    await waitFor(() => drained(st), 10_000, 'the first record');
    // Another user of the same shard table arrives with the same coupon id.
    const home = shardOfUser(layout(cfg), 'alice');
    let other = 'u0';
    for (let i = 0; JSON.stringify(shardOfUser(layout(cfg), other)) !== JSON.stringify(home); i++) other = `u${i}`;
    const key = streamKey(keySpace(cfg), 0);
    await st.redis.xadd(key, '*', 'd', pack([1, first!.couponId, 'tpl-c', other, 'r-other', Date.now(), 0]));
    await waitFor(() => drained(st), 10_000, 'the colliding record');
    const dead = await st.redis.xrange(deadKey(keySpace(cfg), 0), '-', '+');
    assert.equal(dead.length, 1);
    assert.match(dead[0]![1].join(' '), /already stored for another claim/);
    const rows = await couponRows(st);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.user_id, 'alice');
    const [[row]] = await st.mysql.forDb(home.db).query(`SELECT conflicts FROM \`${shardDbName(cfg.mysql.dbPrefix, home.db)}\`.\`${shardTableName(home.table)}\``) as unknown as [{ conflicts: number }[]];
    assert.equal(row!.conflicts, 1);
  } finally {
    await sink.stop();
    await st.close();
  }
});

test('INSERTs that hang time out, nothing is acked, stop() keeps its deadline, another sink finishes', async () => {
  const cfg = testConfig({ SINK_BATCH_MAX_WAIT_MS: '20', SINK_MYSQL_TIMEOUT_MS: '300', SINK_RETRY_MAX_MS: '200' });
  const st = await openStorage(cfg);
  const locker = await mysql.createConnection({ uri: cfg.mysql.url });
  const lines: string[] = [];
  try {
    await insertTemplate(st, template('tpl-h'));
    const issued = await produceClaims(st, 'tpl-h', Array.from({ length: 200 }, (_, i) => `h${i}`), 2);
    const tables = [];
    for (let d = 0; d < cfg.mysql.shardDbs; d++) {
      for (let t = 0; t < cfg.mysql.shardTables; t++) tables.push(`\`${shardDbName(cfg.mysql.dbPrefix, d)}\`.\`${shardTableName(t)}\` WRITE`);
    }
    await locker.query(`LOCK TABLES ${tables.join(', ')}`);
    const stuck = await startSink(cfg, { log: createLog((l) => lines.push(l), 0), stopTimeoutMs: 1000 });
    await waitFor(async () => lines.some((l) => /insert into .* failed/.test(l)), 10_000, 'a timed-out INSERT to be logged');
    assert.equal(await pendingTotal(st), 200, 'a record was acknowledged while its table was locked');
    const t0 = Date.now();
    await stuck.stop();
    assert.ok(Date.now() - t0 < 5_000, `stop() took ${Date.now() - t0} ms`);
    // (The tables cannot be read while locked; the exact row set is checked after the rescue.)

    await locker.query('UNLOCK TABLES');
    const rescuer = await startSink(testConfig({
      KEY_PREFIX: cfg.redis.keyPrefix, DB_PREFIX: cfg.mysql.dbPrefix, SINK_CONSUMER: 'rescuer',
      SINK_RECLAIM_IDLE_MS: '300', SINK_RECLAIM_EVERY_MS: '100', SINK_BATCH_MAX_WAIT_MS: '20',
    }), { log: createLog(() => {}, 0) });
    try {
      await waitFor(() => drained(st), 15_000, 'the rescuer to write everything');
      await sleep(300);
      const rows = await couponRows(st);
      assert.deepEqual(rows.map((r) => r.coupon_id).sort(), issued.map((x) => x.couponId).sort());
    } finally {
      await rescuer.stop();
    }
  } finally {
    await locker.end();
    await st.close();
  }
});

test('a template row that never appears: its records are dead-lettered after the wait, not pinned', async () => {
  const cfg = testConfig({
    SINK_BATCH_MAX_WAIT_MS: '20', SINK_TEMPLATE_WAIT_MS: '1000', SINK_RECLAIM_IDLE_MS: '200', SINK_RECLAIM_EVERY_MS: '100',
  });
  const st = await openStorage(cfg);
  const sink = await startSink(cfg, { redis: st.redis, mysql: st.mysql, log: createLog(() => {}, 0) });
  try {
    const issued = await produceClaims(st, 'tpl-never', Array.from({ length: 30 }, (_, i) => `n${i}`), 2);
    await waitFor(() => drained(st), 10_000, 'every record to be delivered and acknowledged');
    let dead = 0;
    for (let p = 0; p < cfg.redis.partitions; p++) dead += await st.redis.xlen(deadKey(keySpace(cfg), p));
    assert.equal(dead, issued.length);
    assert.equal((await couponRows(st)).length, 0);
  } finally {
    await sink.stop();
    await st.close();
  }
});
