/**
 * The drill's HTTP client: one keep-alive agent per gateway, a hard timeout per request, and
 * every answer turned into an Outcome (facts.ts). Requests in flight can be cut off at the end.
 */
import { Agent, type ClientRequest, request } from 'node:http';
import type { Outcome } from './facts.ts';

export interface Response {
  readonly status: number;
  readonly body: unknown;
}

export class DrillClient {
  private readonly agents = new Map<string, Agent>();
  /** Requests in flight, each with the function that cuts it off. */
  private readonly inFlight = new Map<ClientRequest, () => void>();
  private readonly inFlightByOrigin = new Map<string, number>();

  constructor(private readonly maxSockets: number) {}

  /** Sends one request; rejects with 'timeout' / 'network' / 'aborted' in `err.drill`. */
  send(method: string, url: string, body: unknown, headers: Record<string, string>, timeoutMs: number): Promise<Response> {
    const origin = new URL(url).origin;
    let agent = this.agents.get(origin);
    if (!agent) this.agents.set(origin, (agent = new Agent({ keepAlive: true, maxSockets: this.maxSockets })));
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const count = (d: number) => this.inFlightByOrigin.set(origin, (this.inFlightByOrigin.get(origin) ?? 0) + d);
    count(1);
    return new Promise<Response>((resolve, reject) => {
      let failure: 'timeout' | 'network' | 'aborted' = 'network';
      const req = request(url, {
        method, agent, headers: payload ? { ...headers, 'content-type': 'application/json' } : headers,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          this.inFlight.delete(req);
          let parsed: unknown;
          try { parsed = JSON.parse(Buffer.concat(chunks).toString()); } catch { parsed = undefined; }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', () => undefined); // the request's 'error' reports it
      });
      const timer = setTimeout(() => { failure = 'timeout'; req.destroy(); }, timeoutMs);
      req.on('error', () => {
        clearTimeout(timer);
        this.inFlight.delete(req);
        reject(Object.assign(new Error(failure), { drill: failure }));
      });
      this.inFlight.set(req, () => { failure = 'aborted'; req.destroy(); });
      req.end(payload);
    }).finally(() => count(-1));
  }

  /** Requests sent to this base URL and not finished yet. */
  inFlightTo(base: string): number {
    return this.inFlightByOrigin.get(new URL(base).origin) ?? 0;
  }

  /** One claim attempt, as an Outcome (never throws). */
  async claim(base: string, userId: string, templateId: string, requestId: string, timeoutMs: number): Promise<Outcome> {
    let res: Response;
    try {
      res = await this.send('POST', `${base}/v1/claim`, { userId, templateId, requestId }, {}, timeoutMs);
    } catch (err) {
      return { kind: 'transport', error: (err as { drill?: 'timeout' | 'network' | 'aborted' }).drill ?? 'network' };
    }
    const b = (res.body ?? {}) as Record<string, unknown>;
    if (res.status === 200 && b.status === 'issued' && typeof b.couponId === 'string') {
      return { kind: 'issued', couponId: b.couponId, replayed: b.replayed === true, userId: String(b.userId), templateId: String(b.templateId),
        ...(typeof b.amount === 'number' ? { amount: b.amount } : {}) };
    }
    if (typeof b.status === 'string') return { kind: 'refused', status: res.status, reason: b.status };
    return { kind: 'error', status: res.status, code: typeof b.error === 'string' ? b.error : 'unknown' };
  }

  /** Cuts off every request still in flight (they end as 'aborted'). */
  abortAll(): void {
    for (const abort of this.inFlight.values()) abort();
  }

  /** Closes the keep-alive sockets. */
  close(): void {
    for (const a of this.agents.values()) a.destroy();
  }
}
