/**
 * Where a run's coupons came from and went to on a scaled-out topology (make run
 * TOPOLOGY=cluster): issued coupons per Redis master, read from the partition in each stored
 * coupon id (`<db>.<table>.<partition>.<seq>`, the partition the coupon was taken from) and the
 * slot map at the end of the run; and rows per MariaDB server, by the shard routing of
 * core/mysql.ts (database d on server d % servers). A hot template's few sub-stocks land
 * unevenly over the masters; this makes that visible. Nothing for a single Redis and one server.
 */
import type { Cluster } from 'ioredis';
import { subStockPartition } from '../lua/keys.ts';
import type { CreatedTemplate } from './admin.ts';
import type { Storage } from './facts.ts';
import type { CouponRow } from './verify.ts';

export interface MasterShare {
  /** host:port of the master owning the partitions' slots at the end of the run. */
  readonly master: string;
  /** Sub-stocks of the run's templates whose slot this master owns. */
  readonly subStocks: number;
  /** Sub-stock indexes on it, when the run has one template (hot): the spread at a glance. */
  readonly subStockIndexes?: readonly number[];
  /** Stored coupons taken from its partitions. */
  readonly issued: number;
  /** issued as a percentage of all stored coupons of the run. */
  readonly share: number;
}

export interface ServerShare {
  /** host:port of the MariaDB server (no credentials). */
  readonly server: string;
  /** Shard databases it holds (indexes; the main database sits on the first server). */
  readonly dbs: readonly number[];
  /** The run's coupon rows in its shard databases. */
  readonly rows: number;
  readonly share: number;
}

export interface StorageSpread {
  /** Undefined on a single Redis. */
  readonly masters?: readonly MasterShare[];
  /** Undefined with one MariaDB server. */
  readonly servers?: readonly ServerShare[];
}

const pct = (part: number, whole: number) => (whole === 0 ? 0 : (100 * part) / whole);

/** host:port of a mysql:// URL, without its credentials. */
function hostPort(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(unparsable)';
  }
}

/** Master host:port of every slot, from CLUSTER SLOTS as the cluster sees it now. */
async function slotOwners(redis: Cluster): Promise<(slot: number) => string> {
  const ranges = await redis.cluster('SLOTS');
  return (slot) => {
    // a range's first node is its master.
    const r = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2];
    return r ? `${r[0]}:${r[1]}` : '(no owner)';
  };
}

/** Issued coupons and sub-stocks per master; undefined on a single Redis. */
async function masterShares(st: Storage, templates: readonly CreatedTemplate[], rows: readonly CouponRow[]): Promise<MasterShare[] | undefined> {
  if (st.cfg.redis.clusterNodes.length === 0) return undefined;
  const redis = st.redis as Cluster;
  const owner = await slotOwners(redis);
  // the slot of partition p's hash tag, asked of Redis itself (CLUSTER KEYSLOT).
  const slots = await Promise.all(Array.from({ length: st.ks.partitions }, (_, p) =>
    redis.cluster('KEYSLOT', `${st.ks.prefix}:{${p}}`) as Promise<number>));
  const masterOf = (p: number) => owner(Number(slots[p]));
  const out = new Map<string, { subStocks: number; indexes: number[]; issued: number }>();
  const entry = (m: string) => out.get(m) ?? out.set(m, { subStocks: 0, indexes: [], issued: 0 }).get(m)!;
  // every master with slots, even one the run's sub-stocks missed: its absence is the finding.
  for (const s of slots) entry(owner(Number(s)));
  for (const t of templates) {
    for (let k = 0; k < t.subStocks; k++) {
      const e = entry(masterOf(subStockPartition(st.ks, t.id, k)));
      e.subStocks++;
      e.indexes.push(k);
    }
  }
  for (const r of rows) {
    const m = /^\d+\.\d+\.(\d+)\.\d+$/.exec(r.couponId);
    entry(m ? masterOf(Number(m[1])) : '(unparsable coupon id)').issued++;
  }
  return [...out].sort(([a], [b]) => a.localeCompare(b)).map(([master, e]) => ({
    master, subStocks: e.subStocks, issued: e.issued, share: pct(e.issued, rows.length),
    ...(templates.length === 1 ? { subStockIndexes: e.indexes } : {}),
  }));
}

/** The run's rows per MariaDB server (database d on server d % servers); undefined with one server. */
function serverShares(st: Storage, rows: readonly CouponRow[]): ServerShare[] | undefined {
  const urls = st.cfg.mysql.shardUrls;
  if (urls.length < 2) return undefined;
  return urls.map((url, i) => {
    const dbs = Array.from({ length: st.layout.dbs }, (_, d) => d).filter((d) => d % urls.length === i);
    const n = rows.filter((r) => r.db % urls.length === i).length;
    return { server: hostPort(url), dbs, rows: n, share: pct(n, rows.length) };
  });
}

/** The spread of a run over masters and servers; undefined on a single Redis with one MariaDB server. */
export async function storageSpread(st: Storage, templates: readonly CreatedTemplate[], rows: readonly CouponRow[]):
  Promise<StorageSpread | undefined> {
  const masters = await masterShares(st, templates, rows);
  const servers = serverShares(st, rows);
  return masters || servers ? { masters, servers } : undefined;
}

/** The spread's tables as text cells: [title, head, rows] each, for the terminal and report.html. */
export function spreadTables(s: StorageSpread): { title: string; head: string[]; rows: string[][] }[] {
  const n = (v: number) => v.toLocaleString('en-US');
  const out: { title: string; head: string[]; rows: string[][] }[] = [];
  if (s.masters) {
    out.push({
      title: 'claims per Redis master (issued coupons by the partition they were taken from; slots at the end of the run)',
      head: ['master', 'sub-stocks', 'issued', 'share'],
      rows: s.masters.map((m) => [m.master, `${m.subStocks}${m.subStockIndexes ? ` (k=${m.subStockIndexes.join(',') || '-'})` : ''}`,
        n(m.issued), `${m.share.toFixed(1)} %`]),
    });
  }
  if (s.servers) {
    out.push({
      title: 'rows per MariaDB server (shard database d on server d % servers)',
      head: ['server', 'shard dbs', 'rows', 'share'],
      rows: s.servers.map((v) => [v.server, v.dbs.join(',') || '-', n(v.rows), `${v.share.toFixed(1)} %`]),
    });
  }
  return out;
}
