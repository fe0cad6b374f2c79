/**
 * An operator hammering a running job (issue 12): pause, resume and rate changes sent at once
 * and in quick succession while chunks commit, cancel racing resume, odd rates, paging the
 * refusals with bad cursors and limits. Whatever the order, a cancelled job stays cancelled, a
 * job that ends has decided every user once (granted + refused + failed = total), and its counts
 * equal its rows.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { allRefusals, grantCoupons, grantView, postGrant, runGrantJobs, waitGrant } from '../support/grants.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { drained, testEnv } from '../../tools/harness/storage.ts';

const env = testEnv({ GRANT_POLL_MS: '50' });
let st: Stack;
let url: string;

before(async () => {
  st = await openStack(env);
  url = st.gw.url;
  st.cleanup.push(runGrantJobs(st.s));
});
after(() => st?.close());

const patch = (id: string, body: unknown) => http('PATCH', `${url}/v1/admin/grants/${id}`, body, ADMIN);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const decided = (g: any) => g.granted + g.failed + Object.values(g.refused as Record<string, number>).reduce((a, b) => a + b, 0);

/** Waits for the sink, then checks the job's counts against its rows and refusals. */
async function countsMatchRows(templateId: string, id: string): Promise<any> {
  await waitFor(() => drained(st.s), 20_000, 'the sink to drain');
  const g = await grantView(url, id);
  const rows = await grantCoupons(st.s, templateId, id);
  const refusals = await allRefusals(url, id);
  assert.equal(rows.length, g.granted, `rows for ${JSON.stringify(g)}`);
  assert.equal(new Set(rows.map((x) => x.userId)).size, rows.length, 'no user twice');
  assert.equal(refusals.length, decided(g) - g.granted, 'one refusal row per refused or failed user');
  const holders = new Set(rows.map((x) => x.userId));
  for (const x of refusals) assert.ok(!holders.has(x.userId), `${x.userId} granted and refused`);
  return g;
}

test('pauses, resumes and rate changes at once, while chunks commit: the job ends with every user decided once', async () => {
  const t = await createTemplate(url, { name: 'storm', type: 'direct', value: 100, totalStock: 5000 });
  const users = Array.from({ length: 6000 }, (_, i) => `s${i}`);
  const r = await postGrant(url, t.id, { userIds: users, ratePerSecond: 3000 });
  const id = r.json.grantId;
  await waitGrant(url, id, (g) => g.granted > 0, 10_000);
  const changes = [{ state: 'paused' }, { state: 'running' }, { ratePerSecond: 1 }, { ratePerSecond: 1_000_000 },
    { state: 'running', ratePerSecond: 777 }, { state: 'paused', ratePerSecond: 5000 }];
  for (let wave = 0; wave < 10; wave++) {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => patch(id, changes[(i * 7 + wave) % changes.length])));
    for (const a of answers) assert.equal(a.status, 200, a.raw.toString());
    await sleep(40);
  }
  assert.equal((await patch(id, { state: 'running', ratePerSecond: 20_000 })).status, 200);
  const g = await waitGrant(url, id, (x) => x.state !== 'running', 30_000);
  assert.equal(g.state, 'done');
  assert.equal(decided(g), users.length, JSON.stringify(g));
  assert.deepEqual([g.granted, g.refused.sold_out, g.failed], [5000, 1000, 0]);
  await countsMatchRows(t.id, id);
});

test('cancel racing resume: once cancelled, a job stays cancelled and its counts match its rows', async () => {
  const t = await createTemplate(url, { name: 'cancel', type: 'direct', value: 100, totalStock: 100_000 });
  const r = await postGrant(url, t.id, { userIds: Array.from({ length: 5000 }, (_, i) => `c${i}`), ratePerSecond: 1000 });
  const id = r.json.grantId;
  await waitGrant(url, id, (g) => g.granted > 0, 10_000);
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => patch(id, { state: i % 2 === 0 ? 'running' : 'cancelled' })));
  const cancels = answers.filter((a) => a.json?.state === 'cancelled');
  assert.ok(cancels.length >= 1);
  // Each change was applied, or refused because a cancel came first.
  for (const a of answers) assert.ok(a.status === 200 || (a.status === 409 && a.json.error === 'grant_state_conflict'), a.raw.toString());
  for (const body of [{ state: 'running' }, { state: 'paused' }, { ratePerSecond: 5 }, { state: 'cancelled' }]) {
    assert.equal((await patch(id, body)).status, 409);
  }
  await sleep(500);
  const g = await countsMatchRows(t.id, id);
  assert.equal(g.state, 'cancelled');
  assert.ok(g.finishedAt);
  await sleep(500);
  assert.equal((await grantView(url, id)).granted, g.granted, 'a cancelled job grants nothing more');
});

