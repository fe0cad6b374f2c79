/**
 * One drill: its own templates, load through the gateways, the fault in the middle, then the
 * load stops, the sink drains, and the facts are collected and judged. Every step is bounded.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DrillClient } from './client.ts';
import type { Probe, ProbedTemplate } from './collect.ts';
import type { LossWindow } from '../tools/verify/oracle.ts';
import type { Attempt, DrillFacts, TemplateFacts } from './facts.ts';
import { type FaultCtx, type FaultResult, FAULTS } from './faults.ts';
import { checkoutMysqlKill } from './checkout-fault.ts';
import { grantKill } from './grant-fault.ts';
import { Load, type LoadOptions } from './load.ts';
import type { DrillName } from './options.ts';
import { type DrillRow, issuedDuring, recoveryMs } from './report.ts';
import { verify } from './verify.ts';

/** A drill template: how it is created and where its stock lives. */
export interface DrillTemplate extends TemplateFacts, ProbedTemplate {}

/** What a finished drill leaves for the final recheck and the report. */
export interface PhaseResult {
  readonly row: DrillRow;
  readonly templates: readonly DrillTemplate[];
  readonly attempts: readonly Attempt[];
  readonly lossWindows: readonly LossWindow[];
  /** Problems outside the invariants (e.g. nothing was issued after the repair). */
  readonly failures: readonly string[];
}

export interface PhaseDeps {
  readonly client: DrillClient;
  readonly probe: Probe;
  readonly fault: FaultCtx;
  readonly load: Omit<LoadOptions, 'gateways'>;
  readonly gatewayUrls: readonly string[];
  readonly adminToken: string;
}

// The load runs WARM_MS before the fault and AFTER_MS after the repair.
const WARM_MS = 2_000;
const AFTER_MS = 3_000;
// The hot template is created just before the fault, so it sells out while the fault lasts.
const HOT_LEAD_MS = 300;
const FAULT_LIMIT_MS = 90_000;
// Retries still under way when the load stops get this long to finish.
const STOP_GRACE_MS = 15_000;
const DRAIN_LIMIT_MS = 60_000;
// The sinks' reconciler settles a reservation once it is RECONCILE_PENDING_AGE_MS old, within a pass.
const SETTLE_LIMIT_MS = 20_000;

/** The fault step of every drill. */
const STEPS: Readonly<Record<DrillName, (c: FaultCtx) => Promise<FaultResult>>> = {
  ...FAULTS, 'grant-kill': grantKill, 'checkout-mysql-kill': checkoutMysqlKill,
};

/** Small stocks so that sell-out (and the overflow path) happens during the drill. */
export function templatesOf(drill: string): { steady: DrillTemplate[]; hot: DrillTemplate } {
  return {
    steady: [
      // sells out early: late claims get sold_out from memory, retries must still replay
      { id: `${drill}-pair`, totalStock: 120, subStocks: 3, perUserLimit: 2 },
      // lasts the whole drill: claims are issued before, during and after the fault
      { id: `${drill}-wide`, totalStock: 3_000, subStocks: 4, perUserLimit: 2 },
    ],
    // created just before the fault and small: its sub-stocks run dry (the overflow path) as the fault hits
    hot: { id: `${drill}-hot`, totalStock: 60, subStocks: 4, perUserLimit: 1 },
  };
}

