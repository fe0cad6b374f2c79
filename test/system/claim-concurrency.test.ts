/**
 * The brief's invariants under concurrency, end to end through the real gateway and sink:
 * thousands of claims by fewer users than requests, duplicate clicks and retried request ids,
 * against a stock smaller than demand.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { shardOfCoupon, shardOfUser } from '../../core/shards.ts';
import { allStreamKeys, pendingKey } from '../../lua/keys.ts';
import { ADMIN, createTemplate, http, type HttpResult } from '../support/http.ts';
import { waitForRows } from '../support/sink-fixtures.ts';
import { runPool } from '../support/pool.ts';
import { type GatewayProc, type Proc, spawnEntry, spawnGateway } from '../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

// Default sink batching (100 ms): the listing test below holds the product's own settings.
const env = testEnv({ CLAIM_PENDING_WAIT_MS: '2000' });
let s: Storage;
let gw: GatewayProc;
let sink: Proc;

before(async () => {
  s = await openStorage(testConfig(env));
  gw = await spawnGateway(env);
  sink = spawnEntry('sink/main.ts', env);
});

after(async () => {
  await gw?.stop();
  await sink?.stop();
  await s?.close();
});

interface Sent { userId: string; requestId?: string; res: HttpResult }

test('stock < demand: issued = stock exactly, limits held, replays identical, MySQL = issued', async () => {
  const STOCK = 300;
  const LIMIT = 2;
  const tpl = await createTemplate(gw.url, { name: 'rain', type: 'direct', value: 100, totalStock: STOCK, perUserLimit: LIMIT, subStocks: 4 });
  const users = Array.from({ length: 250 }, (_, i) => `u${i}`);
  const jobs: (() => Promise<Sent>)[] = [];
  for (let i = 0; i < 3000; i++) {
    const userId = users[(i * 7919) % users.length]!;
    // A third retry one of three request ids per user, a third send none, a third a fresh one.
    const requestId = i % 3 === 0 ? `r${userId}-${i % 9}` : i % 3 === 1 ? undefined : `fresh-${i}`;
    const body = { userId, templateId: tpl.id, ...(requestId ? { requestId } : {}) };
    const send = async (): Promise<Sent> => ({ userId, requestId, res: await http('POST', `${gw.url}/v1/claim`, body) });
    jobs.push(send);
    if (i % 10 === 0) jobs.push(send); // a double click: the very same request twice
  }
  const sent = await runPool(jobs.sort(() => Math.random() - 0.5), 200);

  const statuses = new Map<number, number>();
  for (const x of sent) statuses.set(x.res.status, (statuses.get(x.res.status) ?? 0) + 1);
  assert.deepEqual([...statuses.keys()].filter((c) => ![200, 409, 410].includes(c)), [], `statuses ${JSON.stringify([...statuses])}`);

  const issued = new Map<string, string>(); // couponId -> userId
  const byRequest = new Map<string, Set<string>>();
  for (const x of sent) {
    if (x.requestId) {
      const k = `${x.userId}|${x.requestId}`;
      if (!byRequest.has(k)) byRequest.set(k, new Set());
      byRequest.get(k)!.add(x.res.status === 200 ? x.res.json.couponId : `status:${x.res.status}`);
    }
    if (x.res.status !== 200) continue;
    assert.equal(x.res.json.userId, x.userId);
    issued.set(x.res.json.couponId, x.userId);
  }
  assert.equal(issued.size, STOCK, 'distinct coupons issued must equal the stock exactly');

  const perUser = new Map<string, number>();
  for (const u of issued.values()) perUser.set(u, (perUser.get(u) ?? 0) + 1);
  assert.ok(Math.max(...perUser.values()) <= LIMIT, 'a user holds more than the per-user limit');

  for (const [k, answers] of byRequest) {
    const coupons = [...answers].filter((a) => !a.startsWith('status:'));
    assert.ok(coupons.length <= 1, `request ${k} got different coupons: ${[...answers]}`);
    if (coupons.length === 1) assert.equal(answers.size, 1, `request ${k} was issued but also refused: ${[...answers]}`);
  }

  // Stock fully accounted for in Redis, nothing left reserved.
  const view = await http('GET', `${gw.url}/v1/admin/templates/${tpl.id}`, undefined, ADMIN);
  assert.deepEqual(view.json.stock, { total: STOCK, remaining: 0, issued: STOCK });
  const ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  for (let p = 0; p < ks.partitions; p++) assert.equal(await s.redis.zcard(pendingKey(ks, p)), 0);

  // Replays after the sell-out still return the original coupon.
  const replayable = sent.find((x) => x.requestId && x.res.status === 200)!;
  const again = await http('POST', `${gw.url}/v1/claim`, { userId: replayable.userId, templateId: tpl.id, requestId: replayable.requestId });
  assert.equal(again.status, 200);
  assert.equal(again.json.couponId, replayable.res.json.couponId);
  assert.equal(again.json.replayed, true);

  // MySQL ends up with exactly the issued coupons, once each, in the owner's shard.
  const rows = await waitForRows(s, tpl.id, STOCK);
  assert.equal(rows.length, STOCK, `MySQL rows ${rows.length} != issued ${STOCK}`);
  assert.deepEqual(new Set(rows.map((r) => r.coupon_id)), new Set(issued.keys()));
  const layout = { dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables };
  for (const r of rows) {
    assert.equal(r.user_id, issued.get(r.coupon_id));
    assert.deepEqual({ db: r.db, table: r.table }, shardOfUser(layout, r.user_id));
    assert.deepEqual(shardOfCoupon(layout, r.coupon_id), shardOfUser(layout, r.user_id));
  }

  // The listing shows a user's coupons from their shard.
  const [someCoupon, someUser] = [...issued][0]!;
  const list = await http('GET', `${gw.url}/v1/users/${someUser}/coupons`);
  assert.equal(list.status, 200);
  assert.ok(list.json.coupons.some((c: { couponId: string }) => c.couponId === someCoupon));

  // The sink acknowledged everything it wrote.
  for (const key of allStreamKeys(ks)) {
    const pending = (await s.redis.xpending(key, s.cfg.redis.streamGroup)) as [number];
    assert.equal(Number(pending[0]), 0, `${key} still has pending entries`);
  }
});

test('a coupon issued under normal load is listed from MySQL within one second', async () => {
  const tpl = await createTemplate(gw.url, { name: 'quick', type: 'direct', value: 100, totalStock: 10 });
  const claimed = await http('POST', `${gw.url}/v1/claim`, { userId: 'listed-user', templateId: tpl.id });
  assert.equal(claimed.status, 200);
  const issuedAt = Date.now();
  let listed = false;
  while (!listed && Date.now() - issuedAt < 1000) {
    const list = await http('GET', `${gw.url}/v1/users/listed-user/coupons`);
    listed = list.json.coupons.some((c: { couponId: string }) => c.couponId === claimed.json.couponId);
    if (!listed) await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok(listed, 'not listed within one second of the claim');
});
