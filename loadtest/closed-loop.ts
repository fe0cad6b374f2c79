/**
 * Closed loop with autocannon: every connection sends its next request as soon as the previous
 * answer arrives, so this finds the rate the gateway sustains. Latency is measured from each
 * request's actual send; under overload the queue therefore stays in the clients and latency
 * looks better than a user would see at a fixed arrival rate (use --rate for that: open-loop.ts).
 */
import { createRequire } from 'node:module';
import type { Recorder } from './recorder.ts';
import type { RequestSpec, Workload } from './requests.ts';

// The parts of autocannon's API used here (the package ships no types).
interface AcRequest {
  method: string;
  path: string;
  headers: Readonly<Record<string, string>>;
  body?: Buffer;
  spec: RequestSpec;
  onResponse(this: AcRequest, status: number, body: string): void;
}
interface AcQueue { peek(): { body: string } | undefined; addBody(data: Buffer): void }
interface AcClient {
  setRequests(requests: AcRequest[]): void;
  on(event: 'request', f: () => void): void;
  pipelinedRequests?: AcQueue;
}
interface AcInstance {
  stop(): void;
  on(event: 'response', f: (client: unknown, status: number, bytes: number, responseTimeMs: number) => void): void;
  on(event: 'reqError', f: (err: Error) => void): void;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null) => void) => AcInstance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface Bound {
  readonly durationS?: number;
  readonly requests?: number;
}

/** A request's answer, handed from its onResponse hook to the 'response' event that follows it synchronously. */
let answered: { spec: RequestSpec; status: number; body: string } | undefined;

function onResponse(this: AcRequest, status: number, body: string): void {
  answered = { spec: this.spec, status, body };
}

/**
 * autocannon appends body chunks to a string with the default (UTF-8) decoding, which mangles
 * msgpack answers; appending them as latin1 keeps every byte, and Buffer.from(s, 'latin1')
 * restores them. This reaches into autocannon 9's client (pinned in package.json).
 */
function keepBodyBytes(client: AcClient): void {
  const q = client.pipelinedRequests;
  if (!q || typeof q.addBody !== 'function' || typeof q.peek !== 'function') {
    throw new Error('autocannon internals changed (pipelinedRequests.addBody): the loadtest cannot read answer bodies');
  }
  q.addBody = function addBody(this: AcQueue, data: Buffer) {
    const r = this.peek();
    if (r) r.body += data.toString('latin1');
  };
}

let running: AcInstance | undefined;

/** Stops a running autocannon (Ctrl-C). */
export function stopClosedLoop(): void {
  running?.stop();
}

// Requests prebuilt over all connections at most (~200 bytes each); a larger workload repeats sooner.
const MAX_PREBUILT = 2_000_000;

/**
 * Runs `w` against `origin` until the bound; every response and error goes to `rec`. Returns the
 * connections used (never more than the requests).
 */
export async function runClosedLoop(origin: string, w: Workload, bound: Bound, connections: number, rec: Recorder): Promise<number> {
  const conns = bound.requests !== undefined ? Math.min(connections, bound.requests) : connections;
  // Connection c sends requests c, c + C, c + 2C, ... of the workload, then starts over.
  const ring = Math.max(1, Math.ceil(Math.min(w.distinct, MAX_PREBUILT) / conns));
  const rings = Array.from({ length: conns }, (_, c) => Array.from({ length: ring }, (_, i): AcRequest => {
    const spec = w.request(c + i * conns);
    return { method: spec.method, path: spec.path, headers: spec.headers, body: spec.body, spec, onResponse };
  }));
  let next = 0;
  const setupClient = (client: AcClient) => {
    keepBodyBytes(client);
    client.on('request', () => rec.sent());
    client.setRequests(rings[next++]!);
  };
  let loadStart = 0;
  await new Promise<void>((resolve, reject) => {
    running = autocannon({
      url: origin, connections: conns, pipelining: 1,
      // a claim is answered in milliseconds; 10 s catches a hung gateway without hanging the run.
      timeout: 10,
      // autocannon checks for the end of the run once per sample: 100 ms keeps --duration exact.
      sampleInt: 100,
      ...(bound.requests !== undefined ? { amount: bound.requests } : { duration: bound.durationS }),
      setupClient,
    }, (err) => (err ? reject(err) : resolve()));
    // autocannon builds its connections synchronously, each sending its first request at once:
    // the first requests cannot be read back before this point, so their clock starts here.
    loadStart = performance.now();
    rec.loadStarted(loadStart);
    running.on('response', (_client, status, _bytes, responseTimeMs) => {
      const a = answered;
      answered = undefined;
      const now = performance.now();
      if (a) rec.response(a.spec, status, Buffer.from(a.body, 'latin1'), Math.min(responseTimeMs, now - loadStart), now);
    });
    running.on('reqError', () => rec.error(performance.now()));
  }).finally(() => { running = undefined; });
  return conns;
}
