// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * Prometheus metrics (issue 14, item 1): a real gateway and sink, claims of several outcomes and
 * a checkout call, and both scrapes counting exactly those; /metrics behind the admin token
 * unless METRICS_PUBLIC=1; a bounded template label set; the sink's /healthz; METRICS_ENABLED=0.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { type GatewayProc, type Proc, spawnGateway } from '../support/processes.ts';
import { parseSamples, type Sample, spawnMetricsSink, sum } from '../support/prometheus.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';
import { findLog } from '../../tools/harness/log-lines.ts';

const TOP = 5;
const env = testEnv({ METRICS_TOP_TEMPLATES: String(TOP) });
let s: Storage;
let gw: GatewayProc;
let sink: Proc;
let sinkUrl: string;
const others: GatewayProc[] = [];

before(async () => {
  s = await openStorage(testConfig(env));
  ({ sink, url: sinkUrl } = await spawnMetricsSink(env));
  gw = await spawnGateway(env);
});
after(async () => {
  await Promise.all([gw?.stop(), sink?.stop(), ...others.map((g) => g.stop())]);
  await s?.close();
});

async function scrape(url: string, headers: Record<string, string> = ADMIN): Promise<Sample[]> {
  const r = await http('GET', `${url}/metrics`, undefined, headers);
  assert.equal(r.status, 200, r.raw.toString());
  assert.match(String(r.headers['content-type']), /^text\/plain/);
  return parseSamples(r.raw.toString());
}

const claim = (templateId: string, userId: string, requestId?: string) =>
  http('POST', `${gw.url}/v1/claim`, { templateId, userId, ...(requestId ? { requestId } : {}) });

test('claims, checkout calls and sink rows are counted exactly', async () => {
  const a = await createTemplate(gw.url, { name: 'a', type: 'direct', value: 100, totalStock: 2, perUserLimit: 1, subStocks: 1 });
  const b = await createTemplate(gw.url, { name: 'b', type: 'direct', value: 100, totalStock: 10 });
  assert.equal((await http('PATCH', `${gw.url}/v1/admin/templates/${b.id}`, { status: 'paused' }, ADMIN)).status, 200);
  const statuses = [
    (await claim(a.id, 'u1', 'r1')).status, // issued
    (await claim(a.id, 'u1', 'r1')).status, // replayed
    (await claim(a.id, 'u1', 'r2')).status, // limit_reached
    (await claim(a.id, 'u2')).status, // issued
    (await claim(a.id, 'u3')).status, // sold_out
    (await claim(b.id, 'u1')).status, // paused
    (await claim('no-such-template', 'u1')).status, // template_not_found
  ];
  assert.deepEqual(statuses, [200, 200, 409, 200, 410, 403, 404]);
  const quote = await http('POST', `${gw.url}/v1/checkout/quote`, { userId: 'u1', items: [{ productId: 'p', categoryId: 'c', price: 6000, quantity: 1 }] });
  assert.equal(quote.status, 200, quote.raw.toString());
  assert.equal((await http('POST', `${gw.url}/v1/checkout/quote`, { userId: 'u1' })).status, 400);

  const m = await scrape(gw.url);
  const claims = (outcome: string, template: string) => sum(m, 'coupon_claims_total', { outcome, template });
  assert.deepEqual(['issued', 'replayed', 'limit_reached', 'sold_out'].map((o) => claims(o, a.id)), [2, 1, 1, 1]);
  assert.equal(claims('paused', b.id), 1);
  assert.equal(claims('template_not_found', 'other'), 1);
  assert.equal(sum(m, 'coupon_claims_total'), 7);
  assert.equal(sum(m, 'coupon_claim_duration_seconds_count'), 6, 'every claim of a known template is timed');
  assert.equal(sum(m, 'coupon_claim_duration_seconds_bucket', { le: '+Inf' }), 6);
  // One call per group; the claims went one by one, and the paused one was refused from memory.
  assert.equal(sum(m, 'coupon_redis_call_duration_seconds_count'), 5, 'each claim-path Redis call is timed');
  assert.equal(sum(m, 'coupon_checkout_calls_total', { route: 'quote', outcome: 'ok' }), 1);
  assert.equal(sum(m, 'coupon_checkout_calls_total', { route: 'quote', outcome: 'bad_request' }), 1);
  assert.equal(sum(m, 'coupon_breaker_open'), 0);
  assert.equal(sum(m, 'coupon_template_cache_size'), 2);
  assert.ok(m.some((x) => x.name === 'coupon_stream_backlog'));
  assert.ok(m.some((x) => x.name === 'process_cpu_seconds_total'), 'process metrics');

  await waitFor(async () => (await http('GET', `${sinkUrl}/healthz`)).status === 200, 10_000, 'the sink is healthy');
  await waitFor(async () => sum(await scrape(sinkUrl, {}), 'coupon_sink_rows_written_total') >= 2, 10_000, 'the sink writes the rows');
  const sm = await scrape(sinkUrl, {});
  assert.equal(sum(sm, 'coupon_sink_rows_written_total'), 2);
  assert.ok(sum(sm, 'coupon_sink_batch_rows_count') >= 1);
  assert.ok(sum(sm, 'coupon_sink_insert_duration_seconds_count') >= 1);
  assert.equal(sm.filter((x) => x.name === 'coupon_stream_backlog_partition').length, s.cfg.redis.partitions);
  assert.ok(sm.some((x) => x.name === 'process_resident_memory_bytes'));
  assert.equal((await http('GET', `${sinkUrl}/nope`)).status, 404);
});

