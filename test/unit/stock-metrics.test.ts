/** coupon_template_total/remaining follow the claim counter's top labels (gateway/metrics/stock-metrics.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { registerStockMetrics } from '../../gateway/metrics/stock-metrics.ts';
import { OTHER, TopLabels } from '../../gateway/metrics/top-labels.ts';
import type { StockView } from '../../templates/live.ts';
import type { Template } from '../../templates/model.ts';
import { parseSamples } from '../support/prometheus.ts';

const template = (id: string, totalStock: number) => ({ id, totalStock }) as Template;
const TEMPLATES = new Map([['a', template('a', 10)], ['b', template('b', 20)], ['c', template('c', 30)]]);

/** A registry over `top`, whose stock read answers remaining = total - 1 except for ids in `failing`. */
function setup(top: TopLabels, failing: Set<string>) {
  const registry = new Registry();
  let reads = 0;
  const stock = async (t: Template): Promise<StockView> => {
    reads++;
    if (failing.has(t.id)) throw new Error(`sub-stock keys of ${t.id} missing`);
    return { total: t.totalStock, remaining: t.totalStock - 1, issued: 1 };
  };
  const m = registerStockMetrics(registry, { labelled: () => top.keys, template: (id) => TEMPLATES.get(id), stock });
  const scrape = async () => {
    const samples = parseSamples(await registry.metrics());
    const series = (name: string) => Object.fromEntries(samples.filter((s) => s.name === name).map((s) => [s.labels.template!, s.value]));
    return { total: series('coupon_template_total'), remaining: series('coupon_template_remaining') };
  };
  return { scrape, failures: m.failures, reads: () => reads };
}

const counts = (o: Record<string, number>) => new Map(Object.entries(o).map(([k, n]) => [k, Float64Array.of(n)]));

test('only the labelled templates get a series, read once each per scrape; never "other"', async () => {
  const top = new TopLabels(2, 1);
  const { scrape, reads } = setup(top, new Set());
  assert.deepEqual(await scrape(), { total: {}, remaining: {} }, 'nothing labelled yet: no series');
  top.label(counts({ a: 5, b: 1, c: 9 }));
  const first = await scrape();
  assert.deepEqual(first.total, { c: 30, a: 10 });
  assert.deepEqual(first.remaining, { c: 29, a: 9 });
  assert.ok(!(OTHER in first.total));
  assert.equal(reads(), 2);
});

test('a template the cache does not hold is left out', async () => {
  const top = new TopLabels(3, 1);
  const { scrape } = setup(top, new Set());
  top.label(counts({ a: 1, gone: 9 }));
  assert.deepEqual((await scrape()).remaining, { a: 9 });
});

test('a failed read leaves that template out, keeps the others and counts the scrape', async () => {
  const top = new TopLabels(3, 1);
  const { scrape, failures } = setup(top, new Set(['b']));
  top.label(counts({ a: 1, b: 1 }));
  const s = await scrape();
  assert.deepEqual(s.remaining, { a: 9 });
  assert.deepEqual(s.total, { a: 10, b: 20 }, 'the total comes from the cached template, not from Redis');
  assert.equal(failures(), 1);
  await scrape();
  assert.equal(failures(), 2, 'one per scrape with a failed read');
});
