/**
 * GATEWAY_WORKERS=2: the real gateway entry supervising two workers on one port, with the real
 * sink. Claims through both workers keep every invariant (the one oracle, tools/verify/), each
 * worker admits its half of the rates (and worker 0 alone serves a separate admin listener, whose
 * /metrics answers for both), a
 * worker that dies is restarted, and SIGTERM to the supervisor drains the claims in flight on
 * both workers before every process is gone.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { readClaimStats } from '../../gateway/stats/reader.ts';
import { type KeySpace, statsAppliedKey } from '../../lua/keys.ts';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { runPool } from '../support/pool.ts';
import { parseSamples, sum } from '../support/prometheus.ts';
import { type GatewayProc, type Proc, spawnEntry, spawnGateway } from '../support/processes.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { findLog, logsWith } from '../../tools/harness/log-lines.ts';
import { drained, openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';
import { storedCoupons, templateState } from '../../tools/verify/facts.ts';
import { claimKey, judge, type Told } from '../../tools/verify/oracle.ts';

// Stats flushed often, so the test reads every worker's counts soon after its claims.
const env = testEnv({ GATEWAY_WORKERS: '2', CLAIM_PENDING_WAIT_MS: '2000', STATS_FLUSH_MS: '200' });
let s: Storage;
let ks: KeySpace;
let gw: GatewayProc;
let sink: Proc;

before(async () => {
  s = await openStorage(testConfig(env));
  ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  gw = await spawnGateway(env);
  sink = spawnEntry('sink/main.ts', env);
});

after(async () => {
  await gw?.stop();
  await sink?.stop();
  await s?.close();
});

/** The pid of each worker as it last logged that it listens (a restart logs again). */
function workerPids(log: string): Map<number, number> {
  const pids = new Map<number, number>();
  for (const r of logsWith(log, 'gateway worker listening')) pids.set(Number(r.worker), r.pid);
  return pids;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The gateway ids that flushed claim stats of a template (w<index>-<pid>-<random>). */
async function flushedBy(templateId: string): Promise<string[]> {
  const prefix = statsAppliedKey(ks, templateId, '');
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, page] = await s.redis.scan(cursor, 'MATCH', statsAppliedKey(ks, templateId, '*'), 'COUNT', 1000);
    cursor = next;
    keys.push(...page);
  } while (cursor !== '0');
  return keys.map((k) => k.slice(prefix.length)).sort();
}

/** Both current workers (and no one else) flushed stats of the template. */
function assertBothWorkers(ids: string[], pids: Map<number, number>): void {
  assert.deepEqual(ids.map((id) => id.split('-').slice(0, 2).join('-')), [`w0-${pids.get(0)}`, `w1-${pids.get(1)}`],
    `stats flushed by ${ids.join(', ')}`);
}

test('the supervisor logs one "gateway listening" for two workers on its port', () => {
  const lines = logsWith(gw.log(), 'gateway listening');
  assert.equal(lines.length, 1, gw.log());
  const line = lines[0]!;
  assert.equal(line.pid, gw.child.pid);
  assert.equal(line.role, 'gateway-supervisor');
  assert.equal(line.workers, 2);
  const pids = workerPids(gw.log());
  assert.deepEqual([pids.get(0), pids.get(1)], line.workerPids);
  for (const r of logsWith(gw.log(), 'gateway worker listening')) {
    assert.equal(r.role, 'gateway');
    assert.equal(String(r.port), new URL(gw.url).port);
  }
});

