/**
 * Redemption on a real 3-master Redis Cluster (started by `make test`): the user's home
 * partition and the code's partition are two slots, often on two nodes, and each script touches
 * one. Without the cluster this test fails: it never skips.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Cluster } from 'ioredis';
import { loadConfigWith } from '../../../config/index.ts';
import { codeRequestId } from '../../../core/ids.ts';
import * as keys from '../../../lua/keys.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import type { Told } from '../../../tools/verify/oracle.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../../support/claims.ts';
import { codeRig, type CodeRig } from '../../support/codes.ts';

let s: Storage;
let rig: ClaimRig;
let codes: CodeRig;

before(async () => {
  const nodes = loadConfigWith({}).test.clusterNodes;
  assert.ok(nodes.length >= 3, 'TEST_REDIS_CLUSTER_NODES is not set: run through `make test`, which starts the cluster');
  s = await openStorage(testConfig({ REDIS_CLUSTER_NODES: nodes.join(','), CLAIM_PENDING_WAIT_MS: '3000' }));
  rig = claimRig(s);
  codes = codeRig(s, rig.service);
});
after(() => s?.close());

/** The master that owns a key's slot. */
async function ownerOf(key: string): Promise<string> {
  const cluster = s.redis as Cluster;
  const slot = Number(await cluster.cluster('KEYSLOT', key));
  return cluster.slots[slot]![0]!;
}

test('codes redeemed across nodes: each once, a race on one code issues one coupon, the oracle agrees', async () => {
  const t = await rig.template({ totalStock: 100, subStocks: 8, perUserLimit: 1 });
  const { codes: list, numbers } = await codes.codes(t.id, 40);
  const users = list.map((_, i) => `cl-u${i}`);
  // Some redemptions cross nodes: the user's home entry and the code's mark on two masters.
  let crossing = 0;
  for (let i = 0; i < list.length; i++) {
    const home = keys.homeSubStock(t.id, users[i]!, 8);
    const homeOwner = await ownerOf(keys.usersKey(rig.ks, keys.subStockPartition(rig.ks, t.id, home), t.id));
    if (homeOwner !== await ownerOf(keys.codeMarksKey(rig.ks, t.id, numbers[i]! % 8))) crossing++;
  }
  assert.ok(crossing > 0, 'no redemption crossed nodes');

  const answers = await Promise.all(list.map((code, i) => codes.redeem({ userId: users[i], code })));
  assert.deepEqual(answers.map((a) => a.status), list.map(() => 200));
  // 20 more users race for the first code: it is used.
  const race = await Promise.all(Array.from({ length: 20 }, (_, i) => codes.redeem({ userId: `cl-racer${i}`, code: list[0] })));
  assert.ok(race.every((a) => a.status === 409 && a.body.status === 'code_used'));

  const told: Told[] = answers.map((a, i) => ({ templateId: t.id, userId: users[i]!, requestId: codeRequestId(numbers[i]!),
    couponId: a.body.couponId, replayed: false, toldUserId: a.body.userId, toldTemplateId: a.body.templateId, at: Date.now() }));
  const verdict = await judgeAfterSink(s, rig.ks, [t], { told });
  assert.deepEqual(verdict.violations, []);
  assert.equal(verdict.templates[0]!.rows, 40);
  assert.equal(verdict.templates[0]!.issued, 40);
});

test('codes whose sub-stocks are empty redeem from another node: each once, a race on one issues one coupon, the oracle agrees', async () => {
  const t = await rig.template({ totalStock: 30, subStocks: 6, perUserLimit: 1 });
  // All the stock in sub-stock 0: the codes of the 5 others hold themselves and take across slots.
  for (let j = 0; j < 6; j++) await s.redis.set(keys.stockKey(rig.ks, t.id, j), j === 0 ? 30 : 0);
  const { codes: list, numbers } = await codes.codes(t.id, 24);
  let crossing = 0;
  for (const n of numbers) {
    if (await ownerOf(keys.codeMarksKey(rig.ks, t.id, n % 6)) !== await ownerOf(keys.stockKey(rig.ks, t.id, 0))) crossing++;
  }
  assert.ok(crossing > 0, 'no code took its coupon on another node');
  const users = list.map((_, i) => `cle-u${i}`);
  // 20 racers on the first code beside its user: one coupon for that code.
  const [answers, race] = await Promise.all([
    Promise.all(list.map((code, i) => codes.redeem({ userId: users[i], code }))),
    Promise.all(Array.from({ length: 20 }, (_, i) => codes.redeem({ userId: `cle-racer${i}`, code: list[0] }))),
  ]);
  const winners = [...answers, ...race].filter((a, i) => a.status === 200 && (i === 0 || i >= list.length));
  assert.equal(winners.length, 1, 'the first code redeemed once');
  assert.ok(race.every((a) => a.status === 200 || a.status === 503 || a.body.status === 'code_used'));
  assert.ok(answers.slice(1).every((a) => a.status === 200), JSON.stringify(answers.filter((a) => a.status !== 200).map((a) => a.body)));
  for (let i = 0; i < list.length; i++) {
    const w = i === 0 ? winners[0]! : answers[i]!;
    assert.equal(await s.redis.hget(keys.codeMarksKey(rig.ks, t.id, numbers[i]! % 6), String(numbers[i])), `${w.body.userId}|${w.body.couponId}`);
  }
  const told: Told[] = [winners[0]!, ...answers.slice(1)].map((a) => ({ templateId: t.id, userId: a.body.userId,
    requestId: codeRequestId(numbers[a === winners[0] ? 0 : answers.indexOf(a)]!), couponId: a.body.couponId, replayed: false,
    toldUserId: a.body.userId, toldTemplateId: a.body.templateId, at: Date.now() }));
  const verdict = await judgeAfterSink(s, rig.ks, [t], { told });
  assert.deepEqual(verdict.violations, []);
  assert.equal(verdict.templates[0]!.rows, 24);
  assert.equal(verdict.templates[0]!.issued, 24);
});
