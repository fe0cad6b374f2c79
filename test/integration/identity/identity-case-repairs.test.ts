/**
 * The identity rule through the repairs' MySQL lookups (issue 9, item 2): ids that differ only
 * in case are different users, requests and templates for the reconciler (reservations, the
 * restart repair, the counts, the dead letters), the rebuild, and the sink's check of a coupon
 * id stored for another claim. The gateway's reads and writes: identity-case-pairs.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pack } from 'msgpackr';
import { rebuildDeps, rebuildTemplate } from '../../../templates/rebuild/rebuild.ts';
import type { Template } from '../../../templates/model.ts';
import { changeStock } from '../../../templates/stock.ts';
import { ScriptCode } from '../../../lua/codes.ts';
import { deadKey, pendingKey, reconcileRunKey, stockKey, streamKey, subStockPartition, templateKey, usersKey } from '../../../lua/keys.ts';
import { Commands } from '../../../lua/commands.ts';
import { createLog } from '../../../sink/log.ts';
import { reconcileCtx } from '../../../reconcile/context.ts';
import { reconcileOnce } from '../../../reconcile/reconcile.ts';
import { couponIdPrefix, shardDbName, shardTableName } from '../../../core/shards.ts';
import { startSink } from '../../../sink/sink.ts';
import { claimRig, type ClaimRig } from '../../support/claims.ts';
import { couponRows, keySpace, layout, waitFor } from '../../support/sink-fixtures.ts';
import { openStorage, type Storage, testConfig, drained } from '../../../tools/harness/storage.ts';
import { userScripts } from '../../support/user-scripts.ts';

// One shard table: every pair of users shares it, so only the collation can keep their rows apart.
const cfg = testConfig({ SHARD_DBS: '1', SHARD_TABLES: '1', SINK_BATCH_MAX_WAIT_MS: '20' });
const TABLE = `\`${shardDbName(cfg.mysql.dbPrefix, 0)}\`.\`${shardTableName(0)}\``;
let s: Storage;
let rig: ClaimRig;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  s = await openStorage(cfg);
  rig = claimRig(s);
  const sink = await startSink(cfg, { log: createLog(() => undefined) });
  cleanup.push(() => sink.stop());
});
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await s?.close();
});

const ks = () => keySpace(cfg);
const pass = () => reconcileOnce(reconcileCtx(cfg, s.redis, s.mysql));
const scripts = (t: Template, userId: string) => userScripts(s.redis, ks(), layout(cfg), t, userId);
const stored = () => waitFor(() => drained(s), 10_000, 'the sink stored every record');

/** Claims in process; returns the coupon id, asserting it was issued (not replayed). */
async function issue(t: Template, userId: string, requestId: string): Promise<string> {
  const a = await rig.service.claim({ userId, templateId: t.id, requestId });
  assert.deepEqual([a.status, a.body.replayed], [200, undefined], `${userId}/${requestId} on ${t.id}: ${JSON.stringify(a.body)}`);
  return String(a.body.couponId);
}

/** A retry of (userId, requestId) replays `couponId`, and a new request is refused at the limit. */
async function holdsOnly(t: Template, userId: string, requestId: string, couponId: string): Promise<void> {
  const again = await rig.service.claim({ userId, templateId: t.id, requestId });
  assert.deepEqual([again.body.couponId, again.body.replayed], [couponId, true], `${userId}/${requestId} on ${t.id} replays`);
  assert.equal((await rig.service.claim({ userId, templateId: t.id, requestId: `${requestId}-new` })).body.status, 'limit_reached',
    `${userId} on ${t.id} is at the limit`);
}

test('reservations of a dead gateway: a coupon of RESV1/R1 does not confirm resv1/r1, nor one of R2 the same user\'s r2', async () => {
  const t = await rig.template({ totalStock: 10, subStocks: 2, perUserLimit: 2 });
  const upper = await issue(t, 'RESV1', 'R1');
  const sameUser = await issue(t, 'resv2', 'R2');
  await stored();
  const a = scripts(t, 'resv1');
  const b = scripts(t, 'resv2');
  for (const x of [a, b]) await s.redis.set(stockKey(ks(), t.id, x.home), 0);
  assert.equal((await a.claimHome('r1'))[0], ScriptCode.Reserved);
  assert.equal((await b.claimHome('r2'))[0], ScriptCode.Reserved);
  // The gateway died before taking a coupon; backdating its reservations makes them stale now.
  for (const [x, member] of [[a, `${t.id}|resv1|r1`], [b, `${t.id}|resv2|r2`]] as const) {
    assert.equal(await s.redis.zadd(pendingKey(ks(), x.homePartition), 'XX', 'CH', 0, member), 1);
  }

  const r = await pass();
  assert.equal(r.stalled, undefined);
  assert.deepEqual([r.reservations.found, r.reservations.confirmed, r.reservations.released], [2, 0, 2]);
  assert.deepEqual(await a.users(), {}, "resv1's slot released");
  assert.deepEqual(await b.users(), { resv2: '1', 'resv2|R2': sameUser }, "resv2 keeps R2's coupon only");
  assert.deepEqual(await scripts(t, 'RESV1').users(), { RESV1: '1', 'RESV1|R1': upper });
  assert.deepEqual([await a.pending(), await b.pending()], [[], []]);
});

