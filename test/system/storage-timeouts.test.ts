/**
 * Timeouts and circuit breaking against a real gateway process whose Redis or MySQL sits behind
 * a proxy that can hang (SIGSTOP-like: accepted, nothing moves until released) or go down.
 * A hung Redis: the breaker opens and claims get fast 503s that never reach Redis; the ones
 * that were sent before it opened may still run, and their retries replay the stored answer.
 * A dead Redis: fast 503s. A hung MySQL: listings and admin reads 503 within the query deadline
 * while claims go on. Each recovers by itself.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as keys from '../../lua/keys.ts';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { type CuttingProxy, startCuttingProxy } from '../../tools/harness/cutting-proxy.ts';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

interface Rig { s: Storage; g: GatewayProc; proxy: CuttingProxy }

/** A gateway whose Redis (or MySQL) connections go through a proxy. */
async function rig(through: 'redis' | 'mysql', extra: Record<string, string>): Promise<Rig> {
  const env = testEnv(extra);
  const s = await openStorage(testConfig(env));
  cleanup.push(() => s.close());
  const target = new URL(through === 'redis' ? s.cfg.redis.url : s.cfg.mysql.url);
  const proxy = await startCuttingProxy(target.hostname, Number(target.port));
  cleanup.push(() => proxy.close());
  const via: Record<string, string> = through === 'redis' ? { REDIS_URL: `redis://127.0.0.1:${proxy.port}` } : { MYSQL_URL: `mysql://root@127.0.0.1:${proxy.port}` };
  const g = await spawnGateway({ ...env, ...via });
  cleanup.push(() => g.stop('SIGKILL'));
  return { s, g, proxy };
}

const claim = (g: GatewayProc, userId: string, templateId: string, requestId?: string) =>
  http('POST', `${g.url}/v1/claim`, { userId, templateId, requestId });

