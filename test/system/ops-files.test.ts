// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * The Grafana dashboard and the Prometheus alert rules (issue 14, item 2): both files are well
 * formed, and every metric their expressions read is a series of a live gateway or sink scrape,
 * with the labels their selectors match on; every coupon_* metric is on the dashboard.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { type GatewayProc, type Proc, spawnGateway } from '../support/processes.ts';
import { metricOf, type MetricRef, metricRefs } from '../support/promql-names.ts';
import { parseSamples, type Sample, spawnMetricsSink } from '../support/prometheus.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { parseYamlSubset } from '../support/yaml-subset.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const ROOT = new URL('../../', import.meta.url);
const DS = '${DS_PROMETHEUS}';

interface Panel {
  id: number; type: string; title: string; gridPos: Record<string, number>;
  datasource?: { type: string; uid: string }; targets?: { refId: string; expr: string; datasource: { uid: string } }[];
}

/** The dashboard's expressions, after checking what Grafana needs to import it. */
function dashboardExprs(): string[] {
  const d = JSON.parse(readFileSync(new URL('ops/grafana/coupon-gateway.json', ROOT), 'utf8'));
  assert.equal(typeof d.title, 'string');
  assert.match(d.uid, /^[\w-]{1,40}$/);
  assert.ok(d.schemaVersion >= 36 && d.schemaVersion <= 41, `schemaVersion ${d.schemaVersion}`);
  assert.deepEqual(d.templating.list.filter((v: { name: string }) => v.name === 'DS_PROMETHEUS')
    .map((v: { type: string; query: string }) => [v.type, v.query]), [['datasource', 'prometheus']]);
  const panels = d.panels as Panel[];
  assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'panel ids are unique');
  const exprs: string[] = [];
  for (const p of panels) {
    assert.ok(p.title && ['h', 'w', 'x', 'y'].every((k) => Number.isInteger(p.gridPos[k])), `panel ${p.id} has a title and a place`);
    assert.ok(p.gridPos.x! + p.gridPos.w! <= 24, `panel ${p.title} fits the 24 columns`);
    if (p.type === 'row') continue;
    assert.equal(p.datasource?.uid, DS, `panel ${p.title} uses the datasource variable`);
    assert.ok(p.targets && p.targets.length > 0, `panel ${p.title} has queries`);
    assert.equal(new Set(p.targets.map((t) => t.refId)).size, p.targets.length, `panel ${p.title}: refIds are unique`);
    for (const t of p.targets) {
      assert.equal(t.datasource.uid, DS);
      exprs.push(t.expr);
    }
  }
  return exprs;
}

/** The rules' expressions, after checking each rule has what Prometheus and the on-call need. */
function ruleExprs(): { exprs: string[]; alerts: string[] } {
  const doc = parseYamlSubset(readFileSync(new URL('ops/prometheus/alerts.yml', ROOT), 'utf8')) as any;
  assert.deepEqual(Object.keys(doc), ['groups']);
  const exprs: string[] = [];
  const alerts: string[] = [];
  for (const g of doc.groups) {
    assert.ok(typeof g.name === 'string' && Array.isArray(g.rules) && g.rules.length > 0);
    for (const r of g.rules) {
      assert.deepEqual(Object.keys(r).sort(), ['alert', 'annotations', 'expr', 'for', 'labels'], JSON.stringify(r));
      assert.match(r.alert, /^[A-Z][A-Za-z0-9]+$/);
      assert.match(r.for, /^\d+[smh]$/);
      assert.ok(['critical', 'warning'].includes(r.labels.severity), `${r.alert} severity`);
      assert.ok(r.annotations.summary && r.annotations.description, `${r.alert} summary and description`);
      exprs.push(r.expr);
      alerts.push(r.alert);
    }
  }
  assert.equal(new Set(alerts).size, alerts.length, 'alert names are unique');
  return { exprs, alerts };
}

