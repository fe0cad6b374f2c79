/**
 * grant-kill: a bulk grant job is running in the sink that holds the work lease when that sink
 * is killed -9 mid-job; it is restarted as the same consumer (so it takes the lease back) and
 * must resume from its cursor. Once the job is done, every listed user must hold exactly one
 * coupon of the grant or have a recorded refusal, none twice, none lost, and the job's counts
 * must match the rows. The job's decisions are handed to the oracle as the answers a client
 * got (a coupon from the user's row, or the recorded refusal), so it judges the grant's
 * template with the load's: stock, limit, one coupon per request.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { grantRequestId } from '../issuance/grant-model.ts';
import type { Attempt } from './facts.ts';
import type { FaultCtx, FaultResult } from './faults.ts';

// Users listed and the template's stock: fewer coupons than users, so the job also meets
// sold-out sub-stocks (the overflow path) and refuses the rest as sold_out.
const USERS = 3_000;
const STOCK = 2_500;
// Slow enough that the kill lands mid-job, fast enough for a short drill.
const RATE = 1_000;
const DONE_LIMIT_MS = 60_000;

/** Polls the job until `cond` or the limit. */
async function waitJob(c: FaultCtx, id: string, cond: (g: any) => boolean, limitMs: number): Promise<any> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    let g: any;
    try {
      g = await c.admin(`/v1/admin/grants/${id}`, undefined, 'GET');
    } catch {
      // the gateway may be briefly busy: poll again.
    }
    if (g && cond(g)) return g;
    if (Date.now() > deadline) throw new Error(`grant ${id} still ${JSON.stringify(g)} after ${limitMs / 1000} s`);
    await sleep(100);
  }
}

/** Every refusal of the job, paged. */
async function refusalsOf(c: FaultCtx, id: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor: string | undefined;
  do {
    const page = await c.admin(`/v1/admin/grants/${id}/refusals?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, undefined, 'GET');
    for (const r of page.refusals as { userId: string; reason: string }[]) out.set(r.userId, r.reason);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out;
}

/** The fault step of grant-kill. */
export async function grantKill(c: FaultCtx): Promise<FaultResult> {
  const t = { id: 'grant-kill-list', totalStock: STOCK, subStocks: 4, perUserLimit: 1 };
  await c.admin('/v1/admin/templates', { id: t.id, name: t.id, type: 'direct', value: 100, totalStock: STOCK, subStocks: 4, perUserLimit: 1 });
  const users = Array.from({ length: USERS }, (_, i) => `gk${i}`);
  const sentAt = Date.now();
  const { grantId } = await c.admin(`/v1/admin/templates/${t.id}/grants`, { userIds: users, ratePerSecond: RATE });
  // The sink running it: the lease holder (a sink's consumer name is its lease owner).
  await waitJob(c, grantId, (g) => g.granted >= USERS / 4, DONE_LIMIT_MS);
  const holder = await c.probe.leaseHolder();
  const i = c.sinkConsumers.indexOf(holder ?? '');
  if (i < 0) throw new Error(`the work lease is held by ${holder}, not a drill sink`);
  const sink = c.sinks[i]!;
  const pid = sink.pid;
  const before = (await waitJob(c, grantId, () => true, 5_000)).granted;
  const injectedAt = Date.now();
  await sink.kill9();
  await sink.start();
  const repairedAt = Date.now();
  const g = await waitJob(c, grantId, (x) => ['done', 'cancelled', 'failed'].includes(x.state), DONE_LIMIT_MS);
  await c.probe.waitDrained(DONE_LIMIT_MS);

  // The job's answer per user: its coupon (from its row) or its recorded refusal.
  const failures: string[] = [];
  const refusals = await refusalsOf(c, grantId);
  const rid = grantRequestId(grantId);
  const rows = (await c.probe.rows([t.id])).filter((r) => r.requestId === rid);
  const rowsOf = new Map<string, string[]>();
  for (const r of rows) rowsOf.set(r.userId, [...(rowsOf.get(r.userId) ?? []), r.couponId]);
  const attempts: Attempt[] = [];
  for (const u of users) {
    const coupons = rowsOf.get(u) ?? [];
    const reason = refusals.get(u);
    const base = { requestId: rid, userId: u, templateId: t.id, gateway: -1, sentAt, endedAt: Date.now() };
    if (coupons.length > 0 && reason !== undefined) failures.push(`grant-kill: ${u} holds a coupon and was refused (${reason})`);
    if (coupons.length === 0 && reason === undefined) failures.push(`grant-kill: ${u} was skipped: no coupon, no refusal`);
    // Two coupons of one request are the oracle's duplicate_row: each is handed to it.
    for (const couponId of coupons) {
      attempts.push({ ...base, outcome: { kind: 'issued', couponId, replayed: false, userId: u, templateId: t.id } });
    }
    if (coupons.length === 0 && reason !== undefined) attempts.push({ ...base, outcome: { kind: 'refused', status: 0, reason } });
  }
  if (g.state !== 'done') failures.push(`grant-kill: the job ended ${g.state}`);
  const refused = Object.values(g.refused as Record<string, number>).reduce((a, b) => a + b, 0);
  if (g.granted !== rows.length) failures.push(`grant-kill: the job counts ${g.granted} granted, MySQL holds ${rows.length} coupons of it`);
  if (g.granted + refused + g.failed !== USERS) failures.push(`grant-kill: ${g.granted} + ${refused} + ${g.failed} decided of ${USERS} users`);
  return {
    injectedAt, repairedAt, lossWindows: [], templates: [t], attempts, failures,
    note: `${sink.spec.name} (pid ${pid}) killed -9 running a grant of ${USERS} users at ${before} granted, restarted as the same `
      + `consumer; the job ended ${g.state}: granted ${g.granted}, refused ${refused}, failed ${g.failed}`,
  };
}
