/** The MySQL schema: templates in <prefix>_main, user coupons in N databases x M tables. */
import type { Config } from '../config/index.ts';
import type { Pool } from 'mysql2/promise';
import type { MysqlPools } from './mysql.ts';
import { ensureRoutines } from './checkout-routines.ts';
import { migrateToBinaryIds } from './collation.ts';
import { mainDbName, shardDbName, shardTableName } from './shards.ts';

// Every id compares bytes (collation.ts): tables created later in these databases inherit it.
const BINARY_DB = 'CHARACTER SET ascii COLLATE ascii_bin';

// Template types (templates/model.ts), in template and coupon rows alike; appended, never reordered.
const TYPES = "ENUM('direct','threshold','discount','red_packet')";
const BUDGET_COLUMN = "budget         BIGINT UNSIGNED NULL COMMENT 'red_packet: cents shared out over all packets'";
const MIN_AMOUNT_COLUMN = "min_amount     BIGINT UNSIGNED NULL COMMENT 'red_packet: least cents of one packet'";
const AMOUNT_COLUMN = "amount       BIGINT UNSIGNED NULL COMMENT 'red_packet: cents this packet drew (NULL for other types)'";

const templateTable = (db: string) => `
CREATE TABLE IF NOT EXISTS \`${db}\`.coupon_template (
  id             VARCHAR(64)  NOT NULL PRIMARY KEY,
  name           VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL COMMENT 'operators name campaigns in any script',
  type           ${TYPES} NOT NULL,
  value          BIGINT UNSIGNED NOT NULL COMMENT 'cents off, or percent off for discount; 0 for red_packet',
  threshold      BIGINT UNSIGNED NULL COMMENT 'minimum order in cents',
  max_discount   BIGINT UNSIGNED NULL COMMENT 'cap in cents for discount',
  ${BUDGET_COLUMN},
  ${MIN_AMOUNT_COLUMN},
  total_stock    BIGINT UNSIGNED NOT NULL,
  per_user_limit INT UNSIGNED NOT NULL,
  sub_stocks     INT UNSIGNED NOT NULL,
  claim_start    DATETIME(3) NULL,
  claim_end      DATETIME(3) NULL,
  valid_days     INT UNSIGNED NULL COMMENT 'use window: days after the claim, or NULL with fixed dates',
  valid_from     DATETIME(3) NULL COMMENT 'use window: fixed dates',
  valid_to       DATETIME(3) NULL,
  scope          TEXT NOT NULL DEFAULT '{}' COMMENT 'JSON: include/exclude lists of categories and products',
  stackable      TINYINT(1) NOT NULL DEFAULT 0,
  audience       MEDIUMTEXT NULL COMMENT 'JSON array of the only user ids that may claim; NULL = everyone',
  status         ENUM('active','paused') NOT NULL DEFAULT 'active',
  stock_ready    TINYINT(1) NOT NULL DEFAULT 1 COMMENT '0 until the sub-stocks of a new template are in Redis',
  version        BIGINT UNSIGNED NOT NULL DEFAULT 1,
  created_at     DATETIME(3) NOT NULL,
  updated_at     DATETIME(3) NOT NULL,
  KEY idx_status_id (status, id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin`;

// Columns added after the first release of coupon_template: an older local database gains them.
const templateUpgrades = (db: string) => [
  `ALTER TABLE \`${db}\`.coupon_template MODIFY COLUMN valid_days INT UNSIGNED NULL,
    ADD COLUMN IF NOT EXISTS valid_from DATETIME(3) NULL AFTER valid_days,
    ADD COLUMN IF NOT EXISTS valid_to DATETIME(3) NULL AFTER valid_from,
    ADD COLUMN IF NOT EXISTS scope TEXT NOT NULL DEFAULT '{}' AFTER valid_to,
    ADD COLUMN IF NOT EXISTS stackable TINYINT(1) NOT NULL DEFAULT 0 AFTER scope,
    ADD COLUMN IF NOT EXISTS audience MEDIUMTEXT NULL AFTER stackable,
    ADD COLUMN IF NOT EXISTS stock_ready TINYINT(1) NOT NULL DEFAULT 1 AFTER status,
    ADD INDEX IF NOT EXISTS idx_status_id (status, id)`,
  // Red packets: the type, the budget and the minimum (appending to an ENUM changes no row).
  `ALTER TABLE \`${db}\`.coupon_template MODIFY COLUMN type ${TYPES} NOT NULL,
    ADD COLUMN IF NOT EXISTS ${BUDGET_COLUMN} AFTER max_discount,
    ADD COLUMN IF NOT EXISTS ${MIN_AMOUNT_COLUMN} AFTER budget`,
];

