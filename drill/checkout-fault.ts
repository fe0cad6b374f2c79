/**
 * checkout-mysql-kill: order flows (lock, then confirm or cancel, some refunds) run on coupons
 * the drill claimed while MariaDB is killed -9 and restarted. Every call is retried on 503 or no
 * answer until it gets a definite one; then MySQL's rows must be consistent and agree with every
 * definite answer (drill/checkout-check.ts). Each checkout call is one stored procedure, one
 * transaction: a kill may cut it at any point, and InnoDB must keep it whole or not at all.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type CheckoutCall, type CheckoutOp, checkCheckout } from './checkout-check.ts';
import { DrillClient } from './client.ts';
import type { Attempt } from './facts.ts';
import type { FaultCtx, FaultResult } from './faults.ts';

// Coupons of distinct users, and the flows running at once: enough that orders race for a coupon.
const COUPONS = 300;
const CLAIMERS = 16;
const FLOWS = 32;
// New flows start for this long; MariaDB is killed this far into it and stays down a moment.
const FLOW_WINDOW_MS = 7_000;
const KILL_AFTER_MS = 1_500;
const MYSQL_DOWN_MS = 1_000;
// Wanted in flight at the kill (or after the wait), so it cuts procedures mid-transaction.
const IN_FLIGHT_WANTED = 8;
const IN_FLIGHT_WAIT_MS = 1_000;
// A call without a definite answer after this long is given up (and a failure); no call runs
// past the flows' start + HARD_LIMIT_MS, which keeps the whole fault well under 30 s.
const CALL_LIMIT_MS = 10_000;
const HARD_LIMIT_MS = 15_000;
const ATTEMPT_TIMEOUT_MS = 2_000;
const STORED_LIMIT_MS = 10_000;
// Shares of the flows: abandoned after the lock (the coupon stays locked), confirmed (else
// cancelled), refunded after a confirm, and a cancel sent after a lost lock (the empty rollback).
// Few abandons and many refunds: coupons come back, so orders still win some at the window's end.
const ABANDON = 0.02;
const CONFIRM = 0.5;
const REFUND = 0.8;
const EMPTY_ROLLBACK = 0.3;
// Between lock and confirm or cancel the customer pays: the coupon stays locked meanwhile.
const PAY_MS = 100;
// Between two orders of a runner: a refused lock ends a flow at once, and would spin.
const THINK_MS = 50;

const backoffMs = (n: number) => Math.min(50 * 2 ** n, 500) + Math.random() * 50;
const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)]!;

/** Claims one coupon for each of `users`, each request retried until decided; its attempts are the oracle's. */
async function claimAll(c: FaultCtx, templateId: string, users: readonly string[], attempts: Attempt[]): Promise<Map<string, string>> {
  const couponOf = new Map<string, string>();
  let next = 0;
  const claimer = async () => {
    while (next < users.length) {
      const user = users[next++]!;
      for (let n = 0; n < 6; n++) {
        const gateway = Math.floor(Math.random() * c.gatewayUrls.length);
        const a = await c.attempt(c.gatewayUrls[gateway]!, gateway, user, templateId, `ck-claim-${user}`, ATTEMPT_TIMEOUT_MS);
        attempts.push(a);
        if (a.outcome.kind === 'issued') couponOf.set(user, a.outcome.couponId);
        if (a.outcome.kind === 'issued' || a.outcome.kind === 'refused') break;
        await sleep(backoffMs(n));
      }
    }
  };
  await Promise.all(Array.from({ length: CLAIMERS }, claimer));
  return couponOf;
}

