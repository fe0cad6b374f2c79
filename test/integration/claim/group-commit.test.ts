/**
 * Group commit of claims (lua/claim-home-n.lua, gateway/claim/group-commit.ts). A group must
 * decide each claim exactly as the single-claim script of before (test/fixtures) decided the
 * same claims one by one: limits, replays, pending reservations and a sub-stock running empty
 * in the middle, mixed. The test runs random workloads both ways, on twin key spaces of the
 * same Redis, and compares every reply and everything Redis holds afterwards.
 */
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { checkLayout, layoutFacts } from '../../../lua/layout.ts';
import { ScriptCode, type ScriptReply } from '../../../lua/codes.ts';
import { Commands, type HomeClaim } from '../../../lua/commands.ts';
import * as keys from '../../../lua/keys.ts';
import { decodeRecords } from '../../../lua/record.ts';
import { couponIdPrefix } from '../../../core/shards.ts';
import { deleteKeys, openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import { rng } from '../../support/hostile.ts';

let s: Storage;
before(async () => {
  s = await openStorage(testConfig());
});
after(async () => {
  for (const p of spaces) await deleteKeys(s.redis, `${p}:*`);
  await s?.close();
});

const spaces: string[] = [];
const SINGLE = readFileSync(new URL('../../fixtures/claim-home-single.lua', import.meta.url), 'utf8');

/** One claim through the reference single-claim script. */
async function single(commands: Commands, c: HomeClaim): Promise<ScriptReply> {
  const { ks } = commands;
  const h = c.homePartition;
  const k = [keys.stockKey(ks, c.templateId, c.home), keys.usersKey(ks, h, c.templateId), keys.pendingKey(ks, h),
    keys.seqKey(ks, h), keys.streamKey(ks, h)];
  return await s.redis.eval(SINGLE, 5, ...k, c.templateId, c.userId, c.requestId, c.remember, c.perUserLimit, c.shardPrefix,
    c.homePartition) as ScriptReply;
}
const TEMPLATE = 'gc-T';
const HOME = 0;

/** A fresh key space of the test Redis, with the claim scripts' fence open. */
async function space(name: string): Promise<{ commands: Commands; ks: keys.KeySpace }> {
  const ks = { prefix: `${s.cfg.redis.keyPrefix}-${name}`, partitions: s.cfg.redis.partitions };
  spaces.push(ks.prefix);
  await checkLayout(s.redis, ks, layoutFacts(s.cfg));
  return { commands: new Commands(s.redis, ks), ks };
}

const layout = () => ({ dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables });

function claimOf(ks: keys.KeySpace, userId: string, requestId: string, remember: boolean, limit: number): HomeClaim {
  return { templateId: TEMPLATE, userId, requestId, remember: remember ? '1' : '0', perUserLimit: limit, home: HOME,
    homePartition: keys.subStockPartition(ks, TEMPLATE, HOME), shardPrefix: couponIdPrefix(layout(), userId) };
}

/** What Redis holds for the template, with coupon ids and tokens left out (they differ between runs). */
async function snapshot(ks: keys.KeySpace) {
  const h = keys.subStockPartition(ks, TEMPLATE, HOME);
  const users = await s.redis.hgetall(keys.usersKey(ks, h, TEMPLATE));
  const normal = Object.fromEntries(Object.entries(users).map(([f, v]) => [f, f.includes('|') && v !== 'P' ? 'coupon' : v]).sort());
  let records = 0;
  const entries = await s.redis.xrangeBuffer(keys.streamKey(ks, h), '-', '+');
  const ids: string[] = [];
  for (const [, fields] of entries) for (const r of decodeRecords(fields[1]!)) {
    records++;
    ids.push(r.couponId);
  }
  return {
    stock: await s.redis.get(keys.stockKey(ks, TEMPLATE, HOME)),
    users: normal,
    pending: (await s.redis.zrange(keys.pendingKey(ks, h), '0', '-1')).sort(),
    records, entries: entries.length, ids,
  };
}

/** Checks that every replayed coupon id is the one issued earlier to that request, in one run. */
function checkReplays(claims: readonly HomeClaim[], replies: readonly ScriptReply[], where: string): void {
  const issued = new Map<string, string>();
  replies.forEach(([code, value], i) => {
    const c = claims[i]!;
    const k = `${c.templateId}|${c.userId}|${c.requestId}`;
    if (code === ScriptCode.Issued && c.remember === '1') issued.set(k, String(value));
    if (code === ScriptCode.Replayed) assert.equal(value, issued.get(k) ?? value, `${where}: claim #${i} replayed another coupon`);
  });
}

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  test(`a group decides each claim as the single-claim script did, one by one (seed ${seed})`, async () => {
    const rand = rng(seed);
    // a case pair among the users: ids are byte strings (one identity rule).
    const users = ['u0', 'U0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
    const rids = ['r0', 'r1', 'r2', 'r3', 'R0'];
    const limit = 1 + Math.floor(rand() * 3);
    const stock = Math.floor(rand() * 14);
    const reserveFirst = users.filter(() => rand() < 0.25);
    const one = await space(`one${seed}`);
    const grp = await space(`grp${seed}`);
    const claims = (ks: keys.KeySpace) => {
      const r2 = rng(seed * 7919);
      const p2 = <T>(xs: readonly T[]) => xs[Math.floor(r2() * xs.length)]!;
      return Array.from({ length: 60 }, (_, i) => {
        const remember = r2() < 0.7;
        return claimOf(ks, p2(users), remember ? p2(rids) : `~gen${i}`, remember, limit);
      });
    };
    // the same start in both spaces: reservations made while the sub-stock was empty.
    for (const sp of [one, grp]) {
      await s.redis.set(keys.stockKey(sp.ks, TEMPLATE, HOME), 0);
      for (const u of reserveFirst) {
        const [code] = await single(sp.commands, claimOf(sp.ks, u, 'r0', true, limit));
        assert.equal(code, ScriptCode.Reserved);
      }
      await s.redis.set(keys.stockKey(sp.ks, TEMPLATE, HOME), stock);
    }

    const oneClaims = claims(one.ks);
    const oneReplies: ScriptReply[] = [];
    for (const c of oneClaims) oneReplies.push(await single(one.commands, c));

    const grpClaims = claims(grp.ks);
    const grpReplies: ScriptReply[] = [];
    let groups = 0;
    for (let i = 0; i < grpClaims.length;) {
      const n = 1 + Math.floor(rand() * 20);
      grpReplies.push(...await grp.commands.claimHomeGroup(grpClaims.slice(i, i + n)));
      i += n;
      groups++;
    }

    const codes = (rs: ScriptReply[]) => rs.map(([c]) => c);
    assert.deepEqual(codes(grpReplies), codes(oneReplies), `seed ${seed}: limit ${limit}, stock ${stock}, reserved ${reserveFirst}`);
    checkReplays(oneClaims, oneReplies, 'one by one');
    checkReplays(grpClaims, grpReplies, 'grouped');
    const [a, b] = [await snapshot(one.ks), await snapshot(grp.ks)];
    assert.deepEqual({ ...b, entries: 0, ids: [] }, { ...a, entries: 0, ids: [] });
    // one stream entry per group that issued, with every record of it; coupon ids never repeat.
    assert.ok(b.entries <= groups && b.entries <= a.entries, `${b.entries} entries for ${groups} groups`);
    assert.equal(new Set(b.ids).size, b.ids.length);
    const told = grpReplies.filter(([c]) => c === ScriptCode.Issued).map(([, v]) => String(v));
    assert.deepEqual([...b.ids].sort(), told.sort(), 'the stream holds exactly the coupons answered issued');
  });
}

test('a sub-stock running empty in the middle of a group: the rest reserve under one token', async () => {
  const sp = await space('empty');
  await s.redis.set(keys.stockKey(sp.ks, TEMPLATE, HOME), 3);
  const claims = ['a', 'b', 'c', 'd', 'e', 'f'].map((u) => claimOf(sp.ks, u, `r-${u}`, true, 1));
  const replies = await sp.commands.claimHomeGroup([claims[0]!, claims[0]!, ...claims.slice(1)]);
  assert.deepEqual(replies.map(([c]) => c), [ScriptCode.Issued, ScriptCode.Replayed, ScriptCode.Issued, ScriptCode.Issued,
    ScriptCode.Reserved, ScriptCode.Reserved, ScriptCode.Reserved]);
  assert.equal(replies[1]![1], replies[0]![1], 'the same request in one group replays the coupon it was just given');
  const tokens = new Set(replies.slice(4).map(([, t]) => t));
  assert.equal(tokens.size, 1);
  const snap = await snapshot(sp.ks);
  assert.equal(snap.stock, '0');
  assert.deepEqual(snap.pending, ['d', 'e', 'f'].map((u) => `${TEMPLATE}|${u}|r-${u}`));
  assert.equal(snap.entries, 1);
  assert.equal(snap.records, 3);
});

test('a group on a missing sub-stock: refusals from memory of Redis still answer, the rest are STOCK_MISSING', async () => {
  const sp = await space('missing');
  await s.redis.set(keys.stockKey(sp.ks, TEMPLATE, HOME), 1);
  const [first] = await sp.commands.claimHomeGroup([claimOf(sp.ks, 'a', 'r1', true, 1)]);
  assert.equal(first![0], ScriptCode.Issued);
  await s.redis.del(keys.stockKey(sp.ks, TEMPLATE, HOME));
  const replies = await sp.commands.claimHomeGroup([claimOf(sp.ks, 'a', 'r1', true, 1), claimOf(sp.ks, 'a', 'r2', true, 1),
    claimOf(sp.ks, 'b', 'r1', true, 1)]);
  assert.deepEqual(replies, [[ScriptCode.Replayed, first![1]], [ScriptCode.LimitReached], [ScriptCode.StockMissing]]);
  assert.equal(await s.redis.exists(keys.stockKey(sp.ks, TEMPLATE, HOME)), 0, 'a missing stock is never created');
});

test('a sub-stock that is not an integer counts as missing: nothing is decided against it, nothing written', async () => {
  const sp = await space('notint');
  await s.redis.set(keys.stockKey(sp.ks, TEMPLATE, HOME), '10.0');
  const replies = await sp.commands.claimHomeGroup([claimOf(sp.ks, 'a', 'r1', true, 1), claimOf(sp.ks, 'b', 'r1', true, 1)]);
  assert.deepEqual(replies, [[ScriptCode.StockMissing], [ScriptCode.StockMissing]]);
  const snap = await snapshot(sp.ks);
  assert.deepEqual([snap.stock, snap.users, snap.records], ['10.0', {}, 0]);
});

test('claims of several home partitions are refused before they are sent', async () => {
  const sp = await space('mixed');
  const a = claimOf(sp.ks, 'a', 'r1', true, 1);
  assert.throws(() => sp.commands.homeCall([a, { ...a, homePartition: a.homePartition + 1 }]), /one home partition/);
});

/** `n` template ids whose sub-stock 0 lies in the same partition (the first one's). */
function templatesMeeting(ks: keys.KeySpace, n: number): string[] {
  const out = [TEMPLATE];
  const p = keys.subStockPartition(ks, TEMPLATE, HOME);
  for (let i = 0; out.length < n; i++) if (keys.subStockPartition(ks, `gc-${i}`, HOME) === p) out.push(`gc-${i}`);
  return out;
}

for (const seed of [11, 12, 13]) {
  test(`a call of several templates' segments decides each claim as the single-claim script did (seed ${seed})`, async () => {
    const rand = rng(seed);
    const one = await space(`seg-one${seed}`);
    const grp = await space(`seg-grp${seed}`);
    const templates = templatesMeeting(one.ks, 3);
    const limits = templates.map(() => 1 + Math.floor(rand() * 2));
    const stocks = templates.map(() => Math.floor(rand() * 8));
    const claims = (ks: keys.KeySpace) => {
      const r2 = rng(seed * 31);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(r2() * xs.length)]!;
      return Array.from({ length: 80 }, (_, i) => {
        const t = Math.floor(r2() * templates.length);
        const remember = r2() < 0.7;
        return { ...claimOf(ks, pick(['u0', 'U0', 'u1', 'u2']), remember ? pick(['r0', 'r1']) : `~g${i}`, remember, limits[t]!),
          templateId: templates[t]! };
      });
    };
    for (const sp of [one, grp]) for (const [i, t] of templates.entries()) await s.redis.set(keys.stockKey(sp.ks, t, HOME), stocks[i]!);

    const oneReplies: ScriptReply[] = [];
    for (const c of claims(one.ks)) oneReplies.push(await single(one.commands, c));
    const grpClaims = claims(grp.ks);
    const grpReplies: ScriptReply[] = [];
    for (let i = 0; i < grpClaims.length;) {
      const n = 1 + Math.floor(rand() * 30);
      grpReplies.push(...await grp.commands.claimHomeGroup(grpClaims.slice(i, i + n)));
      i += n;
    }
    assert.deepEqual(grpReplies.map(([c]) => c), oneReplies.map(([c]) => c), `limits ${limits}, stocks ${stocks}`);
    checkReplays(grpClaims, grpReplies, 'segments');
    const h = keys.subStockPartition(grp.ks, TEMPLATE, HOME);
    for (const t of templates) {
      const users = async (ks: keys.KeySpace) => Object.entries(await s.redis.hgetall(keys.usersKey(ks, h, t)))
        .map(([f, v]) => `${f}=${f.includes('|') && v !== 'P' ? 'coupon' : v}`).sort();
      assert.deepEqual(await users(grp.ks), await users(one.ks), `users of ${t}`);
      assert.equal(await s.redis.get(keys.stockKey(grp.ks, t, HOME)), await s.redis.get(keys.stockKey(one.ks, t, HOME)));
    }
    // each entry holds one template's records; together exactly the coupons answered issued.
    const stored: string[] = [];
    for (const [, fields] of await s.redis.xrangeBuffer(keys.streamKey(grp.ks, h), '-', '+')) {
      const rs = decodeRecords(fields[1]!);
      assert.equal(new Set(rs.map((r) => r.templateId)).size, 1);
      stored.push(...rs.map((r) => `${r.templateId}:${r.couponId}`));
    }
    const told = grpReplies.flatMap(([c, v], i) => (c === ScriptCode.Issued ? [`${grpClaims[i]!.templateId}:${v}`] : []));
    assert.deepEqual(stored.sort(), told.sort());
  });
}

