/**
 * Batches of redemption codes in MySQL (coupon_code_batch in the main database). A batch is a
 * template, a count and a number; its codes are never stored, they are computed from the
 * number (code-mac.ts), so a million codes cost one row. The caller's batch id makes creation
 * idempotent: the same id, template and count give the same batch again, anything else is a
 * conflict.
 */
import { randomBytes } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import { ApiError } from '../core/errors.ts';
import type { MysqlPools } from '../core/mysql.ts';
import { mainDbName } from '../core/shards.ts';
import { BATCH_NO_MAX } from './code-mac.ts';

export interface CodeBatch {
  readonly batchId: string;
  readonly templateId: string;
  /** The number inside each of its codes. */
  readonly batchNo: number;
  readonly count: number;
}

const COLUMNS = 'batch_id, template_id, batch_no, count';

const fromRow = (r: RowDataPacket): CodeBatch =>
  ({ batchId: String(r.batch_id), templateId: String(r.template_id), batchNo: Number(r.batch_no), count: Number(r.count) });

/** A batch id for a caller that sent none: unguessable, so two operators never meet on one. */
export const newBatchId = (): string => `batch-${randomBytes(12).toString('base64url')}`;

export class BatchStore {
  private readonly table: string;

  constructor(private readonly mysql: MysqlPools, cfg: Config['mysql']) {
    this.table = `\`${mainDbName(cfg.dbPrefix)}\`.coupon_code_batch`;
  }

  /**
   * Creates batch `batchId` of `count` codes of a template (which the caller checked exists),
   * or returns it when it exists with the same template and count; throws batch_conflict when it
   * exists with others. `created` tells which.
   */
  async create(batchId: string, templateId: string, count: number, now: number): Promise<{ created: boolean; batch: CodeBatch }> {
    // A retry finds its batch without an INSERT: InnoDB takes an AUTO_INCREMENT value even for
    // an insert that IGNORE drops, and a batch number (20 bits) burnt per retry would run out.
    // Only creations racing on one new id can still burn one each.
    let created = false;
    let batch = await this.byId(batchId);
    if (!batch) {
      const [res] = await this.mysql.main.query(`INSERT IGNORE INTO ${this.table} (batch_id, template_id, count, created_at)
        VALUES (?, ?, ?, ?)`, [batchId, templateId, count, new Date(now)]);
      created = (res as { affectedRows: number }).affectedRows === 1;
      batch = await this.byId(batchId);
    }
    if (!batch) throw new Error(`batch ${batchId} vanished after its insert`);
    if (created && batch.batchNo > BATCH_NO_MAX) {
      // A code has 20 bits for its batch: this number cannot be written into one.
      await this.mysql.main.query(`DELETE FROM ${this.table} WHERE batch_id = ?`, [batchId]);
      throw new ApiError('unavailable', `every batch number up to ${BATCH_NO_MAX} is used`);
    }
    if (batch.templateId !== templateId || batch.count !== count) {
      throw new ApiError('batch_conflict', `batch ${batchId} exists with template ${batch.templateId} and count ${batch.count}`);
    }
    return { created, batch };
  }

  /** The batch of this id, if any. */
  async byId(batchId: string): Promise<CodeBatch | undefined> {
    const [rows] = await this.mysql.main.query<RowDataPacket[]>(`SELECT ${COLUMNS} FROM ${this.table} WHERE batch_id = ?`, [batchId]);
    return rows[0] && fromRow(rows[0]);
  }

  /** The batch of this number, if any (a code names its batch by number). */
  async byNumber(batchNo: number): Promise<CodeBatch | undefined> {
    const [rows] = await this.mysql.main.query<RowDataPacket[]>(`SELECT ${COLUMNS} FROM ${this.table} WHERE batch_no = ?`, [batchNo]);
    return rows[0] && fromRow(rows[0]);
  }
}
