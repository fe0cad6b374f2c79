/**
 * One reconciliation pass (issue 5; brief, section 2: "a compensation job reconciles Redis, the
 * stream and MySQL after crashes, and only one instance of it runs at a time"). Everything it
 * judges is read BEFORE one drain point and checked AFTER the sink passed it, when MySQL holds
 * every record issued until then:
 *  1. Redis restarted since the last pass? (restart.ts)   2. stale reservations and code holds,
 *     fenced against late takes (reservations.ts, code-holds.ts), stock per template
 *  3. drain point, wait for the sink
 *  4. after a restart: raise users back from MySQL, hold the codes of redemptions in flight
 *  5. counts: repair stock Redis lost, report the rest (counts.ts); after a restart, claims may
 *     now run again (lua/fenced.ts)
 *  6. settle the reservations, then the codes' holds left without one (code-holds.ts)
 *  7. re-drive dead letters whose template row exists now.
 * Every repair only withholds stock or restores what MySQL proves: none can cause over-issue.
 */
import { type Template } from '../templates/model.ts';
import { drainPoints, waitDrained } from '../lua/drain.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLOCK_MARGIN_MS, type CountFinding, compareCounts, readRedisCounts } from './counts.ts';
import { type ReconcileCtx, redisNowMs } from './context.ts';
import { readDeadLetters, redrive } from './dead-letters.ts';
import { fenceHolds, type HoldReport, reholdCodes, resolveHolds, staleHolds } from './code-holds.ts';
import { fenceReservations, type ReservationReport, settleReservations, staleReservations } from './reservations.ts';
import { raiseUsers, recordRun, restartedSince, restartWindowStart } from './restart.ts';

export interface ReconcileReport {
  /** Redis ms when the pass looked. */
  readonly at: number;
  /** Redis restarted (or lost its data) since the previous pass. */
  readonly restarted: boolean;
  /** Users hash fields raised back to what MySQL holds (after a restart). */
  readonly usersRaised: number;
  readonly reservations: ReservationReport;
  /** Redemption codes held by a reservation gone stale (absent when the pass stalled). */
  readonly holds?: HoldReport;
  readonly counts: CountFinding[];
  readonly deadLetters: number;
  readonly redriven: number;
  /** Why the pass could not judge anything (the sink did not drain in time). */
  readonly stalled?: string;
}

const noReservations: ReservationReport = { found: 0, confirmed: 0, released: 0, unresolved: [] };

/** Runs one pass over the templates whose claim window is current. */
export async function reconcileOnce(c: ReconcileCtx): Promise<ReconcileReport> {
  const { restarted, runId } = await restartedSince(c);
  // The claims a restart forgot were all stamped before now; the counts do not trust stamps
  // within CLOCK_MARGIN_MS of T, so T is taken that much later, or a pass right after the
  // restart would not count them, open the fence, and sell them again.
  if (restarted) await sleep(CLOCK_MARGIN_MS);
  const at = await redisNowMs(c.redis);
  const stale = await staleReservations(c, at - c.cfg.pendingAgeMs);
  await fenceReservations(c, stale, at);
  const holds = await staleHolds(c, at - c.cfg.pendingAgeMs);
  await fenceHolds(c, holds, at);
  // After a restart, every template a forgotten claim could belong to, including those whose
  // claim window ended since: their retries must still replay, and a window can be reopened.
  const since = restarted ? Math.min(Date.now(), await restartWindowStart(c, at)) : Date.now();
  const templates: Template[] = await c.store.current(since);
  const redisCounts = await readRedisCounts(c, templates);
  const points = await drainPoints(c.redis, c.ks, Array.from({ length: c.ks.partitions }, (_, p) => p));
  const waiting = await waitDrained(c.redis, c.group, points, c.cfg.drainTimeoutMs);
  const base = { at, restarted, usersRaised: 0, reservations: noReservations, counts: [], deadLetters: 0, redriven: 0 };
  if (waiting !== undefined) return { ...base, stalled: `the sink has not stored what the streams hold (${waiting})` };

  const usersRaised = restarted ? await raiseUsers(c, templates, at) : 0;
  // Claims are still fenced: the codes of redemptions in flight are held back before they run.
  if (restarted) await reholdCodes(c, await staleReservations(c, Number.MAX_SAFE_INTEGER));
  const dead = await readDeadLetters(c);
  const counts = await compareCounts(c, redisCounts, at, dead.byTemplate, restarted);
  // Users and stock are repaired: claims may run on the restarted Redis again (lua/fenced.ts).
  // Not while a template's stock could not be compared (a stock change begun during the pass):
  // the stock the restart forgot to take out is still in its sub-stocks and would be sold twice.
  // The job runs the next pass within a second, which compares it.
  if (restarted && counts.every((f) => !f.changing)) await recordRun(c, runId);
  const reservations = await settleReservations(c, stale, dead.requests);
  const held = await resolveHolds(c, holds, dead.requests);
  const redriven = await redrive(c, dead);
  const deadLetters = [...dead.byTemplate.values()].reduce((a, b) => a + b, 0);
  return { ...base, usersRaised, reservations, holds: held, counts, deadLetters, redriven };
}