async function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: over its ${ms / 1000} s limit`)), ms);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Creates a template through the admin API of the first gateway that answers. */
async function createTemplate(d: Omit<PhaseDeps, 'fault'>, t: DrillTemplate): Promise<void> {
  const body = { id: t.id, name: t.id, type: 'direct', value: 100, totalStock: t.totalStock, subStocks: t.subStocks, perUserLimit: t.perUserLimit };
  let last = '';
  for (let attempt = 0; attempt < 6; attempt++) {
    const url = d.gatewayUrls[attempt % d.gatewayUrls.length]!;
    try {
      const r = await d.client.send('POST', `${url}/v1/admin/templates`, body, { authorization: `Bearer ${d.adminToken}` }, 5_000);
      // 409: an earlier attempt whose answer was lost created it.
      if (r.status === 201 || r.status === 409) return;
      last = `${r.status} ${JSON.stringify(r.body)}`;
    } catch (err) {
      last = String(err);
    }
    await sleep(200);
  }
  throw new Error(`creating template ${t.id} failed: ${last}`);
}

/** Waits until no reservation of these templates is pending (the reconciler's work); returns how many are left. */
async function settled(probe: Probe, templates: readonly DrillTemplate[], limitMs: number): Promise<number> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const left = [...(await probe.stock(templates)).values()].reduce((a, s) => a + s.pending, 0);
    if (left === 0 || Date.now() >= deadline) return left;
    await sleep(250);
  }
}

/**
 * Waits until every template's rows and remaining stock add up to its total again (the
 * reconciler's count pass takes forgotten decrements out); the units back in stock at the first
 * look, and how long the repair took (null: not within `limitMs`).
 */
async function stockRepaired(probe: Probe, templates: readonly DrillTemplate[], limitMs: number): Promise<{ back: number; ms: number | null }> {
  const started = Date.now();
  let first: number | undefined;
  for (;;) {
    const [stock, rows] = await Promise.all([probe.stock(templates), probe.rows(templates.map((t) => t.id))]);
    let back = 0;
    for (const t of templates) {
      const remaining = stock.get(t.id)?.remaining;
      const stored = new Set(rows.filter((r) => r.templateId === t.id).map((r) => r.couponId)).size;
      if (remaining !== null && remaining !== undefined) back += Math.max(0, stored + remaining - t.totalStock);
    }
    first ??= back;
    if (back === 0) return { back: first, ms: Date.now() - started };
    if (Date.now() - started >= limitMs) return { back: first, ms: null };
    await sleep(250);
  }
}

/** Collects the facts of these templates and attempts after the drain. */
export async function collectFacts(probe: Probe, templates: readonly DrillTemplate[], attempts: readonly Attempt[],
  lossWindows: readonly LossWindow[], backlog: number): Promise<DrillFacts> {
  const ids = templates.map((t) => t.id);
  return {
    templates, attempts, lossWindows, backlog,
    rows: await probe.rows(ids),
    stock: await probe.stock(templates),
    deadLetters: await probe.deadLetters(new Set(ids)),
  };
}

/** Runs one drill of the single-node stack end to end and judges it. */
export function runPhase(drill: DrillName, d: PhaseDeps): Promise<PhaseResult> {
  return runDrill(drill, () => STEPS[drill](d.fault), d);
}

/**
 * Runs one drill end to end, `step` (the fault) injected and repaired in the middle of the load,
 * and judges it; the step may look at the load's attempts so far.
 */
export async function runDrill(drill: string, step: (attempts: () => readonly Attempt[]) => Promise<FaultResult>,
  d: Omit<PhaseDeps, 'fault'>): Promise<PhaseResult> {
  const { steady, hot } = templatesOf(drill);
  for (const t of steady) await within(`${drill}: create ${t.id}`, 30_000, createTemplate(d, t));
  const load = new Load(d.client, { ...d.load, gateways: d.gatewayUrls }, drill);
  load.add(steady[0]!.id, 3);
  load.add(steady[1]!.id, 4);
  load.start();
  let fault: FaultResult;
  try {
    await sleep(WARM_MS);
    await within(`${drill}: create ${hot.id}`, 30_000, createTemplate(d, hot));
    load.add(hot.id, 3);
    await sleep(HOT_LEAD_MS);
    fault = await within(`${drill}: fault`, FAULT_LIMIT_MS, step(() => load.attempts));
    await sleep(AFTER_MS);
  } finally {
    await within(`${drill}: stopping the load`, STOP_GRACE_MS + 10_000, load.stop(STOP_GRACE_MS));
  }
  const drain = await d.probe.waitDrained(DRAIN_LIMIT_MS);
  const failures: string[] = [...(fault.failures ?? [])];
  if (drain.backlog < 0) failures.push(`${drill}: Redis did not answer while waiting for the drain`);
  const templates = [...steady, hot, ...(fault.templates ?? [])];
  const attempts = [...load.attempts, ...(fault.attempts ?? [])];
  const left = await settled(d.probe, templates, SETTLE_LIMIT_MS);
  if (left > 0) failures.push(`${drill}: ${left} reservation(s) still pending ${SETTLE_LIMIT_MS / 1000} s after the load: the reconciler did not settle them`);
  let repair = '';
  if (fault.stockRepair) {
    const r = await stockRepaired(d.probe, templates, SETTLE_LIMIT_MS);
    repair = r.back === 0 ? '; no unit was back in stock after the drain'
      : `; ${r.back} unit(s) back in stock after the drain (sold, stored, forgotten by Redis), ` +
        (r.ms === null ? `not taken out within ${SETTLE_LIMIT_MS / 1000} s` : `taken out by the reconciler within ${(r.ms / 1000).toFixed(1)} s`);
  }
  const facts = await within(`${drill}: collecting facts`, 60_000,
    collectFacts(d.probe, templates, attempts, fault.lossWindows, Math.max(drain.backlog, 0)));
  const recoverMs = recoveryMs(load.attempts, fault);
  if (recoverMs === null) failures.push(`${drill}: no claim was issued after the repair`);
  const cut = load.cutOff ? '; some retries were cut off at the end of the load' : '';
  return {
    row: { drill, verdict: verify(facts), issuedDuringFault: issuedDuring(load.attempts, fault), recoverMs,
      drainMs: drain.backlog === 0 ? drain.ms : null, note: `${fault.note}${repair}${cut}` },
    templates, attempts, lossWindows: fault.lossWindows, failures,
  };
}
