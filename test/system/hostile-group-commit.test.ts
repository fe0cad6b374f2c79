/**
 * Hostile tests of the group-commit claim path (gateway/claim/group-commit.ts + lua/claim-home-n.lua
 * + the v2 stream entries the sink writes), end to end through a real gateway (behind a cutting
 * proxy to Redis) and a real sink, judged by the one oracle (tools/verify/oracle.ts):
 * - simultaneous double clicks of one request id, several request ids per user, 64-character ids
 *   that differ only in case, limits 1..3 on tiny stocks over few sub-stocks (groups run empty
 *   mid-group and the overflow path runs beside the groups);
 * - template changes while claims flood (limit down and up, pause/resume, stock top-up and
 *   reduction): per-user limits across template versions, no hung claim;
 * - Redis replies lost, Redis hung and down while groups are in flight: every claim of a lost group
 *   is a 503, a retry with the same request id replays, nothing is told issued without a row;
 * - hundreds of templates at once (hundreds of groups per turn), clients that abort mid-claim,
 *   the sink killed -9 while many-record entries are half written, then SIGTERM: exit 0 at once.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { deadKey, type KeySpace, streamKey } from '../../lua/keys.ts';
import { decodeEntry } from '../../lua/record.ts';
import { type CuttingProxy, startCuttingProxy } from '../../tools/harness/cutting-proxy.ts';
import { drained, openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';
import { storedCoupons, templateState } from '../../tools/verify/facts.ts';
import { claimKey, judge, type Told, type Verdict } from '../../tools/verify/oracle.ts';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { runPool } from '../support/pool.ts';
import { type GatewayProc, type Proc, spawnEntry, spawnGateway } from '../support/processes.ts';
import { waitFor } from '../support/sink-fixtures.ts';

const GRACE_MS = 8000;
const env = testEnv({
  CLAIM_PENDING_WAIT_MS: '2000', ADMIT_GLOBAL_RPS: '1000000', ADMIT_GLOBAL_BURST: '1000000', ADMIT_TEMPLATE_RPS: '1000000',
  ADMIT_TEMPLATE_BURST: '1000000', ADMIN_FAILURE_BURST: '10000', SHUTDOWN_GRACE_MS: String(GRACE_MS),
  // a sink killed -9 leaves entries pending under its name: the next one takes them over soon.
  SINK_RECLAIM_IDLE_MS: '500', SINK_RECLAIM_EVERY_MS: '100',
});
let s: Storage;
let ks: KeySpace;
let proxy: CuttingProxy;
let gw: GatewayProc;
let sink: Proc;
const agent = new Agent({ keepAlive: true, maxSockets: 200 });

before(async () => {
  s = await openStorage(testConfig(env));
  ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  const target = new URL(s.cfg.redis.url);
  proxy = await startCuttingProxy(target.hostname, Number(target.port));
  gw = await spawnGateway({ ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
  sink = spawnEntry('sink/main.ts', env);
});

after(async () => {
  await gw?.stop();
  await sink?.stop();
  await proxy?.close();
  await s?.close();
  agent.destroy();
});

interface Sent {
  templateId: string;
  userId: string;
  requestId?: string;
  status: number; // 0: no answer (connection error or hung past the deadline)
  json: any;
  sentAt: number;
  at: number;
}

const CLAIM_DEADLINE_MS = 10_000;

/** One claim; status 0 when the connection failed or no answer came within CLAIM_DEADLINE_MS. */
async function claim(templateId: string, userId: string, requestId?: string): Promise<Sent> {
  const sentAt = Date.now();
  const body = { userId, templateId, ...(requestId === undefined ? {} : { requestId }) };
  try {
    const r = await Promise.race([http('POST', `${gw.url}/v1/claim`, body, {}, agent),
      sleep(CLAIM_DEADLINE_MS).then(() => undefined)]);
    if (!r) return { templateId, userId, requestId, status: 0, json: { hung: true }, sentAt, at: Date.now() };
    return { templateId, userId, requestId, status: r.status, json: r.json, sentAt, at: Date.now() };
  } catch (err) {
    return { templateId, userId, requestId, status: 0, json: { error: String(err) }, sentAt, at: Date.now() };
  }
}

