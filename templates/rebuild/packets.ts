/**
 * A red packet's sub-stocks as MySQL sees them: what each one gave out, in packets and cents.
 * Each sub-stock holds a fixed share of the packets and of the budget (model.ts), and every
 * packet's coupon id names the partition whose script drew it (`<db>.<table>.<partition>.<seq>`:
 * the home sub-stock's for claim-home, the other sub-stock's for claim-take). One sub-stock
 * lives in each of its template's partitions, so the id names the sub-stock whose budget paid.
 * What is left of each is its share less what it gave out: the rebuild writes it, the
 * reconciler lowers a Redis that forgot issues to it. (A red packet's stock never changes, so
 * the shares are those of its creation.)
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { RedisClient } from '../../lua/client.ts';
import { deadEntries } from '../../lua/drain.ts';
import { type KeySpace, subStockPartition } from '../../lua/keys.ts';
import type { MysqlPools } from '../../core/mysql.ts';
import { shardTables, type ShardLayout } from '../../core/shards.ts';
import { subBudgetShare, subStockShare, type Template } from '../model.ts';

export interface PacketSpend {
  /** Per sub-stock: packets given out (MySQL rows, and dead-lettered records: a client was told). */
  readonly packets: number[];
  /** Per sub-stock: cents given out. */
  readonly cents: number[];
  /** Coupons whose id names no partition of the template (never expected: a broken record). */
  readonly stray: number;
}

/** Where a red packet's records are read: MySQL's shards and the dead letters of Redis. */
export interface SpendSource {
  readonly mysql: MysqlPools;
  readonly dbPrefix: string;
  readonly layout: ShardLayout;
  readonly redis: RedisClient;
  readonly ks: KeySpace;
}

/** The partition a coupon id names. */
const partitionOf = (couponId: string): number => Number(couponId.split('.')[2]);

/** Sums what each sub-stock of `t` gave out; call after the drain point (MySQL then holds every record). */
export async function packetSpend(s: SpendSource, t: Template): Promise<PacketSpend> {
  const parts = Array.from({ length: t.subStocks }, (_, k) => subStockPartition(s.ks, t.id, k));
  const subOf = new Map(parts.map((p, k) => [p, k]));
  const spend = { packets: parts.map(() => 0), cents: parts.map(() => 0), stray: 0 };
  const add = (p: number, n: number, cents: number) => {
    const k = subOf.get(p);
    if (k === undefined) { spend.stray += n; return; }
    spend.packets[k]! += n;
    spend.cents[k]! += cents;
  };
  for (const { db, name } of shardTables(s.dbPrefix, s.layout)) {
    const [rows] = await s.mysql.forDb(db).query<RowDataPacket[]>(
      `SELECT SUBSTRING_INDEX(SUBSTRING_INDEX(coupon_id, '.', 3), '.', -1) AS p, COUNT(*) AS n, COALESCE(SUM(amount), 0) AS cents
        FROM ${name} WHERE template_id = ? GROUP BY p`, [t.id]);
    for (const r of rows) add(Number(r.p), Number(r.n), Number(r.cents));
  }
  for await (const e of deadEntries(s.redis, s.ks, [...new Set(parts)])) {
    if (!e.decoded.ok) continue;
    for (const r of e.decoded.records) if (r.templateId === t.id) add(partitionOf(r.couponId), 1, r.amount ?? 0);
  }
  return spend;
}

/** What is left of sub-stock k: its shares less what it gave out, never below 0. */
export function packetLeft(t: Template, spend: PacketSpend, k: number): { stock: number; budget: number } {
  return {
    stock: Math.max(0, subStockShare(t.totalStock, t.subStocks, k) - spend.packets[k]!),
    budget: Math.max(0, subBudgetShare(t, k) - spend.cents[k]!),
  };
}

/** The red-packet invariants MySQL shows broken (more cents or packets out than a sub-stock held), or undefined. */
export function overSpent(t: Template, spend: PacketSpend): string | undefined {
  const out: string[] = [];
  const cents = spend.cents.reduce((a, b) => a + b, 0);
  if (cents > t.budget!) out.push(`OVER-SPEND: ${cents} cents given out of a budget of ${t.budget}`);
  spend.cents.forEach((c, k) => {
    if (c > subBudgetShare(t, k)) out.push(`sub-stock ${k} gave out ${c} cents of its ${subBudgetShare(t, k)}`);
  });
  if (spend.stray > 0) out.push(`${spend.stray} packet(s) carry a coupon id of no partition of the template`);
  return out.length > 0 ? out.join('; ') : undefined;
}
