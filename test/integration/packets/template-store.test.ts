/**
 * A red-packet template in MySQL and Redis: its budget and minimum are stored and read back, each
 * sub-stock gets its share of the budget beside its stock, and an operator's stock change is
 * refused (409 stock_fixed) before anything moves: packets added without budget, or taken away
 * with theirs, would break "the packets sum to the budget". Tables of an older release gain the
 * columns.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiError } from '../../../core/errors.ts';
import { ERROR_STATUS } from '../../../gateway/http/errors.ts';
import { Commands } from '../../../lua/commands.ts';
import { budgetKey, stockKey } from '../../../lua/keys.ts';
import { ensureSchema } from '../../../core/schema.ts';
import { mainDbName, shardDbName, shardTableName } from '../../../core/shards.ts';
import { subBudgetShare } from '../../../templates/model.ts';
import { StockLedger } from '../../../templates/stock-ledger.ts';
import { changeStock } from '../../../templates/stock.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import { claimRig, type ClaimRig } from '../../support/claims.ts';

let s: Storage;
let rig: ClaimRig;
before(async () => {
  s = await openStorage(testConfig());
  rig = claimRig(s);
});
after(() => s?.close());

test('budget and minimum round-trip through MySQL; each sub-stock holds its share of the budget', async () => {
  const t = await rig.template({ type: 'red_packet', value: 0, budget: 10_007, minAmount: 3, totalStock: 1001, subStocks: 5 });
  const stored = await rig.store.get(t.id);
  assert.deepEqual([stored?.type, stored?.budget, stored?.minAmount, stored?.value], ['red_packet', 10_007, 3, 0]);
  const shares = await Promise.all(Array.from({ length: 5 }, (_, k) => s.redis.get(budgetKey(rig.ks, t.id, k))));
  assert.deepEqual(shares.map(Number), Array.from({ length: 5 }, (_, k) => subBudgetShare(t, k)));
  assert.equal(shares.reduce((a, v) => a + Number(v), 0), 10_007);
  assert.deepEqual(await rig.store.live.stock(t), { total: 1001, remaining: 1001, issued: 0, budgetLeft: 10_007 });
  // a plain template has no budget keys
  const plain = await rig.template({ totalStock: 10 });
  assert.equal(await s.redis.exists(budgetKey(rig.ks, plain.id, 0)), 0);
});

test('stock changes of a red packet are refused with 409 stock_fixed, nothing moved', async () => {
  const t = await rig.template({ type: 'red_packet', value: 0, budget: 5_000, minAmount: 1, totalStock: 100, subStocks: 2 });
  const d = { commands: new Commands(s.redis, rig.ks), store: rig.store, live: rig.store.live, ledger: new StockLedger(s.mysql, s.cfg.mysql) };
  for (const add of [10, -10]) {
    await assert.rejects(changeStock(d, t.id, add, `r${add}`, Date.now()), (e) => {
      assert.ok(e instanceof ApiError);
      assert.deepEqual([e.code, ERROR_STATUS[e.code]], ['stock_fixed', 409]);
      return true;
    });
  }
  assert.equal((await rig.store.get(t.id))?.totalStock, 100);
  assert.deepEqual(await Promise.all([0, 1].map((k) => s.redis.get(stockKey(rig.ks, t.id, k)))), ['50', '50']);
});

test('tables of an older release gain the red-packet type and columns', async () => {
  const main = `\`${mainDbName(s.cfg.mysql.dbPrefix)}\`.coupon_template`;
  const coupons = `\`${shardDbName(s.cfg.mysql.dbPrefix, 0)}\`.\`${shardTableName(1)}\``;
  const old = "ENUM('direct','threshold','discount') NOT NULL";
  await s.mysql.main.query(`DELETE FROM ${main} WHERE type = 'red_packet'`);
  await s.mysql.main.query(`ALTER TABLE ${main} DROP COLUMN budget, DROP COLUMN min_amount, MODIFY COLUMN type ${old}`);
  await s.mysql.forDb(0).query(`DELETE FROM ${coupons} WHERE type = 'red_packet'`);
  await s.mysql.forDb(0).query(`ALTER TABLE ${coupons} DROP COLUMN amount, MODIFY COLUMN type ${old}`);
  await ensureSchema(s.mysql, s.cfg.mysql);
  const t = await rig.template({ type: 'red_packet', value: 0, budget: 700, minAmount: 7, totalStock: 100, subStocks: 1 });
  assert.deepEqual([(await rig.store.get(t.id))?.budget, (await rig.store.get(t.id))?.minAmount], [700, 7]);
  const [cols] = await s.mysql.forDb(0).query(`SHOW COLUMNS FROM ${coupons} WHERE Field IN ('amount', 'type')`) as unknown as [{ Field: string; Type: string }[]];
  assert.deepEqual(cols.map((c) => [c.Field, c.Type]).sort(),
    [['amount', 'bigint(20) unsigned'], ['type', "enum('direct','threshold','discount','red_packet')"]]);
});
