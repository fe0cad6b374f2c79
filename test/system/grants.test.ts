/**
 * Bulk grants against the real servers (issue 12): each distinct listed user gets one coupon or
 * a recorded refusal with its reason; a grant racing a claim rain on the same template never
 * over-issues nor passes the limit (the oracle judges); pause, resume, cancel and a rate change
 * reach a running job; a streamed text list is read to its end or refused at its bad line.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { allRefusals, grantCoupons, grantView, postGrant, runGrantJobs, waitGrant } from '../support/grants.ts';
import { runPool } from '../support/pool.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { drained, testEnv } from '../../tools/harness/storage.ts';
import { judge } from '../../tools/verify/oracle.ts';
import { storedCoupons, templateState } from '../../tools/verify/facts.ts';

// A small upload buffer: the streamed list below pauses the socket many times while MySQL writes.
const env = testEnv({ GRANT_POLL_MS: '100', GRANT_RATE_DEFAULT: '20000', GRANT_UPLOAD_BUFFER_BYTES: '65536' });
let st: Stack;
let url: string;

before(async () => {
  st = await openStack(env);
  url = st.gw.url;
  st.cleanup.push(runGrantJobs(st.s));
});
after(() => st?.close());

const claim = (userId: string, templateId: string, requestId?: string) => http('POST', `${url}/v1/claim`, { userId, templateId, requestId });
const finished = (g: any) => ['done', 'cancelled', 'failed'].includes(g.state);

/** The oracle's verdict on a template once the sink stored everything; grant rows count as told by the job. */
async function verdict(t: { id: string; totalStock: number; perUserLimit: number; subStocks: number }, told: any[], grantRows: number) {
  await waitFor(() => drained(st.s), 20_000, 'the sink to drain');
  const ks = { prefix: st.s.cfg.redis.keyPrefix, partitions: st.s.cfg.redis.partitions };
  const layout = { dbs: st.s.cfg.mysql.shardDbs, tables: st.s.cfg.mysql.shardTables };
  return judge({
    templates: [await templateState(st.s.redis, ks, t)],
    rows: await storedCoupons(st.s.mysql, st.s.cfg.mysql.dbPrefix, layout, { ids: [t.id] }),
    told, uncertain: grantRows, backlog: 0,
  });
}

test('a list with duplicates: each distinct user one coupon, or a refusal with its reason', async () => {
  const t = await createTemplate(url, { name: 'g', type: 'direct', value: 100, totalStock: 2500 });
  // 100 users already hold their one coupon: limit_reached.
  for (let i = 0; i < 100; i++) assert.equal((await claim(`u${i}`, t.id)).status, 200);
  const users = Array.from({ length: 3000 }, (_, i) => `u${i}`);
  const listed = [...users, ...users.slice(0, 500), 'U1'];
  const r = await postGrant(url, t.id, { userIds: listed });
  assert.equal(r.status, 202, r.raw.toString());
  assert.equal(r.json.total, 3001, 'duplicates count once; U1 and u1 are two users');
  const g = await waitGrant(url, r.json.grantId, finished);
  assert.equal(g.state, 'done');
  assert.ok(g.finishedAt);
  assert.equal(g.granted, 2400);
  assert.deepEqual(g.refused, { limit_reached: 100, sold_out: 501, ended: 0, not_eligible: 0 });
  assert.equal(g.failed, 0);
  const refusals = await allRefusals(url, r.json.grantId);
  assert.equal(refusals.length, 601);
  const byUser = new Map(refusals.map((x) => [x.userId, x.reason]));
  for (let i = 0; i < 100; i++) assert.equal(byUser.get(`u${i}`), 'limit_reached');
  assert.equal([...byUser.values()].filter((x) => x === 'sold_out').length, 501);
  await waitFor(() => drained(st.s), 20_000, 'the sink to drain');
  const rows = await grantCoupons(st.s, t.id, r.json.grantId);
  assert.equal(rows.length, 2400);
  const holders = new Set(rows.map((x) => x.userId));
  assert.equal(holders.size, 2400, 'no user twice');
  for (const u of holders) assert.ok(!byUser.has(u), `${u} both granted and refused`);
  // The template's stats count the grant: issued from Redis's stock, refusals and rates from the job's chunks.
  await waitFor(async () => (await http('GET', `${url}/v1/admin/templates/${t.id}/stats`, undefined, ADMIN)).json.issuedPerSecond >= 41, 5_000, 'stats');
  const stats = (await http('GET', `${url}/v1/admin/templates/${t.id}/stats`, undefined, ADMIN)).json;
  assert.equal(stats.issued, 2500);
  assert.equal(stats.rejected.limit_reached, 100);
  assert.equal(stats.rejected.sold_out, 501);
  // The 100 earlier claims' answers were not kept: they count as untold rows too.
  const v = await verdict(t, [], 2400 + 100);
  assert.deepEqual(v.violations, []);
});

