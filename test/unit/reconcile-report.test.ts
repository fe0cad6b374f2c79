/**
 * The reconciler's report lines (reconcile/report-lines.ts) on made-up passes: one line per
 * template naming it with its own numbers, nothing folded or hidden, a cap that still names
 * every template; and the sink log's alert lines, which no throttle folds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLog } from '../../sink/log.ts';
import type { CountFinding } from '../../reconcile/counts.ts';
import type { ReconcileReport } from '../../reconcile/reconcile.ts';
import { attention, notes, summary, templateLine } from '../../reconcile/report-lines.ts';

/** A finding for a template whose counts agree, with `over` applied. */
function finding(templateId: string, over: Partial<CountFinding> = {}): CountFinding {
  return { templateId, total: 10, redisIssued: 3, mysqlIssued: 3, deadLettered: 0, missingInMysql: 0, missingInRedis: 0, shaved: 0,
    ...over };
}

/** Redis counted `n` more than MySQL holds. */
const missing = (id: string, n: number) => finding(id, { redisIssued: 3 + n, missingInMysql: n,
  problem: `${n} coupon(s) counted issued by Redis are not in MySQL (nor dead-lettered)` });

function report(counts: CountFinding[]): ReconcileReport {
  return { at: 0, restarted: false, usersRaised: 0, reservations: { found: 0, confirmed: 0, released: 0, unresolved: [] },
    counts, deadLetters: 0, redriven: 0 };
}

test('two templates wrong the same way: a line each, with its own count; the fine one is not named', () => {
  const lines = attention(report([missing('a', 2), finding('ok'), missing('b', 4)]));
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^template a: .*\bmissingInMysql=2\b.*2 coupon\(s\)/);
  assert.match(lines[1]!, /^template b: .*\bmissingInMysql=4\b.*4 coupon\(s\)/);
  assert.deepEqual(notes(report([missing('a', 2), finding('ok')])), []);
  assert.equal(templateLine(finding('ok')), undefined);
});

test('a repair is a note, unless something is left for a person: an over-issue is never hidden by a shave', () => {
  const repaired = finding('r', { redisIssued: 1, missingInRedis: 2, shaved: 2 });
  const overIssued = finding('o', { mysqlIssued: 12, redisIssued: 9, missingInRedis: 1, shaved: 1,
    problem: 'OVER-ISSUE: MySQL holds 12 coupons for a total of 10' });
  const r = report([repaired, overIssued]);
  assert.deepEqual(attention(r).map((l) => l.split(':')[0]), ['template o']);
  assert.match(attention(r)[0]!, /missingInRedis=1 shaved=1: OVER-ISSUE.*; repaired: took 1 back/);
  assert.deepEqual(notes(r).map((l) => l.split(':')[0]), ['template r']);
  assert.match(notes(r)[0]!, /\bmissingInRedis=2 shaved=2: repaired: took 2 back out of Redis's stock/);
});

test('a stock change in flight is named as such, with an over-issue among the attention lines', () => {
  const moving = finding('m', { redisIssued: null, missingInMysql: null, missingInRedis: null, changing: true });
  const movingOver = { ...moving, templateId: 'mo', mysqlIssued: 11, problem: 'OVER-ISSUE: MySQL holds 11 coupons for a total of 10' };
  const r = report([moving, movingOver]);
  assert.deepEqual(notes(r),
    ['template m: mysqlIssued=3 deadLettered=0 shaved=0: stock change in flight: only checked for over-issue, compared again on the next pass']);
  assert.match(attention(r)[0]!, /^template mo: mysqlIssued=11 .*OVER-ISSUE.*; stock change in flight/);
  assert.doesNotMatch(attention(r)[0]!, /missingInMysql/, 'not compared: no number claimed');
});

test('capped lines still name every template: the last one lists the rest by id', () => {
  const counts = Array.from({ length: 7 }, (_, i) => missing(`t${i}`, i + 1));
  const lines = attention(report(counts), 4);
  assert.equal(lines.length, 5);
  for (let i = 0; i < 4; i++) assert.match(lines[i]!, new RegExp(`^template t${i}: .*missingInMysql=${i + 1}\\b`));
  assert.equal(lines[4], 'and 3 more templates: t4, t5, t6');
  assert.equal(attention(report(counts)).length, 7, 'uncapped by default (the CLI)');
});

test('the summary counts the templates needing attention and the coupons missing in MySQL', () => {
  assert.match(summary(report([missing('a', 2), missing('b', 4), finding('ok')])),
    /templates=3 needAttention=2 missingInMysql=6 stockWithheld=0 /);
});

test("the sink log's alert lines are never rate-limited, unlike its errors", () => {
  const lines: string[] = [];
  const log = createLog((l) => lines.push(l), 60_000);
  for (const id of ['a', 'b', 'c']) log.alert(`needs attention: template ${id}`);
  for (const id of ['a', 'b']) log.error('k', `failed ${id}`);
  assert.deepEqual(lines.map((l) => JSON.parse(l) as { level: string; msg: string }).map((r) => `${r.level} ${r.msg}`), [
    'error needs attention: template a', 'error needs attention: template b', 'error needs attention: template c', 'error failed a']);
});
