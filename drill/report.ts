/** The drill's table: one row per drill (and the final recheck), printed and written as markdown. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Attempt } from './facts.ts';
import type { FaultResult } from './faults.ts';
import type { Verdict } from './verify.ts';

export interface DrillRow {
  readonly drill: string;
  readonly verdict: Verdict;
  /** Coupons answered "issued" while the part was broken (null: not a fault row). */
  readonly issuedDuringFault: number | null;
  /** From the repair to the first "issued" answer to a claim sent after it; null if none came. */
  readonly recoverMs: number | null;
  /** From the end of the load to a sink backlog of 0. */
  readonly drainMs: number | null;
  readonly note: string;
}

/** The first claim sent after the repair (through the repaired gateway, if one) that was issued. */
export function recoveryMs(attempts: readonly Attempt[], f: FaultResult): number | null {
  let first: number | null = null;
  for (const a of attempts) {
    if (a.sentAt < f.repairedAt || a.outcome.kind !== 'issued') continue;
    if (f.gateway !== undefined && a.gateway !== f.gateway) continue;
    if (first === null || a.endedAt < first) first = a.endedAt;
  }
  return first === null ? null : first - f.repairedAt;
}

/** Distinct coupons answered "issued" between the fault and its repair. */
export function issuedDuring(attempts: readonly Attempt[], f: FaultResult): number {
  const coupons = new Set<string>();
  for (const a of attempts) {
    if (a.outcome.kind === 'issued' && a.endedAt >= f.injectedAt && a.endedAt <= f.repairedAt) coupons.add(a.outcome.couponId);
  }
  return coupons.size;
}

const dash = (v: number | null) => (v === null ? '—' : String(v));

function errorsText(errors: Readonly<Record<string, number>>): string {
  const parts = Object.entries(errors).sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k}: ${n}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** The markdown table. */
export function renderTable(rows: readonly DrillRow[]): string {
  const head = ['drill', 'requests', 'issued', 'issued during fault', 'errors by status', 'violations',
    'replayed after error', 'unanswered issued', 'lost after ack', 'pending reservations', 'recover ms', 'drain ms'];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i === 0 || i === 4 ? '---' : '---:')).join(' | ')} |`];
  for (const r of rows) {
    const v = r.verdict;
    lines.push(`| ${[r.drill, v.requests, v.issued, dash(r.issuedDuringFault), errorsText(v.errors), v.violations.length,
      v.replayedAfterError, v.unansweredIssued, v.lostAfterAck, v.pending, dash(r.recoverMs), dash(r.drainMs)].join(' | ')} |`);
  }
  return lines.join('\n');
}

export interface ReportMeta {
  readonly startedAt: Date;
  readonly totalMs: number;
  readonly settings: string;
  /** Problems outside the invariants (a phase over its time limit, no recovery). */
  readonly failures: readonly string[];
}

const MAX_LISTED = 20;

/** The whole report: settings, table, notes, every violation (the first ones of each row). */
export function renderReport(meta: ReportMeta, rows: readonly DrillRow[]): string {
  const out = [
    `# make drill: ${meta.startedAt.toISOString()}`,
    '',
    `${meta.settings}; total ${(meta.totalMs / 1000).toFixed(1)} s.`,
    '',
    renderTable(rows),
    '',
    ...rows.filter((r) => r.note !== '').map((r) => `- ${r.drill}: ${r.note}`),
  ];
  for (const r of rows) {
    if (r.verdict.violations.length === 0) continue;
    out.push('', `## Violations: ${r.drill}`, '');
    for (const v of r.verdict.violations.slice(0, MAX_LISTED)) out.push(`- ${v.kind}: ${v.detail}`);
    if (r.verdict.violations.length > MAX_LISTED) out.push(`- ... and ${r.verdict.violations.length - MAX_LISTED} more`);
  }
  if (meta.failures.length > 0) out.push('', '## Failures', '', ...meta.failures.map((f) => `- ${f}`));
  return `${out.join('\n')}\n`;
}

/** Writes the report, creating its folder. */
export function writeReport(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
