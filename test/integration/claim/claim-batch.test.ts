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
import { claimRig, type ClaimRig, judgeAfterSink } from '../../support/claims.ts';

let s: Storage;
let rig: ClaimRig;
before(async () => {
  s = await openStorage(testConfig({ CLAIM_PENDING_WAIT_MS: '3000' }));
  rig = claimRig(s);
});
after(() => s?.close());

const req = (body: unknown): Incoming => ({ method: 'post', url: '/v1/claim/batch', query: '', params: [], contentType: 'application/json',
  authorization: '', remoteAddress: '', body: Buffer.from(JSON.stringify(body)) });
const batch = async (body: unknown) => {
  const reply = await claimBatchHandler(rig.service, [])(req(body));
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
