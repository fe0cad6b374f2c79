/**
 * GET /v1/admin/templates/:id/stats: claim outcomes counted in memory by each gateway, flushed
 * to Redis exactly once (even when a flush fails or its reply is lost), read by any gateway.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedis, type RedisClient, waitReady } from '../../lua/client.ts';
import * as keys from '../../lua/keys.ts';
import type { ClaimAnswer } from '../../gateway/claim/answer.ts';
import { ApiError } from '../../core/errors.ts';
import { ClaimCounter, REJECT_REASONS, type RejectReason } from '../../gateway/stats/counter.ts';
import { SECOND_TTL_S, StatsFlusher } from '../../gateway/stats/flusher.ts';
import { readClaimStats } from '../../gateway/stats/reader.ts';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { startCuttingProxy } from '../../tools/harness/cutting-proxy.ts';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { deleteKeys, openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const env = testEnv({ STATS_FLUSH_MS: '200' });
let s: Storage;
let ks: keys.KeySpace;
let g1: GatewayProc;
let g2: GatewayProc;

before(async () => {
  s = await openStorage(testConfig(env));
  ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  [g1, g2] = await Promise.all([spawnGateway(env), spawnGateway(env)]);
});
after(async () => {
  await Promise.all([g1?.stop(), g2?.stop()]);
  await s?.close();
});

/** Answers of claims for one template, tallied by status ('issued', 'replayed' or a refusal). */
class Tally {
  readonly n = new Map<string, number>();
  async claim(gw: GatewayProc, templateId: string, userId: string, requestId: string): Promise<string> {
    const r = await http('POST', `${gw.url}/v1/claim`, { userId, templateId, requestId });
    const status = r.json?.replayed ? 'replayed' : (r.json?.status as string | undefined);
    assert.ok(status, `claim answered ${r.status} ${r.raw.toString()}`);
    this.n.set(status, this.get(status) + 1);
    return status;
  }
  get(status: string): number {
    return this.n.get(status) ?? 0;
  }
  rejected(): Record<RejectReason, number> {
    return Object.fromEntries(REJECT_REASONS.map((r) => [r, this.get(r)])) as Record<RejectReason, number>;
  }
}

const stats = (gw: GatewayProc, id: string, query = '', headers: Record<string, string> = ADMIN) =>
  http('GET', `${gw.url}/v1/admin/templates/${id}/stats${query}`, undefined, headers);

/** Polls `f` until it returns true or `ms` pass; returns the last value seen for the message. */
async function until<T>(ms: number, read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(100);
  }
}

/** Waits until both gateways report `want` for the template (the flush lags by a tick). */
async function expectStats(id: string, want: (body: any) => boolean): Promise<any> {
  for (const gw of [g1, g2]) {
    const r = await until(5000, () => stats(gw, id), (x) => x.status === 200 && want(x.json));
    assert.equal(r.status, 200, r.raw.toString());
    assert.ok(want(r.json), `stats on ${gw.url}: ${r.raw.toString()}`);
  }
  return (await stats(g1, id)).json;
}

const sameRejected = (want: Record<string, number>) => (b: any) => JSON.stringify(b.rejected) === JSON.stringify(want);