async function timed<T>(f: () => Promise<T>): Promise<{ v: T; ms: number }> {
  const t = performance.now();
  const v = await f();
  return { v, ms: performance.now() - t };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;
const fmt = (xs: number[]) => `n=${xs.length} p50=${pct(xs, 0.5).toFixed(1)} p95=${pct(xs, 0.95).toFixed(1)} max=${Math.max(...xs).toFixed(1)} ms`;

/** Polls `ok` every 50 ms; resolves with the time it took, or fails after `timeoutMs`. */
async function recovery(ok: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const t = performance.now();
  while (performance.now() - t < timeoutMs) {
    if (await ok()) return performance.now() - t;
    await sleep(50);
  }
  throw new Error(`${what} did not recover within ${timeoutMs} ms`);
}

test('hung Redis: the breaker opens, claims get fast 503s that never ran; retries replay; it recovers alone', { timeout: 60_000 }, async () => {
  // A long command timeout makes "sent and timed out" and "refused by the breaker" easy to tell apart.
  const { s, g, proxy } = await rig('redis', {
    REDIS_COMMAND_TIMEOUT_MS: '1000', REDIS_BREAKER_FAILURES: '3', REDIS_BREAKER_COOLDOWN_MS: '300', ADMIT_TEMPLATE_RPS: '100000',
  });
  const total = 500;
  const t = await createTemplate(g.url, { name: 'hung', type: 'direct', value: 1, totalStock: total, subStocks: 4 });
  assert.equal((await claim(g, 'before', t.id, 'rb')).status, 200);

  proxy.setHung(true);
  const sent: Promise<{ user: string; rid: string; status: number; ms: number }>[] = [];
  for (let i = 0; i < 60; i++) {
    const user = `hung-${i}`;
    sent.push(timed(() => claim(g, user, t.id, `r-${i}`)).then(({ v, ms }) => ({ user, rid: `r-${i}`, status: v.status, ms })));
    await sleep(50);
  }
  const during = await Promise.all(sent);
  assert.deepEqual([...new Set(during.map((r) => r.status))], [503], 'only 503s while Redis hangs');

  proxy.setHung(false);
  const recoveredMs = await recovery(async () => (await claim(g, `probe-${Date.now()}`, t.id)).status === 200, 10_000, 'claims');
  await sleep(200);

  // Which of the 503s reached Redis: those sent before the breaker opened ran once it woke up.
  const ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  const stored = await Promise.all(during.map((r) => {
    const h = keys.subStockPartition(ks, t.id, keys.homeSubStock(t.id, r.user, t.subStocks));
    return s.redis.hget(keys.usersKey(ks, h, t.id), `${r.user}|${r.rid}`);
  }));
  const ran = during.filter((_, i) => stored[i] !== null);
  const refused = during.filter((_, i) => stored[i] === null);
  console.log(`# hung Redis: ${ran.length} claims sent before the breaker opened (${fmt(ran.map((r) => r.ms))}); `
    + `${refused.length} refused by it (${fmt(refused.map((r) => r.ms))}); recovered ${recoveredMs.toFixed(0)} ms after release`);
  assert.match(g.log(), /redis circuit open/);
  // The first second's claims go out before any times out; then one probe per cool-down.
  assert.ok(ran.length >= 3 && ran.length <= 30, `${ran.length} claims were sent into the hang`);
  assert.ok(refused.length >= 25, `only ${refused.length} claims were refused by the breaker`);
  assert.ok(pct(refused.map((r) => r.ms), 0.95) < 500, 'refused claims answer well under the command timeout');

  // Retries with the same request id: a claim that ran replays its coupon, one refused is decided now.
  for (const [i, r] of during.entries()) {
    const again = await claim(g, r.user, t.id, r.rid);
    assert.equal(again.status, 200, again.raw.toString());
    if (stored[i] !== null) assert.deepEqual([again.json.couponId, again.json.replayed], [stored[i], true], r.user);
    else assert.equal(again.json.replayed, undefined, r.user);
  }

  // Nothing leaked or over-issued: every issued record is in a stream (no sink runs), the rest is stock.
  let issued = 0;
  let remaining = 0;
  for (let k = 0; k < t.subStocks; k++) {
    remaining += Number(await s.redis.get(keys.stockKey(ks, t.id, k)));
  }
  for (let p = 0; p < ks.partitions; p++) issued += await s.redis.xlen(keys.streamKey(ks, p));
  assert.equal(issued + remaining, total, `issued ${issued} + remaining ${remaining}`);
});

test('dead Redis: claims get fast 503s, and the gateway recovers by itself when Redis returns', { timeout: 60_000 }, async () => {
  const { g, proxy } = await rig('redis', { REDIS_BREAKER_COOLDOWN_MS: '300' });
  const t = await createTemplate(g.url, { name: 'dead', type: 'direct', value: 1, totalStock: 100 });
  proxy.setDown(true);
  const during = [];
  for (let i = 0; i < 30; i++) during.push(await timed(() => claim(g, `dead-${i}`, t.id)));
  assert.deepEqual([...new Set(during.map((r) => r.v.status))], [503]);
  assert.equal(during[0]!.v.headers['retry-after'], '1');
  proxy.setDown(false);
  const recoveredMs = await recovery(async () => (await claim(g, `back-${Date.now()}`, t.id)).status === 200, 10_000, 'claims');
  console.log(`# dead Redis: 503 in ${fmt(during.map((r) => r.ms))}; recovered ${recoveredMs.toFixed(0)} ms after it returned`);
  assert.ok(pct(during.map((r) => r.ms), 0.95) < 500);
});

test('hung MySQL: listings and admin reads 503 within the deadline, claims go on, then it recovers', { timeout: 60_000 }, async () => {
  const { g, proxy } = await rig('mysql', { MYSQL_QUERY_TIMEOUT_MS: '300', MYSQL_CONNECT_TIMEOUT_MS: '5000' });
  const t = await createTemplate(g.url, { name: 'my', type: 'direct', value: 1, totalStock: 100 });
  assert.equal((await http('GET', `${g.url}/v1/users/alice/coupons`)).status, 200);

  proxy.setHung(true);
  // More at once than the pool has connections (8): the deadline covers the wait for one too.
  const reads = await Promise.all([
    ...Array.from({ length: 20 }, (_, i) => timed(() => http('GET', `${g.url}/v1/users/u${i}/coupons`))),
    timed(() => http('GET', `${g.url}/v1/admin/templates/${t.id}`, undefined, ADMIN)),
    timed(() => http('GET', `${g.url}/v1/admin/templates`, undefined, ADMIN)),
  ]);
  for (const r of reads) {
    assert.equal(r.v.status, 503, r.v.raw.toString());
    assert.equal(r.v.json.error, 'unavailable');
  }
  const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => claim(g, `c${i}`, t.id)));
  assert.deepEqual(claims.map((c) => c.status), Array(10).fill(200), 'claims need no MySQL');
  // A second wave, after the first wave's connections were destroyed, meets new connections.
  const second = await Promise.all(Array.from({ length: 10 }, (_, i) => timed(() => http('GET', `${g.url}/v1/users/v${i}/coupons`))));
  for (const r of second) assert.equal(r.v.status, 503);

  proxy.setHung(false);
  const recoveredMs = await recovery(async () => (await http('GET', `${g.url}/v1/users/alice/coupons`)).status === 200, 10_000, 'listings');
  const all = [...reads, ...second].map((r) => r.ms);
  console.log(`# hung MySQL: 503 in ${fmt(all)} (deadline 300 ms); recovered ${recoveredMs.toFixed(0)} ms after release`);
  assert.ok(Math.max(...all) < 2000, 'every MySQL read answered near its deadline');
  assert.equal(g.child.exitCode, null);
  assert.equal((await http('GET', `${g.url}/v1/admin/templates/${t.id}`, undefined, ADMIN)).status, 200);
});