test('thousands of claims through both workers: no over-issue, limits held, replays identical, every coupon in MySQL', async () => {
  const STOCK = 1500;
  const LIMIT = 3;
  const USERS = 600;
  const tpl = await createTemplate(gw.url, { name: 'two workers', type: 'direct', value: 100, totalStock: STOCK, perUserLimit: LIMIT, subStocks: 4 });
  // Every user sends 5 request ids and then retries 2 of them; every tenth claim is a double
  // click. Demand (600 users x 3) exceeds the stock, so both the limit and the sell-out bite.
  interface Sent { userId: string; requestId: string; status: number; json: any; at: number; error?: string }
  const jobs: (() => Promise<Sent>)[] = [];
  for (let i = 0; i < 4200; i++) {
    const userId = `u${i % USERS}`;
    const requestId = `r${Math.floor(i / USERS) % 5}`;
    const send = async (): Promise<Sent> => {
      try {
        const r = await http('POST', `${gw.url}/v1/claim`, { userId, templateId: tpl.id, requestId });
        return { userId, requestId, status: r.status, json: r.json, at: Date.now() };
      } catch (err) {
        return { userId, requestId, status: 0, json: undefined, at: Date.now(), error: String(err) };
      }
    };
    jobs.push(send);
    if (i % 10 === 0) jobs.push(send);
  }
  const sent = await runPool(jobs.sort(() => Math.random() - 0.5), 200);

  const statuses = new Map<number, number>();
  for (const x of sent) statuses.set(x.status, (statuses.get(x.status) ?? 0) + 1);
  assert.deepEqual([...statuses.keys()].filter((c) => ![200, 409, 410].includes(c)), [], `statuses ${JSON.stringify([...statuses])}`);

  const told: Told[] = [];
  const keys = { sent: new Set<string>(), refused: new Set<string>(), unknown: new Set<string>() };
  for (const x of sent) {
    const key = claimKey(tpl.id, x.userId, x.requestId);
    keys.sent.add(key);
    if (x.status === 200) {
      told.push({ templateId: tpl.id, userId: x.userId, requestId: x.requestId, couponId: x.json.couponId, replayed: x.json.replayed === true,
        toldUserId: x.json.userId, toldTemplateId: x.json.templateId, at: x.at });
    } else if (x.status === 409 || x.status === 410) keys.refused.add(key);
    else keys.unknown.add(key);
  }

  await waitFor(() => drained(s), 30_000, 'the sink to store every issued coupon');
  const layout = { dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables };
  const verdict = judge({
    templates: [await templateState(s.redis, ks, tpl)],
    rows: await storedCoupons(s.mysql, s.cfg.mysql.dbPrefix, layout, { ids: [tpl.id] }),
    told, requests: keys, backlog: 0, layout,
  });
  assert.deepEqual(verdict.violations, []);
  const t = verdict.templates[0]!;
  assert.deepEqual({ issued: t.issued, rows: t.rows, told: t.told }, { issued: STOCK, rows: STOCK, told: STOCK });
  assert.ok(t.maxPerUser <= LIMIT && t.maxPerUser > 1, `most coupons of one user: ${t.maxPerUser}`);
  assert.ok(verdict.replays > 0, 'no replayed answers: the retries did not exercise idempotency');

  // Each worker flushed its own counts under its own id, exactly once: the sums are the answers.
  await new Promise((r) => setTimeout(r, 600));
  assertBothWorkers(await flushedBy(tpl.id), workerPids(gw.log()));
  const stats = await readClaimStats(s.redis, ks, tpl.id, Date.now());
  assert.equal(Math.round(stats.claimsPerSecond * stats.windowSeconds), sent.length);
  assert.equal(Math.round(stats.issuedPerSecond * stats.windowSeconds), STOCK);
  assert.equal(stats.rejected.limit_reached, statuses.get(409) ?? 0);
  assert.equal(stats.rejected.sold_out, statuses.get(410) ?? 0);
});

test('each worker admits 1/N of the configured rate; a separate admin listener is worker 0\'s', async () => {
  const gw2 = await spawnGateway({ ...env, ADMIT_TEMPLATE_RPS: '1', ADMIT_TEMPLATE_BURST: '10', ADMIN_ROUTES: 'separate', ADMIN_PORT: '0' });
  try {
    const admin = findLog(gw2.log(), 'admin listening');
    assert.ok(admin, gw2.log());
    assert.equal(logsWith(gw2.log(), 'admin listening').length, 1);
    assert.equal((await http('GET', `${gw2.url}/v1/admin/templates`, undefined, ADMIN)).status, 404);
    const tpl = await createTemplate(`http://127.0.0.1:${admin.port}`, { name: 'admission', type: 'direct', value: 100, totalStock: 1000 });
    // A connection per claim: the kernel picks a worker for each, so both see plenty.
    const fresh = new Agent({ keepAlive: false, maxSockets: 100 });
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) =>
      http('POST', `${gw2.url}/v1/claim`, { userId: `a${i}`, templateId: tpl.id }, {}, fresh)));
    const issued = answers.filter((a) => a.status === 200).length;
    assert.equal(issued + answers.filter((a) => a.status === 429).length, answers.length);
    // Two workers together admit the burst once: 5 + 5 from the half-size buckets, plus what
    // 1 token/s per worker refills meanwhile. Without the split it would be 20.
    assert.ok(issued >= 10 && issued <= 12, `${issued} claims admitted`);
    // One scrape of worker 0's admin listener answers for both workers (gateway/metrics/worker-scrape.ts).
    const scraped = await http('GET', `http://127.0.0.1:${admin.port}/metrics`, undefined, ADMIN);
    assert.equal(scraped.status, 200);
    const samples = parseSamples(scraped.raw.toString());
    const of = (worker: string, outcome: string) => sum(samples, 'coupon_claims_total', { worker, outcome });
    assert.ok(of('0', 'issued') > 0 && of('1', 'issued') > 0, 'both workers issued');
    assert.equal(of('0', 'issued') + of('1', 'issued'), issued);
    assert.equal(of('0', 'rate_limited') + of('1', 'rate_limited'), answers.length - issued);
    for (const worker of ['0', '1']) {
      assert.ok(samples.some((x) => x.name === 'process_start_time_seconds' && x.labels.worker === worker), `worker ${worker}'s start time`);
    }
  } finally {
    assert.equal(await gw2.stop(), 0);
  }
});

