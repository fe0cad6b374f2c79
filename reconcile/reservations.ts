/**
 * Reservations left pending by a gateway that died between claim-home and claim-settle (brief,
 * section 5). Each names its request, and every issuance record carries the request id: once
 * the sink has stored everything the streams held when the reservation was found, MySQL says
 * whether the overflow step took a coupon. Found: confirm it (the user keeps it, a retry of the
 * request replays it). Not found, and not among the dead letters: release the slot. Only
 * reservations older than RECONCILE_PENDING_AGE_MS are touched, far beyond what a live gateway
 * needs to settle its own.
 *
 * A gateway that only looked dead (frozen, swapped out, a VM paused) may wake up and take. So
 * each stale reservation is fenced first, before the drain point the decision waits on: it is
 * added to the released set of every partition of its template, which claim-take checks. A take
 * for it either ran before (its record is below the drain point: MySQL shows it, the slot is
 * confirmed) or is refused: no coupon can be taken for a slot that is then released.
 *
 * A redemption's reservation (request id 'code:<n>') may hold its code (lua/code-take-6.lua):
 * the hold is bound to the coupon found, or released, before the reservation is settled, so a
 * code is never left held by a settled reservation (code-holds.ts resolves the rest).
 */
import type { RowDataPacket } from 'mysql2/promise';
import { ScriptCode } from '../lua/codes.ts';
import { rowAnswer } from './context.ts';
import { pendingKey, releasedKey, subStockPartition } from '../lua/keys.ts';
import { shardDbName, shardOfUser, shardTableName } from '../core/shards.ts';
import { codeOfRequest } from '../core/ids.ts';
import type { ReconcileCtx } from './context.ts';

export interface Reservation {
  readonly partition: number;
  readonly templateId: string;
  readonly userId: string;
  readonly requestId: string;
  /** The reservation's token: its score, as claim-home returned it to the gateway. */
  readonly token: string;
}

export interface ReservationReport {
  /** Stale reservations found. */
  readonly found: number;
  /** Confirmed with the coupon MySQL holds for their request. */
  readonly confirmed: number;
  /** Released: no coupon was taken for them. */
  readonly released: number;
  /** Left for a person (a dead-lettered record of theirs). */
  readonly unresolved: string[];
}

/** Pending reservations older than `before` (Redis ms), in every partition. */
export async function staleReservations(c: ReconcileCtx, before: number): Promise<Reservation[]> {
  const out: Reservation[] = [];
  for (let p = 0; p < c.ks.partitions; p++) {
    const flat = await c.redis.zrangebyscore(pendingKey(c.ks, p), '-inf', before, 'WITHSCORES');
    for (let i = 0; i + 1 < flat.length; i += 2) {
      // Ids never contain '|': the member splits back into its three parts.
      const [templateId, userId, requestId] = flat[i]!.split('|') as [string, string, string];
      out.push({ partition: p, templateId, userId, requestId, token: flat[i + 1]! });
    }
  }
  return out;
}

// Released reservations are remembered this long: a gateway frozen for longer between two
// steps of one claim is beyond any pause a process survives in practice.
const RELEASED_KEEP_MS = 7 * 24 * 3600 * 1000;

/**
 * Fences `stale` (before the drain point the pass waits on): claim-take refuses them from now
 * on, on every partition of their template. Also forgets fences older than RELEASED_KEEP_MS.
 */
export async function fenceReservations(c: ReconcileCtx, stale: readonly Reservation[], now: number): Promise<void> {
  const subStocks = new Map<string, number>();
  for (const r of stale) {
    if (!subStocks.has(r.templateId)) subStocks.set(r.templateId, (await c.store.get(r.templateId))?.subStocks ?? c.ks.partitions);
    const partitions = new Set(Array.from({ length: subStocks.get(r.templateId)! }, (_, k) => subStockPartition(c.ks, r.templateId, k)));
    const member = `${r.templateId}|${r.userId}|${r.requestId}|${r.token}`;
    await Promise.all([...partitions].map((p) => c.redis.zadd(releasedKey(c.ks, p), now, member)));
  }
  await Promise.all(Array.from({ length: c.ks.partitions }, (_, p) => c.redis.zremrangebyscore(releasedKey(c.ks, p), '-inf', now - RELEASED_KEEP_MS)));
}

