// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * The identity rule through the gateway's MySQL reads and writes (issue 9, item 2): ids that
 * differ only in case are different users, templates and blacklist items in the listing (with
 * and without user tokens), the blacklist, the stats, template GET/PATCH/list, and the coupon
 * rows the sink writes. The reconciler and the rebuild: identity-case-repairs.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { signUserToken } from '../../core/user-token.ts';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { type Stack, openStack } from '../support/stack.ts';
import { type Storage, testEnv, drained } from '../../tools/harness/storage.ts';

// One shard table: every pair of users shares it, so only the collation can keep their rows apart.
const env = testEnv({ SHARD_DBS: '1', SHARD_TABLES: '1', STATS_FLUSH_MS: '50', SINK_BATCH_MAX_WAIT_MS: '20' });
const SECRET = 'login-service-secret-0123456789abcdef';
let stack: Stack;
let s: Storage;
let gw: GatewayProc;

before(async () => {
  stack = await openStack(env);
  ({ s, gw } = stack);
});
after(() => stack?.close());

const template = (id: string, over: Record<string, unknown> = {}) =>
  createTemplate(gw.url, { id, name: id, type: 'direct', value: 100, totalStock: 10, perUserLimit: 1, subStocks: 1, ...over });

/** Coupon ids issued in this file, per user. */
const held = new Map<string, string[]>();
const heldBy = (userId: string) => [...(held.get(userId) ?? [])].sort();

/** Claims through the gateway; returns the coupon id, asserting it was issued. */
async function issue(userId: string, templateId: string): Promise<string> {
  const r = await http('POST', `${gw.url}/v1/claim`, { userId, templateId });
  assert.equal(r.status, 200, `${userId} on ${templateId}: ${r.raw.toString()}`);
  held.set(userId, [...(held.get(userId) ?? []), r.json.couponId]);
  return r.json.couponId;
}

const listing = (url: string, userId: string, headers: Record<string, string> = {}) =>
  http('GET', `${url}/v1/users/${userId}/coupons`, undefined, headers);

/** The coupon ids a listing answered (asserting a 200). */
async function listed(url: string, userId: string, headers: Record<string, string> = {}): Promise<string[]> {
  const r = await listing(url, userId, headers);
  assert.equal(r.status, 200, `${userId}: ${r.raw.toString()}`);
  return (r.json.coupons as { couponId: string }[]).map((c) => c.couponId).sort();
}

test('listings: users differing only in case each see their own coupons, a third spelling none', async () => {
  await template('lst', { perUserLimit: 2 });
  await issue('victim', 'lst');
  await issue('victim', 'lst');
  await issue('VICTIM', 'lst');
  await waitFor(() => drained(s), 10_000, 'the sink stored the coupons');
  assert.deepEqual(await listed(gw.url, 'victim'), heldBy('victim'));
  assert.deepEqual(await listed(gw.url, 'VICTIM'), heldBy('VICTIM'));
  assert.deepEqual(await listed(gw.url, 'Victim'), []);
});

test('listings with user tokens: the token of VICTIM reads VICTIM\'s coupons only, never victim\'s', async () => {
  const tok = await spawnGateway({ ...env, USER_TOKEN_SECRETS: SECRET });
  stack.cleanup.push(() => tok.stop());
  await template('tok', { perUserLimit: 1 });
  await issue('victim', 'tok');
  await issue('VICTIM', 'tok');
  await waitFor(() => drained(s), 10_000, 'the sink stored the coupons');
  const bearer = (user: string) => ({ authorization: `Bearer ${signUserToken(SECRET, user, Math.floor(Date.now() / 1000) + 60)}` });
  for (const user of ['VICTIM', 'victim']) assert.deepEqual(await listed(tok.url, user, bearer(user)), heldBy(user), `${user}'s token`);
  for (const [path, token] of [['victim', 'VICTIM'], ['VICTIM', 'victim'], ['Victim', 'victim']] as const) {
    const r = await listing(tok.url, path, bearer(token));
    assert.deepEqual([r.status, r.json.error], [403, 'forbidden'], `${token}'s token on ${path}: ${r.raw.toString()}`);
  }
});

test('the blacklist: products and categories differing only in case are distinct entries', async () => {
  const list = { categories: ['BAGS', 'Bags', 'bags'], products: ['SHOES', 'Shoes', 'shoes'] };
  const put = await http('PUT', `${gw.url}/v1/admin/blacklist`, { categories: ['bags', 'Bags', 'BAGS'], products: ['Shoes', 'shoes', 'SHOES'] }, ADMIN);
  assert.equal(put.status, 200, put.raw.toString());
  assert.deepEqual(put.json, list);
  const got = await http('GET', `${gw.url}/v1/admin/blacklist`, undefined, ADMIN);
  assert.deepEqual([got.status, got.json], [200, list]);
  // Replacing it with one spelling keeps exactly that one.
  assert.equal((await http('PUT', `${gw.url}/v1/admin/blacklist`, { products: ['shoes'] }, ADMIN)).status, 200);
  assert.deepEqual((await http('GET', `${gw.url}/v1/admin/blacklist`, undefined, ADMIN)).json, { categories: [], products: ['shoes'] });
});

