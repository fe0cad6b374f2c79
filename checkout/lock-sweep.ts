/**
 * Releases locks older than their deadline (COUPON_LOCK_TTL_MS), found through the
 * (status, locked_until) index of each coupon table, never by a scan of every row. Checkout
 * already treats a stale lock as free (checkout/model.ts effectiveStatus); the sweep makes the
 * row say so, tells the order (lock_expired) and records the transition. Safe to run in every
 * sink at once: each batch re-checks its rows under their row locks.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import { inTransaction, type MysqlPools } from '../core/mysql.ts';
import { shardDbName, shardTables } from '../core/shards.ts';

// Rows released per transaction: a short hold on their row locks.
const BATCH = 200;

/** Releases every lock whose deadline is at or before `now`; returns how many it released. */
export async function sweepLocks(pools: MysqlPools, cfg: Config['mysql'], now: number): Promise<number> {
  let released = 0;
  for (const t of shardTables(cfg.dbPrefix, { dbs: cfg.shardDbs, tables: cfg.shardTables })) {
    const db = `\`${shardDbName(cfg.dbPrefix, t.db)}\``;
    for (;;) {
      const [found, n] = await inTransaction(pools.forDb(t.db), async (conn): Promise<[number, number]> => {
        // The candidates through idx_lock by a plain read, which locks nothing. A locking read through
        // idx_lock would lock the index entry before the row, while a checkout call holds the row
        // (its first statement) and then needs the entry to update it: a deadlock, and the call's
        // order service gets a 503. So the rows are locked by primary key, as a checkout call
        // locks its coupon, and re-checked under their locks.
        const [candidates] = await conn.query<RowDataPacket[]>(`SELECT coupon_id FROM ${t.name}
          WHERE status = 'locked' AND locked_until <= ? ORDER BY locked_until LIMIT ${BATCH}`, [new Date(now)]);
        if (candidates.length === 0) return [0, 0];
        const [rows] = await conn.query<RowDataPacket[]>(`SELECT coupon_id, order_id FROM ${t.name} FORCE INDEX (PRIMARY)
          WHERE coupon_id IN (?) AND status = 'locked' AND locked_until <= ? ORDER BY coupon_id FOR UPDATE`,
        [candidates.map((r) => String(r.coupon_id)), new Date(now)]);
        if (rows.length === 0) return [candidates.length, 0];
        const ids = rows.map((r) => String(r.coupon_id));
        const at = new Date(now);
        await conn.query(`UPDATE ${t.name} SET status = 'unused', order_id = NULL, locked_until = NULL WHERE coupon_id IN (?)`, [ids]);
        await conn.query(`UPDATE ${db}.coupon_order SET state = 'released', updated_at = ?
          WHERE (coupon_id, order_id) IN (?) AND state = 'locked'`, [at, rows.map((r) => [r.coupon_id, r.order_id])]);
        await conn.query(`INSERT INTO ${db}.coupon_transition (coupon_id, from_status, to_status, order_id, cause, at) VALUES ?`,
          [rows.map((r) => [r.coupon_id, 'locked', 'unused', r.order_id, 'lock_expired', at])]);
        return [candidates.length, rows.length];
      }, true);
      released += n;
      if (found < BATCH) break;
    }
  }
  return released;
}