const REFUSED = new Set([403, 409, 410]);

function statusCounts(sent: readonly Sent[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const x of sent) m[x.status] = (m[x.status] ?? 0) + 1;
  return m;
}

/** Dead-lettered records of these templates (and undecodable ones). */
async function deadLetters(ids: ReadonlySet<string>): Promise<number> {
  let n = 0;
  for (let p = 0; p < ks.partitions; p++) {
    for (const [, fields] of await s.redis.xrangeBuffer(deadKey(ks, p), '-', '+')) {
      const d = decodeEntry({ partition: p, id: '', fields });
      if (!d.ok) n++;
      else for (const r of d.records) if (ids.has(r.templateId)) n++;
    }
  }
  return n;
}

/** The most records one stream entry (one claim-home call) of these templates carried, among those still in the streams. */
async function largestGroup(ids: ReadonlySet<string>): Promise<number> {
  let most = 0;
  for (let p = 0; p < ks.partitions; p++) {
    for (const [, fields] of await s.redis.xrangeBuffer(streamKey(ks, p), '-', '+')) {
      const d = decodeEntry({ partition: p, id: '', fields });
      if (d.ok && ids.has(d.records[0]!.templateId)) most = Math.max(most, d.records.length);
    }
  }
  return most;
}

/**
 * Waits for the sink to drain, then judges every answer. `limits` overrides a template's
 * per-user limit for the oracle (the largest one it ever had, when it changed mid-run).
 */
async function verdict(templateIds: readonly string[], sent: readonly Sent[], limits: Record<string, number> = {}): Promise<Verdict> {
  await waitFor(() => drained(s), 30_000, 'the sink to drain');
  const told: Told[] = [];
  const requests = { sent: new Set<string>(), refused: new Set<string>(), unknown: new Set<string>() };
  for (const x of sent) {
    if (x.requestId === undefined) {
      if (x.status === 200) {
        told.push({ templateId: x.templateId, userId: x.userId, couponId: x.json.couponId, replayed: x.json.replayed === true,
          toldUserId: x.json.userId, toldTemplateId: x.json.templateId, at: x.at });
      }
      continue;
    }
    const key = claimKey(x.templateId, x.userId, x.requestId);
    requests.sent.add(key);
    if (x.status === 200) {
      told.push({ templateId: x.templateId, userId: x.userId, requestId: x.requestId, couponId: x.json.couponId,
        replayed: x.json.replayed === true, toldUserId: x.json.userId, toldTemplateId: x.json.templateId, at: x.at });
    } else if (REFUSED.has(x.status)) requests.refused.add(key);
    else requests.unknown.add(key);
  }
  const templates = [];
  for (const id of templateIds) {
    const t = (await http('GET', `${gw.url}/v1/admin/templates/${id}`, undefined, ADMIN)).json;
    const state = await templateState(s.redis, ks, t);
    templates.push({ ...state, perUserLimit: limits[id] ?? state.perUserLimit });
  }
  const layout = { dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables };
  // Claims without a request id that got no definite answer may have issued: they are the uncertain ones.
  const uncertain = sent.filter((x) => x.requestId === undefined && x.status !== 200 && !REFUSED.has(x.status)).length;
  return judge({
    templates, told, requests, uncertain, backlog: 0, layout,
    rows: await storedCoupons(s.mysql, s.cfg.mysql.dbPrefix, layout, { ids: [...templateIds] }),
    deadLetters: await deadLetters(new Set(templateIds)),
  });
}

/** 64 characters; `upper` flips the case of every letter (a different user, byte for byte). */
const longId = (i: number, upper: boolean) => {
  const id = `user-${i}-`.padEnd(64, 'abcdefgh'.charAt(i % 8));
  return upper ? id.toUpperCase() : id;
};

