/**
 * Hostile tests of claim-home's segments (lua/claim-home-n.lua, lua/commands.ts homeCall):
 * one call deciding the claims of several templates, sub-stocks and template versions of one
 * partition, mixed and interleaved, with reserve-only ('2') claims among them. Each claim must
 * be decided exactly as the single-claim script of before (test/fixtures) decided it alone, its
 * reply must come back to it (not to a neighbour of another segment), and a segment that cannot
 * be decided must not take the call's other segments down or leave anything half written.
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
const spaces: string[] = [];
before(async () => {
  s = await openStorage(testConfig());
});
after(async () => {
  for (const p of spaces) await deleteKeys(s.redis, `${p}:*`);
  await s?.close();
});

const SINGLE = readFileSync(new URL('../../fixtures/claim-home-single.lua', import.meta.url), 'utf8');

/** A fresh key space of the test Redis; `repaired` opens the claim scripts' fence as a start does. */
async function space(name: string, repaired = true): Promise<{ commands: Commands; ks: keys.KeySpace }> {
  const ks = { prefix: `${s.cfg.redis.keyPrefix}-${name}`, partitions: s.cfg.redis.partitions };
  spaces.push(ks.prefix);
  if (repaired) await checkLayout(s.redis, ks, layoutFacts(s.cfg));
  return { commands: new Commands(s.redis, ks), ks };
}

/**
 * One claim through the reference single-claim script. A reserve-only claim ('2') is the
 * client's claim decided as if its home were empty: the reference runs it on a stock of 0.
 */
async function single(ks: keys.KeySpace, c: HomeClaim): Promise<ScriptReply> {
  const h = c.homePartition;
  const stockKey = keys.stockKey(ks, c.templateId, c.home);
  const k = [stockKey, keys.usersKey(ks, h, c.templateId), keys.pendingKey(ks, h), keys.seqKey(ks, h), keys.streamKey(ks, h)];
  const stock = c.remember === '2' ? await s.redis.get(stockKey) : null;
  if (stock !== null) await s.redis.set(stockKey, 0);
  try {
    return await s.redis.eval(SINGLE, 5, ...k, c.templateId, c.userId, c.requestId, c.remember === '0' ? '0' : '1', c.perUserLimit,
      c.shardPrefix, h) as ScriptReply;
  } finally {
    if (stock !== null) await s.redis.set(stockKey, stock);
  }
}

const layout = () => ({ dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables });

/** A home (template, sub-stock) of the partition under test. */
interface Home {
  readonly templateId: string;
  readonly home: number;
}

/**
 * Homes that all lie in one partition: sub-stock 0 of a few templates, and sub-stocks 0 and P of
 * one template (more sub-stocks than partitions: two of its sub-stocks share the partition).
 */
function homesMeeting(ks: keys.KeySpace, n: number): Home[] {
  const first = 'seg-T';
  const p = keys.subStockPartition(ks, first, 0);
  const out: Home[] = [{ templateId: first, home: 0 }, { templateId: first, home: ks.partitions }];
  for (let i = 0; out.length < n; i++) if (keys.subStockPartition(ks, `seg-${i}`, 0) === p) out.push({ templateId: `seg-${i}`, home: 0 });
  return out;
}

function claimOf(ks: keys.KeySpace, h: Home, userId: string, requestId: string, remember: HomeClaim['remember'],
  perUserLimit: number): HomeClaim {
  return { ...h, userId, requestId, remember, perUserLimit, homePartition: keys.subStockPartition(ks, h.templateId, h.home),
    shardPrefix: couponIdPrefix(layout(), userId) };
}

/** Every issuance record of partition p: `template|user|rid` -> coupon ids. */
async function records(ks: keys.KeySpace, p: number): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const [, fields] of await s.redis.xrangeBuffer(keys.streamKey(ks, p), '-', '+')) {
    const rs = decodeRecords(fields[1]!);
    assert.equal(new Set(rs.map((r) => r.templateId)).size, 1, 'an entry holds one template');
    for (const r of rs) {
      const k = `${r.templateId}|${r.userId}|${r.requestId}`;
      out.set(k, [...(out.get(k) ?? []), r.couponId]);
    }
  }
  return out;
}

