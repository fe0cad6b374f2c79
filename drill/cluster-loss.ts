/**
 * What a master failover without REDIS_WAIT_REPLICAS cost, counted from a drill's facts: the
 * "issued" answers the promoted replica lost (told, never stored), the stock units those put
 * back (each would be sold twice), and the units already sold again; and how long claims homed on
 * the killed master's sub-stocks went unserved. Pure.
 */
import { homeSubStock } from '../lua/keys.ts';
import type { Attempt, DrillFacts } from './facts.ts';

export interface FailoverLoss {
  /** Coupons told "issued" that MySQL does not hold. */
  readonly lostAnswers: number;
  /** Of them, those whose unit is back in the stock (stored + remaining = total): each would be sold twice. */
  readonly unitsBack: number;
  /** Units told to more claims than the stock holds, per template, summed: sold twice already. */
  readonly unitsResold: number;
}

/** Counts the loss of one drill. */
export function failoverLoss(f: DrillFacts): FailoverLoss {
  const stored = new Set(f.rows.map((r) => r.couponId));
  const told = new Map<string, string>();
  for (const a of f.attempts) if (a.outcome.kind === 'issued') told.set(a.outcome.couponId, a.templateId);
  let lostAnswers = 0;
  let unitsBack = 0;
  let unitsResold = 0;
  for (const t of f.templates) {
    const coupons = [...told].filter(([, id]) => id === t.id).map(([c]) => c);
    const lost = coupons.filter((c) => !stored.has(c)).length;
    const rows = new Set(f.rows.filter((r) => r.templateId === t.id).map((r) => r.couponId)).size;
    const remaining = f.stock.get(t.id)?.remaining;
    lostAnswers += lost;
    if (remaining !== null && remaining !== undefined && rows + remaining === t.totalStock) unitsBack += lost;
    unitsResold += Math.max(0, coupons.length - t.totalStock);
  }
  return { lostAnswers, unitsBack, unitsResold };
}

/** Claims homed on the killed master's sub-stocks, in ms after the kill. */
export interface FailoverOutage {
  /** Their last error answer (503) or missing answer. */
  readonly lastErrorMs: number | null;
  /** Their first "issued" answer to a claim sent after the kill. */
  readonly firstIssuedMs: number | null;
}

/** When the claims whose home sub-stock ('<template>|<k>') was on the killed master were served again. */
export function failoverOutage(attempts: readonly Attempt[], templates: readonly { id: string; subStocks: number }[],
  killed: ReadonlySet<string>, killedAt: number): FailoverOutage {
  const subStocks = new Map(templates.map((t) => [t.id, t.subStocks]));
  let lastError: number | null = null;
  let firstIssued: number | null = null;
  for (const a of attempts) {
    const n = subStocks.get(a.templateId);
    if (n === undefined || !killed.has(`${a.templateId}|${homeSubStock(a.templateId, a.userId, n)}`) || a.sentAt < killedAt) continue;
    const k = a.outcome.kind;
    if ((k === 'error' || (k === 'transport' && a.outcome.error !== 'aborted')) && (lastError === null || a.endedAt > lastError)) lastError = a.endedAt;
    if (k === 'issued' && (firstIssued === null || a.endedAt < firstIssued)) firstIssued = a.endedAt;
  }
  return { lastErrorMs: lastError === null ? null : lastError - killedAt, firstIssuedMs: firstIssued === null ? null : firstIssued - killedAt };
}