test('two gateways: stats count issued, limit_reached, sold_out, paused, not_eligible, not_started, ended exactly', async () => {
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const stock = await createTemplate(g1.url, { name: 'stock', type: 'direct', value: 1, totalStock: 5, subStocks: 1 });
  const pausing = await createTemplate(g1.url, { name: 'pause', type: 'direct', value: 1, totalStock: 100 });
  const vip = await createTemplate(g1.url, { name: 'vip', type: 'direct', value: 1, totalStock: 10, audience: ['vip1'] });
  const later = await createTemplate(g1.url, { name: 'later', type: 'direct', value: 1, totalStock: 10, claimStart: iso(now + 3_600_000) });
  const over = await createTemplate(g1.url, { name: 'over', type: 'direct', value: 1, totalStock: 10,
    claimStart: iso(now - 7_200_000), claimEnd: iso(now - 3_600_000) });

  const t1 = new Tally();
  for (const u of ['a1', 'a2', 'a3']) assert.equal(await t1.claim(g1, stock.id, u, `r-${u}`), 'issued');
  assert.equal(await t1.claim(g2, stock.id, 'a1', 'again-a1'), 'limit_reached');
  assert.equal(await t1.claim(g1, stock.id, 'a2', 'again-a2'), 'limit_reached');
  for (const u of ['a4', 'a5']) assert.equal(await t1.claim(g2, stock.id, u, `r-${u}`), 'issued');
  assert.equal(await t1.claim(g1, stock.id, 'b1', 'r-b1'), 'sold_out');
  assert.equal(await t1.claim(g2, stock.id, 'b2', 'r-b2'), 'sold_out');
  assert.equal(await t1.claim(g1, stock.id, 'b3', 'r-b3'), 'sold_out');
  assert.equal(await t1.claim(g2, stock.id, 'a1', 'r-a1'), 'replayed');

  const t2 = new Tally();
  assert.equal(await t2.claim(g2, pausing.id, 'p0', 'r-p0'), 'issued');
  const patched = await http('PATCH', `${g1.url}/v1/admin/templates/${pausing.id}`, { status: 'paused' }, ADMIN);
  assert.equal(patched.status, 200, patched.raw.toString());
  for (const u of ['p1', 'p2']) assert.equal(await t2.claim(g1, pausing.id, u, `r-${u}`), 'paused');
  // g2 hears of the pause within a second; whatever it answered before is tallied too.
  for (let i = 0; (await t2.claim(g2, pausing.id, `q${i}`, `r-q${i}`)) !== 'paused'; i++) {
    assert.ok(i < 30, 'g2 never applied the pause');
    await sleep(100);
  }

  const t3 = new Tally();
  assert.equal(await t3.claim(g1, vip.id, 'x1', 'r-x1'), 'not_eligible');
  assert.equal(await t3.claim(g2, vip.id, 'x2', 'r-x2'), 'not_eligible');
  assert.equal(await t3.claim(g2, vip.id, 'vip1', 'r-vip1'), 'issued');

  const t4 = new Tally();
  for (const [gw, u] of [[g1, 'n1'], [g2, 'n2'], [g2, 'n3']] as const) assert.equal(await t4.claim(gw, later.id, u, `r-${u}`), 'not_started');
  const t5 = new Tally();
  for (const [gw, u] of [[g2, 'e1'], [g1, 'e2']] as const) assert.equal(await t5.claim(gw, over.id, u, `r-${u}`), 'ended');

  // A claim for an unknown template is a 404 and must never create a stats key.
  assert.equal((await http('POST', `${g1.url}/v1/claim`, { userId: 'u', templateId: 'no-such-tpl' })).status, 404);

  const b1 = await expectStats(stock.id, sameRejected(t1.rejected()));
  assert.deepEqual(b1.rejected, { ...Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])), limit_reached: 2, sold_out: 3 });
  assert.deepEqual([b1.templateId, b1.total, b1.issued, b1.remaining, b1.windowSeconds], [stock.id, 5, 5, 0, 60]);
  assert.equal(await s.redis.get(keys.stockKey(ks, stock.id, 0)), '0');

  const b2 = await expectStats(pausing.id, sameRejected(t2.rejected()));
  assert.ok(b2.rejected.paused >= 3, JSON.stringify(b2));
  const redisRemaining = Number(await s.redis.get(keys.stockKey(ks, pausing.id, 0)));
  assert.deepEqual([b2.issued, b2.remaining], [100 - redisRemaining, redisRemaining]);
  assert.equal(b2.issued, t2.get('issued'), 'issued is what Redis holds, which is what the claims were told');

  const b3 = await expectStats(vip.id, sameRejected(t3.rejected()));
  assert.equal(b3.rejected.not_eligible, 2);
  assert.equal(b3.issued, 1);
  assert.equal((await expectStats(later.id, sameRejected(t4.rejected()))).rejected.not_started, 3);
  assert.equal((await expectStats(over.id, sameRejected(t5.rejected()))).rejected.ended, 2);

  await sleep(500); // two more flush ticks: still the same numbers, nothing counted twice
  assert.deepEqual((await stats(g2, stock.id)).json.rejected, b1.rejected);
  for (const gw of [g1, g2]) assert.equal((await stats(gw, 'no-such-tpl')).status, 404);
  assert.deepEqual(await s.redis.keys(`${ks.prefix}:{stats:no-such-tpl}*`), []);
});