/** What Redis holds for the homes, with coupon ids and tokens left out (they differ between runs). */
async function state(ks: keys.KeySpace, homes: readonly Home[]) {
  const p = keys.subStockPartition(ks, homes[0]!.templateId, homes[0]!.home);
  const users: Record<string, string> = {};
  for (const id of new Set(homes.map((h) => h.templateId))) {
    for (const [f, v] of Object.entries(await s.redis.hgetall(keys.usersKey(ks, p, id)))) {
      users[`${id}/${f}`] = f.includes('|') && v !== 'P' ? 'coupon' : v;
    }
  }
  const stocks = await Promise.all(homes.map((h) => s.redis.get(keys.stockKey(ks, h.templateId, h.home))));
  const recs = [...(await records(ks, p)).entries()].map(([k, ids]) => `${k}x${ids.length}`).sort();
  return { users, stocks, pending: (await s.redis.zrange(keys.pendingKey(ks, p), '0', '-1')).sort(), records: recs };
}

for (const seed of [21, 22, 23, 24, 25, 26]) {
  test(`interleaved segments (templates, two sub-stocks of one, two versions' limits, reserve-only) decide as one by one (seed ${seed})`,
    async () => {
      const rand = rng(seed);
      const one = await space(`one${seed}`);
      const grp = await space(`grp${seed}`);
      const homes = homesMeeting(one.ks, 4);
      const stocks = homes.map(() => Math.floor(rand() * 7));
      const claims = (ks: keys.KeySpace) => {
        const r2 = rng(seed * 101);
        const pick = <T>(xs: readonly T[]) => xs[Math.floor(r2() * xs.length)]!;
        return Array.from({ length: 120 }, (_, i) => {
          const x = r2();
          const remember = x < 0.15 ? '2' : x < 0.75 ? '1' : '0';
          // two versions of each template's limit in flight at once (a patch landed mid-turn).
          return claimOf(ks, pick(homes), pick(['u0', 'U0', 'u1', 'u2', 'u3']), remember === '0' ? `~g${i}` : pick(['r0', 'r1', 'R0']),
            remember, pick([1, 2]));
        });
      };
      for (const sp of [one, grp]) for (const [i, h] of homes.entries()) await s.redis.set(keys.stockKey(sp.ks, h.templateId, h.home), stocks[i]!);

      // the calls' claims, and the order each call decides them in (segment by segment): claims of
      // one call are concurrent, any order is theirs, but the reference must follow the same one.
      const grpClaims = claims(grp.ks);
      const calls: number[][] = [];
      for (let i = 0; i < grpClaims.length;) {
        const n = Math.min(1 + Math.floor(rand() * 40), grpClaims.length - i);
        calls.push(Array.from({ length: n }, (_, j) => i + j));
        i += n;
      }
      const oneClaims = claims(one.ks);
      const oneReplies: ScriptReply[] = [];
      for (const at of calls) {
        const { order } = grp.commands.homeCall(at.map((x) => grpClaims[x]!));
        for (const j of order ?? at.map((_, k) => k)) oneReplies[at[j]!] = await single(one.ks, oneClaims[at[j]!]!);
      }
      const grpReplies: ScriptReply[] = [];
      for (const at of calls) grpReplies.push(...await grp.commands.claimHomeGroup(at.map((x) => grpClaims[x]!)));
      assert.deepEqual(grpReplies.map(([c]) => c), oneReplies.map(([c]) => c), `stocks ${stocks}`);
      assert.deepEqual(await state(grp.ks, homes), await state(one.ks, homes));

      // each reply is its own claim's: an issued coupon is recorded for that very claim, a
      // replay gives the coupon recorded for its request, a reservation is pending for it.
      const p = grpClaims[0]!.homePartition;
      const recorded = await records(grp.ks, p);
      const pending = new Set(await s.redis.zrange(keys.pendingKey(grp.ks, p), '0', '-1'));
      const answered = new Set<string>();
      grpReplies.forEach(([code, value], i) => {
        const c = grpClaims[i]!;
        const k = `${c.templateId}|${c.userId}|${c.requestId}`;
        if (code === ScriptCode.Issued) {
          assert.deepEqual(recorded.get(k), [String(value)], `claim #${i} (${k}) was told a coupon recorded for another claim`);
          answered.add(String(value));
        }
        if (code === ScriptCode.Replayed) assert.deepEqual(recorded.get(k), [String(value)], `replay #${i} (${k}) of another coupon`);
        if (code === ScriptCode.Reserved) assert.ok(pending.has(k), `claim #${i} (${k}) reserved, but no such reservation is pending`);
      });
      const all = [...recorded.values()].flat();
      assert.equal(answered.size, all.length, 'the stream holds exactly the coupons answered issued');
    });
}