/** Shuffles bursts (each burst's claims stay adjacent, so they leave at the same moment). */
function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** Runs bursts of simultaneous claims, `n` bursts at a time. */
async function runBursts(bursts: (() => Promise<Sent>)[][], n: number): Promise<Sent[]> {
  const out = await runPool(bursts.map((b) => () => Promise.all(b.map((f) => f()))), n);
  return out.flat();
}

test('double clicks, case twins of 64-char ids, limits 1..3 on tiny stocks: groups run empty mid-group, the oracle finds nothing', async (t) => {
  const specs = [
    { name: 'tiny-1', totalStock: 30, subStocks: 4, perUserLimit: 1 },
    { name: 'tiny-3', totalStock: 60, subStocks: 2, perUserLimit: 3 },
    { name: 'mid-2', totalStock: 400, subStocks: 8, perUserLimit: 2 },
  ];
  const tpls = await Promise.all(specs.map((x) => createTemplate(gw.url, { type: 'direct', value: 1, ...x })));
  const bursts: (() => Promise<Sent>)[][] = [];
  for (let i = 0; i < 80; i++) {
    for (const upper of [false, true]) {
      const userId = longId(i, upper);
      for (const t of tpls) {
        // three request ids, each clicked three times at once, and a claim without one.
        for (let r = 0; r < 3; r++) {
          const rid = `r${r}`.padEnd(64, 'Z');
          bursts.push([0, 1, 2].map(() => () => claim(t.id, userId, rid)));
        }
        bursts.push([() => claim(t.id, userId)]);
      }
    }
  }
  const sent = await runBursts(shuffle(bursts), 64);
  const grouped = await largestGroup(new Set(tpls.map((t) => t.id)));
  const counts = statusCounts(sent);
  t.diagnostic(`statuses ${JSON.stringify(counts)}, largest group still in the streams ${grouped}`);
  assert.deepEqual(Object.keys(counts).filter((c) => !['200', '409', '410'].includes(c)), [], `statuses ${JSON.stringify(counts)}`);
  const v = await verdict(tpls.map((t) => t.id), sent);
  assert.deepEqual(v.violations, []);
  // 160 users: the demand is min(stock, users x limit), all of it met.
  for (const x of v.templates) {
    const spec = tpls.find((y) => y.id === x.id)!;
    const demand = Math.min(spec.totalStock, 160 * spec.perUserLimit);
    assert.equal(x.rows, demand, `${spec.name}: rows ${x.rows} != ${demand}`);
  }
  assert.ok(v.replays > 0, 'no replays: the double clicks did not exercise idempotency');
  // twins are different users: some coupon went to an upper-case twin AND to its lower-case one.
  const byUser = new Set(sent.filter((x) => x.status === 200).map((x) => x.userId));
  assert.ok([...byUser].some((u) => u === u.toLowerCase() && byUser.has(u.toUpperCase())), 'no twin pair both got coupons');
});

