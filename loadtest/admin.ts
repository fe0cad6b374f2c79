/**
 * The gateway's admin API as the load test uses it: check it is up, create the run's templates,
 * code batches and grant jobs, read the jobs, and pause the templates afterwards (there is no
 * delete: paused templates and their coupons stay).
 */
import { GRANT_JSON_MAX } from '../issuance/grant-model.ts';
import type { GrantJob } from './verify-paths.ts';

/** What a scenario asks for; the id is prefixed with the run id. */
export interface TemplateSpec {
  readonly id: string;
  readonly totalStock: number;
  readonly perUserLimit: number;
  /** A red packet's budget in cents (its packets draw random amounts); absent: a direct coupon. */
  readonly budget?: number;
  /** Checkout rules (the checkout scenario): the categories it applies to, and whether it combines. */
  readonly checkout?: { readonly categories: readonly string[]; readonly stackable: boolean };
}

/** A created template, as the gateway answered. */
export interface CreatedTemplate {
  readonly id: string;
  readonly totalStock: number;
  readonly perUserLimit: number;
  readonly subStocks: number;
  /** A red packet's budget and least amount. */
  readonly budget?: number | null;
  readonly minAmount?: number | null;
}

// Admin calls are single-row MySQL writes; 10 s means the gateway or MySQL is stuck.
const TIMEOUT_MS = 10_000;
// Long bodies get more: a download computes ~150 codes per ms (docs/api.md), an upload stores its ids
// in MySQL at 85,000-146,000 a second (BENCHMARKS.md): far slower still means a stuck call.
const CODES_PER_MS = 50;
const IDS_PER_MS = 10;
// Creating thousands of templates (spread) in parallel, without flooding the gateway's MySQL pool.
const CONCURRENCY = 8;

async function inParallel<T, R>(items: readonly T[], f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return out;
}

/** Throws a readable error unless the gateway answers /readyz with 200. */
export async function checkReady(origin: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    throw new Error(`no gateway answers at ${origin} (${(err as Error).cause ?? (err as Error).message}); start one (make run) or pass --url`);
  }
  if (res.status !== 200) throw new Error(`gateway at ${origin} is not ready: ${res.status} ${await res.text()}`);
}

export class AdminClient {
  /** Ids of the templates this client created, so cleanup finds them even after a failed create. */
  readonly created: string[] = [];

  constructor(private readonly origin: string, private readonly token: string) {}

  /** Creates the templates (a direct 1.00-off coupon, or a red packet, each); progress is printed for long lists. */
  async createAll(specs: readonly TemplateSpec[]): Promise<CreatedTemplate[]> {
    let done = 0;
    return inParallel(specs, async (s) => {
      const t = await this.create(s);
      if (++done % 500 === 0) console.log(`  created ${done} of ${specs.length} templates`);
      return t;
    });
  }

  /** Pauses every template; returns the ids that could not be paused (each with its reason). */
  async pauseAll(ids: readonly string[]): Promise<string[]> {
    const failed = await inParallel(ids, async (id) => {
      try {
        await this.call('PATCH', `/v1/admin/templates/${id}`, { status: 'paused' }, 200);
        return undefined;
      } catch (err) {
        return `${id}: ${(err as Error).message}`;
      }
    });
    return failed.filter((f): f is string => f !== undefined);
  }

  private async create(s: TemplateSpec): Promise<CreatedTemplate> {
    const money = s.budget === undefined ? { type: 'direct', value: 100 } : { type: 'red_packet', budget: s.budget };
    const t = await this.call('POST', '/v1/admin/templates', {
      id: s.id, name: `loadtest ${s.id}`, ...money, totalStock: s.totalStock, perUserLimit: s.perUserLimit,
      ...(s.checkout ? { scope: { categories: s.checkout.categories }, stackable: s.checkout.stackable } : {}),
    }, 201) as Record<string, unknown>;
    this.created.push(String(t.id));
    return { id: String(t.id), totalStock: Number(t.totalStock), perUserLimit: Number(t.perUserLimit), subStocks: Number(t.subStocks),
      budget: t.budget === null ? null : Number(t.budget), minAmount: t.minAmount === null ? null : Number(t.minAmount) };
  }

  /** Creates a batch of `count` codes of the template and downloads them (one a line, in serial order). */
  async createCodes(templateId: string, count: number): Promise<{ batchId: string; codes: string[] }> {
    const b = await this.call('POST', `/v1/admin/templates/${templateId}/codes`, { count }, 201) as { batchId: string };
    const text = await this.send('GET', `/v1/admin/code-batches/${b.batchId}/codes`, undefined, 'text/plain', 200,
      TIMEOUT_MS + count / CODES_PER_MS);
    const codes = text.split('\n').filter((l) => l !== '');
    if (codes.length !== count) throw new Error(`code batch ${b.batchId}: downloaded ${codes.length} codes of ${count}`);
    return { batchId: b.batchId, codes };
  }

  /**
   * Starts a grant of the template to `userIds` (listed as given, duplicates included): JSON up
   * to GRANT_JSON_MAX ids, a text/plain upload (one id a line) beyond. Returns its id and its
   * count of distinct users.
   */
  async startGrant(templateId: string, userIds: readonly string[], ratePerSecond?: number): Promise<{ grantId: string; total: number }> {
    const path = `/v1/admin/templates/${templateId}/grants`;
    const timeoutMs = TIMEOUT_MS + userIds.length / IDS_PER_MS;
    const text = userIds.length <= GRANT_JSON_MAX
      ? await this.send('POST', path, JSON.stringify({ userIds, ...(ratePerSecond ? { ratePerSecond } : {}) }), 'application/json', 202, timeoutMs)
      : await this.send('POST', `${path}${ratePerSecond ? `?ratePerSecond=${ratePerSecond}` : ''}`, `${userIds.join('\n')}\n`, 'text/plain', 202,
        timeoutMs);
    return JSON.parse(text) as { grantId: string; total: number };
  }

  /** The grant job as GET /v1/admin/grants/{id} shows it. */
  async grant(grantId: string): Promise<GrantJob & Record<string, unknown>> {
    return await this.call('GET', `/v1/admin/grants/${grantId}`, undefined, 200) as GrantJob & Record<string, unknown>;
  }

  /** Cancels a grant job (a run that could not wait for its end). */
  async cancelGrant(grantId: string): Promise<void> {
    await this.call('PATCH', `/v1/admin/grants/${grantId}`, { state: 'cancelled' }, 200);
  }

  /** Every refused user of a grant job, all pages. */
  async grantRefusals(grantId: string): Promise<{ userId: string; reason: string }[]> {
    const out: { userId: string; reason: string }[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.call('GET', `/v1/admin/grants/${grantId}/refusals?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, undefined, 200) as
        { refusals: { userId: string; reason: string }[]; nextCursor?: string };
      out.push(...page.refusals);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return out;
  }

  private async call(method: string, path: string, body: unknown, want: number): Promise<unknown> {
    return JSON.parse(await this.send(method, path, body === undefined ? undefined : JSON.stringify(body), 'application/json', want));
  }

  private async send(method: string, path: string, body: string | undefined, contentType: string, want: number,
    timeoutMs = TIMEOUT_MS): Promise<string> {
    const res = await fetch(`${this.origin}${path}`, {
      method, signal: AbortSignal.timeout(Math.ceil(timeoutMs)), body,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': contentType }) },
    });
    const text = await res.text();
    if (res.status === 401) throw new Error(`${method} ${path}: 401: the gateway rejects the admin token (set ADMIN_TOKEN to the gateway's)`);
    if (res.status !== want) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text;
  }
}
