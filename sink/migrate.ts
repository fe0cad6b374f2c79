/**
 * Schema CLI: `node --import tsx sink/migrate.ts` creates the main database (templates) and
 * every shard database and table that is missing, and moves older ones to binary collations
 * (core/collation.ts). Idempotent; safe to run on every deploy.
 */
import type { Config } from '../config/index.ts';
import { loadConfig } from '../config/index.ts';
import { type MysqlPools, openMysql } from '../core/mysql.ts';
import { looseColumns } from '../core/collation.ts';
import { ensureSchema } from '../core/schema.ts';
import { mainDbName, shardDbName } from '../core/shards.ts';
import { initLog, log } from '../core/log.ts';

/** Tables that exist in this prefix's databases, counted on every server. */
async function countTables(pools: MysqlPools, m: Config['mysql']): Promise<number> {
  const dbs = [mainDbName(m.dbPrefix), ...Array.from({ length: m.shardDbs }, (_, d) => shardDbName(m.dbPrefix, d))];
  let n = 0;
  for (const pool of pools.all) {
    const [rows] = await pool.query('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema IN (?)', [dbs]);
    n += Number((rows as { n: number }[])[0]?.n ?? 0);
  }
  return n;
}

/** Ensures the schema of the configured prefix and prints what it created. */
async function migrate(): Promise<void> {
  const cfg = loadConfig();
  initLog('migrate', cfg.log.level);
  const m = cfg.mysql;
  const pools = openMysql(m);
  try {
    const before = await countTables(pools, m);
    const loose = (await looseColumns(pools, m)).length;
    await ensureSchema(pools, m);
    const after = await countTables(pools, m);
    console.log(`schema ${m.dbPrefix}: created ${after - before} table(s), moved ${loose} column(s) to binary collations, ${after} present ` +
      `(${mainDbName(m.dbPrefix)}.coupon_template + ${m.shardDbs} dbs x ${m.shardTables} user_coupon tables ` +
      `on ${m.shardUrls.length || 1} server(s))`);
  } finally {
    await pools.close();
  }
}

migrate().catch((err: unknown) => {
  log('fatal', 'migrate failed', { err });
  process.exit(1);
});
