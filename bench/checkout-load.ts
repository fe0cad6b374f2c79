/**
 * The checkout bench's two loads, sent with node:http over keep-alive sockets from this process:
 * an open loop of prebuilt POSTs at a fixed rate (latency from each request's scheduled time, so
 * a slow answer cannot hide the ones queued behind it), and a closed loop of dependent pairs
 * (lock, then confirm of the same coupon) that autocannon cannot send.
 */
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';

/** Latency percentiles in ms. */
export interface Latency {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

type Histogram = ReturnType<typeof hdr.build>;
const histogram = (): Histogram =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
const latencyOf = (h: Histogram): Latency => ({
  count: h.totalCount, p50: h.getValueAtPercentile(50) / 1000, p99: h.getValueAtPercentile(99) / 1000, max: h.maxValue / 1000,
});

/** One POST with a JSON body; resolves with its status (0: socket error or timeout). */
function post(agent: Agent, origin: URL, path: string, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    let done = false;
    const end = (status: number) => {
      if (!done) resolve(status);
      done = true;
    };
    const req = request({
      agent, hostname: origin.hostname, port: origin.port, method: 'POST', path, timeout: 10_000,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
    }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => end(res.statusCode ?? 0));
      res.on('error', () => end(0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => end(0));
    req.end(body);
  });
}

export interface OpenLoopResult {
  readonly seconds: number;
  /** From each request's scheduled time (what a user arriving then sees). */
  readonly latency: Latency;
  /** From its actual send: without the client's own delays, so the two tell the server's tail from the client's. */
  readonly fromSend: Latency;
  readonly statuses: Readonly<Record<string, number>>;
  /** The latest any request left its scheduled time, ms: when large, the client or its sockets were the limit. */
  readonly maxSendLagMs: number;
  /** This process's event-loop delay, ms: a stalled client delays the answers it reads, whatever the server did. */
  readonly clientLoopDelay: { readonly p99: number; readonly max: number };
}

/** POSTs bodies[k % n] at `rate` per second for `seconds` over at most `sockets` connections. */
export async function openLoop(url: string, bodies: readonly Buffer[], rate: number, seconds: number, sockets: number): Promise<OpenLoopResult> {
  const origin = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  const h = histogram();
  const hSend = histogram();
  const statuses: Record<string, number> = {};
  const total = Math.round(rate * seconds);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = performance.now();
  let maxSendLagMs = 0;
  const pending: Promise<void>[] = [];
  const send = (k: number, at: number) => {
    const sentAt = performance.now();
    maxSendLagMs = Math.max(maxSendLagMs, sentAt - at);
    pending.push(post(agent, origin, origin.pathname, bodies[k % bodies.length]!).then((status) => {
      const now = performance.now();
      h.recordValue(Math.max(1, Math.round((now - at) * 1000)));
      hSend.recordValue(Math.max(1, Math.round((now - sentAt) * 1000)));
      statuses[status] = (statuses[status] ?? 0) + 1;
    }));
  };
  // every request that is due goes out, never one early; then sleep until the next is due.
  for (let k = 0; k < total;) {
    const now = performance.now();
    for (; k < total && t0 + (k * 1000) / rate <= now; k++) send(k, t0 + (k * 1000) / rate);
    if (k < total) await new Promise((r) => setTimeout(r, Math.max(1, t0 + (k * 1000) / rate - performance.now())));
  }
  await Promise.all(pending);
  loop.disable();
  agent.destroy();
  return { seconds: (performance.now() - t0) / 1000, latency: latencyOf(h), fromSend: latencyOf(hSend), statuses, maxSendLagMs,
    clientLoopDelay: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 } };
}

/** A coupon to lock and confirm, and its holder. */
export interface PairTarget {
  readonly couponId: string;
  readonly userId: string;
}

export interface PairsResult {
  readonly seconds: number;
  /** Pairs whose lock and confirm both answered 200. */
  readonly pairs: number;
  readonly lock: Latency;
  readonly confirm: Latency;
  readonly statuses: { readonly lock: Readonly<Record<string, number>>; readonly confirm: Readonly<Record<string, number>> };
}

/**
 * `concurrency` workers, each taking the next unused target and sending its lock, then its
 * confirm, until `seconds` pass or the targets run out. `next` is shared, so successive runs
 * (warm-up, measurement) never touch a coupon twice.
 */
export async function pairLoop(base: string, targets: readonly PairTarget[], next: { i: number }, orderPrefix: string,
  concurrency: number, seconds: number): Promise<PairsResult> {
  const origin = new URL(base);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const hLock = histogram();
  const hConfirm = histogram();
  const statuses = { lock: {} as Record<string, number>, confirm: {} as Record<string, number> };
  const count = (s: Record<string, number>, status: number) => { s[status] = (s[status] ?? 0) + 1; };
  let pairs = 0;
  const t0 = performance.now();
  const endAt = t0 + seconds * 1000;
  const worker = async () => {
    while (performance.now() < endAt && next.i < targets.length) {
      const t = targets[next.i]!;
      const orderId = `${orderPrefix}${next.i++}`;
      const path = `/v1/coupons/${t.couponId}`;
      const a = performance.now();
      const lock = await post(agent, origin, `${path}/lock`, Buffer.from(JSON.stringify({ userId: t.userId, orderId })));
      const b = performance.now();
      hLock.recordValue(Math.max(1, Math.round((b - a) * 1000)));
      count(statuses.lock, lock);
      if (lock !== 200) continue;
      const confirm = await post(agent, origin, `${path}/confirm`, Buffer.from(JSON.stringify({ orderId })));
      hConfirm.recordValue(Math.max(1, Math.round((performance.now() - b) * 1000)));
      count(statuses.confirm, confirm);
      if (confirm === 200) pairs++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { seconds: (performance.now() - t0) / 1000, pairs, lock: latencyOf(hLock), confirm: latencyOf(hConfirm), statuses };
}