/** What is wrong with the metrics `exprs` read, given a scrape's samples (empty: nothing). */
function unknownMetrics(exprs: readonly string[], samples: readonly Sample[]): string[] {
  const labels = new Map<string, Set<string>>();
  for (const s of samples) {
    const set = labels.get(s.name) ?? labels.set(s.name, new Set()).get(s.name)!;
    for (const l of Object.keys(s.labels)) set.add(l);
  }
  const wrong: string[] = [];
  for (const expr of exprs) {
    // Balanced brackets: a cut-off expression would otherwise name fewer metrics and pass.
    for (const [o, c] of [['(', ')'], ['[', ']'], ['{', '}']] as const) assert.equal(expr.split(o).length, expr.split(c).length, `unbalanced ${o}${c} in ${expr}`);
    const refs: MetricRef[] = metricRefs(expr);
    if (refs.length === 0) wrong.push(`names no metric: ${expr}`);
    for (const { name, labels: matched } of refs) {
      const has = labels.get(name);
      if (!has) wrong.push(`${name} is in no scrape (${expr})`);
      for (const l of matched) if (has && !has.has(l)) wrong.push(`${name} has no label ${l} (${expr})`);
    }
  }
  return wrong;
}

const env = testEnv();
let s: Storage;
let gw: GatewayProc;
let sink: Proc;
let sinkUrl: string;

before(async () => {
  s = await openStorage(testConfig(env));
  ({ sink, url: sinkUrl } = await spawnMetricsSink(env));
  gw = await spawnGateway(env);
});
after(async () => {
  await Promise.all([gw?.stop(), sink?.stop()]);
  await s?.close();
});

async function scrape(url: string, headers: Record<string, string>): Promise<Sample[]> {
  const r = await http('GET', `${url}/metrics`, undefined, headers);
  assert.equal(r.status, 200, r.raw.toString());
  return parseSamples(r.raw.toString());
}

test('every metric the dashboard and the alert rules read is in a live scrape', async () => {
  const dashboard = dashboardExprs();
  const { exprs: rules, alerts } = ruleExprs();
  for (const a of ['CouponStreamBacklogGrowing', 'CouponBreakerOpen', 'CouponDeadLetters', 'CouponReconcilerFindings', 'CouponOverIssue']) {
    assert.ok(alerts.includes(a), `alert ${a}`);
  }

  // Claims and a checkout call, so the labelled series exist; the sink writes the rows.
  const t = await createTemplate(gw.url, { name: 'hot', type: 'direct', value: 100, totalStock: 5, subStocks: 2 });
  for (const u of ['u1', 'u2', 'u3']) assert.equal((await http('POST', `${gw.url}/v1/claim`, { templateId: t.id, userId: u })).status, 200);
  const items = [{ productId: 'p', categoryId: 'c', price: 6000, quantity: 1 }];
  assert.equal((await http('POST', `${gw.url}/v1/checkout/quote`, { userId: 'u1', items })).status, 200);
  await waitFor(async () => (await scrape(sinkUrl, {})).some((x) => x.name === 'coupon_sink_rows_written_total' && x.value >= 3),
    10_000, 'the sink writes the rows');

  const samples = [...await scrape(gw.url, ADMIN), ...await scrape(sinkUrl, {})];
  assert.deepEqual(unknownMetrics(dashboard, samples), []);
  assert.deepEqual(unknownMetrics(rules, samples), []);
  const remaining = samples.find((x) => x.name === 'coupon_template_remaining' && x.labels.template === t.id);
  assert.equal(remaining?.value, 2, 'remaining stock of the hot template, read from Redis');
  assert.ok(samples.some((x) => x.name === 'coupon_template_total' && x.labels.template === t.id && x.value === 5));

  // The check itself catches a misspelt name and a label the metric does not have.
  assert.equal(unknownMetrics(['sum(rate(coupon_claims_totl[1m]))'], samples).length, 1);
  assert.equal(unknownMetrics(['sum(rate(coupon_sink_rows_written_total{outcome="x"}[1m]))'], samples).length, 1);

  // The other way round: a coupon metric missing from the dashboard is one nobody watches.
  const shown = new Set(dashboard.flatMap((e) => metricRefs(e).map((r) => metricOf(r.name))));
  const unshown = new Set(samples.map((x) => metricOf(x.name)).filter((n) => n.startsWith('coupon_') && !shown.has(n)));
  assert.deepEqual([...unshown], []);
});
