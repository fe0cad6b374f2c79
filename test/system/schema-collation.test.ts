// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * One identity rule in MySQL (issue 9, item 1): every character column of every table compares
 * bytes, so `Foo` and `foo` are two ids as they are in Redis. A new table that forgets it fails
 * the first test; an older database is migrated in place (and refused until it is).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { startSink } from '../../sink/sink.ts';
import { assertBinaryIds, looseColumns } from '../../core/collation.ts';
import { createLog } from '../../sink/log.ts';
import { ensureSchema } from '../../core/schema.ts';
import { mainDbName, shardDbName } from '../../core/shards.ts';
import { spawnEntry } from '../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const env = testEnv();
let s: Storage;

before(async () => { s = await openStorage(testConfig(env)); });
after(() => s?.close());

const dbs = () => [mainDbName(s.cfg.mysql.dbPrefix),
  ...Array.from({ length: s.cfg.mysql.shardDbs }, (_, d) => shardDbName(s.cfg.mysql.dbPrefix, d))];

/** Every column of the product's tables that has a collation, from information_schema. */
async function collatedColumns(): Promise<{ name: string; collation: string }[]> {
  const [rows] = await s.mysql.main.query<RowDataPacket[]>(
    `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA IN (?) AND COLLATION_NAME IS NOT NULL`, [dbs()]);
  return rows.map((r) => ({ name: `${r.TABLE_SCHEMA}.${r.TABLE_NAME}.${r.COLUMN_NAME}`, collation: String(r.COLLATION_NAME) }));
}

/** SHOW CREATE TABLE of every table, by name, without the auto-increment counter. */
async function definitions(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const [tables] = await s.mysql.main.query<RowDataPacket[]>(
    'SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (?)', [dbs()]);
  for (const t of tables) {
    const [[row]] = await s.mysql.main.query<RowDataPacket[]>(`SHOW CREATE TABLE \`${t.TABLE_SCHEMA}\`.\`${t.TABLE_NAME}\``) as unknown as [RowDataPacket[]];
    out.set(`${t.TABLE_SCHEMA}.${t.TABLE_NAME}`, String(row!['Create Table']).replace(/ AUTO_INCREMENT=\d+/, ''));
  }
  return out;
}

/**
 * Turns the fresh schema into what the previous release created: tables whose default character
 * set is ascii with its default collation, which ignores case; the names utf8mb4, likewise.
 */
async function makeCaseInsensitive(): Promise<void> {
  const [tables] = await s.mysql.main.query<RowDataPacket[]>(
    'SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (?)', [dbs()]);
  for (const t of tables) {
    const name = `\`${t.TABLE_SCHEMA}\`.\`${t.TABLE_NAME}\``;
    const [[named]] = await s.mysql.main.query<RowDataPacket[]>(
      `SELECT COLUMN_COMMENT AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = 'name'`,
      [t.TABLE_SCHEMA, t.TABLE_NAME]) as unknown as [RowDataPacket[]];
    await s.mysql.main.query(`ALTER TABLE ${name} CONVERT TO CHARACTER SET ascii COLLATE ascii_general_ci`);
    if (named) {
      await s.mysql.main.query(`ALTER TABLE ${name} MODIFY COLUMN name VARCHAR(200) CHARACTER SET utf8mb4
        COLLATE utf8mb4_general_ci NOT NULL COMMENT ?`, [named.c]);
    }
  }
  for (const db of dbs()) await s.mysql.main.query(`ALTER DATABASE \`${db}\` CHARACTER SET ascii COLLATE ascii_general_ci`);
}

