/** Reads every coupon row of a template across all shard databases and tables. */
import type { RowDataPacket } from 'mysql2/promise';
import { shardDbName, shardTableName } from '../../sink/shards.ts';
import type { Storage } from './storage.ts';

export interface CouponRow {
  readonly couponId: string;
  readonly userId: string;
  readonly requestId: string;
  readonly db: number;
  readonly table: number;
}

/** All rows of `templateId`, with the shard each was found in. */
export async function couponRows(s: Storage, templateId: string): Promise<CouponRow[]> {
  const out: CouponRow[] = [];
  for (let db = 0; db < s.cfg.mysql.shardDbs; db++) {
    for (let table = 0; table < s.cfg.mysql.shardTables; table++) {
      const [rows] = await s.mysql.forDb(db).query<RowDataPacket[]>(
        `SELECT coupon_id, user_id, request_id FROM \`${shardDbName(s.cfg.mysql.dbPrefix, db)}\`.\`${shardTableName(table)}\` WHERE template_id = ?`,
        [templateId]);
      for (const r of rows) out.push({ couponId: r.coupon_id, userId: r.user_id, requestId: r.request_id, db, table });
    }
  }
  return out;
}

/** Polls until the template has `count` rows (or the timeout passes) and returns them. */
export async function waitForRows(s: Storage, templateId: string, count: number, timeoutMs = 20_000): Promise<CouponRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await couponRows(s, templateId);
    if (rows.length >= count || Date.now() > deadline) return rows;
    await new Promise((r) => setTimeout(r, 100));
  }
}
