/**
 * Reservations left pending by a gateway that died between claim-home and claim-settle (brief,
 * section 5). Each names its request, and every issuance record carries the request id: once
 * the sink has stored everything the streams held when the reservation was found, MySQL says
 * whether the overflow step took a coupon. Found: confirm it (the user keeps it, a retry of the
 * request replays it). Not found, and not among the dead letters: release the slot. Only
 * reservations older than RECONCILE_PENDING_AGE_MS are touched, far beyond what a live gateway
 * needs to settle its own.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { ScriptCode } from '../../lua/codes.ts';
import { pendingKey, usersKey } from '../../lua/keys.ts';
import { shardDbName, shardOfUser, shardTableName } from '../shards.ts';
import type { ReconcileCtx } from './context.ts';

export interface Reservation {
  readonly partition: number;
  readonly templateId: string;
  readonly userId: string;
  readonly requestId: string;
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
    for (const member of await c.redis.zrangebyscore(pendingKey(c.ks, p), '-inf', before)) {
      // Ids never contain '|': the member splits back into its three parts.
      const [templateId, userId, requestId] = member.split('|') as [string, string, string];
      out.push({ partition: p, templateId, userId, requestId });
    }
  }
  return out;
}

/** The coupon MySQL holds for this request, if any. */
async function storedCoupon(c: ReconcileCtx, r: Reservation): Promise<string | undefined> {
  const s = shardOfUser(c.layout, r.userId);
  const [rows] = await c.mysql.forDb(s.db).query<RowDataPacket[]>(
    `SELECT coupon_id FROM \`${shardDbName(c.dbPrefix, s.db)}\`.\`${shardTableName(s.table)}\`
      WHERE user_id = ? AND template_id = ? AND request_id = ? LIMIT 1`, [r.userId, r.templateId, r.requestId]);
  return rows[0]?.coupon_id as string | undefined;
}

/** Confirms (couponId) or releases ('') one reservation; idempotent, so a race with its gateway is harmless. */
async function settle(c: ReconcileCtx, r: Reservation, couponId: string): Promise<void> {
  // '~' marks a request id the gateway made up: nobody can retry it, nothing to remember.
  const remember = r.requestId.startsWith('~') ? '0' : '1';
  const [code] = await c.redis.claimSettle(usersKey(c.ks, r.partition, r.templateId), pendingKey(c.ks, r.partition),
    r.templateId, r.userId, r.requestId, couponId, remember);
  if (code !== ScriptCode.Settled && code !== ScriptCode.NotPending) throw new Error(`claimSettle returned ${code}`);
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
      await settle(c, r, coupon);
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
