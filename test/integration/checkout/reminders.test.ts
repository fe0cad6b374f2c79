/**
 * Expiry reminders end to end: coupons claimed through the real gateway are filed by the sink
 * under the UTC day their use window ends; GET /v1/admin/reminders pages the ones still unused
 * across every shard, each once and in order; a coupon used or held by a live lock drops out
 * and comes back when unused again; `npm run reminders` prints the same set; a redelivered
 * record leaves one reminder row.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { reminderTableName } from '../../../core/schema.ts';
import { couponIdPrefix, shardDbName, shardOfCoupon, shardTableName } from '../../../core/shards.ts';
import { createLog } from '../../../sink/log.ts';
import { OpenEntry, type Item } from '../../../sink/entries.ts';
import { ShardWriter } from '../../../sink/writer.ts';
import { ROOT } from '../../../tools/harness/processes.ts';
import { drained, testEnv } from '../../../tools/harness/storage.ts';
import { ADMIN, createTemplate, http } from '../../support/http.ts';
import { waitFor } from '../../support/sink-fixtures.ts';
import { openStack, type Stack } from '../../support/stack.ts';

const DAY_MS = 86_400_000;
const env = testEnv();
let st: Stack;
const url = () => st.gw.url;
const layout = () => ({ dbs: st.s.cfg.mysql.shardDbs, tables: st.s.cfg.mysql.shardTables });
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const iso = (ms: number) => new Date(ms).toISOString();

// Days well ahead: A holds two templates (noon, and its last millisecond), B starts at A's end.
const dayA = Math.floor(Date.now() / DAY_MS) * DAY_MS + 3 * DAY_MS;
const claimed = new Map<string, string[]>();
let relativeDay = '';

before(async () => {
  st = await openStack(env);
  const fixed = (name: string, validTo: number) => createTemplate(url(), { name, type: 'direct', value: 100, totalStock: 1000,
    validFrom: iso(Date.now() - 3_600_000), validTo: iso(validTo), claimEnd: iso(validTo) });
  const noon = await fixed('noon', dayA + DAY_MS / 2);
  const lastMs = await fixed('last ms', dayA + DAY_MS - 1);
  const nextDay = await fixed('next day', dayA + DAY_MS);
  const relative = await createTemplate(url(), { name: 'two days', type: 'direct', value: 100, totalStock: 1000, validDays: 2 });
  const plan: [any, string, number][] = [[noon, dayOf(dayA), 30], [lastMs, dayOf(dayA), 9], [nextDay, dayOf(dayA + DAY_MS), 11],
    [relative, 'relative', 13]];
  for (const [t, day, n] of plan) {
    for (let i = 0; i < n; i++) {
      const r = await http('POST', `${url()}/v1/claim`, { userId: `${t.id}-u${i}`, templateId: t.id, requestId: `r${i}` });
      assert.equal(r.json?.status, 'issued', r.raw.toString());
      claimed.set(day, [...claimed.get(day) ?? [], r.json.couponId]);
    }
  }
  const total = [...claimed.values()].reduce((a, b) => a + b.length, 0);
  await waitFor(async () => (await drained(st.s)) && (await reminderRows()).length === total, 20_000, 'the sink to file every coupon');
  const days = new Set((await reminderRows()).filter((r) => claimed.get('relative')!.includes(r.coupon_id)).map((r) => r.day));
  assert.equal(days.size, 1, 'claimed within seconds: one day (unless the run straddles midnight)');
  relativeDay = [...days][0]!;
});
after(() => st?.close());

/** Every reminder row of every shard: its coupon and day. */
async function reminderRows(): Promise<{ coupon_id: string; day: string }[]> {
  const out: { coupon_id: string; day: string }[] = [];
  for (let d = 0; d < layout().dbs; d++) {
    for (let t = 0; t < layout().tables; t++) {
      const [rows] = await st.s.mysql.forDb(d).query<RowDataPacket[]>(`SELECT coupon_id, DATE_FORMAT(expire_day, '%Y-%m-%d') AS day
        FROM \`${shardDbName(st.s.cfg.mysql.dbPrefix, d)}\`.\`${reminderTableName(t)}\``);
      out.push(...rows.map((r) => ({ coupon_id: String(r.coupon_id), day: String(r.day) })));
    }
  }
  return out;
}