test('after a Redis restart: users rst1 and RST1 are each raised to their own coupon, not one to both', async () => {
  const t = await rig.template({ totalStock: 10, subStocks: 2, perUserLimit: 1 });
  const coupons = { rst1: await issue(t, 'rst1', 'q1'), RST1: await issue(t, 'RST1', 'Q1') };
  await stored();
  // As if Redis came back from an AOF written before those claims: the users hashes forget them
  // (the stock side of that loss is the counts step's, reconcile.test.ts).
  for (const [u, rid] of [['rst1', 'q1'], ['RST1', 'Q1']] as const) {
    const x = scripts(t, u);
    await s.redis.hdel(usersKey(ks(), x.homePartition, t.id), u, `${u}|${rid}`);
    assert.deepEqual(await x.users(), {});
  }
  await s.redis.set(reconcileRunKey(ks()), 'a-run-before-the-crash');

  const r = await pass();
  assert.equal(r.restarted, true);
  assert.deepEqual(await scripts(t, 'rst1').users(), { rst1: '1', 'rst1|q1': coupons.rst1 });
  assert.deepEqual(await scripts(t, 'RST1').users(), { RST1: '1', 'RST1|Q1': coupons.RST1 });
  await holdsOnly(t, 'rst1', 'q1', coupons.rst1);
  await holdsOnly(t, 'RST1', 'Q1', coupons.RST1);
});

test('the rebuild of Reb: its users rb1 and RB1 get their own counts and answers, and none of reb\'s users or stock changes', async () => {
  const deps = rebuildDeps(cfg, s.redis, s.mysql, { drainTimeoutMs: 5000, progress: () => undefined });
  const upper = await rig.template({ id: 'Reb', totalStock: 10, subStocks: 2, perUserLimit: 1 });
  for (const other of ['reb', 'REB']) {
    assert.deepEqual(await rebuildTemplate(deps, other), { id: other, outcome: 'failed', message: 'no such template in MySQL' });
  }
  const lower = await rig.template({ id: 'reb', totalStock: 10, subStocks: 2, perUserLimit: 1 });
  const coupons = {
    rb1: await issue(upper, 'rb1', 'x'), RB1: await issue(upper, 'RB1', 'X'),
    rb1Lower: await issue(lower, 'rb1', 'x'), rb2Lower: await issue(lower, 'rb2', 'y'),
  };
  await stored();
  // A top-up of reb that the rebuild of Reb must not carry over as one of Reb's.
  const stockDeps = { commands: new Commands(s.redis, ks()), store: deps.store, live: deps.store.live, ledger: deps.ledger };
  await changeStock(stockDeps, 'reb', 5, 'up', Date.now());
  // Redis lost Reb's keys (stock, users, live copy); reb's are intact.
  const homes = [0, 1].map((k) => subStockPartition(ks(), upper.id, k));
  await s.redis.del(templateKey(ks(), upper.id), ...[0, 1].map((k) => stockKey(ks(), upper.id, k)));
  for (const p of homes) await s.redis.del(usersKey(ks(), p, upper.id));

  const report = await rebuildTemplate(deps, 'Reb');
  assert.equal(report.outcome, 'rebuilt', report.message);
  assert.deepEqual([report.counts?.issued, report.counts?.users, report.counts?.replays, report.counts?.overLimit,
    report.counts?.duplicates, report.remaining], [2, 2, 2, 0, 0, 8]);
  const up = await changeStock(stockDeps, 'Reb', 3, 'up', Date.now());
  assert.deepEqual([up.added, up.replayed, up.stock.total, up.stock.remaining], [3, false, 13, 11], "Reb's own top-up up applies");
  assert.deepEqual(await scripts(upper, 'rb1').users(), { rb1: '1', 'rb1|x': coupons.rb1 });
  assert.deepEqual(await scripts(upper, 'RB1').users(), { RB1: '1', 'RB1|X': coupons.RB1 });
  assert.deepEqual(await scripts(upper, 'rb2').users(), {}, "reb's user holds nothing of Reb");
  await holdsOnly(upper, 'rb1', 'x', coupons.rb1);
  await holdsOnly(upper, 'RB1', 'X', coupons.RB1);
  await holdsOnly(lower, 'rb1', 'x', coupons.rb1Lower);
  await holdsOnly(lower, 'rb2', 'y', coupons.rb2Lower);
  assert.equal((await rig.service.claim({ userId: 'rb2', templateId: 'Reb', requestId: 'y' })).status, 200);
});