/** The answer of the coupon MySQL holds for this request (with a red packet's amount), if any. */
export async function storedCoupon(c: ReconcileCtx, r: Pick<Reservation, 'templateId' | 'userId' | 'requestId'>): Promise<string | undefined> {
  const s = shardOfUser(c.layout, r.userId);
  const [rows] = await c.mysql.forDb(s.db).query<RowDataPacket[]>(
    `SELECT coupon_id, amount FROM \`${shardDbName(c.dbPrefix, s.db)}\`.\`${shardTableName(s.table)}\`
      WHERE user_id = ? AND template_id = ? AND request_id = ? LIMIT 1`, [r.userId, r.templateId, r.requestId]);
  return rows[0] === undefined ? undefined : rowAnswer(rows[0]);
}

/**
 * Binds the code a redemption's reservation may hold to `answer`, or releases it (''); nothing
 * for other request ids. Idempotent, as code-bind is; false when the code is bound otherwise.
 */
export async function bindCode(c: ReconcileCtx, r: Pick<Reservation, 'templateId' | 'userId' | 'requestId' | 'token'>,
  answer: string): Promise<boolean> {
  const code = codeOfRequest(r.requestId);
  if (code === undefined) return true;
  const t = await c.store.get(r.templateId);
  if (!t) throw new Error(`template ${r.templateId} of code ${code} is gone: its hold cannot be found`);
  const [rc] = await c.commands.codeBind(r.templateId, code % t.subStocks, code, r.userId, r.token, answer);
  return rc === ScriptCode.CodeBound;
}

/**
 * Confirms (couponId) or releases ('') one reservation; idempotent, so a race with its gateway is
 * harmless. Returns a line for a person when its code is bound to another redemption.
 */
async function settle(c: ReconcileCtx, r: Reservation, couponId: string): Promise<string | undefined> {
  // The code first: settled, the reservation no longer says which hold is its.
  const bound = await bindCode(c, r, couponId);
  // '~' marks a request id the gateway made up: nobody can retry it, nothing to remember.
  const remember = r.requestId.startsWith('~') ? '0' : '1';
  const [code] = await c.commands.claimSettle({ ...r, homePartition: r.partition, remember }, couponId);
  if (code !== ScriptCode.Settled && code !== ScriptCode.NotPending) throw new Error(`claimSettle returned ${code}`);
  return bound ? undefined : `${r.templateId}|${r.userId}|${r.requestId}: coupon ${couponId} was taken for a code another redemption holds or used`;
}

/**
 * Settles `stale` (found before the drain point the caller waited on, so every record of theirs
 * is stored by now, or among `dead`: `<template>|<user>|<request>` of the dead-lettered records).
 */
export async function settleReservations(c: ReconcileCtx, stale: readonly Reservation[],
  dead: ReadonlySet<string>): Promise<ReservationReport> {
  let confirmed = 0;
  let released = 0;
  const unresolved: string[] = [];
  for (const r of stale) {
    const coupon = await storedCoupon(c, r);
    const key = `${r.templateId}|${r.userId}|${r.requestId}`;
    if (coupon !== undefined) {
      const problem = await settle(c, r, coupon);
      if (problem !== undefined) unresolved.push(problem);
      confirmed++;
    } else if (dead.has(key)) {
      unresolved.push(`${key}: its record is in the dead letters; settle it by hand once the record is stored or dropped`);
    } else {
      await settle(c, r, '');
      released++;
    }
  }
  return { found: stale.length, confirmed, released, unresolved };
}