test('rates: a burst of N claims (plus replays) shows as N/60 per second; second buckets expire', async () => {
  const tpl = await createTemplate(g1.url, { name: 'rate', type: 'direct', value: 1, totalStock: 1000, subStocks: 2 });
  const N = 90;
  const REPLAYS = 12;
  const sends = Array.from({ length: N }, (_, i) => ({ gw: i % 2 ? g1 : g2, userId: `r${i}`, requestId: `q${i}` }));
  const answers = await Promise.all(sends.map((c) => http('POST', `${c.gw.url}/v1/claim`, { userId: c.userId, templateId: tpl.id, requestId: c.requestId })));
  assert.deepEqual(answers.map((a) => a.json.status), sends.map(() => 'issued'));
  const replays = await Promise.all(sends.slice(0, REPLAYS).map((c) => http('POST', `${g2.url}/v1/claim`,
    { userId: c.userId, templateId: tpl.id, requestId: c.requestId })));
  assert.ok(replays.every((a) => a.json.replayed === true));

  const near = (x: number, want: number) => Math.abs(x - want) <= 0.001;
  const b = await expectStats(tpl.id, (x) => near(x.claimsPerSecond, (N + REPLAYS) / 60) && near(x.issuedPerSecond, N / 60));
  assert.equal(b.issued, N);

  const buckets = await s.redis.keys(`${ks.prefix}:{stats:${tpl.id}}:sec:*`);
  assert.ok(buckets.length >= 1, 'no per-second bucket written');
  let claims = 0;
  for (const k of buckets) {
    const ttl = await s.redis.ttl(k);
    assert.ok(ttl > 0 && ttl <= SECOND_TTL_S, `bucket ${k} ttl ${ttl}`);
    claims += Number(await s.redis.hget(k, 'c'));
  }
  assert.equal(claims, N + REPLAYS);
  assert.equal(await s.redis.ttl(keys.statsTotalsKey(ks, tpl.id)), -2, 'nothing was rejected: no totals key');
});

const answer = (status: number, body: Record<string, unknown>): ClaimAnswer => ({ status, body });
const ISSUED = answer(200, { status: 'issued', couponId: 'c' });
const SOLD_OUT = answer(410, { status: 'sold_out' });

async function totals(id: string): Promise<{ soldOut: number; issued: number; claims: number }> {
  const soldOut = Number((await s.redis.hget(keys.statsTotalsKey(ks, id), 'sold_out')) ?? 0);
  let issued = 0;
  let claims = 0;
  for (const k of await s.redis.keys(`${ks.prefix}:{stats:${id}}:sec:*`)) {
    issued += Number((await s.redis.hget(k, 'i')) ?? 0);
    claims += Number((await s.redis.hget(k, 'c')) ?? 0);
  }
  return { soldOut, issued, claims };
}

test('flusher: a flush while Redis is unreachable keeps the counts; later flushes write them exactly once', async () => {
  // A generous command timeout: this checks what a failed flush keeps, not how fast Redis is on
  // a busy machine (the gateway's 250 ms could time out a flush meant to succeed).
  const client = createRedis({ ...s.cfg.redis, commandTimeoutMs: 10_000 }, { offlineQueue: false, name: 'stats-unit' });
  client.on('error', () => {});
  await waitReady(client, 5000);
  const counter = new ClaimCounter();
  const flusher = new StatsFlusher(client, ks, counter, 60_000);
  const id = 'unit-down';
  try {
    for (let i = 0; i < 3; i++) counter.answered(id, ISSUED);
    counter.answered(id, SOLD_OUT);
    counter.failed(id, new ApiError('unavailable'));
    client.disconnect();
    await flusher.flush();
    assert.deepEqual(await totals(id), { soldOut: 0, issued: 0, claims: 0 });
    counter.answered(id, SOLD_OUT); // counted while the first batch waits
    await flusher.flush(); // still down
    client.connect().catch(() => {});
    await waitReady(client, 5000);
    await flusher.flush();
    assert.deepEqual(await totals(id), { soldOut: 1, issued: 3, claims: 5 });
    assert.equal(await s.redis.hget(keys.statsTotalsKey(ks, id), 'unavailable'), '1');
    await flusher.flush();
    assert.deepEqual(await totals(id), { soldOut: 2, issued: 3, claims: 6 });
    await flusher.flush();
    assert.deepEqual(await totals(id), { soldOut: 2, issued: 3, claims: 6 }, 'an empty flush changed the counts');
  } finally {
    client.disconnect();
  }
});

test('flusher: a batch whose reply was lost is resent, and counted once', async () => {
  const target = new URL(s.cfg.redis.url);
  const proxy = await startCuttingProxy(target.hostname, Number(target.port));
  const client: RedisClient = createRedis({ ...s.cfg.redis, url: `redis://127.0.0.1:${proxy.port}` }, { offlineQueue: false, name: 'stats-cut' });
  client.on('error', () => {});
  const counter = new ClaimCounter();
  const flusher = new StatsFlusher(client, ks, counter, 60_000);
  const id = 'unit-cut';
  try {
    await waitReady(client, 5000);
    counter.answered(id, SOLD_OUT);
    await flusher.flush(); // loads the script, so the cut below hits the script itself
    for (let i = 0; i < 4; i++) counter.answered(id, SOLD_OUT);
    proxy.armCut();
    await flusher.flush();
    assert.equal((await totals(id)).soldOut, 5, 'the cut batch should have run in Redis');
    counter.answered(id, SOLD_OUT);
    await waitReady(client, 5000);
    await flusher.flush(); // resends the cut batch: already applied, so nothing is added
    assert.equal((await totals(id)).soldOut, 5, 'the resent batch was counted twice');
    await flusher.flush();
    assert.deepEqual(await totals(id), { soldOut: 6, issued: 0, claims: 6 });
    const marker = keys.statsAppliedKey(ks, id, flusher.gatewayId);
    assert.ok(await s.redis.ttl(marker) > 0, 'the applied marker must expire');
  } finally {
    client.disconnect();
    await proxy.close();
  }
});

