/** Admission (429 before Redis) and backpressure (503 when the sink falls behind), over HTTP. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TokenBucket } from '../../gateway/admission.ts';
import { homeSubStock, subStockPartition, usersKey } from '../../lua/keys.ts';
import { createTemplate, http, type HttpResult } from '../support/http.ts';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

/** A gateway on a prefix of its own, so one test's records never count in another's backlog. */
async function gateway(extra: Record<string, string>): Promise<{ g: GatewayProc; s: Storage }> {
  const env = testEnv(extra);
  const s = await openStorage(testConfig(env));
  cleanup.push(() => s.close());
  const g = await spawnGateway(env);
  cleanup.push(() => g.stop());
  return { g, s };
}

/** Whether the claim script ever ran for this user (it records every user it decides on). */
async function reachedRedis(s: Storage, templateId: string, subStocks: number, userId: string): Promise<boolean> {
  const ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  const h = subStockPartition(ks, templateId, homeSubStock(templateId, userId, subStocks));
  return (await s.redis.hget(usersKey(ks, h, templateId), userId)) !== null;
}

test('token bucket: burst, then the configured rate', () => {
  const b = new TokenBucket(10, 3, 0);
  assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
  assert.equal(b.take(50), false, 'half a token after 50 ms at 10/s');
  assert.equal(b.take(100), true, 'a whole token after 100 ms');
  assert.equal(b.take(100), false);
  assert.deepEqual([b.take(10_000), b.take(10_000), b.take(10_000), b.take(10_000)], [true, true, true, false], 'refill caps at the burst');
});

test('global bucket: excess claims get 429 with Retry-After and never reach Redis', async () => {
  const { g, s } = await gateway({ ADMIT_GLOBAL_RPS: '1', ADMIT_GLOBAL_BURST: '2' });
  const t = await createTemplate(g.url, { name: 'g', type: 'direct', value: 1, totalStock: 100 });
  const rs: HttpResult[] = [];
  for (let i = 0; i < 6; i++) rs.push(await http('POST', `${g.url}/v1/claim`, { userId: `g${i}`, templateId: t.id }));
  const limited = rs.filter((r) => r.status === 429);
  assert.ok(limited.length >= 3, `statuses ${rs.map((r) => r.status)}`);
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i]!;
    assert.equal(await reachedRedis(s, t.id, t.subStocks, `g${i}`), r.status === 200, `claim ${i} (${r.status})`);
    if (r.status !== 429) continue;
    assert.deepEqual(r.json, { error: 'rate_limited' });
    assert.equal(r.headers['retry-after'], '1');
  }
});

test('template bucket: a hot template is limited, another one is not', async () => {
  const { g } = await gateway({ ADMIT_TEMPLATE_RPS: '1', ADMIT_TEMPLATE_BURST: '1' });
  const hot = await createTemplate(g.url, { name: 'hot', type: 'direct', value: 1, totalStock: 100 });
  const cold = await createTemplate(g.url, { name: 'cold', type: 'direct', value: 1, totalStock: 100 });
  const a = await http('POST', `${g.url}/v1/claim`, { userId: 'h1', templateId: hot.id });
  const b = await http('POST', `${g.url}/v1/claim`, { userId: 'h2', templateId: hot.id });
  const c = await http('POST', `${g.url}/v1/claim`, { userId: 'h3', templateId: cold.id });
  assert.deepEqual([a.status, b.status, c.status], [200, 429, 200]);
});

test('backpressure: past the backlog bound claims get 503 with Retry-After, decided answers still flow', async () => {
  // No sink runs in this test, so every issued record stays unacknowledged.
  const { g } = await gateway({ BACKLOG_MAX: '3', BACKLOG_POLL_MS: '20' });
  const t = await createTemplate(g.url, { name: 'bp', type: 'direct', value: 1, totalStock: 100 });
  const statuses: number[] = [];
  let shed;
  for (let i = 0; i < 50 && !shed; i++) {
    const r = await http('POST', `${g.url}/v1/claim`, { userId: `bp${i}`, templateId: t.id });
    statuses.push(r.status);
    if (r.status === 503) shed = r;
    await new Promise((res) => setTimeout(res, 25));
  }
  assert.ok(shed, `never shed: ${statuses}`);
  assert.equal(shed.json.error, 'unavailable');
  assert.equal(shed.headers['retry-after'], '1');
  assert.ok(statuses.filter((x) => x === 200).length >= 4, 'shed before the bound was passed');
  const unknown = await http('POST', `${g.url}/v1/claim`, { userId: 'x', templateId: 'nope' });
  assert.equal(unknown.status, 404);
});
