// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * Red packets over HTTP, on a real gateway process, sink, Redis and MariaDB: the admin API takes
 * and shows the budget, refuses bad budgets with stable codes and stock changes with 409
 * stock_fixed; a claim answers the packet's amount (JSON and msgpack), a replay the same one,
 * the listing shows it from MySQL; the last packet leaves the budget spent exactly.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pack, unpack } from 'msgpackr';
import { drained, testEnv } from '../../tools/harness/storage.ts';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { type Stack, openStack } from '../support/stack.ts';

const env = testEnv({ SINK_BATCH_MAX_WAIT_MS: '20' });
let stack: Stack;
before(async () => {
  stack = await openStack(env);
});
after(() => stack?.close());

const url = () => stack.gw.url;
const create = (body: Record<string, unknown>) => http('POST', `${url()}/v1/admin/templates`, { name: 'packets', ...body }, ADMIN);

test('bad budgets are 400s with stable codes; a red packet\'s stock is fixed (409 stock_fixed)', async () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ type: 'red_packet', totalStock: 10 }, 'bad_request', /^budget: is required/],
    [{ type: 'red_packet', totalStock: 10, budget: -100 }, 'bad_request', /^budget: must be between/],
    [{ type: 'red_packet', totalStock: 10, budget: 100.5 }, 'bad_request', /^budget: must be an integer/],
    [{ type: 'red_packet', totalStock: 10, budget: 100, value: 10 }, 'bad_request', /^value: is not allowed for type red_packet/],
    [{ type: 'red_packet', totalStock: 10, budget: 99, minAmount: 10 }, 'budget_too_small', /^budget: 99 is less than totalStock × minAmount/],
    [{ type: 'direct', value: 100, totalStock: 10, budget: 100 }, 'bad_request', /^budget: is only allowed for type red_packet/],
  ];
  for (const [body, code, message] of cases) {
    const r = await create(body);
    assert.deepEqual([r.status, r.json?.error], [400, code], `${JSON.stringify(body)}: ${r.raw}`);
    assert.match(r.json.message, message);
  }
  const t = await createTemplate(url(), { name: 'fixed', type: 'red_packet', totalStock: 10, budget: 100, minAmount: 10 });
  for (const add of [5, -5]) {
    const r = await http('POST', `${url()}/v1/admin/templates/${t.id}/stock`, { add, requestId: `s${add}` }, ADMIN);
    assert.deepEqual([r.status, r.json?.error], [409, 'stock_fixed'], r.raw.toString());
  }
});

test('claims answer amounts (JSON and msgpack), replays the same, the listing shows them; the budget is spent exactly', async () => {
  const t = await createTemplate(url(), { name: 'rain', type: 'red_packet', totalStock: 30, budget: 3_001, minAmount: 7, subStocks: 3 });
  assert.deepEqual([t.type, t.budget, t.minAmount, t.value], ['red_packet', 3_001, 7, 0]);
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => i % 2 === 0
    ? http('POST', `${url()}/v1/claim`, { userId: `hu${i}`, templateId: t.id, requestId: `r${i}` })
    : http('POST', `${url()}/v1/claim`, pack({ userId: `hu${i}`, templateId: t.id, requestId: `r${i}` }),
      { 'content-type': 'application/msgpack' }).then((r) => ({ ...r, json: unpack(r.raw) }))));
  const issued = answers.filter((a) => a.status === 200).map((a) => a.json);
  assert.equal(issued.length, 30);
  assert.equal(answers.filter((a) => a.status === 410).length, 10);
  for (const a of issued) assert.ok(Number.isInteger(a.amount) && a.amount >= 7, JSON.stringify(a));
  assert.equal(issued.reduce((n, a) => n + a.amount, 0), 3_001);

  const first = issued[0]!;
  const replay = await http('POST', `${url()}/v1/claim`, { userId: first.userId, templateId: t.id, requestId: `r${first.userId.slice(2)}` });
  assert.deepEqual([replay.json.couponId, replay.json.amount, replay.json.replayed], [first.couponId, first.amount, true]);

  const view = await http('GET', `${url()}/v1/admin/templates/${t.id}`, undefined, ADMIN);
  assert.deepEqual(view.json.stock, { total: 30, remaining: 0, issued: 30, budgetLeft: 0 });
  await waitFor(() => drained(stack.s), 10_000, 'the sink stored the packets');
  const listed = await http('GET', `${url()}/v1/users/${first.userId}/coupons`);
  assert.deepEqual(listed.json.coupons.map((c: any) => [c.couponId, c.type, c.amount]), [[first.couponId, 'red_packet', first.amount]]);
});
