/** A small keep-alive HTTP client for tests (bounded sockets, bodies as JSON or raw bytes). */
import { Agent, request } from 'node:http';

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly raw: Buffer;
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly json: any;
}

/**
 * Sends one request; `body` objects are sent as JSON unless a Buffer/string is given. A client
 * whose latency is measured next to other traffic passes its own `via` agent.
 */
export function http(method: string, url: string, body?: unknown, headers: Record<string, string> = {},
  via: Agent = agent): Promise<HttpResult> {
  const payload = body === undefined ? undefined
    : Buffer.isBuffer(body) || typeof body === 'string' ? Buffer.from(body as string) : Buffer.from(JSON.stringify(body));
  const h: Record<string, string> = { ...headers };
  if (payload && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: via, headers: h }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        let json: unknown;
        try { json = JSON.parse(raw.toString()); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, raw, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export const ADMIN = { authorization: 'Bearer dev-admin-token' };

/** Creates a template through the admin API and returns its JSON. */
export async function createTemplate(base: string, body: Record<string, unknown>): Promise<any> {
  const r = await http('POST', `${base}/v1/admin/templates`, body, ADMIN);
  if (r.status !== 201) throw new Error(`create template: ${r.status} ${r.raw.toString()}`);
  return r.json;
}
