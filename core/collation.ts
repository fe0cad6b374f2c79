/**
 * One identity rule (brief, section 4, invariant 8): ids are case-sensitive byte strings, in
 * Redis keys and hash fields and in MySQL alike. MySQL's default collations ignore letter case,
 * so a lookup of `Foo` would find `foo`'s row while Redis keeps them apart: every character
 * column of the product's databases compares bytes (a `_bin` collation). This module moves an
 * older database to that rule in place and refuses a database that does not follow it.
 */
import type { Pool } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import type { MysqlPools } from './mysql.ts';
import { mainDbName, shardDbName } from './shards.ts';

/** A character column whose collation ignores case (or accents): it would merge two ids. */
export interface LooseColumn {
  readonly db: string;
  readonly table: string;
  readonly column: string;
  readonly collation: string;
}

interface ColumnRow {
  TABLE_SCHEMA: string;
  TABLE_NAME: string;
  COLUMN_NAME: string;
  COLUMN_TYPE: string;
  CHARACTER_SET_NAME: string;
  COLLATION_NAME: string;
  IS_NULLABLE: 'YES' | 'NO';
  COLUMN_DEFAULT: string | null;
  COLUMN_COMMENT: string;
}

/** The product's databases on each server: the main one on the main pool, shard d on forDb(d). */
function databasesByPool(pools: MysqlPools, cfg: Config['mysql']): Map<Pool, string[]> {
  const out = new Map<Pool, string[]>([[pools.main, [mainDbName(cfg.dbPrefix)]]]);
  for (let d = 0; d < cfg.shardDbs; d++) {
    const pool = pools.forDb(d);
    out.set(pool, [...(out.get(pool) ?? []), shardDbName(cfg.dbPrefix, d)]);
  }
  return out;
}

/** Character columns of `dbs` whose collation is not binary, with what it takes to redefine them. */
async function looseColumnRows(pool: Pool, dbs: readonly string[]): Promise<ColumnRow[]> {
  const [rows] = await pool.query(
    `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, IS_NULLABLE,
            COLUMN_DEFAULT, COLUMN_COMMENT
       FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA IN (?) AND COLLATION_NAME IS NOT NULL AND COLLATION_NAME NOT LIKE '%\\_bin'
      ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`, [dbs]);
  return rows as ColumnRow[];
}

/** Every character column of the product's databases that ignores case. */
export async function looseColumns(pools: MysqlPools, cfg: Config['mysql']): Promise<LooseColumn[]> {
  const out: LooseColumn[] = [];
  for (const [pool, dbs] of databasesByPool(pools, cfg)) {
    for (const r of await looseColumnRows(pool, dbs)) {
      out.push({ db: r.TABLE_SCHEMA, table: r.TABLE_NAME, column: r.COLUMN_NAME, collation: r.COLLATION_NAME });
    }
  }
  return out;
}

/**
 * The column's definition with the binary collation of its character set. MariaDB reports a
 * default as the SQL literal it was declared with (quoted text, NULL, a number), so it is put
 * back as given.
 */
function binaryDefinition(pool: Pool, r: ColumnRow): string {
  const charset = r.CHARACTER_SET_NAME;
  let def = `MODIFY COLUMN \`${r.COLUMN_NAME}\` ${r.COLUMN_TYPE} CHARACTER SET ${charset} COLLATE ${charset}_bin`;
  def += r.IS_NULLABLE === 'YES' ? ' NULL' : ' NOT NULL';
  if (r.COLUMN_DEFAULT !== null && !(r.COLUMN_DEFAULT === 'NULL' && r.IS_NULLABLE === 'YES')) def += ` DEFAULT ${r.COLUMN_DEFAULT}`;
  if (r.COLUMN_COMMENT !== '') def += ` COMMENT ${pool.escape(r.COLUMN_COMMENT)}`;
  return def;
}

/**
 * Moves every database, table and character column of the product to binary collations, in
 * place; columns already binary are left alone, so a second run changes nothing. Safe for the
 * data: values unique under a case-insensitive collation are unique byte for byte too. Returns
 * the number of columns it changed.
 */
export async function migrateToBinaryIds(pools: MysqlPools, cfg: Config['mysql']): Promise<number> {
  let changed = 0;
  for (const [pool, dbs] of databasesByPool(pools, cfg)) {
    const byTable = new Map<string, ColumnRow[]>();
    for (const r of await looseColumnRows(pool, dbs)) {
      const key = `\`${r.TABLE_SCHEMA}\`.\`${r.TABLE_NAME}\``;
      byTable.set(key, [...(byTable.get(key) ?? []), r]);
    }
    for (const [table, cols] of byTable) {
      // One ALTER per table: one copy of its rows, and the table default moves with it.
      await pool.query(`ALTER TABLE ${table} DEFAULT CHARACTER SET ascii COLLATE ascii_bin, ${cols.map((c) => binaryDefinition(pool, c)).join(', ')}`);
      changed += cols.length;
    }
    const [loose] = await pool.query(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA
      WHERE SCHEMA_NAME IN (?) AND DEFAULT_COLLATION_NAME NOT LIKE '%\\_bin'`, [dbs]);
    for (const { SCHEMA_NAME: db } of loose as { SCHEMA_NAME: string }[]) {
      await pool.query(`ALTER DATABASE \`${db}\` CHARACTER SET ascii COLLATE ascii_bin`);
    }
  }
  return changed;
}

/** Throws, naming the columns, when a database still ignores case somewhere: it must not be used. */
export async function assertBinaryIds(pools: MysqlPools, cfg: Config['mysql']): Promise<void> {
  const loose = await looseColumns(pools, cfg);
  if (loose.length === 0) return;
  const names = loose.slice(0, 5).map((c) => `${c.db}.${c.table}.${c.column} (${c.collation})`).join(', ');
  throw new Error(`${loose.length} MySQL column(s) compare ids ignoring case: ${names}${loose.length > 5 ? ', ...' : ''}; `
    + 'two ids differing only in case would be one row. Run `node --import tsx sink/migrate.ts` (make run does) to migrate them');
}
