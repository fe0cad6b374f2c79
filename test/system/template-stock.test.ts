// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * POST /v1/admin/templates/:id/stock end to end, through real gateway and sink processes: a
 * top-up re-opens a sold-out template on every gateway, and neither top-ups nor reductions ever
 * let the coupons issued exceed MySQL's total, while claims run. Retries and failures of single
 * steps: template-stock-retry.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RowDataPacket } from 'mysql2/promise';
import { type KeySpace, allStreamKeys, stockKey } from '../../lua/keys.ts';
import { decodeRecords } from '../../lua/record.ts';
import { mainDbName } from '../../core/shards.ts';
import { ADMIN, createTemplate, http, type HttpResult } from '../support/http.ts';
import { couponRows, waitFor, waitForRows } from '../support/sink-fixtures.ts';
import { type GatewayProc, spawnEntry, spawnGateway } from '../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv, drained } from '../../tools/harness/storage.ts';

const env = testEnv();
let s: Storage;
let ks: KeySpace;
let gw: GatewayProc;

before(async () => {
  s = await openStorage(testConfig(env));
  ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  gw = await spawnGateway(env);
});
after(async () => {
  await gw?.stop();
  await s?.close();
});

const stockUrl = (base: string, id: string) => `${base}/v1/admin/templates/${id}/stock`;
const changeStock = (base: string, id: string, body: unknown) => http('POST', stockUrl(base, id), body, ADMIN);

/** total_stock of a template in MySQL (the source of truth). */
async function mysqlTotal(id: string): Promise<number> {
  const [rows] = await s.mysql.main.query<RowDataPacket[]>(
    `SELECT total_stock FROM \`${mainDbName(s.cfg.mysql.dbPrefix)}\`.coupon_template WHERE id = ?`, [id]);
  return Number(rows[0]!.total_stock);
}

/** Sum of the sub-stocks in Redis. */
async function redisRemaining(id: string, subStocks: number): Promise<number> {
  let n = 0;
  for (let k = 0; k < subStocks; k++) n += Number(await s.redis.get(stockKey(ks, id, k)));
  return n;
}

/**
 * Coupons issued for one template, counted from the issuance records in the partition streams
 * (written in the same script step as the stock decrement). Incremental; only valid while no
 * sink trims the streams.
 */
class IssuedCounter {
  private readonly last = new Map<string, string>();
  private n = 0;
  constructor(private readonly templateId: string) {}
  async count(): Promise<number> {
    for (const key of allStreamKeys(ks)) {
      const from = this.last.get(key);
      const entries = await s.redis.xrangeBuffer(key, from ? `(${from}` : '-', '+');
      for (const [id, fields] of entries) {
        this.last.set(key, id.toString());
        for (const r of decodeRecords(fields[1]!)) if (r.templateId === this.templateId) this.n++;
      }
    }
    return this.n;
  }
}

/** Claim workers on one gateway, each with fresh users, until stopped. */
function claimers(base: string, templateId: string, workers: number) {
  const issued = new Set<string>();
  const statuses = new Map<number, number>();
  const firstIssueAfter = (t: number) => issuedAt.find((x) => x >= t);
  const issuedAt: number[] = [];
  let stopped = false;
  let user = 0;
  const run = async () => {
    while (!stopped) {
      const r = await http('POST', `${base}/v1/claim`, { userId: `u${user++}`, templateId });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 200) {
        issued.add(r.json.couponId);
        issuedAt.push(Date.now());
      } else {
        await sleep(2); // sold out is answered from memory: do not spin the shared cores
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, run));
  return {
    issued, statuses, firstIssueAfter,
    soldOutAnswers: () => statuses.get(410) ?? 0,
    stop: async () => { stopped = true; await done; },
  };
}