test("remember '2' reserves the slot even with stock at home, and replays once settled", async () => {
  const sp = await space('reserve');
  await s.redis.set(keys.stockKey(sp.ks, TEMPLATE, HOME), 5);
  const c: HomeClaim = { ...claimOf(sp.ks, 'a', 'code:1', true, 1), remember: '2' };
  const [[code, token], [again]] = await sp.commands.claimHomeGroup([c, c]) as [ScriptReply, ScriptReply];
  assert.equal(code, ScriptCode.Reserved);
  assert.equal(again, ScriptCode.Pending, 'the same request waits for its reservation');
  const snap = await snapshot(sp.ks);
  assert.deepEqual([snap.stock, snap.records, snap.pending], ['5', 0, [`${TEMPLATE}|a|code:1`]], 'nothing taken at home');
  assert.equal(typeof token, 'string');
  await sp.commands.claimSettle(c, 'coupon-x');
  assert.deepEqual(await sp.commands.claimHome(c), [ScriptCode.Replayed, 'coupon-x']);
  assert.deepEqual(await sp.commands.claimHome({ ...c, requestId: 'code:2' }), [ScriptCode.LimitReached]);
});

test("a red packet whose budget is not a count is as missing as its stock: nothing taken, no slot held", async () => {
  const sp = await space('badbudget');
  const h = keys.subStockPartition(sp.ks, TEMPLATE, HOME);
  await s.redis.set(keys.stockKey(sp.ks, TEMPLATE, HOME), 5);
  for (const budget of ['12.5', 'x', '007']) {
    await s.redis.set(keys.budgetKey(sp.ks, TEMPLATE, HOME), budget);
    const c: HomeClaim = { ...claimOf(sp.ks, 'a', 'r1', true, 1), minAmount: 1 };
    assert.deepEqual(await sp.commands.claimHomeGroup([c]), [[ScriptCode.StockMissing]], budget);
    assert.deepEqual(await s.redis.hgetall(keys.usersKey(sp.ks, h, TEMPLATE)), {}, `${budget}: no slot held`);
    assert.equal(await s.redis.get(keys.stockKey(sp.ks, TEMPLATE, HOME)), '5');
  }
  await s.redis.set(keys.budgetKey(sp.ks, TEMPLATE, HOME), 100);
  const [[code, answer]] = await sp.commands.claimHomeGroup([{ ...claimOf(sp.ks, 'a', 'r1', true, 1), minAmount: 1 }]) as [ScriptReply];
  assert.equal(code, ScriptCode.Issued);
  assert.match(String(answer), /:\d+$/, 'a packet answers its amount');
});
