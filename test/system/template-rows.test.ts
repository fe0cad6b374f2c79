// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * Coupon rows carry what a reader needs without a join (issue 3): the template's name, type,
 * value and threshold, and the use window of the template's rule (fixed dates, or validDays
 * after the claim), through the real gateway, sink and listing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTemplate, http } from '../support/http.ts';
import { type GatewayProc, type Proc, spawnEntry, spawnGateway } from '../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const env = testEnv({ SINK_BATCH_MAX_WAIT_MS: '20' });
let s: Storage;
let g: GatewayProc;
let sink: Proc;

before(async () => {
  s = await openStorage(testConfig(env));
  g = await spawnGateway(env);
  sink = spawnEntry('sink/main.ts', env);
});
after(async () => {
  await Promise.all([g?.stop(), sink?.stop()]);
  await s?.close();
});

/** The user's listed coupons once `n` are there (the sink writes them within moments). */
async function listed(userId: string, n: number): Promise<any[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await http('GET', `${g.url}/v1/users/${userId}/coupons`);
    assert.equal(r.status, 200);
    if (r.json.coupons.length >= n) return r.json.coupons;
    assert.ok(Date.now() < deadline, `${userId}: ${r.json.coupons.length} of ${n} coupons listed\n${sink.log()}`);
    await sleep(50);
  }
}

test('fixed use window: every row carries the template dates and money fields', async () => {
  const day = 86_400_000;
  const validFrom = new Date(Date.now() + day).toISOString();
  const validTo = new Date(Date.now() + 10 * day).toISOString();
  const t = await createTemplate(g.url, {
    name: '满300减50', type: 'threshold', value: 5000, threshold: 30000, totalStock: 10, perUserLimit: 2,
    claimEnd: new Date(Date.now() + 5 * day).toISOString(), validFrom, validTo, stackable: true,
    scope: { categories: ['shoes'], excludeProducts: ['sku-1'] },
  });
  assert.deepEqual([t.validFrom, t.validTo, t.validDays, t.stackable, t.scope.categories], [validFrom, validTo, null, true, ['shoes']]);
  for (const requestId of ['a', 'b']) {
    const r = await http('POST', `${g.url}/v1/claim`, { userId: 'fx', templateId: t.id, requestId });
    assert.equal(r.status, 200, r.raw.toString());
  }
  const coupons = await listed('fx', 2);
  for (const c of coupons) {
    assert.deepEqual([c.templateId, c.name, c.type, c.value, c.threshold, c.validFrom, c.validTo],
      [t.id, '满300减50', 'threshold', 5000, 30000, validFrom, validTo]);
  }
});

test('validDays: each row is valid from its claim for that many days', async () => {
  const t = await createTemplate(g.url, { name: '12% off', type: 'discount', value: 12, maxDiscount: 2000, totalStock: 10, validDays: 3 });
  assert.equal((await http('POST', `${g.url}/v1/claim`, { userId: 'vd', templateId: t.id })).status, 200);
  const [c] = await listed('vd', 1);
  assert.equal(c.validFrom, c.claimedAt);
  assert.equal(Date.parse(c.validTo) - Date.parse(c.validFrom), 3 * 86_400_000);
  assert.deepEqual([c.type, c.value, c.maxDiscount], ['discount', 12, 2000]);
});

test('the global blacklist is replaced whole, validated, and behind the admin token', async () => {
  const url = `${g.url}/v1/admin/blacklist`;
  const auth = { authorization: 'Bearer dev-admin-token' };
  assert.deepEqual((await http('GET', url, undefined, auth)).json, { categories: [], products: [] });
  const put = await http('PUT', url, { categories: ['tobacco', 'gift-cards'], products: ['sku-9', 'sku-9'] }, auth);
  assert.equal(put.status, 200, put.raw.toString());
  assert.deepEqual((await http('GET', url, undefined, auth)).json, { categories: ['gift-cards', 'tobacco'], products: ['sku-9'] });
  assert.equal((await http('PUT', url, { products: ['p1'] }, auth)).status, 200);
  assert.deepEqual((await http('GET', url, undefined, auth)).json, { categories: [], products: ['p1'] });
  for (const body of [{ products: 'p1' }, { products: ['bad id'] }, { brands: [] }, [1]]) {
    const r = await http('PUT', url, body, auth);
    assert.deepEqual([r.status, r.json.error], [400, 'bad_request'], JSON.stringify(body));
  }
  assert.equal((await http('GET', url)).status, 401);
  assert.equal((await http('PUT', url, { products: [] })).status, 401);
  assert.deepEqual((await http('GET', url, undefined, auth)).json.products, ['p1'], 'refused calls changed nothing');
});
