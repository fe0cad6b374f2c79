/**
 * The INSERT built as text (sink/insert-sql.ts) stores the same bytes as the INSERT with
 * placeholders that mysql2 escaped before issue 11: the same records go through both into two
 * schemas and every column of every row is compared as the server sends it (typeCast off).
 * Template names hold quotes, backslashes, control characters and any Unicode; ids are ASCII
 * with quotes and backslashes. A redelivery and a collision keep their old outcome.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pool } from 'mysql2/promise';
import { createLog } from '../../../sink/log.ts';
import { OpenEntry, type Item } from '../../../sink/entries.ts';
import { ShardWriter } from '../../../sink/writer.ts';
import { couponIdPrefix, mainDbName, shardDbName, shardOfUser, shardTableName, type ShardLayout } from '../../../core/shards.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';

const DAY_MS = 86_400_000;
const NAMES = ["Spend 30, get 5 — it's \"on us\"", 'back\\slash \\\' \\\\', 'tab\tnewline\nnul\0ctrl-z\x1a\rbs\b',
  'Grüße 🎟️ 满100减20 \u2028', "x' OR '1'='1", '%_? -- /* */ `'];

interface TemplateSeed {
  id: string; name: string; type: 'direct' | 'threshold' | 'discount'; value: number | string;
  threshold: number | string | null; maxDiscount: number | null; validDays: number | null; validFrom: Date | null; validTo: Date | null;
}

const seeds: TemplateSeed[] = NAMES.map((name, i) => ({
  id: i === 0 ? "tpl'quote" : i === 1 ? 'tpl\\back' : `tpl-${i}`, name,
  type: (['direct', 'threshold', 'discount'] as const)[i % 3]!,
  value: i === 2 ? '18446744073709551615' : 100 + i, threshold: i % 3 === 1 ? 3000 : null, maxDiscount: i % 3 === 2 ? 2000 : null,
  // even: valid some days after the claim; odd: a fixed window
  validDays: i % 2 === 0 ? 7 + i : null,
  validFrom: i % 2 === 0 ? null : new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)),
  validTo: i % 2 === 0 ? null : new Date(Date.UTC(2027, 11, 31, 23, 59, 59, 999)),
}));

async function insertTemplates(st: Storage): Promise<void> {
  const now = new Date();
  for (const t of seeds) {
    await st.mysql.main.query(`INSERT INTO \`${mainDbName(st.cfg.mysql.dbPrefix)}\`.coupon_template
      (id, name, type, value, threshold, max_discount, total_stock, per_user_limit, sub_stocks, valid_days, valid_from, valid_to,
       status, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1000000, 1, 1, ?, ?, ?, 'active', 1, ?, ?)`,
    [t.id, t.name, t.type, t.value, t.threshold, t.maxDiscount, t.validDays, t.validFrom, t.validTo, now, now]);
  }
}

/** Records of every template: users and requests with quotes and backslashes, claim times over hours and a year's end. */
function items(layout: ShardLayout): Item[] {
  const out: Item[] = [];
  const base = Date.UTC(2026, 11, 31, 22, 59, 59, 0);
  for (let i = 0; i < 600; i++) {
    const userId = [`u-${i}`, `o'brien-${i}`, `back\\slash-${i}`, `"q"-${i}`][i % 4]!;
    const entry = new OpenEntry(i % 16, `${1_767_000_000_000 + Math.floor(i / 3)}-${i % 3}`, 1);
    out.push({ entry, record: {
      couponId: `${couponIdPrefix(layout, userId)}.${i % 16}.${1_000_000 + i}`, templateId: seeds[i % seeds.length]!.id,
      userId, requestId: i % 5 === 0 ? `~gw.${i}` : `req'${i}\\`, claimedAtMs: base + i * 977_123 + (i % 1000), homePartition: i % 16,
      // a red packet's amount on some rows: the literal must store what a placeholder stores
      amount: i % 7 === 0 ? i * 1_000_003 : null,
    } });
  }
  return out;
}