test('a top-up on another gateway re-opens a sold-out template within a second; exactly the new total is issued', async (ctx) => {
  const gwB = await spawnGateway(env);
  const sink = spawnEntry('sink/main.ts', env);
  let stopClaims = async () => {};
  try {
    const S = 120;
    const N = 80;
    const tpl = await createTemplate(gw.url, { name: 'reopen', type: 'direct', value: 100, totalStock: S, subStocks: 4 });
    const c = claimers(gw.url, tpl.id, 32);
    stopClaims = c.stop;
    await waitFor(async () => c.soldOutAnswers() > 100, 15_000, 'sold_out answers');
    assert.equal(c.issued.size, S, 'sold out before the top-up');

    const sentAt = Date.now();
    const up = await changeStock(gwB.url, tpl.id, { add: N, requestId: 'reopen-1' });
    const answeredAt = Date.now();
    assert.equal(up.status, 200, up.raw.toString());
    assert.equal(up.json.requested, N);
    assert.equal(up.json.added, N);
    assert.equal(up.json.requestId, 'reopen-1');
    assert.equal(up.json.replayed, undefined);
    assert.equal(up.json.template.totalStock, S + N);
    assert.equal(up.json.stock.total, S + N);

    // Gateway A learns of the new version only from the published notice.
    await waitFor(async () => c.firstIssueAfter(sentAt) !== undefined, 5000, 'a claim issued after the top-up');
    const reopenMs = c.firstIssueAfter(sentAt)! - answeredAt;
    ctx.diagnostic(`claims re-opened ${reopenMs} ms after the top-up answered`);
    assert.ok(reopenMs < 1000, `claims re-opened ${reopenMs} ms after the top-up answered`);
    await waitFor(async () => c.issued.size >= S + N, 15_000, 'the top-up to sell out');
    const soldOutAgain = c.soldOutAnswers();
    await waitFor(async () => c.soldOutAnswers() > soldOutAgain + 100, 5000, 'sold_out again');
    await c.stop();
    assert.equal(c.issued.size, S + N, 'issued exactly the new total');
    assert.deepEqual([...c.statuses.keys()].filter((x) => x !== 200 && x !== 410), [], `statuses ${JSON.stringify([...c.statuses])}`);

    // After the sink drained: MySQL holds exactly the issued coupons; nothing leaked.
    const rows = await waitForRows(s, tpl.id, S + N);
    await waitFor(() => drained(s), 20_000, 'the sink to drain');
    assert.equal((await couponRows(s)).filter((r) => r.template_id === tpl.id).length, S + N, 'rows in MySQL');
    assert.deepEqual(new Set(rows.map((r) => r.coupon_id)), c.issued);
    const view = await http('GET', `${gw.url}/v1/admin/templates/${tpl.id}`, undefined, ADMIN);
    assert.deepEqual(view.json.stock, { total: S + N, remaining: 0, issued: S + N });
    assert.equal(await mysqlTotal(tpl.id), S + N);
    assert.equal(await redisRemaining(tpl.id, 4), 0);
  } finally {
    await stopClaims();
    await gwB.stop();
    await sink.stop();
  }
});

test('concurrent top-ups and reductions while claims run: issued <= MySQL total always; issued + remaining = total', async (ctx) => {
  // No sink runs from here on: the streams keep every record, so they count what was issued.
  const S0 = 300;
  const tpl = await createTemplate(gw.url, { name: 'churn', type: 'direct', value: 100, totalStock: S0, subStocks: 4 });
  const counter = new IssuedCounter(tpl.id);
  const c = claimers(gw.url, tpl.id, 16);
  let sampling = true;
  let samples = 0;
  const violations: string[] = [];
  const sampler = (async () => {
    while (sampling) {
      // Issued first, total second: issued only grows, so issued(then) <= issued(now) <= total(now).
      const issued = await counter.count();
      const total = await mysqlTotal(tpl.id);
      if (issued > total) violations.push(`sample ${samples}: issued ${issued} > MySQL total ${total}`);
      samples++;
      await sleep(10);
    }
  })();

  const answers: HttpResult[] = [];
  const operator = async (name: string, adds: number[]) => {
    for (const [i, add] of adds.entries()) {
      answers.push(await changeStock(gw.url, tpl.id, { add, requestId: `${name}-${i}` }));
      await sleep(20 + Math.random() * 60);
    }
  };
  try {
    await Promise.all([
      operator('a', [100, -150, 60, -400, 80, -50, 120, -1000, 200, -30, 90]),
      operator('b', [-20, 150, -1000, 40, -60, 300, -25, 70, -500, 110]),
    ]);
    await sleep(300);
  } finally {
    await c.stop();
    sampling = false;
    await sampler;
  }
  for (const r of answers) assert.equal(r.status, 200, r.raw.toString());
  assert.deepEqual(violations, []);

  const issued = await counter.count();
  const total = await mysqlTotal(tpl.id);
  const remaining = await redisRemaining(tpl.id, 4);
  ctx.diagnostic(`${samples} samples, ${issued} issued, final total ${total}`);
  assert.ok(samples >= 20, `only ${samples} samples`);
  assert.ok(issued <= total, `issued ${issued} > total ${total}`);
  assert.equal(issued + remaining, total, `issued ${issued} + remaining ${remaining} != total ${total}`);
  assert.equal(issued, c.issued.size, 'every issued record was answered issued');
  assert.equal(total, S0 + answers.reduce((sum, r) => sum + r.json.added, 0), 'total = initial + what the answers say was added');
  const [ledger] = await s.mysql.main.query<RowDataPacket[]>(
    `SELECT COALESCE(SUM(delta), 0) AS d, COUNT(*) AS n FROM \`${mainDbName(s.cfg.mysql.dbPrefix)}\`.coupon_stock_change WHERE template_id = ?`, [tpl.id]);
  assert.equal(Number(ledger[0]!.n), 21);
  assert.equal(S0 + Number(ledger[0]!.d), total, 'the change rows explain the total');
  // The big reductions met the issued floor: they took less than asked.
  assert.ok(answers.some((r) => r.json.added > r.json.requested), 'no reduction was cut short at what was issued');
  assert.ok(issued > S0, `claims issued ${issued}: top-ups must have been sold too`);
});

