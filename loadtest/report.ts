/**
 * What a run leaves behind: a table on stdout, and a report folder with the raw results as JSON,
 * the clients' issued answers, two charts (latency over time, latency distribution) as SVG and
 * PNG, and report.html: the table, the verdict and the charts in one self-contained page.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CreatedTemplate } from './admin.ts';
import { svgToPng } from './chart-png.ts';
import type { LoadOptions } from './options.ts';
import type { PhaseResult } from './recorder.ts';
import { reportHtml } from './report-html.ts';
import { type StorageSpread, spreadTables } from './storage-spread.ts';
import { lineChart, type Series } from './svg-chart.ts';
import type { IssuedAnswer, Verification, VerifyInput } from './verify.ts';
import type { CheckoutTallies } from './verify-checkout.ts';
import type { GrantJob } from './verify-paths.ts';

/** What the report keeps of the codes' and the grant's facts: counts, not their lists of codes and users. */
export interface PathSummary {
  readonly codes?: { templateId: string; codes: number; invalid: Readonly<Record<string, number>>; invalidIssued: number; tooManyFailures: number };
  readonly grant?: { grantId: string; templateId: string; listed: number; job: GrantJob; refusals: number };
  readonly checkout?: { tallies: CheckoutTallies; orderStates: Readonly<Record<string, number>>; listedUsers: number };
}

export interface RunReport {
  readonly runId: string;
  readonly scenario: string;
  readonly summary: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly options: LoadOptions;
  readonly argv: readonly string[];
  readonly machine: Readonly<Record<string, unknown>>;
  readonly storage: Readonly<Record<string, unknown>>;
  readonly templates: readonly CreatedTemplate[];
  readonly phases: readonly PhaseResult[];
  readonly drain: { drained: boolean; backlog: number; ms: number };
  /** The scenario's own facts (sold-out phase idle times, listing check). */
  readonly checks: Pick<VerifyInput, 'soldOutPhase' | 'listing' | 'expectReplays'> & PathSummary;
  readonly verification: Verification;
  readonly cleanup: { paused: number; failed: string[] };
  /** Claims per Redis master and rows per MariaDB server; absent on a single Redis with one server. */
  readonly spread?: StorageSpread;
}

const n = (v: number) => Math.round(v).toLocaleString('en-US');
const f2 = (v: number) => v.toFixed(2);
// Problems printed per kind; the JSON keeps up to PROBLEMS_KEPT of them.
const PRINTED_PER_KIND = 20;
const PROBLEMS_KEPT = 1000;

/** The report's summary of a run's codes and grant facts. */
export function pathChecks(c: Pick<VerifyInput, 'codes' | 'grant' | 'checkout'>): PathSummary {
  const { codes: k, grant: g, checkout: o } = c;
  return {
    codes: k && { templateId: k.templateId, codes: k.numbers.length, invalid: k.invalid.statuses, invalidIssued: k.invalid.issued.length,
      tooManyFailures: k.tooManyFailures },
    grant: g && { grantId: g.grantId, templateId: g.templateId, listed: g.listed.length, job: g.job, refusals: g.refusals.length },
    checkout: o && { tallies: o.tallies, orderStates: o.orderStates, listedUsers: o.listing.users },
  };
}