/** The sink's INSERT before issue 11: placeholders, the template's fields as read, Dates escaped by mysql2. */
async function insertWithPlaceholders(st: Storage, source: Storage, all: readonly Item[]): Promise<void> {
  const [templates] = await source.mysql.main.query(`SELECT id, name, type, value, threshold, max_discount, valid_days, valid_from,
    valid_to FROM \`${mainDbName(source.cfg.mysql.dbPrefix)}\`.coupon_template`) as unknown as [Record<string, unknown>[]];
  const byId = new Map(templates.map((t) => [String(t.id), t]));
  const layout = { dbs: st.cfg.mysql.shardDbs, tables: st.cfg.mysql.shardTables };
  const cols = ['coupon_id', 'user_id', 'template_id', 'request_id', 'name', 'type', 'value', 'threshold', 'max_discount',
    'claimed_at', 'valid_from', 'valid_to', 'stream_id', 'amount'];
  for (const { entry, record: r } of all) {
    const t = byId.get(r.templateId)!;
    const claimedAt = new Date(r.claimedAtMs);
    const [validFrom, validTo] = t.valid_days === null ? [t.valid_from, t.valid_to]
      : [claimedAt, new Date(r.claimedAtMs + Number(t.valid_days) * DAY_MS)];
    const s = shardOfUser(layout, r.userId);
    await st.mysql.forDb(s.db).query(`INSERT INTO \`${shardDbName(st.cfg.mysql.dbPrefix, s.db)}\`.\`${shardTableName(s.table)}\`
      (${cols.join(',')}) VALUES (${cols.map(() => '?').join(',')})`, [r.couponId, r.userId, r.templateId, r.requestId,
      t.name, t.type, t.value, t.threshold, t.max_discount, claimedAt, validFrom, validTo, entry.id, r.amount]);
  }
}

/** Every shard table's rows, each column as the bytes the server sent. */
async function rawRows(st: Storage): Promise<Buffer[][][]> {
  const out: Buffer[][][] = [];
  for (let d = 0; d < st.cfg.mysql.shardDbs; d++) {
    for (let t = 0; t < st.cfg.mysql.shardTables; t++) {
      const [rows] = await (st.mysql.forDb(d) as Pool).query({ sql: `SELECT * FROM \`${shardDbName(st.cfg.mysql.dbPrefix, d)}\`.` +
        `\`${shardTableName(t)}\` ORDER BY coupon_id`, rowsAsArray: true, typeCast: false });
      out.push(rows as unknown as Buffer[][]);
    }
  }
  return out;
}

const writer = (st: Storage) => new ShardWriter(st.mysql, st.cfg.mysql, { retryMaxMs: 100, queryTimeoutMs: 10_000,
  templateWaitMs: 600_000, signal: new AbortController().signal, log: createLog(() => {}, 0) });

test('rows written from the INSERT text are byte for byte the rows of the INSERT with placeholders', async () => {
  const before = await openStorage(testConfig());
  const after = await openStorage(testConfig());
  try {
    await insertTemplates(after);
    const all = items({ dbs: after.cfg.mysql.shardDbs, tables: after.cfg.mysql.shardTables });
    const w = writer(after);
    const plan = await w.plan(all);
    assert.deepEqual([plan.poison.length, plan.deferred.length], [0, 0]);
    for (const g of plan.groups) assert.deepEqual(await w.insert(g), { written: g.items, poison: [] });
    await insertWithPlaceholders(before, after, all);

    const [a, b] = [await rawRows(after), await rawRows(before)];
    assert.equal(a.flat().length, all.length);
    assert.deepEqual(a, b);
    // the columns compared are real values: a name with its Unicode and escapes came through
    const names = new Set(a.flat().map((row) => row[5]!.toString('utf8')));
    assert.deepEqual([...names].sort(), [...NAMES].sort());

    // redelivered: nothing changes, nothing is poison
    const again = await w.plan(all);
    for (const g of again.groups) assert.deepEqual(await w.insert(g), { written: g.items, poison: [] });
    assert.deepEqual(await rawRows(after), b);
  } finally {
    await after.close();
    await before.close();
  }
});

test('a coupon id stored for another claim is still poison from the INSERT text, its row kept and counted', async () => {
  const st = await openStorage(testConfig());
  try {
    await insertTemplates(st);
    const layout = { dbs: st.cfg.mysql.shardDbs, tables: st.cfg.mysql.shardTables };
    const [first] = items(layout);
    const w = writer(st);
    for (const g of (await w.plan([first!])).groups) await w.insert(g);
    // same coupon id, another request of the same user; and a fresh record in the same batch
    const clash: Item = { entry: new OpenEntry(0, '1-0', 1), record: { ...first!.record, requestId: 'another' } };
    const fresh: Item = { entry: new OpenEntry(0, '1-1', 1), record: { ...first!.record, couponId: `${first!.record.couponId}9`, requestId: 'fresh' } };
    const plan = await w.plan([clash, fresh]);
    assert.equal(plan.groups.length, 1);
    const res = await w.insert(plan.groups[0]!);
    assert.deepEqual(res.written, [fresh]);
    assert.deepEqual(res.poison.map((p) => p.item), [clash]);
    const s = shardOfUser(layout, first!.record.userId);
    const [rows] = await st.mysql.forDb(s.db).query(`SELECT request_id, conflicts FROM \`${shardDbName(st.cfg.mysql.dbPrefix, s.db)}\`.` +
      `\`${shardTableName(s.table)}\` WHERE coupon_id = ?`, [first!.record.couponId]);
    assert.deepEqual(rows, [{ request_id: first!.record.requestId, conflicts: 1 }]);
  } finally {
    await st.close();
  }
});
