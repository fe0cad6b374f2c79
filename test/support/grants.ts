/** Grant jobs for tests: the sink's job runner in-process, the API's job view, the rows a grant wrote. */
import { GrantJobs, grantRunDeps } from '../../sink/grant-jobs.ts';
import { createLog } from '../../sink/log.ts';
import { reconcileCtx } from '../../reconcile/context.ts';
import { grantRequestId } from '../../issuance/grant-model.ts';
import { storedCoupons } from '../../tools/verify/facts.ts';
import type { StoredCoupon } from '../../tools/verify/oracle.ts';
import type { Storage } from '../../tools/harness/storage.ts';
import { ADMIN, http } from './http.ts';

/** Runs grant jobs in this process as a sink holding the lease would; returns its stop. */
export function runGrantJobs(s: Storage, owner = 'test-grants'): () => Promise<void> {
  const jobs = new GrantJobs(grantRunDeps(s.cfg, reconcileCtx(s.cfg, s.redis, s.mysql), s.mysql), owner, s.cfg.reconcile.leaseMs,
    createLog(() => undefined));
  jobs.start();
  return () => jobs.stop();
}

/** GET /v1/admin/grants/:id as JSON (throws on anything but 200). */
export async function grantView(base: string, grantId: string): Promise<any> {
  const r = await http('GET', `${base}/v1/admin/grants/${grantId}`, undefined, ADMIN);
  if (r.status !== 200) throw new Error(`grant ${grantId}: ${r.status} ${r.raw.toString()}`);
  return r.json;
}

/** Polls the job until `done(view)` or the timeout; returns the last view. */
export async function waitGrant(base: string, grantId: string, done: (g: any) => boolean, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const g = await grantView(base, grantId);
    if (done(g)) return g;
    if (Date.now() > deadline) throw new Error(`grant ${grantId} still ${JSON.stringify(g)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every stored coupon a grant issued (request id g:<grantId>). */
export async function grantCoupons(s: Storage, templateId: string, grantId: string): Promise<StoredCoupon[]> {
  const layout = { dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables };
  const rows = await storedCoupons(s.mysql, s.cfg.mysql.dbPrefix, layout, { ids: [templateId] });
  return rows.filter((r) => r.requestId === grantRequestId(grantId));
}

/** Every refusal of a grant, paged through the API. */
export async function allRefusals(base: string, grantId: string): Promise<{ userId: string; reason: string }[]> {
  const out: { userId: string; reason: string }[] = [];
  let cursor: string | undefined;
  do {
    const q = cursor === undefined ? '?limit=1000' : `?limit=1000&cursor=${cursor}`;
    const r = await http('GET', `${base}/v1/admin/grants/${grantId}/refusals${q}`, undefined, ADMIN);
    if (r.status !== 200) throw new Error(`refusals: ${r.status} ${r.raw.toString()}`);
    out.push(...r.json.refusals);
    cursor = r.json.nextCursor;
  } while (cursor !== undefined);
  return out;
}

/** POST a grant; returns the HTTP result. */
export function postGrant(base: string, templateId: string, body: unknown, headers: Record<string, string> = {}, query = '') {
  return http('POST', `${base}/v1/admin/templates/${templateId}/grants${query}`, body, { ...ADMIN, ...headers });
}
