/**
 * The red-packet draw (lua/includes/packet.lua), run by the real Redis: a property test over
 * many (budget, packets, minimum) that drains a sub-stock packet by packet. Every amount is at
 * least the minimum and within the double-mean bound, the last packet takes exactly what is
 * left, so the amounts sum to the budget; budgets beyond 32-bit integers draw too; separate
 * calls draw differently (each seeds itself) and the first draw's mean is the budget's mean.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { budgetKey } from '../../../lua/keys.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';

// The includes as the scripts get them (packet.lua reads counts with counter.lua's countOf), then
// a driver: `draws` packets of a sub-stock of `packets`.
const include = (name: string) => readFileSync(new URL(`../../../lua/includes/${name}.lua`, import.meta.url), 'utf8');
const DRIVER = `${include('counter')}
${include('packet')}
redis.call('SET', KEYS[1], ARGV[1])
local out = {}
for n = tonumber(ARGV[2]), tonumber(ARGV[2]) - tonumber(ARGV[4]) + 1, -1 do
  out[#out + 1] = string.format('%d', drawAmount(KEYS[1], n, tonumber(ARGV[3])))
end
out[#out + 1] = redis.call('GET', KEYS[1])
return out`;

let s: Storage;
let key: string;
before(async () => {
  s = await openStorage(testConfig());
  key = budgetKey({ prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions }, 'draw', 0);
});
after(() => s?.close());

/** Draws `draws` (default: all) packets of a sub-stock; the amounts and the budget left. */
async function draw(budget: number, packets: number, min: number, draws = packets): Promise<{ amounts: number[]; left: number }> {
  const out = (await s.redis.eval(DRIVER, 1, key, budget, packets, min, draws)) as string[];
  return { amounts: out.slice(0, -1).map(Number), left: Number(out[out.length - 1]) };
}

/** A small deterministic generator, so a failure names a case that can be run again. */
function rng(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
}

test('every amount within [min, the double-mean bound], the last takes the rest: the sum is the budget', async () => {
  const r = rng(12);
  const cases: [number, number, number][] = [[1, 1, 1], [5, 5, 1], [7, 3, 2], [1e12, 3, 1], [1e12 - 1, 7, 1e9], [100, 100, 1]];
  for (let i = 0; i < 400; i++) {
    const packets = 1 + Math.floor(r() * (i % 4 === 0 ? 2000 : 60));
    const min = 1 + Math.floor(r() * (i % 3 === 0 ? 1 : 500));
    // from "every packet gets exactly min" to fifty times that and some cents more
    const budget = packets * min + Math.floor(r() * r() * packets * min * 50);
    cases.push([budget, packets, min]);
  }
  for (const [budget, packets, min] of cases) {
    const { amounts, left } = await draw(budget, packets, min);
    const name = `budget ${budget}, ${packets} packets, min ${min}`;
    assert.equal(amounts.length, packets, name);
    let rest = budget;
    amounts.forEach((a, i) => {
      const n = packets - i;
      assert.ok(Number.isSafeInteger(a), `${name}: packet ${i} is ${a}`);
      assert.ok(a >= min, `${name}: packet ${i} got ${a} < min`);
      if (n === 1) assert.equal(a, rest, `${name}: the last packet takes the rest`);
      else assert.ok(a <= Math.min(Math.floor((2 * rest) / n), rest - (n - 1) * min), `${name}: packet ${i} got ${a} of ${rest} for ${n}`);
      rest -= a;
    });
    assert.equal(amounts.reduce((x, y) => x + y, 0), budget, name);
    assert.equal(left, 0, name);
  }
});

test('budget exactly packets x min: every packet gets min', async () => {
  const { amounts } = await draw(300 * 7, 300, 7);
  assert.deepEqual(new Set(amounts), new Set([7]));
});

test('each call seeds itself: first draws differ between calls and average the budget per packet', async () => {
  const first: number[] = [];
  for (let i = 0; i < 3000; i++) first.push((await draw(10_000, 100, 1, 1)).amounts[0]!);
  // uniform in [1, 200]: mean 100.5, standard error 57.7 / sqrt(3000) = 1.05
  const mean = first.reduce((a, b) => a + b, 0) / first.length;
  assert.ok(Math.abs(mean - 100.5) < 4, `mean of the first draws ${mean}`);
  assert.ok(new Set(first).size > 150, `only ${new Set(first).size} distinct first draws of 200 possible`);
  assert.ok(Math.min(...first) >= 1 && Math.max(...first) <= 200);
});