test('a reduction larger than what remains stops at what is issued', async () => {
  const tpl = await createTemplate(gw.url, { name: 'cut', type: 'direct', value: 100, totalStock: 100, subStocks: 4 });
  for (let i = 0; i < 30; i++) {
    const r = await http('POST', `${gw.url}/v1/claim`, { userId: `cut${i}`, templateId: tpl.id });
    assert.equal(r.status, 200);
  }
  // 60 of the 70 left, across several sub-stocks.
  const a = await changeStock(gw.url, tpl.id, { add: -60, requestId: 'cut-1' });
  assert.equal(a.status, 200, a.raw.toString());
  assert.deepEqual([a.json.requested, a.json.added], [-60, -60]);
  assert.deepEqual(a.json.stock, { total: 40, remaining: 10, issued: 30 });

  const b = await changeStock(gw.url, tpl.id, { add: -1000, requestId: 'cut-2' });
  assert.equal(b.status, 200, b.raw.toString());
  assert.deepEqual([b.json.requested, b.json.added], [-1000, -10]);
  assert.deepEqual(b.json.stock, { total: 30, remaining: 0, issued: 30 });
  assert.equal(b.json.template.totalStock, 30);
  assert.equal(await mysqlTotal(tpl.id), 30);
  for (let k = 0; k < 4; k++) assert.equal(await s.redis.get(stockKey(ks, tpl.id, k)), '0', `sub-stock ${k}`);
  const claim = await http('POST', `${gw.url}/v1/claim`, { userId: 'cut-late', templateId: tpl.id });
  assert.equal(claim.status, 410);

  // Nothing left to take: the answer says so, and the total stays at what is issued.
  const c = await changeStock(gw.url, tpl.id, { add: -5 });
  assert.equal(c.status, 200, c.raw.toString());
  assert.equal(c.json.added, 0);
  assert.match(c.json.requestId, /^auto\./);
  assert.equal(await mysqlTotal(tpl.id), 30);
});

test('bad input: each gets its 4xx with a stable code, and changes nothing', async () => {
  const tpl = await createTemplate(gw.url, { name: 'bad', type: 'direct', value: 100, totalStock: 10 });
  const expect = async (r: Promise<HttpResult>, status: number, code: string, message?: RegExp) => {
    const res = await r;
    assert.equal(res.status, status, res.raw.toString());
    assert.equal(res.json?.error, code, res.raw.toString());
    if (message) assert.match(res.json.message, message);
  };
  for (const body of [{}, { add: null }, { add: 0 }, { add: 1.5 }, { add: '5' }, { add: 1e9 + 1 }, { add: -1e9 - 1 }, { add: true }]) {
    await expect(changeStock(gw.url, tpl.id, body), 400, 'bad_request', /^add: /);
  }
  await expect(changeStock(gw.url, tpl.id, { add: 1, stock: 5 }), 400, 'bad_request', /^stock: unknown field/);
  for (const requestId of ['', 'a b', 'x'.repeat(65), 7, 'ü', null]) {
    await expect(changeStock(gw.url, tpl.id, { add: 1, requestId }), 400, 'bad_request', /^requestId: /);
  }
  for (const raw of ['{', '[]', 'null', '5']) await expect(changeStock(gw.url, tpl.id, raw), 400, 'bad_request');
  await expect(changeStock(gw.url, 'no-such-template', { add: 5 }), 404, 'template_not_found');
  await expect(changeStock(gw.url, 'no-such-template', { add: -5 }), 404, 'template_not_found');
  await expect(changeStock(gw.url, 'bad%20id', { add: 5 }), 400, 'bad_request', /^id: /);
  await expect(http('POST', stockUrl(gw.url, tpl.id), { add: 5 }), 401, 'unauthorized');
  await expect(http('POST', stockUrl(gw.url, tpl.id), { add: 5 }, { authorization: 'Bearer wrong-token-123' }), 401, 'unauthorized');
  await expect(http('GET', stockUrl(gw.url, tpl.id), undefined, ADMIN), 405, 'method_not_allowed');
  await expect(changeStock(gw.url, tpl.id, 'add=5'), 400, 'bad_request');

  assert.equal(await mysqlTotal(tpl.id), 10);
  assert.equal(await redisRemaining(tpl.id, 1), 10);
  const [rows] = await s.mysql.main.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n FROM \`${mainDbName(s.cfg.mysql.dbPrefix)}\`.coupon_stock_change WHERE template_id = ?`, [tpl.id]);
  assert.equal(Number(rows[0]!.n), 0);
});
