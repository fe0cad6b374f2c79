/**
 * MariaDB SHOW GLOBAL STATUS deltas over a run: statements, commits, fsyncs and bytes, to
 * explain MariaDB's CPU per operation. The counters are the server's: other clients of a
 * shared server count too.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlPools } from '../../core/mysql.ts';

/** The counters read; Questions counts every statement a client sent (each of a multi-statement query). */
export const STATUS_COUNTERS = ['Questions', 'Com_select', 'Com_update', 'Com_insert', 'Com_commit', 'Com_rollback',
  'Innodb_data_fsyncs', 'Bytes_received', 'Bytes_sent', 'Innodb_row_lock_waits'] as const;

export type StatusDelta = Record<(typeof STATUS_COUNTERS)[number], number>;

async function snapshot(mysql: MysqlPools): Promise<StatusDelta> {
  const [rows] = await mysql.main.query<RowDataPacket[]>('SHOW GLOBAL STATUS WHERE Variable_name IN (?)', [STATUS_COUNTERS]);
  const out = Object.fromEntries(STATUS_COUNTERS.map((k) => [k, 0])) as StatusDelta;
  for (const r of rows) out[r.Variable_name as keyof StatusDelta] = Number(r.Value);
  return out;
}

/** Takes a snapshot now; `finish()` returns each counter's increase since (the meter's own two queries not subtracted). */
export async function statusMeter(mysql: MysqlPools): Promise<{ finish(): Promise<StatusDelta> }> {
  const before = await snapshot(mysql);
  return {
    finish: async () => {
      const after = await snapshot(mysql);
      return Object.fromEntries(STATUS_COUNTERS.map((k) => [k, after[k] - before[k]])) as StatusDelta;
    },
  };
}
