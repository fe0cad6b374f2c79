// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * Stock changes and the identity rule (issue 9, items 2 and 3), through the real gateway:
 * request ids and template ids that differ only in case are different ids, and one request id
 * belongs to one change: a top-up and a reduction racing under it never both touch the stock.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { stockKey } from '../../lua/keys.ts';
import { ADMIN, createTemplate, http, type HttpResult } from '../support/http.ts';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const env = testEnv();
let s: Storage;
let gw: GatewayProc;

before(async () => {
  s = await openStorage(testConfig(env));
  gw = await spawnGateway(env);
});
after(async () => {
  await gw?.stop();
  await s?.close();
});

const ks = () => ({ prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions });
const stock = (id: string, add: number, requestId: string) =>
  http('POST', `${gw.url}/v1/admin/templates/${id}/stock`, { add, requestId }, ADMIN);

/** MySQL's total (the admin view) and the sum of the sub-stocks in Redis. */
async function totals(id: string, subStocks: number): Promise<{ total: number; redis: number }> {
  const r = await http('GET', `${gw.url}/v1/admin/templates/${id}`, undefined, ADMIN);
  assert.equal(r.status, 200, r.raw.toString());
  let redis = 0;
  for (let k = 0; k < subStocks; k++) redis += Number(await s.redis.get(stockKey(ks(), id, k)));
  return { total: r.json.totalStock, redis };
}

const template = (id: string, totalStock: number, subStocks = 1) =>
  createTemplate(gw.url, { id, name: id, type: 'direct', value: 100, totalStock, perUserLimit: 1, subStocks });

test('top-ups whose request ids differ only in case are two top-ups: never more issued than the total', async () => {
  await template('caseRid', 3);
  for (const rid of ['Up1', 'up1', 'UP1']) assert.equal((await stock('caseRid', 1, rid)).status, 200);
  assert.deepEqual(await totals('caseRid', 1), { total: 6, redis: 6 });
  // Their retries replay, each its own.
  for (const rid of ['Up1', 'up1', 'UP1']) assert.equal((await stock('caseRid', 1, rid)).json.replayed, true);
  assert.deepEqual(await totals('caseRid', 1), { total: 6, redis: 6 });
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) =>
    http('POST', `${gw.url}/v1/claim`, { userId: `u${i}`, templateId: 'caseRid' })));
  assert.equal(answers.filter((a) => a.status === 200).length, 6, 'exactly the total is issued');
});

test('a template id spelt in another case is another (missing) template: nothing changes', async () => {
  await template('caseTpl', 5);
  for (const other of ['CASETPL', 'casetpl', 'CaseTpl']) {
    const r = await stock(other, 10, `r-${other}`);
    assert.equal(r.status, 404, r.raw.toString());
    assert.equal(r.json.error, 'template_not_found');
    assert.equal((await http('GET', `${gw.url}/v1/admin/templates/${other}`, undefined, ADMIN)).status, 404);
  }
  assert.deepEqual(await totals('caseTpl', 1), { total: 5, redis: 5 });
  // Two templates whose ids differ in case are two templates, each with its own stock.
  await template('CaseTpl', 7);
  assert.equal((await stock('CaseTpl', 2, 'r1')).status, 200);
  assert.equal((await stock('caseTpl', -1, 'r1')).status, 200);
  assert.deepEqual([await totals('CaseTpl', 1), await totals('caseTpl', 1)], [{ total: 9, redis: 9 }, { total: 4, redis: 4 }]);
});

test('a top-up and a reduction racing under one request id: the first owns it, the other is refused with nothing applied (100 rounds)', async () => {
  const K = 4;
  await template('race', 1000, K);
  let expected = 1000;
  const outcomes = { up: 0, down: 0 };
  for (let round = 0; round < 100; round++) {
    const rid = `race-${round}`;
    // Which request leaves first alternates, the other 0-4 ms later: a reduction's first step
    // is quicker than a top-up's, so at once the reduction nearly always wins; the head starts
    // let either win while the two still overlap.
    const lag = round % 5;
    const later = (f: () => Promise<HttpResult>) => new Promise<HttpResult>((r) => setTimeout(() => r(f()), lag));
    const [down, up] = round % 2 === 0
      ? await Promise.all([stock('race', -5, rid), later(() => stock('race', 10, rid))])
      : (await Promise.all([stock('race', 10, rid), later(() => stock('race', -5, rid))])).reverse() as [HttpResult, HttpResult];
    const statuses = [down.status, up.status].sort().join(',');
    assert.equal(statuses, '200,409', `round ${round}: ${down.raw} / ${up.raw}`);
    const loser = down.status === 409 ? down : up;
    assert.equal(loser.json.error, 'request_conflict');
    if (up.status === 200) {
      expected += 10;
      outcomes.up++;
    } else {
      expected -= 5;
      outcomes.down++;
    }
    assert.deepEqual(await totals('race', K), { total: expected, redis: expected }, `round ${round}: MySQL and Redis agree`);
    // Retries keep their answers: the owner replays, the other stays refused and changes nothing.
    const [downAgain, upAgain] = await Promise.all([stock('race', -5, rid), stock('race', 10, rid)]);
    assert.deepEqual([downAgain.status, upAgain.status], [down.status, up.status], `round ${round}: retries`);
    assert.deepEqual(await totals('race', K), { total: expected, redis: expected });
  }
  assert.ok(outcomes.up > 0 && outcomes.down > 0, `both sides won some rounds: ${JSON.stringify(outcomes)}`);
});