test('100 templates with claims: the busiest keep a label each, the rest are "other"', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 100; i++) ids.push((await createTemplate(gw.url, { name: `t${i}`, type: 'direct', value: 1, totalStock: 10 })).id);
  await Promise.all(ids.map((id, i) => Promise.all(Array.from({ length: i < TOP ? 3 : 1 }, (_, k) => claim(id, `v${k}`)))));
  const m = await scrape(gw.url);
  const labels = new Set(m.filter((x) => x.name === 'coupon_claims_total').map((x) => x.labels.template));
  assert.ok(labels.size <= TOP + 1, [...labels].join(' '));
  assert.deepEqual([...labels].filter((l) => ids.includes(l!)).sort(), ids.slice(0, TOP).sort());
  assert.equal(sum(m, 'coupon_claims_total', { outcome: 'issued' }), 2 + TOP * 3 + (100 - TOP));
});

test('/metrics needs the admin token unless METRICS_PUBLIC=1, and moves to the admin listener', async () => {
  assert.equal((await http('GET', `${gw.url}/metrics`)).status, 401);
  assert.equal((await http('GET', `${gw.url}/metrics`, undefined, { authorization: 'Bearer wrong-token-123' })).status, 401);
  const open = await spawnGateway({ ...env, METRICS_PUBLIC: '1' });
  others.push(open);
  await scrape(open.url, {});
  const sep = await spawnGateway({ ...env, ADMIN_ROUTES: 'separate', ADMIN_PORT: '0' });
  others.push(sep);
  const adminUrl = `http://127.0.0.1:${findLog(sep.log(), 'admin listening')!.port}`;
  assert.equal((await http('GET', `${sep.url}/metrics`, undefined, ADMIN)).status, 404);
  assert.equal((await http('GET', `${adminUrl}/metrics`)).status, 401);
  await scrape(adminUrl);
});

test('METRICS_ENABLED=0 serves no /metrics and claims still work', async () => {
  const off = await spawnGateway({ ...env, METRICS_ENABLED: '0' });
  others.push(off);
  assert.equal((await http('GET', `${off.url}/metrics`, undefined, ADMIN)).status, 404);
  const t = await createTemplate(off.url, { name: 'off', type: 'direct', value: 1, totalStock: 5 });
  assert.equal((await http('POST', `${off.url}/v1/claim`, { templateId: t.id, userId: 'u1' })).status, 200);
});
