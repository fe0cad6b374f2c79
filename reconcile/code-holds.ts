/**
 * Codes held by a redemption whose reservation is gone (lua/code-take-6.lua). A redemption holds
 * its code while it takes a coupon from another sub-stock, and ends the hold (code-bind) before
 * it settles its reservation; the reconciler does the same for a reservation it settles
 * (reservations.ts). A hold can still outlive its reservation (a Redis restart that kept one and
 * lost the other, a rebuild that ran between): without this step the code would answer 503 for
 * ever. Stale holds are fenced like stale reservations (their token is the reservation's), so a
 * gateway that wakes up late cannot take for them; after the drain point MySQL says whether a
 * coupon was taken for the code's request: bound to it, or released.
 *
 * A Redis restart may also lose a hold and keep its reservation (the AOF's last second): the
 * gateway may yet take elsewhere once claims run again, so the hold is put back first.
 */
import { codeOfRequest } from '../core/ids.ts';
import { codeHoldsKey, codeMarksKey, subStockPartition } from '../lua/keys.ts';
import type { ReconcileCtx } from './context.ts';
import { bindCode, fenceReservations, type Reservation, storedCoupon } from './reservations.ts';

export interface HoldReport {
  /** Stale holds found (those of a reservation settled in the same pass ended with it: counted again, harmlessly). */
  readonly found: number;
  /** Bound to the coupon MySQL holds for the code's request. */
  readonly bound: number;
  /** Released: no coupon was taken for them. */
  readonly released: number;
  /** Left for a person: a dead-lettered record, or the code bound to another coupon. */
  readonly unresolved: string[];
}

/**
 * Holds older than `before` (Redis ms), in every partition, as the reservations that made them
 * (`partition`: the hold's, not the home's; a hold is never settled from here, only bound).
 */
export async function staleHolds(c: ReconcileCtx, before: number): Promise<Reservation[]> {
  const out: Reservation[] = [];
  for (let p = 0; p < c.ks.partitions; p++) {
    for (const m of await c.redis.zrangebyscore(codeHoldsKey(c.ks, p), '-inf', before)) {
      // Ids never contain '|': '<template>|<code>|<user>|<token>'.
      const [templateId, code, userId, token] = m.split('|') as [string, string, string, string];
      out.push({ partition: p, templateId, userId, requestId: `code:${code}`, token });
    }
  }
  return out;
}

/** Fences stale holds like reservations: claim-take refuses their reservation from now on. */
export function fenceHolds(c: ReconcileCtx, holds: readonly Reservation[], now: number): Promise<void> {
  return fenceReservations(c, holds, now);
}

/**
 * Binds or releases `holds` (found before the drain point, fenced) from MySQL. Call after the
 * reservations are settled: a stale hold's reservation is as old, so it was settled (and its
 * hold ended) in the same pass, unless it is gone; code-bind ends only this reservation's hold.
 */
export async function resolveHolds(c: ReconcileCtx, holds: readonly Reservation[], dead: ReadonlySet<string>): Promise<HoldReport> {
  let bound = 0;
  let released = 0;
  const unresolved: string[] = [];
  for (const h of holds) {
    const key = `${h.templateId}|${h.userId}|${h.requestId}`;
    const coupon = await storedCoupon(c, h);
    if (coupon === undefined && dead.has(key)) {
      unresolved.push(`${key}: the code is held and its record is in the dead letters; settle it by hand`);
    } else if (coupon === undefined) {
      await bindCode(c, h, '');
      released++;
    } else if (await bindCode(c, h, coupon)) {
      bound++;
    } else {
      unresolved.push(`${key}: coupon ${coupon} was taken for a code another redemption holds or used`);
    }
  }
  return { found: holds.length, bound, released, unresolved };
}

/**
 * After a Redis restart, before claims run again (and after the codes MySQL shows redeemed are
 * marked): holds back the free code of every redemption still pending (`pending`), whose hold
 * the restart may have lost, so no other user redeems it while its gateway may still take a
 * coupon for it. A redemption that had not held its code yet takes from the code's sub-stock
 * or elsewhere as before (code-take knows its own hold). Returns the holds put back.
 */
export async function reholdCodes(c: ReconcileCtx, pending: readonly Reservation[]): Promise<number> {
  let n = 0;
  for (const r of pending) {
    const code = codeOfRequest(r.requestId);
    const t = code === undefined ? undefined : await c.store.get(r.templateId);
    if (code === undefined || !t) continue;
    const k = code % t.subStocks;
    if (!(await c.redis.hsetnx(codeMarksKey(c.ks, t.id, k), String(code), `|${r.userId}|${r.token}`))) continue;
    await c.redis.zadd(codeHoldsKey(c.ks, subStockPartition(c.ks, t.id, k)), r.token, `${t.id}|${code}|${r.userId}|${r.token}`);
    n++;
  }
  return n;
}
