/**
 * The gateway's admin API as the load test uses it: check it is up, create the run's templates,
 * and pause them afterwards (there is no delete: paused templates and their coupons stay).
 */

/** What a scenario asks for; the id is prefixed with the run id. */
export interface TemplateSpec {
  readonly id: string;
  readonly totalStock: number;
  readonly perUserLimit: number;
  /** A red packet's budget in cents (its packets draw random amounts); absent: a direct coupon. */
  readonly budget?: number;
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
    }, 201) as Record<string, unknown>;
    this.created.push(String(t.id));
    return { id: String(t.id), totalStock: Number(t.totalStock), perUserLimit: Number(t.perUserLimit), subStocks: Number(t.subStocks),
      budget: t.budget === null ? null : Number(t.budget), minAmount: t.minAmount === null ? null : Number(t.minAmount) };
  }

  private async call(method: string, path: string, body: unknown, want: number): Promise<unknown> {
    const res = await fetch(`${this.origin}${path}`, {
      method, signal: AbortSignal.timeout(TIMEOUT_MS),
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status === 401) throw new Error(`${method} ${path}: 401: the gateway rejects the admin token (set ADMIN_TOKEN to the gateway's)`);
    if (res.status !== want) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text);
  }
}
