/** Bounded template labels of coupon_claims_total (gateway/metrics/top-labels.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OTHER, TopLabels } from '../../gateway/metrics/top-labels.ts';

const counts = (o: Record<string, number>) => new Map(Object.entries(o).map(([k, n]) => [k, Float64Array.of(n)]));
const flat = (m: Map<string, Float64Array>): Record<string, number> => Object.fromEntries([...m].map(([k, v]) => [k, v[0]!]));

test('the busiest keys get labels up to the bound; the rest and nothing more are other', () => {
  const top = new TopLabels(2, 1);
  assert.deepEqual(flat(top.label(counts({ a: 5, b: 1, c: 9, d: 2 }))), { c: 9, a: 5, other: 3 });
  assert.deepEqual(flat(top.label(new Map())), { other: 0 });
  assert.deepEqual(flat(new TopLabels(0, 1).label(counts({ a: 5 }))), { other: 5 });
});

test('every series stays monotonic as labels change hands, and the sum is the total', () => {
  const top = new TopLabels(1, 1);
  const seen: Record<string, number>[] = [];
  const scrapes = [{ a: 3, b: 1 }, { a: 5, b: 2 }, { a: 5, b: 10 }, { a: 5, b: 11 }, { a: 9, b: 11 }];
  for (const s of scrapes) {
    const out = flat(top.label(counts(s)));
    assert.equal(Object.values(out).reduce((x, y) => x + y, 0), s.a + s.b, 'nothing lost or counted twice');
    assert.ok(Object.keys(out).length <= 2);
    seen.push(out);
  }
  // a labelled first; idle at the third scrape while b is busy, so b takes the label; then back.
  assert.deepEqual(seen.map((o) => Object.keys(o).filter((k) => k !== OTHER)), [['a'], ['a'], ['b'], ['b'], ['a']]);
  for (const key of ['a', 'b', OTHER]) {
    let last = 0;
    for (const o of seen) {
      if (o[key] === undefined) continue;
      if (key === OTHER) assert.ok(o[key] >= last, `${key} went down: ${JSON.stringify(seen)}`);
      last = o[key];
    }
  }
  // b labelled from the third scrape counts what came since the second: 10 - 2.
  assert.equal(seen[2]!.b, 8);
});