test('a grant and a claim rain on the same template at once: no over-issue, the limit holds', async () => {
  const t = await createTemplate(url, { name: 'rain', type: 'direct', value: 100, totalStock: 3000, perUserLimit: 1 });
  // 2,000 listed users; the rain is 2,000 others plus 1,000 of the listed ones claiming too.
  const listed = Array.from({ length: 2000 }, (_, i) => `g${i}`);
  const rainUsers = [...Array.from({ length: 2000 }, (_, i) => `r${i}`), ...listed.slice(0, 1000)];
  const r = await postGrant(url, t.id, { userIds: listed, ratePerSecond: 4000 });
  assert.equal(r.status, 202);
  const told: any[] = [];
  const answers = await runPool(rainUsers.map((u) => async () => {
    const a = await claim(u, t.id, `rq-${u}`);
    if (a.status === 200) told.push({ templateId: t.id, userId: u, requestId: `rq-${u}`, couponId: a.json.couponId, replayed: false,
      toldUserId: a.json.userId, toldTemplateId: a.json.templateId, at: Date.now() });
    return a.status;
  }), 32);
  assert.ok(answers.every((s) => [200, 409, 410].includes(s)), `unexpected answers ${[...new Set(answers)]}`);
  const g = await waitGrant(url, r.json.grantId, finished);
  assert.equal(g.state, 'done');
  const refusedTotal = Object.values(g.refused as Record<string, number>).reduce((a, b) => a + b, 0);
  assert.equal(g.granted + refusedTotal + g.failed, 2000);
  assert.equal(told.length + g.granted <= 3000, true);
  const v = await verdict(t, told, g.granted);
  assert.deepEqual(v.violations, []);
  assert.equal((await grantCoupons(st.s, t.id, r.json.grantId)).length, g.granted);
  assert.ok(v.templates[0]!.maxPerUser <= 1);
});

test('pause, resume, rate change and cancel reach a running job within a second', async () => {
  const t = await createTemplate(url, { name: 'slow', type: 'direct', value: 100, totalStock: 100_000 });
  const r = await postGrant(url, t.id, { userIds: Array.from({ length: 3000 }, (_, i) => `p${i}`), ratePerSecond: 200 });
  const id = r.json.grantId;
  await waitGrant(url, id, (g) => g.granted > 0, 10_000);
  const paused = await http('PATCH', `${url}/v1/admin/grants/${id}`, { state: 'paused' }, ADMIN);
  assert.equal(paused.status, 200);
  assert.equal(paused.json.state, 'paused');
  await new Promise((res) => setTimeout(res, 1000));
  const a = (await grantView(url, id)).granted;
  await new Promise((res) => setTimeout(res, 1000));
  assert.equal((await grantView(url, id)).granted, a, 'a paused job grants nothing');
  assert.equal((await http('PATCH', `${url}/v1/admin/grants/${id}`, { state: 'running', ratePerSecond: 1000 }, ADMIN)).status, 200);
  await new Promise((res) => setTimeout(res, 1500));
  const b = (await grantView(url, id)).granted;
  assert.ok(b - a >= 600, `the faster rate shows: ${b - a} in 1.5 s`);
  assert.equal((await grantView(url, id)).ratePerSecond, 1000);
  const cancelled = await http('PATCH', `${url}/v1/admin/grants/${id}`, { state: 'cancelled' }, ADMIN);
  assert.equal(cancelled.json.state, 'cancelled');
  await new Promise((res) => setTimeout(res, 1000));
  const c = await grantView(url, id);
  await new Promise((res) => setTimeout(res, 1000));
  assert.equal((await grantView(url, id)).granted, c.granted, 'a cancelled job grants nothing more');
  assert.ok(c.granted < 3000 && c.finishedAt);
  const again = await http('PATCH', `${url}/v1/admin/grants/${id}`, { state: 'running' }, ADMIN);
  assert.equal(again.status, 409);
  assert.equal(again.json.error, 'grant_state_conflict');
  await waitFor(() => drained(st.s), 20_000, 'the sink to drain');
  assert.equal((await grantCoupons(st.s, t.id, id)).length, c.granted, 'the counts match the coupons');
});