test('template changes while claims flood: limit down/up, pause/resume, stock top-up and cut; limits held per window, nothing hangs', async (tc) => {
  const t = await createTemplate(gw.url, { name: 'changing', type: 'direct', value: 1, totalStock: 900, subStocks: 4, perUserLimit: 3 });
  const patch = async (body: Record<string, unknown>) => {
    const r = await http('PATCH', `${gw.url}/v1/admin/templates/${t.id}`, body, ADMIN);
    assert.equal(r.status, 200, `PATCH ${JSON.stringify(body)}: ${r.status} ${r.raw}`);
  };
  const stock = async (add: number) => {
    const r = await http('POST', `${gw.url}/v1/admin/templates/${t.id}/stock`, { add }, ADMIN);
    assert.equal(r.status, 200, `stock ${add}: ${r.status} ${r.raw}`);
  };
  const bursts: (() => Promise<Sent>)[][] = [];
  for (let i = 0; i < 400; i++) {
    for (let r = 0; r < 5; r++) bursts.push([0, 1].map(() => () => claim(t.id, `c${i}`, `q${r}`)));
  }
  // The limit is 1 between limitDownAt (its PATCH answered) and limitUpSentAt.
  let limitDownAt = 0;
  let limitUpSentAt = 0;
  const flood = runBursts(shuffle(bursts), 64);
  const admin = (async () => {
    await sleep(300);
    await patch({ perUserLimit: 1 });
    limitDownAt = Date.now();
    await sleep(300);
    await patch({ status: 'paused' });
    await sleep(150);
    await patch({ status: 'active' });
    await stock(200);
    await sleep(100);
    await stock(-100);
    await sleep(100);
    limitUpSentAt = Date.now();
    await patch({ perUserLimit: 2 });
  })();
  const [sent] = await Promise.all([flood, admin]);
  const counts = statusCounts(sent);
  assert.equal(counts['0'] ?? 0, 0, `claims without an answer: ${JSON.stringify(sent.filter((x) => x.status === 0).slice(0, 3))}`);
  assert.deepEqual(Object.keys(counts).filter((c) => !['200', '403', '409', '410'].includes(c)), [], `statuses ${JSON.stringify(counts)}`);
  assert.ok(limitDownAt > 0 && (counts['403'] ?? 0) >= 0);

  // While the limit was 1, a user who already held a coupon got no new one.
  const issued = sent.filter((x) => x.status === 200 && x.json.replayed !== true).sort((a, b) => a.at - b.at);
  const heldBefore = new Set(issued.filter((x) => x.at < limitDownAt).map((x) => x.userId));
  const inWindow = issued.filter((x) => x.sentAt > limitDownAt && x.at < limitUpSentAt && heldBefore.has(x.userId));
  assert.deepEqual(inWindow.map((x) => `${x.userId}/${x.requestId}`), [], 'issued past a per-user limit of 1 after it was in force');
  const probed = sent.filter((x) => x.sentAt > limitDownAt && x.at < limitUpSentAt && heldBefore.has(x.userId)).length;
  tc.diagnostic(`statuses ${JSON.stringify(counts)}; ${probed} claims of holders inside the limit-1 window`);
  assert.ok(probed > 0, 'no claim of a holder fell inside the limit-1 window');

  const v = await verdict([t.id], sent, { [t.id]: 3 });
  assert.deepEqual(v.violations, []);
});

test('Redis replies lost, hung and down under groups: each lost claim 503, retries replay, nothing told without a row', async (tc) => {
  const t = await createTemplate(gw.url, { name: 'cut', type: 'direct', value: 1, totalStock: 1200, subStocks: 2, perUserLimit: 2 });
  const jobs: (() => Promise<Sent>)[] = [];
  for (let i = 0; i < 1600; i++) {
    const u = `k${i % 400}`, rid = `w${Math.floor(i / 400)}`;
    jobs.push(() => claim(t.id, u, rid));
  }
  const flood = runPool(shuffle(jobs), 128);
  const chaos = (async () => {
    for (let i = 0; i < 6; i++) {
      await sleep(80);
      proxy.armCut();
    }
    await sleep(100);
    proxy.setHung(true);
    await sleep(300);
    proxy.setHung(false);
    await sleep(100);
    proxy.setDown(true);
    await sleep(200);
    proxy.setDown(false);
  })();
  const [first] = await Promise.all([flood, chaos]);
  const counts = statusCounts(first);
  assert.deepEqual(Object.keys(counts).filter((c) => !['200', '409', '410', '503'].includes(c)), [], `statuses ${JSON.stringify(counts)}`);
  assert.ok((counts['503'] ?? 0) > 0, `the faults hit no claim: ${JSON.stringify(counts)}`);
  tc.diagnostic(`first pass ${JSON.stringify(counts)}`);

  // Retry every undecided request with its request id until it is decided.
  const all = [...first];
  let open = first.filter((x) => x.status !== 200 && !REFUSED.has(x.status));
  for (let round = 0; round < 20 && open.length > 0; round++) {
    await sleep(200);
    const again = await runPool(open.map((x) => () => claim(t.id, x.userId, x.requestId)), 64);
    all.push(...again);
    open = again.filter((x) => x.status !== 200 && !REFUSED.has(x.status));
  }
  assert.equal(open.length, 0, `requests still undecided after retries: ${JSON.stringify(statusCounts(open))}`);
  const v = await verdict([t.id], all);
  assert.deepEqual(v.violations, []);
});