/** Runs SQL on a coupon's row. */
async function onRow(couponId: string, set: string, values: unknown[] = []): Promise<void> {
  const s = shardOfCoupon(layout(), couponId)!;
  await st.s.mysql.forDb(s.db).query(`UPDATE \`${shardDbName(st.s.cfg.mysql.dbPrefix, s.db)}\`.\`${shardTableName(s.table)}\`
    SET ${set} WHERE coupon_id = ?`, [...values, couponId]);
}

const page = (query: string, headers: Record<string, string> = ADMIN) => http('GET', `${url()}/v1/admin/reminders?${query}`, undefined, headers);

/** Walks every page of a day; asserts each page's size and returns the coupons in order. */
async function listAll(day: string, limit: number): Promise<{ ids: string[]; pages: number; items: any[] }> {
  const items: any[] = [];
  let cursor = '';
  let pages = 0;
  for (;;) {
    const r = await page(`day=${day}&cursor=${cursor}&limit=${limit}`);
    assert.equal(r.status, 200, r.raw.toString());
    assert.ok(r.json.reminders.length <= limit);
    pages++;
    items.push(...r.json.reminders);
    if (r.json.nextCursor === null) break;
    assert.equal(r.json.reminders.length, limit, 'only the last page is short');
    cursor = r.json.nextCursor;
  }
  return { ids: items.map((x) => x.couponId), pages, items };
}

/** The walk's order: shard (database, table), then coupon id bytes. */
const walkOrder = (ids: readonly string[]) => [...ids].sort((a, b) => {
  const [x, y] = [shardOfCoupon(layout(), a)!, shardOfCoupon(layout(), b)!];
  return (x.db - y.db) || (x.table - y.table) || (a < b ? -1 : a > b ? 1 : 0);
});

test('each day lists its coupons across shards, each once, in walk order, with a null cursor at the end', async () => {
  for (const [day, want] of [[dayOf(dayA), claimed.get(dayOf(dayA))!], [dayOf(dayA + DAY_MS), claimed.get(dayOf(dayA + DAY_MS))!],
    [relativeDay, claimed.get('relative')!]] as const) {
    for (const limit of [1, 4, 7, 1000]) {
      const { ids, pages } = await listAll(day, limit);
      assert.equal(new Set(ids).size, ids.length, 'no duplicates');
      assert.deepEqual(ids, walkOrder(want), `day ${day}, limit ${limit}`);
      assert.equal(pages, Math.max(1, Math.ceil(want.length / limit)));
    }
  }
  assert.ok(new Set(claimed.get(dayOf(dayA))!.map((id) => id.split('.').slice(0, 2).join('.'))).size > 1, 'spread over shards');
  const { items } = await listAll(dayOf(dayA), 100);
  const one = items.find((x) => x.name === 'last ms');
  assert.deepEqual(Object.keys(one).sort(), ['couponId', 'name', 'templateId', 'userId', 'validTo']);
  assert.equal(one.validTo, iso(dayA + DAY_MS - 1));
  assert.match(one.userId, /-u\d+$/);
  // a day nothing expires on; the default limit
  const empty = await page(`day=${dayOf(dayA + 20 * DAY_MS)}`);
  assert.deepEqual([empty.status, empty.json], [200, { reminders: [], nextCursor: null }]);
});

test('a coupon used or under a live lock is not listed; unused again, or its lock stale, it is', async () => {
  const day = dayOf(dayA);
  const [used, locked, stale, moved] = walkOrder(claimed.get(day)!).slice(3, 7) as [string, string, string, string];
  await onRow(used, "status = 'used', used_at = NOW(3)");
  await onRow(locked, "status = 'locked', locked_until = ?", [new Date(Date.now() + 600_000)]);
  await onRow(stale, "status = 'locked', locked_until = ?", [new Date(Date.now() - 1000)]);
  // filed under A but its row now ends on another day (as a colliding claim's row would)
  await onRow(moved, 'valid_to = ?', [new Date(dayA + 5 * DAY_MS)]);
  const { ids } = await listAll(day, 5);
  assert.deepEqual(ids, walkOrder(claimed.get(day)!.filter((id) => id !== used && id !== locked && id !== moved)));
  assert.ok(ids.includes(stale));
  await onRow(used, "status = 'unused', used_at = NULL");
  await onRow(locked, "status = 'unused', locked_until = NULL");
  await onRow(moved, 'valid_to = ?', [new Date(dayA + DAY_MS / 2)]);
  assert.deepEqual((await listAll(day, 5)).ids, walkOrder(claimed.get(day)!));
});