test('a stock that DECRBY cannot count down (leading zero, -0, past 64 bits) is missing; the other segments still decide, nothing half written', async () => {
  for (const [i, bad] of ['007', '-0', '9300000000000000000', '99999999999999999999'].entries()) {
    const sp = await space(`bad${i}`);
    const [ok, broken] = homesMeeting(sp.ks, 3).slice(1);
    await s.redis.set(keys.stockKey(sp.ks, ok!.templateId, ok!.home), 5);
    await s.redis.set(keys.stockKey(sp.ks, broken!.templateId, broken!.home), bad);
    const claims = [claimOf(sp.ks, ok!, 'a', 'r1', '1', 1), claimOf(sp.ks, broken!, 'b', 'r1', '1', 1), claimOf(sp.ks, ok!, 'c', 'r1', '1', 1),
      claimOf(sp.ks, broken!, 'd', '~g', '0', 1)];
    const replies = await sp.commands.claimHomeGroup(claims);
    assert.deepEqual(replies.map(([c]) => c), [ScriptCode.Issued, ScriptCode.StockMissing, ScriptCode.Issued, ScriptCode.StockMissing], bad);
    const p = claims[0]!.homePartition;
    assert.deepEqual(await s.redis.hgetall(keys.usersKey(sp.ks, p, broken!.templateId)), {}, `${bad}: nothing held on the broken segment`);
    assert.equal(await s.redis.get(keys.stockKey(sp.ks, broken!.templateId, broken!.home)), bad);
    assert.equal(await s.redis.get(keys.stockKey(sp.ks, ok!.templateId, ok!.home)), '3');
    assert.deepEqual([...(await records(sp.ks, p)).keys()].sort(), [`${ok!.templateId}|a|r1`, `${ok!.templateId}|c|r1`]);
    // the call ended normally: the sequence was saved past both coupons.
    const seq = BigInt(String(await s.redis.get(keys.seqKey(sp.ks, p))));
    for (const [, id] of [replies[0]!, replies[2]!]) assert.ok(BigInt(String(id).split('.').at(-1)!) <= seq, `${bad}: sequence behind ${id}`);
  }
});

test('a call of several segments on a Redis whose restart is not repaired: every claim Fenced, nothing written', async () => {
  const sp = await space('fenced', false);
  const homes = homesMeeting(sp.ks, 4);
  for (const h of homes) await s.redis.set(keys.stockKey(sp.ks, h.templateId, h.home), 3);
  const claims = homes.flatMap((h, i) => [claimOf(sp.ks, h, `u${i}`, 'r', '1', 1), claimOf(sp.ks, h, 'v', `~${i}`, '0', 1)]);
  assert.deepEqual(await sp.commands.claimHomeGroup(claims), claims.map(() => [ScriptCode.Fenced]));
  const st = await state(sp.ks, homes);
  assert.deepEqual([st.users, st.stocks, st.pending, st.records], [{}, homes.map(() => '3'), [], []]);
});

test('one token for every reservation of a call, across templates; each names its own template', async () => {
  const sp = await space('tokens');
  const homes = homesMeeting(sp.ks, 4).slice(1);
  for (const h of homes) await s.redis.set(keys.stockKey(sp.ks, h.templateId, h.home), 0);
  const claims = homes.map((h) => claimOf(sp.ks, h, 'u', 'r', '1', 1));
  const replies = await sp.commands.claimHomeGroup([...claims].reverse());
  assert.deepEqual(new Set(replies.map(([c]) => c)), new Set([ScriptCode.Reserved]));
  assert.equal(new Set(replies.map(([, t]) => t)).size, 1);
  const p = claims[0]!.homePartition;
  const members = await s.redis.zrange(keys.pendingKey(sp.ks, p), '0', '-1');
  assert.deepEqual(members.sort(), homes.map((h) => `${h.templateId}|u|r`).sort());
});