test('odd rates and paging parameters are 400s; a paused job keeps its state through a rate change', async () => {
  const t = await createTemplate(url, { name: 'odd', type: 'direct', value: 100, totalStock: 1 });
  const r = await postGrant(url, t.id, { userIds: ['A', 'a', 'b', 'B', 'c'], ratePerSecond: 1 });
  const id = r.json.grantId;
  assert.equal((await patch(id, { state: 'paused' })).status, 200);
  for (const ratePerSecond of [0, -1, 1.5, 1_000_001, '5', null, true, 1e300]) {
    const a = await patch(id, { ratePerSecond });
    assert.equal(a.status, 400, `${ratePerSecond}: ${a.raw.toString()}`);
  }
  const huge = await patch(id, { ratePerSecond: 1_000_000 });
  assert.deepEqual([huge.status, huge.json.state, huge.json.ratePerSecond], [200, 'paused', 1_000_000]);
  assert.equal((await patch('x'.repeat(33), { state: 'paused' })).status, 400);
  assert.equal((await patch('unknown', { state: 'paused' })).status, 404);
  assert.equal((await patch(id, { state: 'running' })).status, 200);
  const g = await waitGrant(url, id, (x) => x.state === 'done', 10_000);
  assert.deepEqual([g.granted, g.refused.sold_out], [1, 4]);
  const page = (q: string) => http('GET', `${url}/v1/admin/grants/${id}/refusals${q}`, undefined, ADMIN);
  for (const q of ['?limit=0', '?limit=-1', '?limit=abc', '?limit=1001', '?limit=1.5', '?cursor=', '?cursor=%25%25', '?cursor=YQ==',
    `?cursor=${Buffer.from('a b').toString('base64url')}`, '?other=1']) {
    assert.equal((await page(q)).status, 400, q);
  }
  // Pages of one walk every refusal once, in byte order (upper case first).
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const p = await page(cursor === undefined ? '?limit=1' : `?limit=1&cursor=${cursor}`);
    assert.equal(p.status, 200, p.raw.toString());
    seen.push(...p.json.refusals.map((x: any) => x.userId));
    cursor = p.json.nextCursor;
  } while (cursor !== undefined);
  assert.equal(seen.length, 4);
  assert.deepEqual(seen, [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  await countsMatchRows(t.id, id);
});

test('two uploads for the same template at once, sharing users: each user one coupon (limit 1), the rest limit_reached', async () => {
  const t = await createTemplate(url, { name: 'twice', type: 'direct', value: 100, totalStock: 10_000, perUserLimit: 1 });
  const users = Array.from({ length: 3000 }, (_, i) => `d${i}`);
  const text = (xs: string[]) => xs.join('\n');
  const [a, b] = await Promise.all([
    postGrant(url, t.id, text(users.slice(0, 2000)), { 'content-type': 'text/plain' }, '?ratePerSecond=5000'),
    postGrant(url, t.id, text(users.slice(1000)), { 'content-type': 'text/plain' }, '?ratePerSecond=5000'),
  ]);
  assert.deepEqual([a.status, b.status, a.json.total, b.json.total], [202, 202, 2000, 2000]);
  const [ga, gb] = await Promise.all([a, b].map((x) => waitGrant(url, x.json.grantId, (g) => g.state !== 'running', 30_000)));
  assert.deepEqual([ga.state, gb.state], ['done', 'done']);
  assert.equal(ga.granted + gb.granted, users.length, 'each user granted by one job or the other');
  assert.equal(ga.refused.limit_reached + gb.refused.limit_reached, 1000, 'the shared users: refused by the other job');
  const ra = await countsMatchRows(t.id, a.json.grantId);
  const rb = await countsMatchRows(t.id, b.json.grantId);
  assert.equal(ra.granted + rb.granted, users.length);
});