test('the counts of templates Cnt and cnt are each their own: nothing shaved, no over-issue reported', async () => {
  const upper = await rig.template({ id: 'Cnt', totalStock: 2, subStocks: 1 });
  const lower = await rig.template({ id: 'cnt', totalStock: 10, subStocks: 1 });
  await issue(upper, 'c1', 'r');
  for (const u of ['c1', 'c2', 'c3']) await issue(lower, u, 'r');
  await stored();
  // Claimed a minute ago: well before the pass, beyond the margin within which it trusts no stamp.
  await s.mysql.forDb(0).query(`UPDATE ${TABLE} SET claimed_at = claimed_at - INTERVAL 1 MINUTE WHERE template_id IN (?)`, [['Cnt', 'cnt']]);

  const r = await pass();
  const found = (id: string) => {
    const f = r.counts.find((x) => x.templateId === id)!;
    return [f.redisIssued, f.mysqlIssued, f.shaved, f.problem];
  };
  assert.deepEqual(found('Cnt'), [1, 1, 0, undefined]);
  assert.deepEqual(found('cnt'), [3, 3, 0, undefined]);
  assert.deepEqual([(await rig.store.live.stock(upper)).remaining, (await rig.store.live.stock(lower)).remaining], [1, 7]);
});

/** Appends an issuance record to stream 0 as a claim script would (test-made: its home is partition 0). */
const record = (couponId: string, templateId: string, userId: string, requestId: string, claimedAtMs = Date.now()) =>
  s.redis.xadd(streamKey(ks(), 0), '*', 'd', pack([1, couponId, templateId, userId, requestId, claimedAtMs, 0]));
const deadLetters = async () => (await s.redis.xrange(deadKey(ks(), 0), '-', '+')).map(([, f]) => f.join(' '));

test('a dead letter of template dlq is not re-driven because template DLQ exists', async () => {
  await rig.template({ id: 'DLQ', totalStock: 5, subStocks: 1 });
  // Claimed an hour ago: far beyond the sink's wait for a template row, it is dead-lettered at once.
  await record(`${couponIdPrefix(layout(cfg), 'd1')}.0.900001`, 'dlq', 'd1', 'rd', Date.now() - 3_600_000);
  await stored();
  const mine = async () => (await deadLetters()).filter((l) => l.includes('template dlq has no row in coupon_template'));
  assert.equal((await mine()).length, 1);

  const r = await pass();
  assert.equal(r.redriven, 0);
  assert.equal((await mine()).length, 1, 'it waits for a person, or for a template dlq');
});

test('the sink: a record of ALICE (or of alice\'s R1) with a coupon id stored for alice/r1 is another claim, dead-lettered', async () => {
  const t = await rig.template({ id: 'col', totalStock: 5, subStocks: 1 });
  const coupon = await issue(t, 'alice', 'r1');
  await stored();
  await record(coupon, t.id, 'ALICE', 'r1');
  await record(coupon, t.id, 'alice', 'R1');
  await stored();
  const collisions = (await deadLetters()).filter((l) => l.includes(coupon));
  assert.equal(collisions.length, 2, 'both collisions are dead-lettered, neither taken for a redelivery');
  for (const l of collisions) assert.match(l, /already stored for another claim/);
  const rows = (await couponRows(s)).filter((row) => row.coupon_id === coupon);
  assert.deepEqual(rows.map((row) => [row.user_id, row.request_id]), [['alice', 'r1']]);
  const [[row]] = await s.mysql.forDb(0).query(`SELECT conflicts FROM ${TABLE} WHERE coupon_id = ?`, [coupon]) as unknown as [{ conflicts: number }[]];
  assert.equal(row!.conflicts, 2);
});