test('flush and read run unchanged on Redis Cluster (one slot per command)', async () => {
  const nodes = s.cfg.test.clusterNodes;
  assert.ok(nodes.length >= 3, 'TEST_REDIS_CLUSTER_NODES is not set: run through `make test`, which starts the cluster');
  const cluster = createRedis({ ...s.cfg.redis, clusterNodes: nodes }, { offlineQueue: true, name: 'stats-cluster' });
  try {
    await waitReady(cluster, 5000);
    const counter = new ClaimCounter();
    const flusher = new StatsFlusher(cluster, ks, counter, 60_000);
    for (const id of ['c-one', 'c-two', 'c-three']) {
      counter.answered(id, ISSUED);
      counter.answered(id, SOLD_OUT);
      counter.failed(id, new ApiError('rate_limited'));
    }
    await flusher.flush();
    await flusher.flush();
    for (const id of ['c-one', 'c-two', 'c-three']) {
      const got = await readClaimStats(cluster, ks, id, Date.now());
      assert.deepEqual([got.rejected.sold_out, got.rejected.rate_limited, got.claimsPerSecond, got.issuedPerSecond],
        [1, 1, 0.05, 0.017], id);
    }
  } finally {
    await deleteKeys(cluster, `${ks.prefix}:*`);
    cluster.disconnect();
  }
});

test('graceful shutdown flushes the last counts', async () => {
  const tpl = await createTemplate(g1.url, { name: 'stop', type: 'direct', value: 1, totalStock: 10, subStocks: 1 });
  const g3 = await spawnGateway({ ...env, STATS_FLUSH_MS: '60000' });
  try {
    for (const u of ['s1', 's2']) await http('POST', `${g3.url}/v1/claim`, { userId: u, templateId: tpl.id, requestId: `r-${u}` });
    await http('POST', `${g3.url}/v1/claim`, { userId: 's1', templateId: tpl.id, requestId: 'again' });
  } finally {
    assert.equal(await g3.stop(), 0);
  }
  const b = (await stats(g1, tpl.id)).json;
  assert.equal(b.rejected.limit_reached, 1, JSON.stringify(b));
  assert.equal(b.issuedPerSecond, Math.round((2 / 60) * 1000) / 1000);
});

test('bad input: 400 bad id, 404 unknown template, 401 without token, 400 unknown query parameter, 405 other methods', async () => {
  const tpl = await createTemplate(g1.url, { name: 'in', type: 'direct', value: 1, totalStock: 1 });
  const expect = (r: { status: number; json: any; raw: Buffer }, status: number, code: string) => {
    assert.equal(r.status, status, r.raw.toString());
    assert.equal(r.json?.error, code, r.raw.toString());
  };
  expect(await stats(g1, 'a'.repeat(65)), 400, 'bad_request');
  expect(await stats(g1, 'bad!id'), 400, 'bad_request');
  expect(await stats(g1, 'nobody-made-this'), 404, 'template_not_found');
  expect(await stats(g1, tpl.id, '', {}), 401, 'unauthorized');
  expect(await stats(g1, tpl.id, '', { authorization: 'Bearer wrong-token-123' }), 401, 'unauthorized');
  const q = await stats(g1, tpl.id, '?window=5');
  expect(q, 400, 'bad_request');
  assert.match(q.json.message, /window: unknown query parameter/);
  expect(await http('POST', `${g1.url}/v1/admin/templates/${tpl.id}/stats`, {}, ADMIN), 405, 'method_not_allowed');
  expect(await http('DELETE', `${g1.url}/v1/admin/templates/${tpl.id}`, undefined, ADMIN), 405, 'method_not_allowed');
  expect(await http('GET', `${g1.url}/v1/admin/templates/${tpl.id}/stats/more`, undefined, ADMIN), 404, 'not_found');
  // The plain template route still answers next to the stats route.
  assert.equal((await http('GET', `${g1.url}/v1/admin/templates/${tpl.id}`, undefined, ADMIN)).json.id, tpl.id);
  assert.equal((await stats(g1, tpl.id)).json.total, 1);
});
