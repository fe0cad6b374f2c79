/**
 * Claims through a real gateway on the test topology, and where their keys and rows ended up,
 * read from each Redis master and each MariaDB server directly (not through the product's
 * routing, which is what the tests check).
 */
import mysql from 'mysql2/promise';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { promisify } from 'node:util';
import { type KeySpace, subStockPartition } from '../../lua/keys.ts';
import { shardDbName, shardTableName } from '../../core/shards.ts';
import { http } from './http.ts';
import { clusterNodes, redisCli } from './topology.ts';

const run = promisify(execFile);

/** The port of the master owning each partition's hash tag now (index: partition). */
export async function partitionMasters(ks: KeySpace, askPort: number): Promise<number[]> {
  const masters = (await clusterNodes(askPort)).filter((n) => n.role === 'master' && n.slots.length > 0);
  const owner = (slot: number) => masters.find((m) => m.slots.some((r) => {
    if (r.startsWith('[')) return false; // a slot being migrated or imported
    const [from, to] = r.split('-').map(Number);
    return slot >= from! && slot <= (to ?? from!);
  }))?.port;
  const out: number[] = [];
  for (let p = 0; p < ks.partitions; p++) {
    const slot = Number((await redisCli(askPort, 'cluster', 'keyslot', `${ks.prefix}:{${p}}`)).trim());
    const port = owner(slot);
    if (port === undefined) throw new Error(`no master owns slot ${slot}`);
    out.push(port);
  }
  return out;
}

/**
 * A template id whose `split.length` sub-stocks-per-master counts are `split` (largest first:
 * [3, 2, 1] puts 3 sub-stocks on one master, 2 on another, 1 on the third).
 */
export function idWithSplit(ks: KeySpace, masterOf: readonly number[], base: string, split: readonly number[]): string {
  const subStocks = split.reduce((a, b) => a + b, 0);
  const want = [...split].sort((a, b) => b - a).join('/');
  for (let i = 0; i < 1000; i++) {
    const id = `${base}${i}`;
    const on = new Map<number, number>();
    for (let k = 0; k < subStocks; k++) {
      const m = masterOf[subStockPartition(ks, id, k)]!;
      on.set(m, (on.get(m) ?? 0) + 1);
    }
    if ([...on.values()].sort((a, b) => b - a).join('/') === want) return id;
  }
  throw new Error(`no template id ${base}* splits its sub-stocks ${want} over the masters`);
}

/** Keys matching `pattern` held by the node on `port` itself (SCAN sees one node's keys). */
export async function keysOn(port: number, pattern: string): Promise<string[]> {
  return (await redisCli(port, '--scan', '--pattern', pattern)).split('\n').filter((k) => k !== '');
}

export interface ServerRow {
  /** Index of the server in MYSQL_SHARD_URLS. */
  readonly server: number;
  readonly db: number;
  readonly table: number;
  readonly couponId: string;
  readonly userId: string;
}

/** Every row of `templateId` in the shard databases each server holds, asked of each server alone. */
export async function rowsByServer(urls: readonly string[], dbPrefix: string, layout: { dbs: number; tables: number },
  templateId: string): Promise<ServerRow[]> {
  const out: ServerRow[] = [];
  for (const [server, url] of urls.entries()) {
    const c = await mysql.createConnection(url);
    try {
      for (let db = 0; db < layout.dbs; db++) {
        const [has] = await c.query<mysql.RowDataPacket[]>('SHOW DATABASES LIKE ?', [shardDbName(dbPrefix, db)]);
        if (has.length === 0) continue;
        for (let table = 0; table < layout.tables; table++) {
          const [rows] = await c.query<mysql.RowDataPacket[]>(
            `SELECT coupon_id, user_id FROM \`${shardDbName(dbPrefix, db)}\`.\`${shardTableName(table)}\` WHERE template_id = ?`, [templateId]);
          for (const r of rows) out.push({ server, db, table, couponId: String(r.coupon_id), userId: String(r.user_id) });
        }
      }
    } finally {
      await c.end();
    }
  }
  return out;
}

export interface Rain {
  /** Coupons the clients were told were issued: coupon id -> user. */
  readonly told: Map<string, string>;
  readonly statuses: Map<number, number>;
  /** Answers that leave it open whether a coupon was issued (5xx, a broken connection). */
  readonly uncertain: number;
}

/** Each user claims `templateId` once through the gateway, `concurrency` at a time. */
export async function claimRain(base: string, templateId: string, users: readonly string[], concurrency: number,
  rain: Rain = { told: new Map(), statuses: new Map(), uncertain: 0 }): Promise<Rain> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  let uncertain = rain.uncertain;
  const worker = async () => {
    while (next < users.length) {
      const userId = users[next++]!;
      try {
        const r = await http('POST', `${base}/v1/claim`, { userId, templateId }, {}, agent);
        rain.statuses.set(r.status, (rain.statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200) rain.told.set(String(r.json.couponId), userId);
        else if (r.status >= 500) uncertain++;
      } catch {
        uncertain++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { ...rain, uncertain };
}

const ROOT = new URL('../../', import.meta.url);

/** The pid of the test topology's MariaDB server n (2, 3, ...), from the pid file scripts/services.sh wrote. */
export function mariadbPid(n: number): number {
  const pid = Number(readFileSync(new URL(`.data/run/test-topology-mariadb-${n}.pid`, ROOT), 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no pid for test topology mariadb-${n}`);
  return pid;
}

/**
 * Starts whatever of the test topology's servers is not running (scripts/services.sh
 * topology-storage-up with its ports, read from TEST_TOPOLOGY_*); running ones are left alone.
 */
export async function topologyStorageUp(nodes: readonly string[], mysqlUrls: readonly string[]): Promise<void> {
  const port = (hostPort: string) => hostPort.split(':').at(-1)!;
  await run('bash', ['scripts/services.sh', 'topology-storage-up'], {
    cwd: ROOT, timeout: 120_000,
    env: {
      ...process.env, TOPOLOGY_NAME: 'test-topology', TOPOLOGY_REDIS_PORTS: nodes.map(port).join(' '),
      MYSQL_PORT: String(new URL(mysqlUrls[0]!).port), TOPOLOGY_MYSQL_PORTS: mysqlUrls.slice(1).map((u) => new URL(u).port).join(' '),
    },
  });
}
