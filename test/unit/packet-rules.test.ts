/**
 * Red-packet templates: the budget and minimum rules (a 400 with a stable code for each bad
 * input), and the split of the budget over the sub-stocks (each can pay its packets' minimum,
 * the shares sum to the budget).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../../core/errors.ts';
import { ERROR_STATUS } from '../../gateway/http/errors.ts';
import { subBudgetShare, subStockShare } from '../../templates/model.ts';
import { parsePatch, parseTemplate } from '../../templates/rules.ts';

const D = { partitions: 16, defaultValidDays: 30, audienceMax: 5 };
const base = { name: 'Rain', type: 'red_packet', budget: 100_000, totalStock: 1000 };
const create = (over: Record<string, unknown>) => parseTemplate({ ...base, ...over }, D, Date.UTC(2026, 10, 22));

/** Asserts an ApiError of `code` (400) whose message starts with `field:`. */
function refuses(f: () => unknown, code: 'bad_request' | 'budget_too_small', field: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.deepEqual([e.code, ERROR_STATUS[e.code]], [code, 400]);
    assert.ok(e.message.startsWith(`${field}: `), `message "${e.message}" should name ${field}`);
    return true;
  });
}

test('a red packet: budget required, minAmount 1 by default, no fixed value', () => {
  const t = create({});
  assert.deepEqual([t.type, t.budget, t.minAmount, t.value, t.threshold, t.maxDiscount], ['red_packet', 100_000, 1, 0, null, null]);
  assert.equal(create({ minAmount: 100 }).minAmount, 100);
});

test('bad budgets and minimums are 400s with stable codes, naming the field', () => {
  refuses(() => create({ budget: undefined }), 'bad_request', 'budget');
  refuses(() => create({ budget: -5 }), 'bad_request', 'budget');
  refuses(() => create({ budget: 0 }), 'bad_request', 'budget');
  refuses(() => create({ budget: 12.5 }), 'bad_request', 'budget');
  refuses(() => create({ budget: '100' }), 'bad_request', 'budget');
  refuses(() => create({ minAmount: 0 }), 'bad_request', 'minAmount');
  refuses(() => create({ minAmount: 1.5 }), 'bad_request', 'minAmount');
  // every packet must be able to get the minimum
  refuses(() => create({ budget: 999 }), 'budget_too_small', 'budget');
  refuses(() => create({ budget: 99_999, minAmount: 100 }), 'budget_too_small', 'budget');
  assert.equal(create({ budget: 100_000, minAmount: 100 }).budget, 100_000);
  // a fixed amount, threshold or cap contradicts the draw; a budget belongs to red packets only
  for (const f of ['value', 'threshold', 'maxDiscount']) refuses(() => create({ [f]: 100 }), 'bad_request', f);
  refuses(() => create({ type: 'direct', value: 100 }), 'bad_request', 'budget');
  refuses(() => create({ type: 'direct', value: 100, budget: undefined, minAmount: 5 }), 'bad_request', 'minAmount');
});

test('the budget split: each sub-stock pays its packets the minimum, the shares sum to the budget', () => {
  let seed = 7;
  const r = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 2000; i++) {
    const subStocks = 1 + Math.floor(r() * 16);
    const totalStock = subStocks + Math.floor(r() * 5000);
    const minAmount = 1 + Math.floor(r() * 300);
    const budget = totalStock * minAmount + Math.floor(r() * totalStock * 40);
    const t = { totalStock, subStocks, budget, minAmount };
    let sum = 0;
    for (let k = 0; k < subStocks; k++) {
      const share = subBudgetShare(t, k);
      assert.ok(share >= subStockShare(totalStock, subStocks, k) * minAmount, JSON.stringify({ ...t, k }));
      sum += share;
    }
    assert.equal(sum, budget, JSON.stringify(t));
  }
});

test("a live red packet's money and stock cannot be PATCHed; its other fields can, and keep its money", () => {
  for (const body of [{ budget: 200_000 }, { minAmount: 50 }, { type: 'direct' }, { totalStock: 2000 }, { subStocks: 2 }, { value: 5 }]) {
    refuses(() => parsePatch(body, D), 'bad_request', Object.keys(body)[0]!);
  }
  const t = create({ minAmount: 7 });
  const next = parsePatch({ status: 'paused', perUserLimit: 3, name: 'Rain 2' }, D).apply(t);
  assert.deepEqual([next.type, next.budget, next.minAmount, next.totalStock], ['red_packet', 100_000, 7, 1000]);
});
