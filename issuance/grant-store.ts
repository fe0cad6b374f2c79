/**
 * Bulk grant jobs in MySQL's main database (core/schema.ts): the job row with its cursor and
 * counts, the listed users, and the refused users. The job's progress moves only in commit(),
 * one transaction per chunk that advances the cursor from where it was and adds the chunk's
 * counts and refusals together: a chunk re-run after a crash was never counted, and one run
 * twice at once (a lease handed over) is counted by whichever commits first.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import { ApiError } from '../core/errors.ts';
import { inTransaction, type MysqlPools } from '../core/mysql.ts';
import { mainDbName } from '../core/shards.ts';
import { checkTransition, type Grant, GRANT_REFUSALS, type GrantOutcome, type GrantRefusal, type GrantState } from './grant-model.ts';

/** What one chunk decided. */
export interface Tally {
  granted: number;
  readonly refused: Record<GrantRefusal, number>;
  failed: number;
}

/** An empty tally. */
export const emptyTally = (): Tally => ({ granted: 0, refused: { limit_reached: 0, sold_out: 0, ended: 0, not_eligible: 0 }, failed: 0 });

/** A listed user: its upload line and id. */
export interface ListedUser {
  readonly seq: number;
  readonly userId: string;
}

/** One refused user of a job. */
export interface GrantRefusalRow {
  readonly userId: string;
  readonly reason: GrantOutcome;
}

/** An operator's change of a job. */
export interface GrantChange {
  readonly state?: 'running' | 'paused' | 'cancelled';
  readonly ratePerSecond?: number;
}

const refusedColumn = (r: GrantRefusal) => `refused_${r}`;

function fromRow(r: RowDataPacket): Grant {
  const refused = Object.fromEntries(GRANT_REFUSALS.map((x) => [x, Number(r[refusedColumn(x)])])) as Record<GrantRefusal, number>;
  return {
    grantId: r.grant_id, templateId: r.template_id, state: r.state, total: Number(r.total), lastSeq: Number(r.last_seq),
    granted: Number(r.granted), refused, failed: Number(r.failed), ratePerSecond: Number(r.rate_per_second),
    chunks: Number(r.chunks), note: r.note, startedAt: (r.started_at as Date).getTime(),
    finishedAt: r.finished_at === null ? null : (r.finished_at as Date).getTime(),
  };
}

export class GrantStore {
  private readonly jobs: string;
  private readonly users: string;
  private readonly refused: string;

  constructor(private readonly mysql: MysqlPools, cfg: Config['mysql']) {
    const db = `\`${mainDbName(cfg.dbPrefix)}\``;
    [this.jobs, this.users, this.refused] = [`${db}.coupon_grant`, `${db}.coupon_grant_user`, `${db}.coupon_grant_refusal`];
  }

  /** Adds listed users, each at its upload line, in one statement; returns how many were new to the list. */
  async addUsers(grantId: string, users: readonly ListedUser[]): Promise<number> {
    if (users.length === 0) return 0;
    const rows = users.map((u) => [grantId, u.seq, u.userId]);
    // IGNORE: a user listed twice keeps its first line (the unique key); ids are validated before.
    const [r] = await this.mysql.main.query(`INSERT IGNORE INTO ${this.users} (grant_id, seq, user_id) VALUES ?`, [rows]);
    return (r as { affectedRows: number }).affectedRows;
  }

  /** Forgets the users of an upload that failed (its job was never created). */
  async dropUsers(grantId: string): Promise<void> {
    for (;;) {
      const [r] = await this.mysql.main.query(`DELETE FROM ${this.users} WHERE grant_id = ? LIMIT 10000`, [grantId]);
      if ((r as { affectedRows: number }).affectedRows === 0) return;
    }
  }

  /** Creates the job once its users are stored: it starts running. */
  async create(grantId: string, templateId: string, total: number, ratePerSecond: number, now: number): Promise<void> {
    await this.mysql.main.query(`INSERT INTO ${this.jobs} (grant_id, template_id, state, total, rate_per_second, started_at)
      VALUES (?, ?, 'running', ?, ?, ?)`, [grantId, templateId, total, ratePerSecond, new Date(now)]);
  }

