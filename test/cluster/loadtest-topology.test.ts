/**
 * The load test on the scaled-out topology (make loadtest SCENARIO=hot TOPOLOGY=cluster): a tiny
 * hot run against a real gateway and sink on the Redis Cluster and both MariaDB servers verifies,
 * and its report (terminal, results.json, report.html) shows claims per Redis master and rows per
 * server that match the coupons the clients were told, placed by the slot map and shard routing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';
import { type GatewayProc, type Proc, spawnEntry, spawnGateway } from '../support/processes.ts';
import { testTopology, topologyEnv } from '../support/topology.ts';
import { partitionMasters } from '../support/topology-load.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const env = testEnv(topologyEnv());
let s: Storage;
let gw: GatewayProc;
let sink: Proc;
let out: string;

before(async () => {
  s = await openStorage(testConfig(env));
  gw = await spawnGateway(env);
  sink = spawnEntry('sink/main.ts', env);
  out = mkdtempSync(join(tmpdir(), 'loadtest-topology-'));
});

after(async () => {
  await gw?.stop();
  await sink?.stop();
  await s?.close();
  if (out) rmSync(out, { recursive: true, force: true });
});

/** Runs loadtest/main.ts on the test's prefix against the gateway; its exit code and output. */
function loadtest(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'loadtest/main.ts', ...args, '--url', gw.url, '--out', out],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr });
  }));
}

test('hot on the topology verifies; the report shows claims per master and rows per server, matching the told coupons', async () => {
  // 6,000 coupons: 6 sub-stocks (one per 1,000), over two or three masters.
  const r = await loadtest(['hot', '--requests', '6500', '--connections', '20', '--stock', '6000', '--users', '8000']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /claims per Redis master/);
  assert.match(r.stdout, /rows per MariaDB server/);
  const dir = /^report: (.+)\/$/m.exec(r.stdout)?.[1];
  assert.ok(dir && existsSync(dir), r.stdout);
  const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  const answers = readFileSync(join(dir, 'answers.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { couponId: string });
  assert.equal(answers.length, 6000, 'the whole stock was told issued');

  // claims per master, counted here from the told coupon ids and the cluster's slot map.
  const topo = testTopology()!;
  const ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  const masterOf = await partitionMasters(ks, Number(topo.nodes[0]!.split(':')[1]));
  const perMaster = new Map([...new Set(masterOf)].map((p) => [`127.0.0.1:${p}`, 0]));
  for (const a of answers) {
    const m = `127.0.0.1:${masterOf[Number(a.couponId.split('.')[2])]}`;
    perMaster.set(m, perMaster.get(m)! + 1);
  }
  const masters = results.spread.masters as { master: string; subStocks: number; issued: number; share: number }[];
  assert.deepEqual(masters.map((m) => [m.master, m.issued]), [...perMaster].sort(([a], [b]) => a.localeCompare(b)));
  assert.equal(masters.reduce((n, m) => n + m.subStocks, 0), results.templates[0].subStocks, 'every sub-stock on a master');
  assert.equal(Math.round(masters.reduce((n, m) => n + m.share, 0)), 100);

  // rows per server: database d on server d % servers, d from the coupon id.
  const servers = results.spread.servers as { server: string; rows: number }[];
  assert.deepEqual(servers.map((v) => v.server), topo.mysqlUrls.map((u) => new URL(u).host));
  assert.deepEqual(servers.map((v) => v.rows),
    topo.mysqlUrls.map((_, i) => answers.filter((a) => Number(a.couponId.split('.')[0]) % topo.mysqlUrls.length === i).length));

  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  for (const m of masters) assert.ok(html.includes(`<tr><td>${m.master}</td>`), `report.html has a row for master ${m.master}`);
  for (const v of servers) assert.ok(html.includes(`<tr><td>${v.server}</td>`), `report.html has a row for server ${v.server}`);
  console.log(r.stdout.slice(r.stdout.indexOf('claims per Redis master')));
});