function pad(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

/** The results table's header: one column per figure of a phase. */
export const TABLE_HEAD = ['phase', 'driver', 'conns', 'secs', 'responses', 'req/s', 'issued', 'issued/s', 'p50', 'p90', 'p99', 'p99.9', 'max ms'];

/** The results table's rows, one per phase, as formatted text cells (the terminal's and report.html's). */
export function tableRows(r: RunReport): string[][] {
  const driver = (p: PhaseResult) => (p.driver === 'open-loop' ? `open ${n(p.rate ?? 0)}/s` : p.driver);
  return r.phases.map((p) => [p.label, driver(p), String(p.connections),
    p.seconds.toFixed(1), n(p.answered), n(p.answered / p.seconds), n(p.issued), n(p.issued / p.seconds),
    f2(p.latency.p50), f2(p.latency.p90), f2(p.latency.p99), f2(p.latency.p999), f2(p.latency.max)]);
}

/** The table and the verdict, as printed at the end of a run. */
export function renderTable(r: RunReport): string {
  const head = TABLE_HEAD;
  const rows = tableRows(r);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const lines = [pad(head, widths), ...rows.map((row) => pad(row, widths))];
  for (const p of r.phases) {
    const codes = Object.entries(p.statuses).map(([s, c]) => `${s} ${n(c)}`).join(' · ') || 'none';
    const extra = [p.errors ? `errors/timeouts ${n(p.errors)}` : '', p.replayed ? `replays ${n(p.replayed)}` : '',
      p.unsent ? `UNSENT ${n(p.unsent)} (client fell behind)` : '',
      p.maxSendLagMs !== undefined ? `max send lag ${f2(p.maxSendLagMs)} ms` : '',
      `load generator event-loop delay p99 ${f2(p.clientLoopDelayMs.p99)} ms, max ${f2(p.clientLoopDelayMs.max)} ms`].filter(Boolean).join(', ');
    lines.push(`${p.label}: status ${codes}${extra ? `; ${extra}` : ''}`);
    const kinds = Object.entries(p.kinds);
    if (kinds.length > 1) {
      for (const [kind, k] of kinds) {
        lines.push(`  ${kind}: ${n(k.latency.count)} responses (${n(k.latency.count / p.seconds)}/s), p50 ${f2(k.latency.p50)} ms, ` +
          `p99 ${f2(k.latency.p99)} ms, max ${f2(k.latency.max)} ms`);
      }
    }
  }
  const v = r.verification;
  const maxPerUser = Math.max(0, ...v.templates.map((t) => t.maxPerUser));
  const limit = Math.max(0, ...v.templates.map((t) => t.perUserLimit));
  const stock = v.templates.reduce((s, t) => s + t.totalStock, 0);
  lines.push('', `drain: ${r.drain.drained ? `sink caught up in ${(r.drain.ms / 1000).toFixed(1)} s` : `NOT DRAINED (${n(r.drain.backlog)} stream entries left)`}`,
    `verification (${v.templates.length} template${v.templates.length === 1 ? '' : 's'}): issued ${n(v.totals.issued)} of ${n(stock)} stock · ` +
    `MySQL rows ${n(v.totals.rows)} · coupons told issued ${n(v.totals.told)} · replays ${n(v.totals.replays)} · ` +
    `rows nobody was told about ${n(v.totals.untold)} (claims without a definite answer ${n(v.totals.uncertain)}) · ` +
    `most per user ${maxPerUser} (limit ${limit})`);
  const idle = r.checks.soldOutPhase?.idle;
  if (idle) {
    lines.push(`sold-out phase: sub-stock keys idle ${idle.stock.join(', ')} s at its end, the reference key read as it ` +
      `began ${idle.reference} s (a claim script would have made a sub-stock less idle)`);
  }
  const l = r.checks.listing;
  if (l) lines.push(`listings after the drain: ${l.users} users checked, ${l.missing.length} told coupons missing`);
  const k = r.checks.codes;
  if (k) {
    lines.push(`codes: ${n(k.codes)} codes of one batch; invalid codes answered ${Object.entries(k.invalid).map(([s, c]) => `${s} ${n(c)}`).join(' · ') || 'never'}; ` +
      `429 too_many_failures ${n(k.tooManyFailures)}`);
  }
  const g = r.checks.grant;
  if (g) {
    const refused = Object.entries(g.job.refused).filter(([, c]) => c > 0).map(([why, c]) => `${why} ${n(c)}`).join(', ') || 'none';
    lines.push(`grant ${g.grantId}: ${n(g.listed)} users listed, job ${g.job.state}: granted ${n(g.job.granted)} (${n(v.totals.granted)} coupons in MySQL), ` +
      `refused ${refused}, failed ${n(g.job.failed)}`);
  }
  const o = r.checks.checkout;
  if (o) {
    const t = o.tallies;
    lines.push(`checkout: ${n(t.orders)} orders, ${n(t.locksWon)} locks won = ${n(t.confirms)} confirmed (${n(t.refunds)} refunded) + ` +
      `${n(t.cancels)} cancelled + ${n(t.stillLocked)} left locked; ${n(t.retries)} calls sent twice; control rows ` +
      `${Object.entries(o.orderStates).map(([s, c]) => `${s} ${n(c)}`).join(' · ') || 'none'}; listings of ${o.listedUsers} users checked`);
  }
  for (const t of r.spread ? spreadTables(r.spread) : []) {
    const widths = t.head.map((h, i) => Math.max(h.length, ...t.rows.map((row) => row[i]!.length)));
    lines.push(`${t.title}:`, ...[t.head, ...t.rows].map((row) => `  ${pad(row, widths)}`));
  }
  const byKind = new Map<string, number>();
  for (const p of v.problems) {
    const seen = (byKind.get(p.kind) ?? 0) + 1;
    byKind.set(p.kind, seen);
    if (seen <= PRINTED_PER_KIND) lines.push(`VIOLATION ${p.kind}${p.templateId ? ` [${p.templateId}]` : ''}: ${p.detail}`);
  }
  for (const [kind, count] of byKind) if (count > PRINTED_PER_KIND) lines.push(`VIOLATION ${kind}: ... and ${count - PRINTED_PER_KIND} more`);
  lines.push(v.ok ? 'verification: OK' : `verification: FAILED (${v.problems.length} problems)`);
  return lines.join('\n');
}

const PCT_TICKS = ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%', '99.9999%'].map((label, value) => ({ value, label }));

/** x position of a percentile on the "nines" axis: 90 % -> 1, 99 % -> 2; the maximum sits at log10(count). */
const nines = (percentile: number, count: number) => (percentile >= 100 ? Math.log10(count) : -Math.log10(1 - percentile / 100));

/** The latency-over-time chart: p50/p90/p99 of each second, phases marked. */
export function timeChart(r: RunReport): string {
  const secs = r.phases.flatMap((p) => p.perSecond);
  const line = (name: string, pick: (s: (typeof secs)[number]) => number): Series =>
    ({ name, points: secs.filter((s) => s.responses > 0).map((s) => [s.t + 0.5, pick(s)] as const) });
  return lineChart({
    title: `${r.scenario} ${r.runId}: latency per second`, xLabel: 'seconds since the run started', yLabel: 'latency (ms)',
    series: [line('p50', (s) => s.p50), line('p90', (s) => s.p90), line('p99', (s) => s.p99)],
    markers: r.phases.length > 1 ? r.phases.map((p) => ({ value: p.startS, label: p.label })) : [],
  });
}

/** The latency-distribution chart: one percentile curve per phase (and per request kind when mixed). */
export function distributionChart(r: RunReport): string {
  const series: Series[] = [];
  for (const p of r.phases) {
    const kinds = Object.entries(p.kinds);
    const curves = kinds.length > 1 ? kinds.map(([kind, k]) => [`${p.label} · ${kind}`, k.curve, k.latency.count] as const)
      : [[p.label, p.curve, p.latency.count] as const];
    for (const [name, curve, count] of curves) series.push({ name, points: curve.map((c) => [nines(c.percentile, count), c.ms] as const) });
  }
  const maxX = Math.max(1, ...series.flatMap((s) => s.points.map((pt) => pt[0])));
  return lineChart({
    title: `${r.scenario} ${r.runId}: latency by percentile`, xLabel: 'percentile', yLabel: 'latency (ms)', series,
    xTicks: PCT_TICKS.filter((t) => t.value <= Math.ceil(maxX)),
  });
}

/** Writes the report folder under `parent`; returns its path. */
export function writeReport(parent: string, r: RunReport, answers: readonly IssuedAnswer[], charts: boolean): string {
  const dir = join(parent, `${r.startedAt.slice(0, 10)}-${r.scenario}-${r.runId}`);
  mkdirSync(dir, { recursive: true });
  const verification = { ...r.verification, problems: r.verification.problems.slice(0, PROBLEMS_KEPT),
    problemsTotal: r.verification.problems.length };
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify({ ...r, verification }, null, 2)}\n`);
  writeFileSync(join(dir, 'answers.jsonl'), answers.map((a) => JSON.stringify(a)).join('\n') + (answers.length ? '\n' : ''));
  const svgs = charts ? [['latency-over-time', timeChart(r)], ['latency-distribution', distributionChart(r)]] as const : [];
  for (const [name, svg] of svgs) {
    writeFileSync(join(dir, `${name}.svg`), svg);
    writeFileSync(join(dir, `${name}.png`), svgToPng(svg));
  }
  writeFileSync(join(dir, 'report.html'), reportHtml({
    title: `load test ${r.scenario} ${r.runId}`, ok: r.verification.ok, head: TABLE_HEAD, rows: tableRows(r), text: renderTable(r),
    facts: [['scenario', `${r.scenario}: ${r.summary}`], ['command', `npm run loadtest -- ${r.argv.join(' ')}`],
      ['started', r.startedAt], ['finished', r.finishedAt]],
    svgs: svgs.map(([, svg]) => svg),
    tables: r.spread ? spreadTables(r.spread) : [],
  }));
  return dir;
}