test('every character column of every table compares bytes (binary collation)', async () => {
  const cols = await collatedColumns();
  assert.ok(cols.length >= 20, `only ${cols.length} collated columns found: the walk looks at the wrong databases`);
  const main = mainDbName(s.cfg.mysql.dbPrefix);
  for (const c of ['coupon_code_batch.batch_id', 'coupon_code_batch.template_id']) {
    assert.ok(cols.some((x) => x.name === `${main}.${c}`), `${c} is walked`);
  }
  const loose = cols.filter((c) => !c.collation.endsWith('_bin'));
  assert.deepEqual(loose, [], 'these columns would take two ids differing in case for one');
  assert.deepEqual(await looseColumns(s.mysql, s.cfg.mysql), []);
  // The grant tables (issue 12) are walked too: their ids compare bytes like every other id.
  for (const c of ['coupon_grant.grant_id', 'coupon_grant.template_id', 'coupon_grant_user.grant_id', 'coupon_grant_user.user_id',
    'coupon_grant_refusal.grant_id', 'coupon_grant_refusal.user_id']) {
    assert.match(cols.find((x) => x.name === `${main}.${c}`)?.collation ?? 'missing', /_bin$/, c);
  }
});

test('an older, case-insensitive database is refused at start, then migrated in place, repeatably', async () => {
  const fresh = await definitions();
  await makeCaseInsensitive();
  assert.ok((await looseColumns(s.mysql, s.cfg.mysql)).length >= 20);
  // Rows of the old database survive the migration, the non-ASCII name included.
  const main = `\`${mainDbName(s.cfg.mysql.dbPrefix)}\``;
  await s.mysql.main.query(`INSERT INTO ${main}.coupon_global_blacklist (kind, item_id) VALUES ('product', 'Shoes')`);
  await s.mysql.main.query(`INSERT INTO ${main}.coupon_template (id, name, type, value, total_stock, per_user_limit,
    sub_stocks, created_at, updated_at) VALUES ('Old1', 'Frühling 春', 'direct', 5, 10, 1, 1, NOW(3), NOW(3))`);
  await s.mysql.main.query(`INSERT INTO ${main}.coupon_code_batch (batch_id, template_id, count, created_at) VALUES ('Spring', 'Old1', 5, NOW(3))`);

  // Neither process runs on it: each would answer for the wrong id.
  await assert.rejects(assertBinaryIds(s.mysql, s.cfg.mysql), /compare ids ignoring case/);
  await assert.rejects(startSink(s.cfg, { redis: s.redis, mysql: s.mysql, log: createLog(() => undefined) }),
    /compare ids ignoring case/);
  const gw = spawnEntry('gateway/main.ts', { ...env, PORT: '0', HOST: '127.0.0.1' });
  const [code] = await once(gw.child, 'exit');
  assert.equal(code, 1);
  assert.match(gw.log(), /compare ids ignoring case.*sink\/migrate\.ts/);

  // The migration: what make run does before it starts them.
  const cli = spawnEntry('sink/migrate.ts', env);
  const [migrated] = await once(cli.child, 'exit');
  assert.equal(migrated, 0, cli.log());
  assert.match(cli.log(), /moved [1-9]\d* column\(s\) to binary collations/);
  assert.deepEqual(await looseColumns(s.mysql, s.cfg.mysql), []);
  assert.deepEqual(await definitions(), fresh, 'the migrated tables are defined exactly like new ones');
  const [[row]] = await s.mysql.main.query<RowDataPacket[]>(`SELECT name FROM ${main}.coupon_template WHERE id = 'Old1'`) as unknown as [RowDataPacket[]];
  assert.equal(row!.name, 'Frühling 春');
  // Now `shoes` is another item than `Shoes`, and `spring` another code batch than `Spring`.
  await s.mysql.main.query(`INSERT INTO ${main}.coupon_global_blacklist (kind, item_id) VALUES ('product', 'shoes')`);
  await s.mysql.main.query(`INSERT INTO ${main}.coupon_code_batch (batch_id, template_id, count, created_at) VALUES ('spring', 'Old1', 5, NOW(3))`);

  // A second run finds nothing to do.
  await ensureSchema(s.mysql, s.cfg.mysql);
  const again = spawnEntry('sink/migrate.ts', env);
  await once(again.child, 'exit');
  assert.match(again.log(), /moved 0 column\(s\)/);
  await assertBinaryIds(s.mysql, s.cfg.mysql);
});