  /** The job, or null. */
  async get(grantId: string): Promise<Grant | null> {
    const [rows] = await this.mysql.main.query<RowDataPacket[]>(`SELECT * FROM ${this.jobs} WHERE grant_id = ?`, [grantId]);
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /** Applies an operator's change; 404 grant_not_found, 409 grant_state_conflict for a finished job. */
  async change(grantId: string, c: GrantChange, now: number): Promise<Grant> {
    return inTransaction(this.mysql.main, async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT * FROM ${this.jobs} WHERE grant_id = ? FOR UPDATE`, [grantId]);
      if (!rows[0]) throw new ApiError('grant_not_found');
      const g = fromRow(rows[0]);
      checkTransition(g.state, c.state ?? g.state);
      const state = c.state ?? g.state;
      const finishedAt = state === 'cancelled' ? new Date(now) : null;
      await conn.query(`UPDATE ${this.jobs} SET state = ?, rate_per_second = ?, finished_at = ? WHERE grant_id = ?`,
        [state, c.ratePerSecond ?? g.ratePerSecond, finishedAt, grantId]);
      return { ...g, state, ratePerSecond: c.ratePerSecond ?? g.ratePerSecond, finishedAt: finishedAt?.getTime() ?? null };
    });
  }

  /** A page of refused users ordered by id, after `after`. */
  async refusals(grantId: string, after: string | undefined, limit: number): Promise<GrantRefusalRow[]> {
    const [rows] = await this.mysql.main.query<RowDataPacket[]>(`SELECT user_id, reason FROM ${this.refused}
      WHERE grant_id = ? AND user_id > ? ORDER BY user_id LIMIT ?`, [grantId, after ?? '', limit]);
    return rows.map((r) => ({ userId: r.user_id, reason: r.reason }));
  }

  /** Ids of the jobs that are running (a sink works on them). */
  async running(): Promise<string[]> {
    const [rows] = await this.mysql.main.query<RowDataPacket[]>(`SELECT grant_id FROM ${this.jobs} WHERE state = 'running' ORDER BY started_at`);
    return rows.map((r) => String(r.grant_id));
  }

  /** The next `n` listed users after upload line `afterSeq`. */
  async next(grantId: string, afterSeq: number, n: number): Promise<ListedUser[]> {
    const [rows] = await this.mysql.main.query<RowDataPacket[]>(`SELECT seq, user_id FROM ${this.users}
      WHERE grant_id = ? AND seq > ? ORDER BY seq LIMIT ?`, [grantId, afterSeq, n]);
    return rows.map((r) => ({ seq: Number(r.seq), userId: String(r.user_id) }));
  }

  /**
   * Commits a decided chunk: moves the cursor from `fromSeq` to `toSeq` and adds the chunk's
   * counts and refusals, in one transaction. False (nothing written) when the cursor is no
   * longer at `fromSeq`: another run of the job committed this chunk already.
   */
  async commit(grantId: string, fromSeq: number, toSeq: number, t: Tally, refusals: readonly GrantRefusalRow[]): Promise<boolean> {
    return inTransaction(this.mysql.main, async (conn) => {
      const sets = GRANT_REFUSALS.map((x) => `${refusedColumn(x)} = ${refusedColumn(x)} + ?`).join(', ');
      const [r] = await conn.query(`UPDATE ${this.jobs} SET last_seq = ?, granted = granted + ?, ${sets}, failed = failed + ?,
        chunks = chunks + 1 WHERE grant_id = ? AND last_seq = ?`,
      [toSeq, t.granted, ...GRANT_REFUSALS.map((x) => t.refused[x]), t.failed, grantId, fromSeq]);
      if ((r as { affectedRows: number }).affectedRows === 0) return false;
      if (refusals.length > 0) {
        await conn.query(`INSERT INTO ${this.refused} (grant_id, user_id, reason) VALUES ?
          ON DUPLICATE KEY UPDATE reason = VALUES(reason)`, [refusals.map((x) => [grantId, x.userId, x.reason])]);
      }
      return true;
    });
  }

  /** A page of the job's users recorded `failed`, ordered by id, after `after`: the end-of-job retry pass. */
  async failedUsers(grantId: string, after: string, n: number): Promise<string[]> {
    const [rows] = await this.mysql.main.query<RowDataPacket[]>(`SELECT user_id FROM ${this.refused}
      WHERE grant_id = ? AND reason = 'failed' AND user_id > ? ORDER BY user_id LIMIT ?`, [grantId, after, n]);
    return rows.map((r) => String(r.user_id));
  }

  /**
   * Records what a retry decided for users recorded `failed`, in one transaction: a granted user
   * loses its refusal row, a refused one gets its reason; the counts move with them. Only rows
   * still `failed` change (locked first), so a retry applied twice counts once.
   */
  async settleFailed(grantId: string, decided: ReadonlyMap<string, 'granted' | GrantOutcome>): Promise<void> {
    const changed = [...decided].filter(([, o]) => o !== 'failed');
    if (changed.length === 0) return;
    await inTransaction(this.mysql.main, async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT user_id FROM ${this.refused}
        WHERE grant_id = ? AND reason = 'failed' AND user_id IN (?) FOR UPDATE`, [grantId, changed.map(([u]) => u)]);
      const still = new Set(rows.map((r) => String(r.user_id)));
      const t = emptyTally();
      for (const [userId, o] of changed) {
        if (!still.has(userId)) continue;
        if (o === 'granted') {
          t.granted++;
          await conn.query(`DELETE FROM ${this.refused} WHERE grant_id = ? AND user_id = ?`, [grantId, userId]);
        } else {
          t.refused[o as GrantRefusal]++;
          await conn.query(`UPDATE ${this.refused} SET reason = ? WHERE grant_id = ? AND user_id = ?`, [o, grantId, userId]);
        }
      }
      const moved = t.granted + GRANT_REFUSALS.reduce((n, x) => n + t.refused[x], 0);
      if (moved === 0) return;
      const sets = GRANT_REFUSALS.map((x) => `${refusedColumn(x)} = ${refusedColumn(x)} + ?`).join(', ');
      await conn.query(`UPDATE ${this.jobs} SET granted = granted + ?, ${sets}, failed = failed - ? WHERE grant_id = ?`,
        [t.granted, ...GRANT_REFUSALS.map((x) => t.refused[x]), moved, grantId]);
    });
  }

  /** Ends a running job (every user decided: done; the template is gone: failed). */
  async finish(grantId: string, state: Extract<GrantState, 'done' | 'failed'>, note: string | null, now: number): Promise<void> {
    await this.mysql.main.query(`UPDATE ${this.jobs} SET state = ?, note = ?, finished_at = ? WHERE grant_id = ? AND state IN ('running', 'paused')`,
      [state, note, new Date(now), grantId]);
  }
}