test('workers whose supervisor is killed outright stop by themselves', async () => {
  const gw3 = await spawnGateway(env);
  const pids = workerPids(gw3.log());
  assert.equal(pids.size, 2);
  await gw3.stop('SIGKILL');
  await waitFor(async () => ![...pids.values()].some(alive), 15_000, 'the orphaned workers to exit');
});

test('a worker that dies is restarted on the same port, and the gateway keeps serving', async () => {
  const before = workerPids(gw.log());
  process.kill(before.get(1)!, 'SIGKILL');
  await waitFor(async () => (workerPids(gw.log()).get(1) ?? 0) !== before.get(1), 15_000, 'worker 1 to be restarted');
  assert.ok(logsWith(gw.log(), 'gateway worker died, restarting it')
    .some((r) => r.worker === 1 && r.workerPid === before.get(1) && r.code === null && r.signal === 'SIGKILL'), gw.log());
  const now = workerPids(gw.log());
  assert.equal(now.get(0), before.get(0));
  assert.ok(alive(now.get(1)!) && gw.child.exitCode === null);
  const tpl = await createTemplate(gw.url, { name: 'after restart', type: 'direct', value: 100, totalStock: 100 });
  const fresh = new Agent({ keepAlive: false, maxSockets: 50 });
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    http('POST', `${gw.url}/v1/claim`, { userId: `b${i}`, templateId: tpl.id }, {}, fresh)));
  assert.deepEqual(answers.filter((a) => a.status !== 200).map((a) => a.status), []);
  await new Promise((r) => setTimeout(r, 600));
  assertBothWorkers(await flushedBy(tpl.id), now);
});

test('SIGTERM to the supervisor: claims in flight on both workers complete, then every process is gone', async () => {
  const tpl = await createTemplate(gw.url, { name: 'drain', type: 'direct', value: 100, totalStock: 100 });
  const pids = workerPids(gw.log());
  const port = Number(new URL(gw.url).port);
  // 32 claims whose bodies are half sent: in flight until the rest arrives. With a connection
  // each, both workers hold some (all on one would be a 1 in 2^31 chance).
  const clients: { sock: Socket; body: string; answer: string }[] = [];
  for (let i = 0; i < 32; i++) {
    const sock = connect(port, '127.0.0.1');
    await once(sock, 'connect');
    const body = JSON.stringify({ userId: `d${i}`, templateId: tpl.id, requestId: `drain-${i}` });
    sock.write(`POST /v1/claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    sock.write(body.slice(0, 10));
    const c = { sock, body, answer: '' };
    sock.on('data', (b) => { c.answer += b.toString(); });
    clients.push(c);
  }
  await new Promise((r) => setTimeout(r, 200));
  const exited = once(gw.child, 'exit');
  gw.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(gw.child.exitCode, null, 'the supervisor exited before the claims in flight finished');
  assert.ok(alive(pids.get(0)!) && alive(pids.get(1)!), 'a worker exited before its claims in flight finished');
  const started = Date.now();
  for (const c of clients) c.sock.write(c.body.slice(10));
  const [code] = await exited;
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 20_000, 'the drain took far longer than the claims in flight');
  assert.ok(!alive(pids.get(0)!) && !alive(pids.get(1)!), 'a worker outlived its supervisor');

  // The workers' exit closes the connections, after their answers.
  await Promise.all(clients.map((c) => (c.sock.destroyed ? undefined : once(c.sock, 'close'))));
  const coupons = new Set<string>();
  for (const c of clients) {
    assert.match(c.answer, /^HTTP\/1\.1 200 /, c.answer);
    coupons.add(JSON.parse(c.answer.slice(c.answer.indexOf('\r\n\r\n') + 4)).couponId);
  }
  assert.equal(coupons.size, clients.length);
  // Both workers served some of them, and flushed their counts as they stopped.
  assertBothWorkers(await flushedBy(tpl.id), pids);
  await waitFor(() => drained(s), 10_000, 'the sink to store the drained claims');
  const rows = await storedCoupons(s.mysql, s.cfg.mysql.dbPrefix, { dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables }, { ids: [tpl.id] });
  assert.deepEqual(new Set(rows.map((r) => r.couponId)), coupons);
  const view = await http('GET', `${gw.url}/v1/admin/templates/${tpl.id}`, undefined, ADMIN).catch(() => undefined);
  assert.equal(view, undefined, 'something still answers on the port');
});