/** Sends a claim on a raw socket and closes it before (or just as) the answer comes. */
function abortedClaim(port: number, templateId: string, userId: string, afterMs: number): Promise<Sent> {
  const sentAt = Date.now();
  return new Promise<void>((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const body = JSON.stringify({ userId, templateId, requestId: 'abort' });
    sock.on('error', () => resolve());
    sock.on('close', () => resolve());
    sock.on('connect', () => {
      sock.write(`POST /v1/claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      setTimeout(() => sock.destroy(), afterMs);
    });
  }).then(() => ({ templateId, userId, requestId: 'abort', status: 0, json: { aborted: true }, sentAt, at: Date.now() }));
}

test('hundreds of templates, aborting clients, the sink killed -9 mid-write: every record once, no dead letter; SIGTERM exits 0 at once', async (t) => {
  const port = Number(new URL(gw.url).port);
  const N = 200;
  const tpls = await runPool(Array.from({ length: N }, (_, i) => () =>
    createTemplate(gw.url, { name: `many-${i}`, type: 'direct', value: 1, totalStock: 4, subStocks: 1 + (i % 2), perUserLimit: 1 + (i % 3) })), 16);
  const big = await createTemplate(gw.url, { name: 'big', type: 'direct', value: 1, totalStock: 2500, subStocks: 1, perUserLimit: 1 });
  const jobs: (() => Promise<Sent>)[] = [];
  for (const x of tpls) for (let u = 0; u < 6; u++) jobs.push(() => claim(x.id, `m${u}`, `x${u % 4}`));
  for (let u = 0; u < 2500; u++) jobs.push(() => claim(big.id, `b${u}`, 'once'));
  // aborted claims of the big template: no answer arrives, whatever ran stays consistent.
  for (let u = 0; u < 300; u++) jobs.push(() => abortedClaim(port, big.id, `ab${u}`, u % 3));
  let killed = 0;
  const killer = (async () => {
    await sleep(700);
    await sink.stop('SIGKILL');
    killed = 1;
    await sleep(300);
    sink = spawnEntry('sink/main.ts', env);
    await sleep(700);
    await sink.stop('SIGKILL');
    killed = 2;
    sink = spawnEntry('sink/main.ts', env);
  })();
  const [results] = await Promise.all([runPool(shuffle(jobs), 128), killer]);
  assert.equal(killed, 2);
  t.diagnostic(`largest group still in the streams: ${await largestGroup(new Set([big.id]))}`);
  const sent = results;
  const counts = statusCounts(sent.filter((x) => x.requestId !== 'abort'));
  assert.deepEqual(Object.keys(counts).filter((c) => !['200', '409', '410'].includes(c)), [], `statuses ${JSON.stringify(counts)}`);
  assert.ok(gw.child.exitCode === null, 'the gateway died');

  const ids = [...tpls.map((t) => t.id), big.id];
  const v = await verdict(ids, sent);
  assert.deepEqual(v.violations, []);
  // aborted claims may have issued (their rows are untold, allowed); the big stock is all accounted.
  const bigT = v.templates.find((x) => x.id === big.id)!;
  assert.equal(bigT.issued, bigT.rows);

  // Claims in flight and aborting clients while SIGTERM arrives: the in-flight count drains.
  const last = await createTemplate(gw.url, { name: 'last', type: 'direct', value: 1, totalStock: 1000, subStocks: 2 });
  const tail = Promise.all([
    ...Array.from({ length: 150 }, (_, u) => claim(last.id, `z${u}`, 'z')),
    ...Array.from({ length: 100 }, (_, u) => abortedClaim(port, last.id, `za${u}`, 0)),
  ]);
  await sleep(20);
  const t0 = Date.now();
  const code = await gw.stop('SIGTERM');
  const took = Date.now() - t0;
  await tail;
  assert.equal(code, 0, gw.log().slice(-2000));
  assert.ok(took < GRACE_MS / 2, `shutdown took ${took} ms: the in-flight count did not drain (grace ${GRACE_MS} ms)`);
});
