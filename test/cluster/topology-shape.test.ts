/**
 * The topology make test-cluster runs is the one the issue names: 3 masters, each with a
 * replica in sync, AOF on, every slot served; the shard databases split over two MariaDB
 * servers, the main one on the first. The other files in test/cluster rely on this shape.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import { openStorage, type Storage, testConfig } from '../../tools/harness/storage.ts';
import { clusterNodes, redisCli, testTopology, topologyEnv } from '../support/topology.ts';

let s: Storage;
before(async () => { s = await openStorage(testConfig(topologyEnv())); });
after(async () => { await s?.close(); });

test('3 masters own every slot, each with one replica whose link is up, all with AOF on', async () => {
  const ports = testTopology()!.nodes.map((n) => Number(n.split(':')[1]));
  const nodes = await clusterNodes(ports[0]!);
  const masters = nodes.filter((n) => n.role === 'master' && n.slots.length > 0);
  assert.equal(masters.length, 3);
  for (const m of masters) {
    const replicas = nodes.filter((n) => n.role === 'replica' && n.masterId === m.id && !n.failing);
    assert.equal(replicas.length, 1, `master ${m.port} has ${replicas.length} replicas`);
    const info = await redisCli(replicas[0]!.port, 'info', 'replication');
    assert.match(info, /master_link_status:up/);
  }
  for (const p of ports) assert.match(await redisCli(p, 'config', 'get', 'appendonly'), /appendonly\s+yes/);
  assert.match(await redisCli(ports[0]!, 'cluster', 'info'), /cluster_slots_assigned:16384/);
});

test('the shard databases are split over the servers by MYSQL_SHARD_URLS, the main one on the first', async () => {
  const urls = testTopology()!.mysqlUrls;
  const prefix = s.cfg.mysql.dbPrefix;
  const dbsOn = async (url: string) => {
    const c = await mysql.createConnection(url);
    try {
      const [rows] = await c.query<mysql.RowDataPacket[]>('SHOW DATABASES LIKE ?', [`${prefix}\\_%`]);
      return rows.map((r) => String(Object.values(r)[0])).sort();
    } finally {
      await c.end();
    }
  };
  const shards = s.cfg.mysql.shardDbs;
  const expected = urls.map((_, i) => [
    ...(i === 0 ? [`${prefix}_main`] : []),
    ...Array.from({ length: shards }, (_, d) => d).filter((d) => d % urls.length === i).map((d) => `${prefix}_${d}`),
  ].sort());
  for (const [i, url] of urls.entries()) assert.deepEqual(await dbsOn(url), expected[i], `databases on ${url}`);
});
