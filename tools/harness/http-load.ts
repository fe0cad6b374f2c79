/**
 * HTTP load of the end-to-end bench: autocannon (the product's load tool) in this process, and
 * wrk as a second opinion in a child process. Both are bounded by duration and loopback only.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { spawnChild, waitExit } from './processes.ts';

/** wrk's Debian path; the wrk runs are skipped when it is missing. */
export const WRK = '/usr/bin/wrk';

export interface LoadResult {
  readonly tool: 'autocannon' | 'wrk';
  readonly label: string;
  readonly seconds: number;
  /** Responses per second over the run. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly responses: number;
  readonly ok2xx: number;
  readonly non2xx: number;
  /** Count per HTTP status (autocannon only; wrk reports just non-2xx). */
  readonly statuses: Readonly<Record<string, number>>;
  /** Socket errors and timeouts. */
  readonly errors: number;
}

// The parts of autocannon's API used here (the package ships no types).
interface AcRequest { method: string; path: string; headers: Record<string, string>; body: Buffer }
interface AcClient { setRequests(requests: AcRequest[]): void }
interface AcHistogram { average: number; p50: number; p99: number; total?: number }
interface AcResult {
  requests: AcHistogram; latency: AcHistogram; duration: number; errors: number; timeouts: number;
  non2xx: number; '2xx': number; statusCodeStats?: Record<string, { count: number }>;
}
interface AcInstance {
  stop(): void;
  on(event: 'response', f: (client: unknown, status: number, bytes: number, responseTimeMs: number) => void): void;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, res: AcResult) => void) => AcInstance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
let running: AcInstance | undefined;

/** Stops a running autocannon (Ctrl-C path). */
export function stopAutocannon(): void {
  running?.stop();
}

/**
 * Latencies in 10 µs buckets up to 10 s: autocannon's own histogram keeps whole milliseconds,
 * too coarse for a p50 around 1 ms. Recording is one array increment per response.
 */
class LatencyHistogram {
  private readonly buckets = new Uint32Array(1_000_001);
  private count = 0;
  record(ms: number): void {
    this.buckets[Math.min(1_000_000, Math.round(ms * 100))]!++;
    this.count++;
  }
  /** The latency in ms below which `q` (0..1) of the responses fall. */
  quantile(q: number): number {
    const want = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= want) return i / 100;
    }
    return NaN;
  }
}

/**
 * Claim bodies of one connection: `users` distinct users, each request a new claim (no
 * requestId). Built once up front, so autocannon sends prebuilt buffers and spends no CPU per
 * request on them (it shares the 2 cores with the servers).
 */
function ringOf(conn: number, templateId: string, users: number, path: string): AcRequest[] {
  return Array.from({ length: users }, (_, i) => ({
    method: 'POST', path, headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify({ userId: `u${conn}_${i}`, templateId })),
  }));
}

export interface AutocannonRun {
  readonly label: string;
  readonly url: string;
  readonly path: string;
  readonly templateId: string;
  readonly connections: number;
  readonly durationS: number;
  /** Distinct users per connection; with the template's per-user limit this caps issued coupons. */
  readonly usersPerConnection: number;
}

/** Runs autocannon for a fixed duration and summarises it. */
export async function runAutocannon(r: AutocannonRun): Promise<LoadResult> {
  let conn = 0;
  const hist = new LatencyHistogram();
  const res = await new Promise<AcResult>((resolve, reject) => {
    running = autocannon({
      url: r.url, connections: r.connections, duration: r.durationS, pipelining: 1,
      // 10 s covers any claim that is still answered; a hung server shows as timeouts, not a hang.
      timeout: 10,
      method: 'POST', headers: { 'content-type': 'application/json' },
      setupClient: (client: AcClient) => client.setRequests(ringOf(conn++, r.templateId, r.usersPerConnection, r.path)),
    }, (err, result) => (err ? reject(err) : resolve(result)));
    // every response, whatever its status (autocannon's histogram keeps 2xx only).
    running.on('response', (_c, _s, _b, ms) => hist.record(ms));
  }).finally(() => { running = undefined; });
  const statuses: Record<string, number> = {};
  for (const [code, v] of Object.entries(res.statusCodeStats ?? {})) statuses[code] = Number(v.count);
  const responses = Object.values(statuses).reduce((a, b) => a + b, 0);
  return {
    tool: 'autocannon', label: r.label, seconds: res.duration,
    rps: responses / res.duration, p50Ms: hist.quantile(0.5), p99Ms: hist.quantile(0.99),
    responses, ok2xx: res['2xx'], non2xx: res.non2xx, statuses, errors: res.errors,
  };
}

/** True when wrk is installed (it is optional). */
export function haveWrk(): boolean {
  return existsSync(WRK);
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '');
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
}

/** Parses wrk's `--latency` report. */
export function parseWrk(out: string, label: string): LoadResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  if (!total) throw new Error(`cannot parse wrk output:\n${out}`);
  const responses = Number(total[1]);
  const seconds = Number(total[2]) * UNIT_MS[total[3]!]! / 1000;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    tool: 'wrk', label, seconds, rps: responses / seconds,
    p50Ms: durationMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1]), p99Ms: durationMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1]),
    responses, ok2xx: responses - non2xx, non2xx, statuses: {}, errors,
  };
}

/** Runs wrk (2 threads, like the 2 cores) with the POST script; killed if it overruns. */
export async function runWrk(label: string, url: string, templateId: string, connections: number,
  durationS: number): Promise<LoadResult> {
  const c = spawnChild(`wrk ${label}`, WRK, ['-t2', `-c${connections}`, `-d${durationS}s`, '--latency',
    '--timeout', '10s', '-s', 'bench/wrk-post.lua', url], { BENCH_TEMPLATE_ID: templateId, BENCH_USERS: '200000' }, { keepStdout: true });
  const code = await waitExit(c, (durationS + 20) * 1000);
  if (code !== 0) throw new Error(`wrk exited with ${code}:\n${c.tail()}`);
  return parseWrk(c.stdout(), label);
}