test('the template rules hold: a paused template holds the job, the audience and the window refuse', async () => {
  const audience = Array.from({ length: 50 }, (_, i) => `a${i}`);
  const t = await createTemplate(url, { name: 'rules', type: 'direct', value: 100, totalStock: 1000, audience,
    claimEnd: new Date(Date.now() + 4_000).toISOString() });
  assert.equal((await http('PATCH', `${url}/v1/admin/templates/${t.id}`, { status: 'paused' }, ADMIN)).status, 200);
  const listed = Array.from({ length: 100 }, (_, i) => `a${i}`);
  const r = await postGrant(url, t.id, { userIds: listed });
  await new Promise((res) => setTimeout(res, 800));
  const held = await grantView(url, r.json.grantId);
  assert.equal(held.state, 'running');
  assert.equal(held.granted + held.refused.not_eligible, 0, 'a paused template holds the job');
  assert.equal(held.heldBy, 'template_paused', 'the view says why the job does not move');
  assert.equal((await http('PATCH', `${url}/v1/admin/templates/${t.id}`, { status: 'active' }, ADMIN)).status, 200);
  const g = await waitGrant(url, r.json.grantId, finished);
  assert.equal(g.heldBy, undefined);
  assert.equal(g.granted, 50);
  assert.equal(g.refused.not_eligible, 50);
  await new Promise((res) => setTimeout(res, Math.max(0, Date.parse(t.claimEnd) - Date.now() + 100)));
  const late = await postGrant(url, t.id, { userIds: ['a60', 'a1'] });
  const e = await waitGrant(url, late.json.grantId, finished);
  assert.deepEqual([e.granted, e.refused.ended], [0, 2], 'after the window: ended');
});