test('the stats: templates Stat and stat each report their own numbers; STAT is no template', async () => {
  const stats = (id: string) => http('GET', `${gw.url}/v1/admin/templates/${id}/stats`, undefined, ADMIN);
  await template('Stat', { totalStock: 5 });
  for (const other of ['stat', 'STAT']) assert.equal((await stats(other)).status, 404, `${other} before it exists`);
  await template('stat', { totalStock: 7 });
  await issue('s1', 'Stat');
  await issue('s2', 'Stat');
  await issue('s1', 'stat');
  const refused = async (userId: string, templateId: string) =>
    assert.equal((await http('POST', `${gw.url}/v1/claim`, { userId, templateId })).json.status, 'limit_reached');
  await refused('s1', 'Stat');
  await refused('s1', 'stat');
  await refused('s1', 'stat');
  const limits = async (id: string) => (await stats(id)).json?.rejected?.limit_reached;
  await waitFor(async () => (await limits('Stat')) === 1 && (await limits('stat')) === 2, 10_000, 'the gateway flushed its counts');
  const [upper, lower] = [(await stats('Stat')).json, (await stats('stat')).json];
  assert.deepEqual([upper.templateId, upper.total, upper.issued, upper.remaining, upper.issuedPerSecond], ['Stat', 5, 2, 3, 0.033]);
  assert.deepEqual([lower.templateId, lower.total, lower.issued, lower.remaining, lower.issuedPerSecond], ['stat', 7, 1, 6, 0.017]);
  const third = await stats('STAT');
  assert.deepEqual([third.status, third.json.error], [404, 'template_not_found']);
});

test('templates Tpl and tpl: GET, PATCH, the list\'s pages and the coupon rows the sink writes are each their own', async () => {
  const get = (id: string) => http('GET', `${gw.url}/v1/admin/templates/${id}`, undefined, ADMIN);
  const patch = (id: string, body: Record<string, unknown>) => http('PATCH', `${gw.url}/v1/admin/templates/${id}`, body, ADMIN);
  const shape = (r: Awaited<ReturnType<typeof get>>) => [r.status, r.json.id, r.json.name, r.json.value, r.json.totalStock, r.json.status];
  await template('Tpl', { name: 'upper', value: 100, totalStock: 5 });
  assert.equal((await get('tpl')).status, 404, 'tpl before it exists');
  assert.equal((await patch('tpl', { status: 'paused' })).status, 404, 'tpl before it exists');
  await template('tpl', { name: 'lower', value: 200, totalStock: 7 });
  assert.deepEqual(shape(await get('Tpl')), [200, 'Tpl', 'upper', 100, 5, 'active']);
  assert.deepEqual(shape(await get('tpl')), [200, 'tpl', 'lower', 200, 7, 'active']);
  assert.equal((await get('TPL')).status, 404);
  assert.equal((await patch('TPL', { status: 'paused' })).status, 404);
  const paused = await patch('tpl', { status: 'paused' });
  assert.deepEqual([paused.status, paused.json.id, paused.json.version], [200, 'tpl', 2], paused.raw.toString());
  assert.deepEqual(shape(await get('Tpl')), [200, 'Tpl', 'upper', 100, 5, 'active'], 'pausing tpl left Tpl alone');
  assert.equal((await get('Tpl')).json.version, 1);
  assert.equal((await http('POST', `${gw.url}/v1/claim`, { userId: 'w1', templateId: 'tpl' })).json.status, 'paused');
  const upper = await issue('w1', 'Tpl');
  assert.equal((await patch('tpl', { status: 'active' })).status, 200);
  const lower = await issue('w1', 'tpl');

  // Pages of one template each, after a cursor that differs from the next id only in case.
  const ids: string[] = [];
  for (let cursor = ''; ;) {
    const r = await http('GET', `${gw.url}/v1/admin/templates?limit=1${cursor ? `&cursor=${cursor}` : ''}`, undefined, ADMIN);
    assert.equal(r.status, 200, r.raw.toString());
    ids.push(...r.json.templates.map((t: { id: string }) => t.id));
    if (r.json.nextCursor === null) break;
    cursor = r.json.nextCursor;
  }
  assert.deepEqual(ids.filter((id) => id.toLowerCase() === 'tpl'), ['Tpl', 'tpl'], `pages: ${ids}`);

  // The sink copies each coupon's money and name from its own template's row.
  await waitFor(() => drained(s), 10_000, 'the sink stored the coupons');
  const rows = (await listing(gw.url, 'w1')).json.coupons as { couponId: string; templateId: string; name: string; value: number }[];
  assert.deepEqual(rows.map((c) => [c.couponId, c.templateId, c.name, c.value]).sort(),
    [[upper, 'Tpl', 'upper', 100], [lower, 'tpl', 'lower', 200]].sort());
});
