/**
 * The end of a drill run, single-node or cluster: every drill's facts judged once more together
 * (later faults must not have undone earlier drills), the table printed and written.
 */
import type { Probe } from './collect.ts';
import { collectFacts, type PhaseResult } from './phase.ts';
import { type DrillRow, renderReport, renderTable, writeReport } from './report.ts';
import { verify } from './verify.ts';

export interface FinishInput {
  readonly probe: Probe;
  readonly phases: readonly PhaseResult[];
  readonly startedAt: Date;
  /** One line on the stack and the load, at the head of the report. */
  readonly settings: string;
  /** Absolute path of the markdown report. */
  readonly reportFile: string;
  readonly say: (msg: string) => void;
}

/** Rechecks, reports; the exit code: 0 all held, 1 a violation or a failure. */
export async function finish(x: FinishInput): Promise<number> {
  const { probe, phases } = x;
  const drain = await probe.waitDrained(60_000);
  const all = await collectFacts(probe, phases.flatMap((p) => p.templates), phases.flatMap((p) => p.attempts),
    phases.flatMap((p) => p.lossWindows), Math.max(drain.backlog, 0));
  const rows: DrillRow[] = [...phases.map((p) => p.row),
    { drill: 'all (recheck)', verdict: verify(all), issuedDuringFault: null, recoverMs: null, drainMs: null, note: '' }];
  const failures = phases.flatMap((p) => p.failures);
  const report = renderReport({ startedAt: x.startedAt, totalMs: Date.now() - x.startedAt.getTime(), settings: x.settings, failures }, rows);
  writeReport(x.reportFile, report);
  process.stdout.write(`\n${renderTable(rows)}\n\n`);
  for (const f of failures) x.say(`FAILURE: ${f}`);
  const violations = rows.reduce((n, r) => n + r.verdict.violations.length, 0);
  x.say(`${violations} violation(s); report written to ${x.reportFile}`);
  if (violations > 0) process.stdout.write(report.slice(report.indexOf('## ')));
  return violations > 0 || failures.length > 0 ? 1 : 0;
}
