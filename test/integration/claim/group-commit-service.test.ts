/**
 * Group commit through the claim service, as the gateway runs it: claims of one turn share
 * calls; every invariant holds per claim (checked by the oracle after the sink stored the
 * rows); a group whose call times out answers each of its claims 503, and retries never issue
 * a second coupon.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiError } from '../../../core/errors.ts';
import * as keys from '../../../lua/keys.ts';
import { decodeRecords } from '../../../lua/record.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import type { Told } from '../../../tools/verify/oracle.ts';
import type { Template } from '../../../templates/model.ts';
import type { ClaimAnswer, ClaimInput } from '../../../gateway/claim/answer.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../../support/claims.ts';
import { waitFor } from '../../support/sink-fixtures.ts';
import { type ProxiedRedis, redisBehindProxy } from '../../support/redis-proxy.ts';

let s: Storage;
let rig: ClaimRig;
let hung: ProxiedRedis;

before(async () => {
  s = await openStorage(testConfig({ CLAIM_PENDING_WAIT_MS: '3000', REDIS_COMMAND_TIMEOUT_MS: '200' }));
  rig = claimRig(s);
  hung = await redisBehindProxy(s, 'hung');
});
after(async () => {
  await hung?.close();
  await s?.close();
});

type Attempt = { input: ClaimInput; answer?: ClaimAnswer; error?: unknown; at: number };

async function attempt(r: ClaimRig, input: ClaimInput): Promise<Attempt> {
  try {
    return { input, answer: await r.service.claim(input), at: Date.now() };
  } catch (error) {
    return { input, error, at: Date.now() };
  }
}

const told = (a: Attempt): Told[] => a.answer?.status !== 200 ? [] : [{
  templateId: a.input.templateId, userId: a.input.userId, requestId: a.input.requestId,
  couponId: String(a.answer.body.couponId), replayed: a.answer.body.replayed === true,
  toldUserId: String(a.answer.body.userId), toldTemplateId: String(a.answer.body.templateId), at: a.at,
}];

/** Lets the sink store every record, then judges the template's rows against what clients were told. */
async function verdict(t: Template, attempts: readonly Attempt[]) {
  const key = (i: ClaimInput) => `${i.templateId}|${i.userId}|${i.requestId}`;
  const withRid = attempts.filter((a) => a.input.requestId !== undefined);
  return judgeAfterSink(s, rig.ks, [t], {
    told: attempts.flatMap(told),
    requests: {
      sent: new Set(withRid.map((a) => key(a.input))),
      refused: new Set(withRid.filter((a) => a.answer && a.answer.status !== 200).map((a) => key(a.input))),
      unknown: new Set(withRid.filter((a) => a.error !== undefined).map((a) => key(a.input))),
    },
    uncertain: attempts.filter((a) => a.error !== undefined && a.input.requestId === undefined).length,
  });
}

test('claims of one turn share calls; limits, replays, pending and overflow hold per claim', async () => {
  const t = await rig.template({ totalStock: 60, subStocks: 2, perUserLimit: 2 });
  const inputs: ClaimInput[] = [];
  for (let i = 0; i < 500; i++) {
    const userId = `u${i % 80}`;
    // most carry a request id from a small set per user: repeats are replays or limit refusals.
    inputs.push({ userId, templateId: t.id, requestId: i % 5 === 0 ? undefined : `r${(i * 7) % 4}` });
  }
  const before = { calls: rig.service.groups.calls, claims: rig.service.groups.claims };
  const attempts = await Promise.all(inputs.map((input) => attempt(rig, input)));
  const calls = rig.service.groups.calls - before.calls;
  const claims = rig.service.groups.claims - before.claims;
  assert.ok(calls * 10 <= claims, `claims of one turn were grouped: ${claims} claims in ${calls} calls`);
  assert.deepEqual(attempts.filter((a) => a.error !== undefined).map((a) => String(a.error)), []);
  const statuses = new Map<number, number>();
  for (const a of attempts) statuses.set(a.answer!.status, (statuses.get(a.answer!.status) ?? 0) + 1);
  assert.ok((statuses.get(200) ?? 0) >= 60, `every coupon of the stock went out: ${JSON.stringify([...statuses])}`);
  const v = await verdict(t, attempts);
  assert.deepEqual(v.violations, []);
  assert.equal(v.templates[0]!.rows, 60);
  assert.ok(v.replays > 0, 'some retries were replays');
});