test('a streamed text list is read to its end; a bad line is a 400 naming it', async () => {
  const t = await createTemplate(url, { name: 'text', type: 'direct', value: 100, totalStock: 1000 });
  // ~1.6 MB: 25 times the upload buffer.
  const lines = Array.from({ length: 200_000 }, (_, i) => `t${i % 150_000}`).join('\r\n') + '\n';
  const r = await postGrant(url, t.id, lines, { 'content-type': 'text/plain; charset=utf-8' }, '?ratePerSecond=50000');
  assert.equal(r.status, 202, r.raw.toString());
  assert.equal(r.json.total, 150_000);
  const g = await waitGrant(url, r.json.grantId, finished, 60_000);
  assert.equal(g.granted, 1000);
  assert.equal(g.refused.sold_out, 149_000, 'past the stock: sold_out, decided without Redis');
  assert.equal(g.ratePerSecond, 50_000);
  const bad = await postGrant(url, t.id, 'a\nb\nnot ok\nc\n', { 'content-type': 'text/plain' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, 'bad_request');
  assert.match(bad.json.message, /line 3/);
  const long = await postGrant(url, t.id, `a\n${'x'.repeat(100_000)}\n`, { 'content-type': 'text/plain' });
  assert.match(long.json.message, /line 2/);
});

test('bad input: JSON errors with stable codes', async () => {
  const t = await createTemplate(url, { name: 'bad', type: 'direct', value: 100, totalStock: 10 });
  const expect = async (p: Promise<any>, status: number, code: string, message?: RegExp) => {
    const r = await p;
    assert.equal(r.status, status, r.raw.toString());
    assert.equal(r.json?.error, code, r.raw.toString());
    if (message) assert.match(r.json.message, message);
  };
  await expect(postGrant(url, t.id, { userIds: ['a', 'b c'] }), 400, 'bad_request', /userIds\[1\]/);
  await expect(postGrant(url, t.id, { userIds: Array.from({ length: 10_001 }, (_, i) => `x${i}`) }), 400, 'bad_request', /at most 10000/);
  await expect(postGrant(url, t.id, { userIds: [] }), 400, 'bad_request', /no user/);
  await expect(postGrant(url, t.id, {}), 400, 'bad_request', /userIds/);
  await expect(postGrant(url, t.id, { userIds: ['a'], ratePerSecond: 0 }), 400, 'bad_request', /ratePerSecond/);
  await expect(postGrant(url, t.id, { userIds: ['a'], ratePerSecond: 'fast' }), 400, 'bad_request', /ratePerSecond/);
  await expect(postGrant(url, t.id, { userIds: ['a'], extra: 1 }), 400, 'bad_request', /extra/);
  await expect(postGrant(url, t.id, 'a\n', { 'content-type': 'text/plain' }, '?ratePerSecond=-1'), 400, 'bad_request', /ratePerSecond/);
  await expect(postGrant(url, t.id, 'a\n', { 'content-type': 'text/plain; charset=latin1' }), 415, 'unsupported_media_type');
  await expect(postGrant(url, t.id, 'a\n', { 'content-type': 'text/csv' }), 415, 'unsupported_media_type');
  await expect(postGrant(url, 'no-such-template', { userIds: ['a'] }), 404, 'template_not_found');
  await expect(postGrant(url, t.id, { userIds: ['a'] }, { authorization: 'Bearer wrong-token-123' }), 401, 'unauthorized');
  await expect(http('GET', `${url}/v1/admin/grants/nosuchgrant`, undefined, ADMIN), 404, 'grant_not_found');
  await expect(http('GET', `${url}/v1/admin/grants/nosuchgrant/refusals`, undefined, ADMIN), 404, 'grant_not_found');
  await expect(http('GET', `${url}/v1/admin/grants/a%20b`, undefined, ADMIN), 400, 'bad_request');
  await expect(http('PATCH', `${url}/v1/admin/grants/nosuchgrant`, { state: 'paused' }, ADMIN), 404, 'grant_not_found');
  const ok = await postGrant(url, t.id, { userIds: ['a'] });
  const id = ok.json.grantId;
  await expect(http('PATCH', `${url}/v1/admin/grants/${id}`, { state: 'done' }, ADMIN), 400, 'bad_request', /state/);
  await expect(http('PATCH', `${url}/v1/admin/grants/${id}`, { ratePerSecond: 1.5 }, ADMIN), 400, 'bad_request', /ratePerSecond/);
  await expect(http('PATCH', `${url}/v1/admin/grants/${id}`, {}, ADMIN), 400, 'bad_request');
  await expect(http('GET', `${url}/v1/admin/grants/${id}/refusals?cursor=!!`, undefined, ADMIN), 400, 'bad_request', /cursor/);
  await expect(http('DELETE', `${url}/v1/admin/grants/${id}`, undefined, ADMIN), 405, 'method_not_allowed');
  await waitGrant(url, id, finished);
  await expect(http('PATCH', `${url}/v1/admin/grants/${id}`, { state: 'paused' }, ADMIN), 409, 'grant_state_conflict');
  assert.equal((await http('GET', `${url}/readyz`)).status, 200);
});