/** The fault step of checkout-mysql-kill. */
export async function checkoutMysqlKill(c: FaultCtx): Promise<FaultResult> {
  const t = { id: 'checkout-mysql-kill-orders', totalStock: COUPONS, subStocks: 4, perUserLimit: 1 };
  await c.admin('/v1/admin/templates', { id: t.id, name: t.id, type: 'direct', value: 100, totalStock: t.totalStock,
    subStocks: t.subStocks, perUserLimit: t.perUserLimit });
  const attempts: Attempt[] = [];
  const couponOf = await claimAll(c, t.id, Array.from({ length: COUPONS }, (_, i) => `ck${i}`), attempts);
  const coupons = [...couponOf].map(([userId, couponId]) => ({ userId, couponId }));
  if (coupons.length === 0) throw new Error('checkout-mysql-kill: no coupon was issued to run orders on');
  // Checkout reads the coupon's MySQL row: the flows start once the sinks stored every one.
  const storedBy = Date.now() + STORED_LIMIT_MS;
  while ((await c.probe.rows([t.id])).length < coupons.length) {
    if (Date.now() > storedBy) throw new Error(`checkout-mysql-kill: the ${coupons.length} coupons were not stored within ${STORED_LIMIT_MS / 1000} s`);
    await sleep(100);
  }

  // Its own client: the load's holds a few sockets per gateway, the flows want one each.
  const client = new DrillClient(FLOWS);
  const calls: CheckoutCall[] = [];
  const stats = { flows: 0, attempts: 0, unavailable: 0, transport: 0, retried: 0, inFlight: 0 };
  const failures: string[] = [];
  const start = Date.now();
  const hardStop = start + HARD_LIMIT_MS;

  /** One call, sent until it gets a definite answer (anything but 503/429/5xx or no answer) or its time is up. */
  const call = async (op: CheckoutOp, couponId: string, orderId: string, body: object): Promise<CheckoutCall['answer']> => {
    const giveUp = Math.min(Date.now() + CALL_LIMIT_MS, hardStop);
    for (let n = 0; ; n++) {
      const url = pick(c.gatewayUrls);
      stats.attempts++;
      stats.inFlight++;
      let r: Awaited<ReturnType<DrillClient['send']>> | undefined;
      try {
        r = await client.send('POST', `${url}/v1/coupons/${couponId}/${op}`, body, {}, ATTEMPT_TIMEOUT_MS);
      } catch {
        stats.transport++;
      } finally {
        stats.inFlight--;
      }
      if (r && r.status < 500 && r.status !== 429) {
        const b = (r.body ?? {}) as { status?: unknown; error?: unknown };
        const answer = { status: r.status, code: String(r.status === 200 ? b.status : b.error) };
        calls.push({ couponId, orderId, op, answer });
        return answer;
      }
      if (r?.status === 503) stats.unavailable++;
      // MySQL down is a 503 with Retry-After (docs/api.md, "Checkout"); any other 5xx is a broken promise.
      else if (r) failures.push(`checkout-mysql-kill: ${op} of ${orderId} answered ${r.status} ${JSON.stringify(r.body)}`);
      if (n === 0) stats.retried++;
      const wait = backoffMs(n);
      if (Date.now() + wait > giveUp) {
        calls.push({ couponId, orderId, op });
        return undefined;
      }
      await sleep(wait);
    }
  };

  const flow = async (orderId: string) => {
    const { userId, couponId } = pick(coupons);
    const lock = await call('lock', couponId, orderId, { userId, orderId });
    if (lock === undefined) return;
    if (lock.status !== 200) {
      if (Math.random() < EMPTY_ROLLBACK) await call('cancel', couponId, orderId, { orderId });
      return;
    }
    await sleep(Math.random() * PAY_MS);
    const x = Math.random();
    if (x < ABANDON) return;
    if (x >= ABANDON + (1 - ABANDON) * CONFIRM) {
      await call('cancel', couponId, orderId, { orderId });
      return;
    }
    const confirm = await call('confirm', couponId, orderId, { orderId });
    if (confirm?.status === 200 && Math.random() < REFUND) await call('refund', couponId, orderId, { orderId });
  };
  const runner = async (k: number) => {
    while (Date.now() - start < FLOW_WINDOW_MS) {
      await flow(`ck-o${k}-${stats.flows++}`);
      await sleep(Math.random() * THINK_MS);
    }
  };

  let injectedAt = 0;
  let repairedAt = 0;
  let inFlightAtKill = 0;
  try {
    const flows = Promise.all(Array.from({ length: FLOWS }, (_, k) => runner(k)));
    await sleep(KILL_AFTER_MS);
    const until = Date.now() + IN_FLIGHT_WAIT_MS;
    while (Date.now() < until && (inFlightAtKill = stats.inFlight) < IN_FLIGHT_WANTED) await sleep(1);
    injectedAt = Date.now();
    await c.services.mysqlKill();
    await sleep(MYSQL_DOWN_MS);
    await c.services.mysqlUp();
    repairedAt = Date.now();
    await flows;
  } finally {
    client.abortAll();
    client.close();
  }

  const undecided = calls.filter((x) => x.answer === undefined);
  if (undecided.length > 0) {
    failures.push(`checkout-mysql-kill: ${undecided.length} call(s) got no definite answer within ${CALL_LIMIT_MS / 1000} s, e.g. ` +
      undecided.slice(0, 3).map((x) => `${x.op} ${x.orderId}`).join(', '));
  }
  const stored = await c.probe.checkout(coupons.map((k) => k.couponId));
  const violations = checkCheckout(calls, stored);
  failures.push(...violations.slice(0, 20).map((v) => `checkout-mysql-kill: ${v}`));
  if (violations.length > 20) failures.push(`checkout-mysql-kill: ... and ${violations.length - 20} more`);
  const ok = (op: CheckoutOp) => calls.filter((x) => x.op === op && x.answer?.status === 200).length;
  if (ok('confirm') === 0 || ok('cancel') === 0) failures.push('checkout-mysql-kill: no confirm or no cancel succeeded: the flows checked little');
  const final = (s: string) => stored.coupons.filter((k) => k.status === s).length;
  return {
    injectedAt, repairedAt, lossWindows: [], templates: [t], attempts, failures,
    note: `mariadbd killed -9 with ${inFlightAtKill} checkout call(s) in flight, restarted after ${MYSQL_DOWN_MS / 1000} s; `
      + `${stats.flows} order flows on ${coupons.length} coupons: ${calls.length} calls (${stats.attempts} attempts; `
      + `${stats.unavailable} answered 503, ${stats.transport} no answer; ${stats.retried} calls retried, ${undecided.length} undecided); `
      + `200s: lock ${ok('lock')}, confirm ${ok('confirm')}, cancel ${ok('cancel')}, refund ${ok('refund')}; `
      + `coupons at the end: ${final('used')} used, ${final('locked')} locked, ${final('unused')} unused; ${violations.length} violation(s)`,
  };
}