test('a group whose call times out: each claim 503, the script may still run, retries issue nothing twice', async () => {
  const t = await rig.template({ totalStock: 1000, subStocks: 2, perUserLimit: 1 });
  const hungRig = claimRig({ ...s, redis: hung.client }, { pendingWaitMs: 3000 });
  // the template is cached before the hang: the claims reach the group call.
  const warm = await attempt(hungRig, { userId: 'warm', templateId: t.id, requestId: 'w' });
  assert.equal(warm.answer?.status, 200);
  const inputs: ClaimInput[] = Array.from({ length: 40 }, (_, i) => ({ userId: `h${i}`, templateId: t.id, requestId: `r${i}` }));
  hung.proxy.setHung(true);
  const first = await Promise.all(inputs.map((input) => attempt(hungRig, input)));
  for (const a of first) assert.ok(a.error instanceof ApiError && a.error.code === 'unavailable', `503, got ${String(a.error)}`);
  // released: the held calls reach Redis and run, after their clients were told 503.
  hung.proxy.setHung(false);
  const h = (k: number) => keys.subStockPartition(rig.ks, t.id, k);
  await waitFor(async () => {
    let records = 0;
    for (const k of [0, 1]) {
      for (const [, f] of await s.redis.xrangeBuffer(keys.streamKey(rig.ks, h(k)), '-', '+')) {
        records += decodeRecords(f[1]!).filter((r) => r.templateId === t.id).length;
      }
    }
    return records >= 41;
  }, 5000, 'the timed-out groups to run in Redis');
  // the breaker may be open for a cool-down: retry until every request has a definite answer.
  const retries: Attempt[] = [];
  for (const input of inputs) {
    for (let n = 0; ; n++) {
      const a = await attempt(rig, input);
      retries.push(a);
      if (a.answer) {
        assert.equal(a.answer.status, 200);
        assert.equal(a.answer.body.replayed, true, 'the timed-out call ran: the retry replays its coupon');
        break;
      }
      assert.ok(n < 50, `no answer for ${input.requestId}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const v = await verdict(t, [warm, ...first, ...retries]);
  assert.deepEqual(v.violations, []);
  assert.equal(v.templates[0]!.rows, 41);
});

test('a double click across a pause: the retry refused from memory waits for the first click still gathering, then replays it', async () => {
  const t = await rig.template({ totalStock: 100, subStocks: 1, perUserLimit: 1 });
  const slow = claimRig({ ...s, redis: hung.client }, { pendingWaitMs: 3000 });
  assert.equal((await slow.service.claim({ userId: 'warm2', templateId: t.id })).status, 200);
  hung.proxy.setHung(true);
  // another user's claim holds the sub-stock's one call in flight ...
  const first = attempt(slow, { userId: 'other', templateId: t.id, requestId: 'o1' });
  await new Promise((r) => setImmediate(r));
  // ... so the first click gathers behind it, in this process; then the template is paused and
  // the second click of the same request is refused from memory: it must not overtake the first.
  const click1 = attempt(slow, { userId: 'dbl', templateId: t.id, requestId: 'r1' });
  const cached = slow.cache.peek(t.id)!;
  slow.cache.put({ ...cached.template, status: 'paused', version: cached.template.version + 1 });
  const click2 = attempt(slow, { userId: 'dbl', templateId: t.id, requestId: 'r1' });
  await new Promise((r) => setTimeout(r, 50));
  hung.proxy.setHung(false);
  const [a, b, c] = await Promise.all([first, click1, click2]);
  assert.equal(a.answer?.status, 200);
  assert.equal(b.answer?.status, 200, `first click: ${JSON.stringify(b.answer ?? String(b.error))}`);
  assert.deepEqual([c.answer?.status, c.answer?.body.couponId, c.answer?.body.replayed], [200, b.answer!.body.couponId, true],
    `the second click got ${JSON.stringify(c.answer ?? String(c.error))} while the first was issued`);
});