test('bad day, cursor or limit is a 400 naming the field; no token is 401; other methods 405', async () => {
  const day = dayOf(dayA);
  const other = Buffer.from(`${layout().dbs}.0.0.1`).toString('base64url');
  for (const [query, field] of [['', 'day'], ['day=2027-02-30', 'day'], ['day=2027-1-2', 'day'], ['day=tomorrow', 'day'],
    [`day=${day}&cursor=zz%21`, 'cursor'], [`day=${day}&cursor=${other}`, 'cursor'],
    [`day=${day}&cursor=${Buffer.from('hello').toString('base64url')}`, 'cursor'],
    [`day=${day}&limit=0`, 'limit'], [`day=${day}&limit=1001`, 'limit'], [`day=${day}&limit=ten`, 'limit'],
    [`day=${day}&status=unused`, 'status']] as const) {
    const r = await page(query);
    assert.deepEqual([r.status, r.json?.error], [400, 'bad_request'], query);
    assert.ok(r.json.message.startsWith(`${field}: `), `${query}: ${r.json.message}`);
  }
  assert.equal((await page(`day=${day}`, {})).status, 401);
  assert.equal((await page(`day=${day}`, { authorization: 'Bearer wrong-token-123' })).status, 401);
  assert.equal((await http('POST', `${url()}/v1/admin/reminders?day=${day}`, {}, ADMIN)).status, 405);
});

/** Runs the CLI; resolves with its exit code and output. */
function remindersCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cli/reminders.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
}

test('npm run reminders prints the listing as JSON lines; bad arguments exit 2', async () => {
  const day = dayOf(dayA);
  const api = (await listAll(day, 1000)).items;
  for (const limit of ['1000', '3']) {
    const r = await remindersCli(['--day', day, '--limit', limit]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)), api);
  }
  for (const args of [[], ['--day', '2027-02-30'], ['--day', day, '--limit', '0'], ['--day', day, '--limit', 'x'], ['--days', day]]) {
    const r = await remindersCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /usage: npm run reminders/);
    assert.equal(r.stdout, '');
  }
});

test('a record written twice (redelivery) leaves one coupon row and one reminder row', async () => {
  const t = await createTemplate(url(), { name: 'redelivered', type: 'direct', value: 100, totalStock: 10,
    validFrom: iso(Date.now() - 3_600_000), validTo: iso(dayA + 2 * DAY_MS + 1), claimEnd: iso(dayA + 2 * DAY_MS) });
  const items: Item[] = Array.from({ length: 6 }, (_, i) => {
    const userId = `again-${i}`;
    return { entry: new OpenEntry(0, `1-${i}`, 1), record: { couponId: `${couponIdPrefix(layout(), userId)}.0.${900 + i}`,
      templateId: t.id, userId, requestId: `r-${i}`, claimedAtMs: Date.now(), homePartition: 0, amount: null } };
  });
  const w = new ShardWriter(st.s.mysql, st.s.cfg.mysql, { retryMaxMs: 100, queryTimeoutMs: 10_000, templateWaitMs: 600_000,
    signal: new AbortController().signal, log: createLog(() => {}, 0) });
  for (let round = 0; round < 2; round++) {
    const plan = await w.plan(items);
    for (const g of plan.groups) assert.deepEqual(await w.insert(g), { written: g.items, poison: [] });
  }
  const ids = items.map((i) => i.record.couponId);
  const filed = (await reminderRows()).filter((r) => ids.includes(r.coupon_id));
  assert.deepEqual(filed.map((r) => r.day).sort(), ids.map(() => dayOf(dayA + 2 * DAY_MS)));
  assert.deepEqual(new Set(filed.map((r) => r.coupon_id)).size, ids.length);
  for (const id of ids) {
    const s = shardOfCoupon(layout(), id)!;
    const [rows] = await st.s.mysql.forDb(s.db).query<RowDataPacket[]>(`SELECT conflicts FROM
      \`${shardDbName(st.s.cfg.mysql.dbPrefix, s.db)}\`.\`${shardTableName(s.table)}\` WHERE coupon_id = ?`, [id]);
    assert.deepEqual(rows.map((r) => r.conflicts), [0], id);
  }
  assert.deepEqual((await listAll(dayOf(dayA + 2 * DAY_MS), 4)).ids, walkOrder(ids));
});
