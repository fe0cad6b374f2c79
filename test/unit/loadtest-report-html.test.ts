/**
 * The load test's report folder on a made-up run (issue 14, item 7): report.html holds the table,
 * the verdict and the inlined charts with every text escaped, and each chart has a valid PNG.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type RunReport, writeReport } from '../../loadtest/report.ts';

const HOSTILE = '<script>alert(1)</script>';
const latency = { count: 100, p50: 1.5, p90: 2, p99: 4, p999: 5, max: 6, mean: 1.7 };
const curve = [{ percentile: 50, ms: 1.5 }, { percentile: 99, ms: 4 }, { percentile: 100, ms: 6 }];
const phase = (label: string, startS: number) => ({
  label, driver: 'autocannon', connections: 10, startS, seconds: 2, sent: 100, answered: 100, errors: 0, unsent: 0,
  clientLoopDelayMs: { p99: 1, max: 2 }, statuses: { 200: 100 }, issued: 90, replayed: 0, latency, curve,
  kinds: { claim: { latency, statuses: { 200: 100 }, curve } },
  perSecond: [{ t: startS, responses: 50, issued: 45, errors: 0, p50: 1, p90: 2, p99: 3, max: 4 },
    { t: startS + 1, responses: 50, issued: 45, errors: 0, p50: 1.2, p90: 2.2, p99: 3.5, max: 6 }],
  histogram: '',
});
// Only what the report reads; a label and the command line carry markup, as a user's could.
const report = {
  runId: 'abc123', scenario: 'hot', summary: 'one hot template', startedAt: '2026-12-05T00:00:00.000Z',
  finishedAt: '2026-12-05T00:00:05.000Z', options: {}, argv: ['hot', '--label', HOSTILE], machine: {}, storage: {}, templates: [],
  phases: [phase('warm', 0), phase(HOSTILE, 2)], drain: { drained: true, backlog: 0, ms: 120 }, checks: {},
  verification: { ok: true, problems: [], templates: [{ totalStock: 100, maxPerUser: 1, perUserLimit: 1 }],
    totals: { issued: 180, rows: 180, told: 180, granted: 0, replays: 0, untold: 0, uncertain: 0 } },
  cleanup: { paused: 1, failed: [] },
} as unknown as RunReport;

const out = mkdtempSync(join(tmpdir(), 'report-html-'));
after(() => rmSync(out, { recursive: true, force: true }));

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR', 'the first chunk is IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

test('report.html: the table rows, the verdict and both charts, with markup from the run escaped', () => {
  const dir = writeReport(out, report, [], true);
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<tr><td>warm<\/td><td>autocannon<\/td><td>10<\/td><td>2\.0<\/td><td>100<\/td>/);
  assert.match(html, /<tr><td>&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/td>/, 'the hostile label is a row, escaped');
  assert.equal((html.match(/<svg /g) ?? []).length, 2, 'both charts inlined');
  assert.match(html, /verification: OK/);
  assert.ok(!html.includes('<script'), 'no markup of the run reaches the page unescaped');
  assert.ok(!/(?:src|href)="http/.test(html), 'no external asset');
});

test('each chart also written as a PNG with a size', () => {
  const dir = writeReport(out, report, [], true);
  for (const chart of ['latency-over-time', 'latency-distribution']) {
    const { width, height } = pngSize(readFileSync(join(dir, `${chart}.png`)));
    assert.ok(width > 0 && height > 0, `${chart}.png is ${width}x${height}`);
  }
});

test('--no-charts: report.html without charts', () => {
  const dir = writeReport(join(out, 'plain'), { ...report, verification: { ...report.verification, ok: false } }, [], false);
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.ok(!html.includes('<svg'));
  assert.match(html, /verification: FAILED/);
});
