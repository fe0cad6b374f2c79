/**
 * The sink against the real Redis and MariaDB: records produced by the real claim script end
 * up as exactly one row each in the right shard table, with the template's fields copied;
 * re-delivered records add nothing; poison goes to the dead letters without blocking others;
 * a record whose template row is missing waits (unacked) until the row exists.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pack } from 'msgpackr';
import { deadKey, streamKey, subStockPartition } from '../../../lua/keys.ts';
import { createLog } from '../../../sink/log.ts';
import { ensureSchema } from '../../../core/schema.ts';
import { shardDbName, shardOfCoupon, shardOfUser } from '../../../core/shards.ts';
import { startSink } from '../../../sink/sink.ts';
import { countRows, couponRows, insertTemplate, type Issued, keySpace, layout, pendingTotal, produceClaims, waitFor } from '../../support/sink-fixtures.ts';
import { openStorage, testConfig, drained } from '../../../tools/harness/storage.ts';

const DAY_MS = 86_400_000;

test('sink writes each issued coupon once, dead-letters poison, waits for missing templates', async () => {
  const cfg = testConfig({
    SINK_CONSUMER: 'writer-1',
    SINK_BATCH_MAX_WAIT_MS: '50',
    // deferred records (missing template) come back through XAUTOCLAIM: make that quick.
    SINK_RECLAIM_IDLE_MS: '300',
    SINK_RECLAIM_EVERY_MS: '100',
    SINK_TRIM_EVERY_MS: '200',
  });
  const st = await openStorage(cfg);
  const ks = keySpace(cfg);
  const lines: string[] = [];
  const log = createLog((l) => lines.push(l), 0);
  let sink: Awaited<ReturnType<typeof startSink>> | undefined;
  try {
    const tpl = { id: 'tpl-main', name: 'Spend 30 get 5', type: 'threshold', value: 500, threshold: 3000,
      maxDiscount: null, subStocks: 4, validDays: 7 } as const;
    await insertTemplate(st, tpl);
    const late = { id: 'tpl-late', name: '12% off', type: 'discount', value: 12, threshold: null,
      maxDiscount: 2000, subStocks: 2, validDays: 3 } as const;

    const produceStart = Date.now();
    const issued: Issued[] = await produceClaims(st, tpl.id, Array.from({ length: 5000 }, (_, i) => `user-${i}`), tpl.subStocks);
    // records of a template whose MySQL row does not exist yet
    const lateIssued = await produceClaims(st, late.id, Array.from({ length: 40 }, (_, i) => `late-${i}`), late.subStocks);
    const produceMs = Date.now() - produceStart;

    // keep copies of some packed records to re-deliver them later (the streams get trimmed).
    const p0 = subStockPartition(ks, tpl.id, 0);
    const copies = (await st.redis.xrangeBuffer(streamKey(ks, p0), '-', '+', 'COUNT', 100))
      .map(([, fields]) => fields[1]!);
    assert.equal(copies.length, 100);

    const t0 = Date.now();
    sink = await startSink(cfg, { log });
    await waitFor(async () => (await countRows(st)) >= issued.length, 30_000, 'the first 5000 rows');
    const drainMs = Date.now() - t0;
    const s1 = sink.stats();
    console.log(`# diagnostic: produced ${issued.length + lateIssued.length} claims in ${produceMs} ms; sink wrote ` +
      `${issued.length} rows in ${drainMs} ms = ${Math.round(issued.length / (drainMs / 1000))} rows/s, ` +
      `${s1.inserts} INSERTs (${(s1.rowsWritten / Math.max(1, s1.inserts)).toFixed(1)} rows each)`);

    // the late template's records are delivered but never acked while the row is missing, even
    // after several reclaim rounds
    await waitFor(async () => (await pendingTotal(st)) === lateIssued.length, 10_000, 'only late records pending');
    await waitFor(async () => sink!.stats().deferred >= 2 * lateIssued.length, 10_000, 'deferred records to be retried');
    assert.equal(await pendingTotal(st), lateIssued.length, 'late records stay pending');
    assert.equal(await countRows(st), issued.length, 'no late rows without a template');
    await insertTemplate(st, late);
    await waitFor(() => drained(st), 10_000, 'late records written once the template exists');
    assert.equal(await countRows(st), issued.length + lateIssued.length);

    // poison in front of valid records of the same partition: dead-lettered, the rest flows.
    const victim = 'user-0';
    const good = shardOfUser(layout(cfg), victim);
    const wrongShardId = `${good.db}.${(good.table + 1) % cfg.mysql.shardTables}.${p0}.1234567890123456`;
    const poisonIds = [
      await st.redis.xadd(streamKey(ks, p0), '*', 'd', Buffer.from([0xc1, 0xff, 0x00, 0x13, 0x37])),
      await st.redis.xadd(streamKey(ks, p0), '*', 'x', 'no record field'),
      await st.redis.xadd(streamKey(ks, p0), '*', 'd', pack([1, wrongShardId, tpl.id, victim, 'r-poison', Date.now(), p0])),
    ];
    const more = await produceClaims(st, tpl.id, Array.from({ length: 200 }, (_, i) => `more-${i}`), tpl.subStocks);
    assert.ok(more.some((m) => shardOfCoupon(layout(cfg), m.couponId) && m.couponId.split('.')[2] === String(p0)),
      'some valid records follow the poison in its partition');
    await waitFor(() => drained(st), 10_000, 'poison handled and later records written');
    const dead = await st.redis.xrange(deadKey(ks, p0), '-', '+');
    assert.deepEqual(dead.map(([, f]) => f[1]), poisonIds, 'each poison entry dead-lettered once, with its id');
    assert.match(dead[0]![1][3]!, /undecodable/);
    assert.match(dead[1]![1][3]!, /no field "d"/);
    assert.match(dead[2]![1][3]!, /names shard/);
    assert.equal(sink.stats().deadLettered, 3);

    // re-delivery of already written records: same coupon ids, no new rows
    for (const d of copies) await st.redis.xadd(streamKey(ks, p0), '*', 'd', d);
    await waitFor(() => drained(st), 10_000, 're-delivered records handled');
    const all = [...issued, ...lateIssued, ...more];
    assert.equal(await countRows(st), all.length, 're-delivery added no rows');
    assert.equal(sink.stats().deadLettered, 3, 'duplicates are not errors');

    await sink.stop();
    sink = undefined;
    assert.equal(await pendingTotal(st), 0);

    // every row: the issued id, once, in its user's shard, with copied template fields
    const rows = await couponRows(st);
    assert.equal(rows.length, all.length);
    const byId = new Map(all.map((x) => [x.couponId, x]));
    assert.equal(byId.size, all.length, 'the claim script minted distinct ids');
    const seen = new Set<string>();
    for (const r of rows) {
      const want = byId.get(r.coupon_id);
      assert.ok(want, `unexpected row ${r.coupon_id}`);
      assert.ok(!seen.has(r.coupon_id), `duplicate row ${r.coupon_id}`);
      seen.add(r.coupon_id);
      assert.equal(r.user_id, want.userId);
      assert.equal(r.request_id, want.requestId);
      assert.equal(r.template_id, want.templateId);
      assert.deepEqual({ db: r.db, table: r.table }, shardOfUser(layout(cfg), r.user_id), `shard of ${r.coupon_id}`);
      const t = want.templateId === tpl.id ? tpl : late;
      assert.deepEqual([r.name, r.type, Number(r.value), r.threshold === null ? null : Number(r.threshold),
        r.max_discount === null ? null : Number(r.max_discount), r.status],
      [t.name, t.type, t.value, t.threshold, t.maxDiscount, 'unused']);
      assert.ok(Math.abs(r.claimed_at.getTime() - produceStart) < 120_000, `claimed_at ${r.claimed_at.toISOString()}`);
      assert.equal(r.valid_from.getTime(), r.claimed_at.getTime());
      assert.equal(r.valid_to.getTime() - r.valid_from.getTime(), t.validDays * DAY_MS);
      assert.match(r.stream_id, /^\d+-\d+$/);
    }
    assert.ok(!rows.some((r) => r.coupon_id === wrongShardId), 'poison never reaches MySQL');
  } catch (err) {
    console.error(lines.join('\n'));
    throw err;
  } finally {
    await sink?.stop();
    await st.close();
  }
});

test('MySQL failures are retried, nothing unwritten is acked, and the sink resumes', async () => {
  const cfg = testConfig({ SINK_CONSUMER: 'writer-2', SINK_BATCH_MAX_WAIT_MS: '20', SINK_RETRY_MAX_MS: '100' });
  const st = await openStorage(cfg);
  const lines: string[] = [];
  let sink: Awaited<ReturnType<typeof startSink>> | undefined;
  try {
    const tpl = { id: 'tpl-f', name: '1 off', type: 'direct', value: 100, threshold: null, maxDiscount: null,
      subStocks: 4, validDays: 1 } as const;
    await insertTemplate(st, tpl);
    // shard database 0 is gone: every INSERT for its users fails until it is back
    await st.mysql.forDb(0).query(`DROP DATABASE \`${shardDbName(cfg.mysql.dbPrefix, 0)}\``);
    const issued = await produceClaims(st, tpl.id, Array.from({ length: 1000 }, (_, i) => `f-${i}`), tpl.subStocks);
    const toDb0 = issued.filter((x) => shardOfUser(layout(cfg), x.userId).db === 0).length;
    assert.ok(toDb0 > 0 && toDb0 < issued.length);

    sink = await startSink(cfg, { log: createLog((l) => lines.push(l), 0) });
    await waitFor(async () => (await pendingTotal(st)) === toDb0, 10_000, 'the other database to be written');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await pendingTotal(st), toDb0, 'records of the failing database stay unacked');
    assert.ok(lines.some((l) => /insert into .* failed/.test(l)), 'failures are logged');
    assert.equal(sink.stats().deadLettered, 0, 'a failing database is not poison');

    await ensureSchema(st.mysql, cfg.mysql);
    await waitFor(() => drained(st), 10_000, 'the sink to resume once MySQL is back');
    const rows = await couponRows(st);
    assert.deepEqual(rows.map((r) => r.coupon_id).sort(), issued.map((x) => x.couponId).sort());
  } catch (err) {
    console.error(lines.join('\n'));
    throw err;
  } finally {
    await sink?.stop();
    await st.close();
  }
});