const REQUESTED_COLUMN = "requested   BIGINT NOT NULL COMMENT 'the change asked for: a retry must ask the same'";

// Every stock change, keyed by the operator's request id: a retried top-up is applied once, and
// the first change to store a request id owns it (templates/stock-ledger.ts).
const stockChangeTable = (db: string) => `
CREATE TABLE IF NOT EXISTS \`${db}\`.coupon_stock_change (
  template_id VARCHAR(64) NOT NULL,
  request_id  VARCHAR(64) NOT NULL,
  ${REQUESTED_COLUMN},
  delta       BIGINT NULL COMMENT 'applied change of total_stock (negative: reduction); NULL while a reduction takes from Redis',
  total_after BIGINT UNSIGNED NULL,
  created_at  DATETIME(3) NOT NULL,
  PRIMARY KEY (template_id, request_id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin`;

/** An older coupon_stock_change (no `requested`, reductions stored only once complete) gains the ownership columns. */
async function upgradeStockChanges(pool: Pool, db: string): Promise<void> {
  const [cols] = await pool.query(`SELECT IS_NULLABLE FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'coupon_stock_change' AND COLUMN_NAME = 'requested'`, [db]);
  if ((cols as { IS_NULLABLE: string }[])[0]?.IS_NULLABLE === 'NO') return;
  const table = `\`${db}\`.coupon_stock_change`;
  await pool.query(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS requested BIGINT NULL AFTER request_id,
    MODIFY COLUMN delta BIGINT NULL COMMENT 'applied change of total_stock (negative: reduction); NULL while a reduction takes from Redis',
    MODIFY COLUMN total_after BIGINT UNSIGNED NULL`);
  // Rows of the older release were complete changes: what they applied is what they asked for.
  await pool.query(`UPDATE ${table} SET requested = delta WHERE requested IS NULL`);
  await pool.query(`ALTER TABLE ${table} MODIFY COLUMN ${REQUESTED_COLUMN}`);
}

// Products and categories no coupon may ever apply to (brief, section 2: global blacklist).
const blacklistTable = (db: string) => `
CREATE TABLE IF NOT EXISTS \`${db}\`.coupon_global_blacklist (
  kind    ENUM('category','product') NOT NULL,
  item_id VARCHAR(64) NOT NULL,
  PRIMARY KEY (kind, item_id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin`;

// Bulk grant jobs (issuance/grant-store.ts): the job and its cursor, the listed users in upload
// order (deduplicated by the unique key), and the users refused with their reason.
const grantTables = (db: string) => [`
CREATE TABLE IF NOT EXISTS \`${db}\`.coupon_grant (
  grant_id              VARCHAR(32) NOT NULL PRIMARY KEY,
  template_id           VARCHAR(64) NOT NULL,
  state                 ENUM('running','paused','done','cancelled','failed') NOT NULL,
  total                 BIGINT UNSIGNED NOT NULL COMMENT 'distinct users listed',
  last_seq              BIGINT NOT NULL DEFAULT -1 COMMENT 'the cursor: users up to this seq are decided and counted',
  granted               BIGINT UNSIGNED NOT NULL DEFAULT 0,
  refused_limit_reached BIGINT UNSIGNED NOT NULL DEFAULT 0,
  refused_sold_out      BIGINT UNSIGNED NOT NULL DEFAULT 0,
  refused_ended         BIGINT UNSIGNED NOT NULL DEFAULT 0,
  refused_not_eligible  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  failed                BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'claims that kept failing: refusals with reason failed',
  rate_per_second       INT UNSIGNED NOT NULL,
  chunks                BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'chunks committed: the sequence of its stats batches',
  note                  VARCHAR(200) NULL COMMENT 'why the job failed',
  started_at            DATETIME(3) NOT NULL,
  finished_at           DATETIME(3) NULL,
  KEY idx_state (state)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin`, `
CREATE TABLE IF NOT EXISTS \`${db}\`.coupon_grant_user (
  grant_id VARCHAR(32) NOT NULL,
  seq      BIGINT UNSIGNED NOT NULL COMMENT 'line of the upload: the job walks users in this order',
  user_id  VARCHAR(64) NOT NULL,
  PRIMARY KEY (grant_id, seq),
  UNIQUE KEY uq_grant_user (grant_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin`, `
CREATE TABLE IF NOT EXISTS \`${db}\`.coupon_grant_refusal (
  grant_id VARCHAR(32) NOT NULL,
  user_id  VARCHAR(64) NOT NULL,
  reason   VARCHAR(20) NOT NULL,
  PRIMARY KEY (grant_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin`];

// Batches of redemption codes (redemption/): a code carries its batch number, this maps it to
// its template. The number comes from AUTO_INCREMENT, which MariaDB keeps across restarts: a
// number is never handed out twice, so two batches never share codes.
const codeBatchTable = (db: string) => `
CREATE TABLE IF NOT EXISTS \`${db}\`.coupon_code_batch (
  batch_id    VARCHAR(64) NOT NULL PRIMARY KEY,
  template_id VARCHAR(64) NOT NULL,
  batch_no    INT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'the number inside each of its codes (20 bits)',
  count       INT UNSIGNED NOT NULL COMMENT 'codes: serials 0 to count - 1',
  created_at  DATETIME(3) NOT NULL,
  UNIQUE KEY uq_batch_no (batch_no),
  KEY idx_template (template_id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin`;

// Template fields a reader needs are copied into the row: no cross-shard join (brief, section 2).
const couponTable = (db: string, table: string) => `
CREATE TABLE IF NOT EXISTS \`${db}\`.\`${table}\` (
  coupon_id    VARCHAR(48)  NOT NULL PRIMARY KEY,
  user_id      VARCHAR(64)  NOT NULL,
  template_id  VARCHAR(64)  NOT NULL,
  request_id   VARCHAR(72)  NOT NULL,
  status       ENUM('unused','locked','used','expired') NOT NULL DEFAULT 'unused',
  name         VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  type         ${TYPES} NOT NULL,
  value        BIGINT UNSIGNED NOT NULL,
  threshold    BIGINT UNSIGNED NULL,
  max_discount BIGINT UNSIGNED NULL,
  ${AMOUNT_COLUMN},
  claimed_at   DATETIME(3) NOT NULL,
  valid_from   DATETIME(3) NOT NULL,
  valid_to     DATETIME(3) NOT NULL,
  stream_id    VARCHAR(32)  NOT NULL COMMENT 'partition stream entry, for reconciliation',
  conflicts    INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'other claims that arrived with this coupon id (dead-lettered)',
  ${CHECKOUT_COLUMNS.join(',\n  ')},
  KEY idx_user_claimed (user_id, claimed_at),
  KEY idx_template (template_id),
  ${LOCK_INDEX}
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin`;

// Checkout (checkout/tcc.ts): the order holding or using the coupon, and until when a lock holds.
const CHECKOUT_COLUMNS = [
  "order_id     VARCHAR(64)  NULL COMMENT 'the order that locked or used it'",
  "locked_until DATETIME(3)  NULL COMMENT 'a lock older than this is released (checkout/lock-expiry.ts)'",
  "used_at      DATETIME(3)  NULL",
];
// Stale locks are found through this index, never by a scan of every row.
const LOCK_INDEX = 'KEY idx_lock (status, locked_until)';

// Per shard database: the TCC control row of each (coupon, order), which makes every call
// idempotent and remembers a cancel that came before its lock; and every transition, for operators.
const checkoutTables = (db: string) => [`
CREATE TABLE IF NOT EXISTS \`${db}\`.coupon_order (
  coupon_id     VARCHAR(48) NOT NULL,
  order_id      VARCHAR(64) NOT NULL,
  state         ENUM('locked','confirmed','cancelled','released','refunded') NOT NULL,
  locked_until  DATETIME(3) NULL COMMENT 'the lock this order was given',
  used_at       DATETIME(3) NULL,
  refund_status ENUM('unused','expired') NULL COMMENT 'what the refund returned the coupon to',
  updated_at    DATETIME(3) NOT NULL,
  PRIMARY KEY (coupon_id, order_id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin`, `
CREATE TABLE IF NOT EXISTS \`${db}\`.coupon_transition (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  coupon_id   VARCHAR(48) NOT NULL,
  from_status ENUM('unused','locked','used','expired') NOT NULL,
  to_status   ENUM('unused','locked','used','expired') NOT NULL,
  order_id    VARCHAR(64) NULL,
  cause       VARCHAR(16) NOT NULL COMMENT 'lock, confirm, cancel, refund, lock_expired',
  at          DATETIME(3) NOT NULL,
  KEY idx_coupon (coupon_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin`];

/** Table of coupon table `table`'s expiry reminders: its coupons filed by the UTC day their use window ends. */
export const reminderTableName = (table: number) => `coupon_reminder_${table}`;

const reminderTable = (db: string, table: number) => `
CREATE TABLE IF NOT EXISTS \`${db}\`.\`${reminderTableName(table)}\` (
  expire_day DATE        NOT NULL,
  coupon_id  VARCHAR(48) NOT NULL,
  PRIMARY KEY (expire_day, coupon_id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin`;

/**
 * Coupon tables of an older release gain the red-packet type and `amount`, then the checkout
 * columns. Only tables that lack a column are altered: a restart does not touch large tables again.
 */
async function upgradeCouponTables(pool: Pool, db: string, tables: number): Promise<void> {
  await alterLacking(pool, db, tables, 'amount', `MODIFY COLUMN type ${TYPES} NOT NULL,
      ADD COLUMN IF NOT EXISTS ${AMOUNT_COLUMN} AFTER max_discount`);
  await alterLacking(pool, db, tables, 'locked_until', `${CHECKOUT_COLUMNS.map((c) => `ADD COLUMN IF NOT EXISTS ${c}`).join(', ')},
      ADD ${LOCK_INDEX.replace('KEY', 'INDEX IF NOT EXISTS')}`);
}

/** Applies `alter` to each coupon table of `db` that has no column `column`. */
async function alterLacking(pool: Pool, db: string, tables: number, column: string, alter: string): Promise<void> {
  const [rows] = await pool.query(`SELECT TABLE_NAME AS t FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = ? AND COLUMN_NAME = ?`, [db, column]);
  const done = new Set((rows as { t: string }[]).map((r) => r.t));
  for (let t = 0; t < tables; t++) {
    const name = shardTableName(t);
    if (!done.has(name)) await pool.query(`ALTER TABLE \`${db}\`.\`${name}\` ${alter}`);
  }
}

/**
 * Creates every database and table that is missing and moves older ones to binary collations
 * (collation.ts); safe to run concurrently and repeatedly.
 */
export async function ensureSchema(pools: MysqlPools, cfg: Config['mysql']): Promise<void> {
  const main = mainDbName(cfg.dbPrefix);
  await pools.main.query(`CREATE DATABASE IF NOT EXISTS \`${main}\` ${BINARY_DB}`);
  await pools.main.query(templateTable(main));
  for (const sql of templateUpgrades(main)) await pools.main.query(sql);
  await pools.main.query(stockChangeTable(main));
  await upgradeStockChanges(pools.main, main);
  await pools.main.query(blacklistTable(main));
  for (const sql of grantTables(main)) await pools.main.query(sql);

  await pools.main.query(codeBatchTable(main));
  for (let d = 0; d < cfg.shardDbs; d++) {
    const db = shardDbName(cfg.dbPrefix, d);
    const pool = pools.forDb(d);
    await pool.query(`CREATE DATABASE IF NOT EXISTS \`${db}\` ${BINARY_DB}`);
    for (let t = 0; t < cfg.shardTables; t++) {
      await pool.query(couponTable(db, shardTableName(t)));
      await pool.query(reminderTable(db, t));
    }
    await upgradeCouponTables(pool, db, cfg.shardTables);
    for (const sql of checkoutTables(db)) await pool.query(sql);
    await ensureRoutines(pool, db, cfg.shardTables);
  }
  await migrateToBinaryIds(pools, cfg);
}

/** Drops every database of this prefix (tests only call this on their own prefix). */
export async function dropSchema(pools: MysqlPools, cfg: Config['mysql']): Promise<void> {
  await pools.main.query(`DROP DATABASE IF EXISTS \`${mainDbName(cfg.dbPrefix)}\``);
  for (let d = 0; d < cfg.shardDbs; d++) {
    await pools.forDb(d).query(`DROP DATABASE IF EXISTS \`${shardDbName(cfg.dbPrefix, d)}\``);
  }
}
