/** The overflow path and its retry rules (brief, section 5), on the real Redis. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError } from '../../../core/errors.ts';
import { createRedis, waitReady } from '../../../lua/client.ts';
import { Commands } from '../../../lua/commands.ts';
import * as keys from '../../../lua/keys.ts';
import { claimRig, type ClaimRig } from '../../support/claims.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';

let s: Storage;
let rig: ClaimRig;

before(async () => {
  s = await openStorage(testConfig({ CLAIM_PENDING_WAIT_MS: '3000' }));
  rig = claimRig(s);
});
after(() => s?.close());

/** `n` user ids whose home sub-stock of `templateId` is one of `homes`. */
function usersWithHome(templateId: string, subStocks: number, homes: number[], n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    if (homes.includes(keys.homeSubStock(templateId, `user${i}`, subStocks))) out.push(`user${i}`);
  }
  return out;
}

async function remaining(templateId: string, subStocks: number): Promise<number[]> {
  return Promise.all(Array.from({ length: subStocks }, async (_, k) => Number(await s.redis.get(keys.stockKey(rig.ks, templateId, k)))));
}

async function pendingLeft(): Promise<number> {
  let n = 0;
  for (let p = 0; p < rig.ks.partitions; p++) n += await s.redis.zcard(keys.pendingKey(rig.ks, p));
  return n;
}

test('every user homed on one sub-stock: the others still sell out completely', async () => {
  const t = await rig.template({ totalStock: 40, subStocks: 4 });
  const users = usersWithHome(t.id, 4, [0], 70);
  const answers = await Promise.all(users.map((userId) => rig.service.claim({ userId, templateId: t.id })));
  const issued = answers.filter((a) => a.status === 200);
  assert.equal(issued.length, 40);
  assert.equal(new Set(issued.map((a) => a.body.couponId)).size, 40);
  assert.ok(answers.every((a) => a.status === 200 || a.body.status === 'sold_out'));
  assert.deepEqual(await remaining(t.id, 4), [0, 0, 0, 0]);
  assert.equal(await pendingLeft(), 0);
});

test('uneven homes and a limit of 3: sells out exactly, nobody over the limit', async () => {
  const t = await rig.template({ totalStock: 100, subStocks: 5, perUserLimit: 3 });
  const users = usersWithHome(t.id, 5, [1, 3], 30);
  const jobs = users.flatMap((userId) => Array.from({ length: 6 }, (_, i) => ({ userId, templateId: t.id, requestId: `r${i}` })));
  const answers = await Promise.all(jobs.map((j) => rig.service.claim(j)));
  const perUser = new Map<string, number>();
  for (const a of answers) if (a.status === 200) perUser.set(String(a.body.userId), (perUser.get(String(a.body.userId)) ?? 0) + 1);
  assert.equal([...perUser.values()].reduce((x, y) => x + y, 0), 90, 'every user gets exactly 3 when stock allows');
  assert.ok([...perUser.values()].every((n) => n === 3));
  const more = usersWithHome(t.id, 5, [1, 3], 40).slice(30);
  const late = await Promise.all(more.map((userId) => rig.service.claim({ userId, templateId: t.id })));
  assert.equal(late.filter((a) => a.status === 200).length, 10);
  assert.deepEqual(await remaining(t.id, 5), [0, 0, 0, 0, 0]);
  assert.equal(await pendingLeft(), 0);
});

/** Makes a reservation by hand, as a claim that crashed (or is slow) between home and settle would. */
async function reserve(t: { id: string; subStocks: number }, userId: string, requestId: string) {
  const home = keys.homeSubStock(t.id, userId, t.subStocks);
  const h = keys.subStockPartition(rig.ks, t.id, home);
  const saved = await s.redis.get(keys.stockKey(rig.ks, t.id, home));
  await s.redis.set(keys.stockKey(rig.ks, t.id, home), 0);
  const commands = new Commands(s.redis, rig.ks);
  const claim = { templateId: t.id, userId, requestId, remember: '1', perUserLimit: 1, home, homePartition: h, shardPrefix: '0.0' } as const;
  const [code] = await commands.claimHome(claim);
  assert.equal(code, 4, 'expected RESERVED');
  await s.redis.set(keys.stockKey(rig.ks, t.id, home), saved!);
  const settle = (couponId: string) => commands.claimSettle(claim, couponId);
  return { settle };
}

test('a retry of a pending request waits for the settle and answers with its coupon', async () => {
  const t = await rig.template({ totalStock: 10, subStocks: 2 });
  const r = await reserve(t, 'alice', 'req-1');
  const retry = rig.service.claim({ userId: 'alice', templateId: t.id, requestId: 'req-1' });
  await sleep(100);
  await r.settle('9.9.9.123');
  const answer = await retry;
  assert.equal(answer.status, 200);
  assert.equal(answer.body.couponId, '9.9.9.123');
  assert.equal(answer.body.replayed, true);
});

test('no limit_reached because of a reservation that is then released', async () => {
  const t = await rig.template({ totalStock: 10, subStocks: 2 });
  const r = await reserve(t, 'bob', 'first');
  const second = rig.service.claim({ userId: 'bob', templateId: t.id, requestId: 'second' });
  await sleep(100);
  await r.settle('');
  const answer = await second;
  assert.equal(answer.status, 200, `expected a coupon, got ${JSON.stringify(answer.body)}`);
});

test('a pending reservation that never settles gives a retryable 503, not a guess', async () => {
  const t = await rig.template({ totalStock: 10, subStocks: 2 });
  await reserve(t, 'carol', 'stuck');
  const quick = claimRig(s, { pendingWaitMs: 100 });
  await assert.rejects(quick.service.claim({ userId: 'carol', templateId: t.id, requestId: 'stuck' }),
    (e: unknown) => e instanceof ApiError && e.code === 'unavailable');
});

test('sold out is answered from memory: it works with Redis gone', async () => {
  const own = createRedis(s.cfg.redis, { offlineQueue: false, name: 'sold-out-test' });
  await waitReady(own, 5000);
  const mine = claimRig({ ...s, redis: own });
  const t = await mine.template({ totalStock: 3, subStocks: 3 });
  for (let i = 0; i < 6; i++) await mine.service.claim({ userId: `v${i}`, templateId: t.id });
  own.disconnect();
  for (let i = 0; i < 50; i++) {
    const a = await mine.service.claim({ userId: `w${i}`, templateId: t.id });
    assert.equal(a.status, 410);
  }
  // A replay needs Redis (it may be an earlier coupon): that one is a 503, not a guess.
  await assert.rejects(mine.service.claim({ userId: 'v0', templateId: t.id, requestId: 'r' }),
    (e: unknown) => e instanceof ApiError && e.code === 'unavailable');
});

test('idempotency outranks refusals: an issued request replays after the window closed', async () => {
  const t = await rig.template({ totalStock: 10, claimEnd: Date.now() + 400 });
  const first = await rig.service.claim({ userId: 'dora', templateId: t.id, requestId: 'late-retry' });
  assert.equal(first.status, 200);
  await sleep(450);
  const retry = await rig.service.claim({ userId: 'dora', templateId: t.id, requestId: 'late-retry' });
  assert.deepEqual([retry.status, retry.body.couponId, retry.body.replayed], [200, first.body.couponId, true]);
  const fresh = await rig.service.claim({ userId: 'dora', templateId: t.id, requestId: 'other' });
  assert.deepEqual(fresh.body, { status: 'ended' });
});
