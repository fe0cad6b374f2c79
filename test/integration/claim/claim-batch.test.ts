/**
 * POST /v1/claim/batch's handler on the real Redis and MariaDB: each template decided as a
 * single claim would be, in the order asked; a retry replays every coupon; bad bodies get
 * clear errors; batches racing single claims of the same user never pass a limit.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { claimBatchHandler } from '../../../gateway/routes/claim-batch.ts';
import type { Incoming } from '../../../gateway/http/route.ts';
import { subStockPartition } from '../../../lua/keys.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import type { Told } from '../../../tools/verify/oracle.ts';
import { type ProxiedRedis, redisBehindProxy } from '../../support/redis-proxy.ts';
import { waitReady } from '../../../lua/client.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../../support/claims.ts';

let s: Storage;
let rig: ClaimRig;
let cut: ProxiedRedis;
before(async () => {
  s = await openStorage(testConfig({ CLAIM_PENDING_WAIT_MS: '3000' }));
  rig = claimRig(s);
  cut = await redisBehindProxy(s, 'batch-cut');
});
after(async () => {
  await cut?.close();
  await s?.close();
});

const req = (body: unknown): Incoming => ({ method: 'post', url: '/v1/claim/batch', query: '', params: [], contentType: 'application/json',
  authorization: '', remoteAddress: '', body: Buffer.from(JSON.stringify(body)) });
const batch = async (body: unknown, r = rig) => {
  const reply = await claimBatchHandler(r.service, [])(req(body));
  return { status: reply.status, body: reply.body as any };
};

test('each template is decided on its own, in the order asked; a retry replays every coupon', async () => {
  const open = await rig.template({ totalStock: 10, perUserLimit: 1 });
  const gone = await rig.template({ totalStock: 1, perUserLimit: 1 });
  const paused = await rig.template({ totalStock: 10, status: 'paused' });
  assert.equal((await rig.service.claim({ userId: 'other', templateId: gone.id })).status, 200);
  const ids = [open.id, 'no-such-template', gone.id, paused.id];
  const first = await batch({ userId: 'u1', templateIds: ids, requestId: 'b1' });
  assert.equal(first.status, 200);
  assert.deepEqual(first.body.results.map((r: any) => [r.templateId, r.status]),
    [[open.id, 'issued'], ['no-such-template', 'template_not_found'], [gone.id, 'sold_out'], [paused.id, 'paused']]);
  const again = await batch({ userId: 'u1', templateIds: ids, requestId: 'b1' });
  assert.deepEqual(again.body.results[0], { ...first.body.results[0], replayed: true });
  const fresh = await batch({ userId: 'u1', templateIds: [open.id], requestId: 'b2' });
  assert.equal(fresh.body.results[0].status, 'limit_reached');
});

test("a batch's claims whose home sub-stocks share a partition go in one script call", async () => {
  const ts = await Promise.all(Array.from({ length: 12 }, () => rig.template({ totalStock: 10, perUserLimit: 1, subStocks: 1 })));
  // a warm cache, as for a live campaign: every claim of the batch reaches its group in one turn.
  for (const t of ts) assert.equal((await rig.service.claim({ userId: 'warm', templateId: t.id })).status, 200);
  const partitions = new Set(ts.map((t) => subStockPartition(rig.ks, t.id, 0)));
  assert.ok(partitions.size < ts.length, 'some templates meet in a partition (12 templates, fewer partitions)');
  const { calls, claims } = rig.service.groups;
  const r = await batch({ userId: 'u-seg', templateIds: ts.map((t) => t.id), requestId: 'seg' });
  assert.deepEqual(r.body.results.map((x: any) => x.status), ts.map(() => 'issued'));
  assert.equal(rig.service.groups.claims - claims, ts.length);
  assert.equal(rig.service.groups.calls - calls, partitions.size, 'one call per partition');
});

test('bad batch bodies get clear errors', async () => {
  const cases: [unknown, RegExp][] = [
    [{ userId: 'u', templateIds: [] }, /templateIds: required, a list of 1-20/],
    [{ userId: 'u', templateIds: Array.from({ length: 21 }, (_, i) => `t${i}`) }, /1-20/],
    [{ userId: 'u', templateIds: ['a', 'a'] }, /each template at most once/],
    [{ userId: 'u', templateIds: ['a', 'b c'] }, /templateIds\[1\]/],
    [{ userId: 'u', templateIds: ['a'], extra: 1 }, /extra: unknown field/],
    [{ templateIds: ['a'] }, /userId: required/],
    [{ userId: 'u', templateIds: 'a' }, /templateIds: required/],
    [[1, 2], /./],
  ];
  for (const [body, message] of cases) {
    const r = await batch(body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(String(r.body.message ?? r.body.error), message, JSON.stringify(body));
  }
  assert.equal((await batch({ userId: 'u', templateIds: ['A', 'a'] })).status, 200, 'case pairs are two templates');
});

test('batches racing single claims of the same users: limits and stock hold, every coupon stored once', async () => {
  const ts = await Promise.all([1, 2, 3].map(() => rig.template({ totalStock: 40, perUserLimit: 2, subStocks: 2 })));
  const told: Told[] = [];
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < 300; i++) {
    const userId = `r${i % 30}`;
    const requestId = `q${i % 4}`;
    const note = (templateId: string, a: { status: string; couponId?: string; replayed?: boolean }) => {
      if (a.status === 'issued') told.push({ templateId, userId, requestId, couponId: a.couponId!, replayed: a.replayed === true,
        toldUserId: userId, toldTemplateId: templateId, at: Date.now() });
    };
    if (i % 2 === 0) {
      jobs.push(batch({ userId, templateIds: ts.map((t) => t.id), requestId }).then((r) => {
        for (const x of r.body.results) note(x.templateId, x);
      }));
    } else {
      const t = ts[i % 3]!;
      jobs.push(rig.service.claim({ userId, templateId: t.id, requestId }).then((a) => note(t.id, a.body as any)));
    }
  }
  await Promise.all(jobs);
  const v = await judgeAfterSink(s, rig.ks, ts, { told, uncertain: 0 });
  assert.deepEqual(v.violations, []);
  for (const t of v.templates) assert.equal(t.rows, 40, `${t.id}: 30 users x 2 > 40 coupons, all issued`);
  assert.ok(v.replays > 0);
});

test('one batch sent many times at once while homes run empty and a limit is raised mid-turn: one coupon per template and request', async () => {
  const ts = await Promise.all([1, 2, 3, 4].map(() => rig.template({ totalStock: 12, perUserLimit: 1, subStocks: 2 })));
  const told: Told[] = [];
  for (const t of ts) {
    const a = await rig.service.claim({ userId: 'warm', templateId: t.id, requestId: 'w' });
    told.push({ templateId: t.id, userId: 'warm', requestId: 'w', couponId: String(a.body.couponId), replayed: false, toldUserId: 'warm',
      toldTemplateId: t.id, at: Date.now() });
  }
  const users = Array.from({ length: 8 }, (_, i) => `bb${i}`);
  const sent: { userId: string; requestId: string; reply: Promise<{ status: number; body: any }> }[] = [];
  const send = (userId: string, requestId: string) => sent.push({ userId, requestId, reply: batch({ userId, templateIds: ts.map((t) => t.id), requestId }) });
  // four copies of each user's batch, then the limit raised to 2 in this process's cache (a
  // new version: its claims meet the old version's in one call, as segments of their own),
  // then four more copies and a second request of each user.
  for (const u of users) for (let n = 0; n < 4; n++) send(u, 'same');
  for (const t of ts) {
    const cached = rig.cache.peek(t.id)!;
    rig.cache.put({ ...cached.template, perUserLimit: 2, version: cached.template.version + 1 });
  }
  for (const u of users) {
    for (let n = 0; n < 4; n++) send(u, 'same');
    send(u, 'other');
  }
  let unknown = 0;
  const coupons = new Map<string, string>();
  for (const x of sent) {
    const r = await x.reply;
    assert.equal(r.status, 200);
    for (const res of r.body.results) {
      if (res.status === 'unavailable') unknown++;
      if (res.status !== 'issued') continue;
      const k = `${res.templateId}|${x.userId}|${x.requestId}`;
      assert.equal(coupons.get(k) ?? res.couponId, res.couponId, `${k}: two coupons for one request`);
      coupons.set(k, res.couponId);
      told.push({ templateId: res.templateId, userId: x.userId, requestId: x.requestId, couponId: res.couponId, replayed: res.replayed === true,
        toldUserId: x.userId, toldTemplateId: res.templateId, at: Date.now() });
    }
  }
  const v = await judgeAfterSink(s, rig.ks, ts.map((t) => ({ ...t, perUserLimit: 2 })), { told, uncertain: unknown });
  assert.deepEqual(v.violations, []);
  for (const t of v.templates) assert.equal(t.rows, 12, `${t.id}: 8 users x 2 requests > 11 left, all issued`);
});

test("a batch whose calls' replies are lost: every template unavailable, the retry replays each coupon the calls issued", async () => {
  const ts = await Promise.all(Array.from({ length: 10 }, () => rig.template({ totalStock: 5, perUserLimit: 1, subStocks: 1 })));
  const viaCut = claimRig({ ...s, redis: cut.client });
  for (const t of ts) assert.equal((await viaCut.service.claim({ userId: 'warm', templateId: t.id })).status, 200);
  cut.proxy.armCut();
  const lost = await batch({ userId: 'lost', templateIds: ts.map((t) => t.id), requestId: 'L' }, viaCut);
  assert.deepEqual(lost.body.results.map((x: any) => x.status), ts.map(() => 'unavailable'));
  await waitReady(cut.client, 5000);
  // the calls ran or not, each as a whole: the retry (another gateway) replays or issues, never twice.
  const retry = await batch({ userId: 'lost', templateIds: ts.map((t) => t.id), requestId: 'L' });
  assert.deepEqual(retry.body.results.map((x: any) => x.status), ts.map(() => 'issued'));
  const told: Told[] = retry.body.results.map((x: any) => ({ templateId: x.templateId, userId: 'lost', requestId: 'L', couponId: x.couponId,
    replayed: x.replayed === true, toldUserId: 'lost', toldTemplateId: x.templateId, at: Date.now() }));
  const v = await judgeAfterSink(s, rig.ks, ts, { told, uncertain: ts.length });
  assert.deepEqual(v.violations, []);
  assert.deepEqual(v.templates.map((x) => x.rows), ts.map(() => 2));
});
