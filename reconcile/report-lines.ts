/**
 * A reconciliation pass as text, for the sink's log and `npm run reconcile`. Every template with
 * something to say gets its own line naming it, with its numbers, on every pass: a line never
 * stands for other templates (as a skipped count), because each one may be wrong in its own way and
 * needs its own look. A caller that must bound its lines caps them, and the last line still
 * names every template left out.
 */
import type { CountFinding } from './counts.ts';
import type { ReconcileReport } from './reconcile.ts';

/** One line sums up a pass. */
export function summary(r: ReconcileReport): string {
  const res = r.reservations;
  const shaved = r.counts.reduce((a, f) => a + f.shaved, 0);
  const missing = r.counts.reduce((a, f) => a + (f.missingInMysql ?? 0), 0);
  const wrong = r.counts.filter((f) => f.problem).length;
  return `reconcile: restarted=${r.restarted} usersRaised=${r.usersRaised} reservations found=${res.found} ` +
    `confirmed=${res.confirmed} released=${res.released} templates=${r.counts.length} needAttention=${wrong} ` +
    `missingInMysql=${missing} stockWithheld=${shaved} dead=${r.deadLetters} redriven=${r.redriven}` +
    `${r.holds && r.holds.found > 0 ? ` codeHolds found=${r.holds.found} bound=${r.holds.bound} released=${r.holds.released}` : ''}` +
    `${r.stalled ? ` STALLED: ${r.stalled}` : ''}`;
}

/** The numbers of one finding as `name=value` pairs; those a pass did not compare are left out. */
function numbers(f: CountFinding): string {
  const pairs: [string, number | null][] = [['redisIssued', f.redisIssued], ['mysqlIssued', f.mysqlIssued],
    ['deadLettered', f.deadLettered], ['missingInMysql', f.missingInMysql], ['missingInRedis', f.missingInRedis], ['shaved', f.shaved]];
  return pairs.filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`).join(' ');
}

/** The line of one template, or undefined when the pass found nothing to say about it. */
export function templateLine(f: CountFinding): string | undefined {
  const says: string[] = [];
  if (f.problem) says.push(f.problem);
  if (f.shaved > 0) says.push(`repaired: took ${f.shaved} back out of Redis's stock, so those coupons cannot be sold twice`);
  if (f.changing) says.push('stock change in flight: only checked for over-issue, compared again on the next pass');
  return says.length === 0 ? undefined : `template ${f.templateId}: ${numbers(f)}: ${says.join('; ')}`;
}

/**
 * `lines` (one per template, `ids` in the same order), at most `max` of them: past that, one more
 * line names every template left out, so a capped log still lists them all.
 */
function capped(lines: readonly string[], ids: readonly string[], max: number): string[] {
  if (lines.length <= max) return [...lines];
  return [...lines.slice(0, max), `and ${lines.length - max} more templates: ${ids.slice(max).join(', ')}`];
}

/** Template lines of the findings that `pick` selects, capped at `max`. */
function templateLines(r: ReconcileReport, pick: (f: CountFinding) => boolean, max: number): string[] {
  const found = r.counts.filter(pick);
  return capped(found.map((f) => templateLine(f)!), found.map((f) => f.templateId), max);
}

/** What needs a person, one line each (empty: all is well or was repaired); template lines capped at `max`. */
export function attention(r: ReconcileReport, max = Infinity): string[] {
  const out: string[] = [];
  if (r.stalled) out.push(`stalled: ${r.stalled}`);
  out.push(...templateLines(r, (f) => Boolean(f.problem), max));
  out.push(...r.reservations.unresolved);
  out.push(...(r.holds?.unresolved ?? []));
  return out;
}

/** Templates repaired or in flight with nothing for a person to do, one line each, capped at `max`. */
export function notes(r: ReconcileReport, max = Infinity): string[] {
  return templateLines(r, (f) => !f.problem && templateLine(f) !== undefined, max);
}
