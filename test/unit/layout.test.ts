/** Pure logic of the key layout and the MySQL routing (no storage). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as keys from '../../lua/keys.ts';
import { couponIdPrefix, hash32, shardOfCoupon, shardOfUser } from '../../core/shards.ts';
import { defaultSubStocks, subStockShare } from '../../templates/model.ts';

const ks = { prefix: 'cg', partitions: 16 };
const tagOf = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];

test('routing follows the brief: db = hash / M % N, table = hash % M', () => {
  const layout = { dbs: 3, tables: 5 };
  for (const u of ['alice', 'bob', 'u1', 'u2', 'x:y.z-1']) {
    const h = hash32(u);
    assert.deepEqual(shardOfUser(layout, u), { db: Math.floor(h / 5) % 3, table: h % 5 });
  }
});

test('a coupon id alone tells its shard, and foreign ids are rejected', () => {
  const layout = { dbs: 4, tables: 8 };
  for (let i = 0; i < 200; i++) {
    const u = `user${i}`;
    const id = `${couponIdPrefix(layout, u)}.7.1795308542033572`;
    assert.deepEqual(shardOfCoupon(layout, id), shardOfUser(layout, u));
  }
  for (const bad of ['', 'abc', '1.2.3', '9.0.1.2', '0.8.1.2', '0.1.2.3.4', '0.1.x.2']) {
    assert.equal(shardOfCoupon(layout, bad), undefined, bad);
  }
});

test('shard and home sub-stock are independent (the hash mixes its low bits)', () => {
  // With 8 sub-stocks and 8 tables, a dependent hash puts each sub-stock's users in one table.
  const tablesPerHome = new Map<number, Set<number>>();
  for (let i = 0; i < 4000; i++) {
    const u = `user${i}`;
    const home = keys.homeSubStock('tpl', u, 8);
    if (!tablesPerHome.has(home)) tablesPerHome.set(home, new Set());
    tablesPerHome.get(home)!.add(shardOfUser({ dbs: 1, tables: 8 }, u).table);
  }
  for (const tables of tablesPerHome.values()) assert.equal(tables.size, 8);
});

test('users spread evenly over home sub-stocks', () => {
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 20_000; i++) counts[keys.homeSubStock('t', `u${i}`, 10)]++;
  for (const c of counts) assert.ok(c > 1700 && c < 2300, `uneven: ${counts}`);
});

test('every key a claim or rebuild script touches carries its partition tag', () => {
  for (let k = 0; k < 8; k++) {
    const p = keys.subStockPartition(ks, 'tpl', k);
    const homeKeys = [keys.stockKey(ks, 'tpl', k), keys.usersKey(ks, p, 'tpl'), keys.pendingKey(ks, p), keys.seqKey(ks, p), keys.streamKey(ks, p),
      keys.frozenStockKey(ks, 'tpl', k), keys.rebuiltUsersKey(ks, p, 'tpl')];
    assert.deepEqual(new Set(homeKeys.map(tagOf)), new Set([String(p)]));
  }
});

test('sub-stocks of a template sit on distinct partitions', () => {
  const ps = Array.from({ length: 16 }, (_, k) => keys.subStockPartition(ks, 'hot', k));
  assert.equal(new Set(ps).size, 16);
});

test('stock split: shares add up to the total and differ by at most one', () => {
  for (const [total, n] of [[10, 3], [1, 1], [7, 7], [1_000_003, 16]] as const) {
    const shares = Array.from({ length: n }, (_, k) => subStockShare(total, n, k));
    assert.equal(shares.reduce((a, b) => a + b, 0), total);
    assert.ok(Math.max(...shares) - Math.min(...shares) <= 1);
  }
  assert.equal(defaultSubStocks(100, 16), 1);
  assert.equal(defaultSubStocks(5_000, 16), 5);
  assert.equal(defaultSubStocks(10_000_000, 16), 16);
  assert.equal(defaultSubStocks(10_000_000, 4), 4);
});

test('the claim path\'s precomputed hashes give the same sub-stock, partition and shard as the plain ones', () => {
  const layout = { dbs: 3, tables: 5 };
  for (const t of ['T', 'hot-template', 'tpl.9:x']) {
    const prefix = keys.homePrefix(t);
    for (let i = 0; i < 300; i++) {
      const u = `u${i}-${'x'.repeat(i % 7)}`;
      for (const k of [1, 7, 16]) assert.equal(keys.homeSubStockAt(prefix, u, k), hash32(`${t}|${u}`) % k);
      assert.equal(couponIdPrefix(layout, u), `${shardOfUser(layout, u).db}.${shardOfUser(layout, u).table}`);
    }
    for (let k = 0; k < 16; k++) assert.equal(keys.partitionAt(ks, hash32(t), k), keys.subStockPartition(ks, t, k));
  }
});
