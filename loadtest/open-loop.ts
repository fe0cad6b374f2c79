/**
 * Open loop at a fixed arrival rate (--rate): request k is scheduled at t0 + k / rate whether or
 * not earlier ones were answered, and its latency is counted from that scheduled time, not from
 * when it actually left (the wrk2 model). When the gateway slows down, requests wait for a free
 * connection and that wait is part of their latency, as it would be for users arriving at that
 * rate: no coordinated omission. autocannon's own rate option cannot do this: it releases each
 * connection's quota for the second in a burst and times from the actual send.
 *
 * Sent with node:http over at most `connections` keep-alive sockets.
 */
import { Agent } from 'node:http';
import type { Bound } from './closed-loop.ts';
import type { Recorder } from './recorder.ts';
import type { Workload } from './requests.ts';
import { sendRequest } from './send-request.ts';
// A client that falls this far behind its schedule stops sending: the run stays bounded, and
// what was never sent is reported (unsent) rather than silently dropped.
const MAX_BEHIND_MS = 30_000;

let stopRequested = false;

/** Stops a running open loop (Ctrl-C): nothing more is sent. */
export function stopOpenLoop(): void {
  stopRequested = true;
}

export interface OpenLoopStats {
  readonly unsent: number;
  readonly maxSendLagMs: number;
}

/** Runs `w` at `rate` requests/s until the bound; every response and error goes to `rec`. */
export async function runOpenLoop(origin: string, w: Workload, bound: Bound, connections: number, rate: number,
  rec: Recorder): Promise<OpenLoopStats> {
  stopRequested = false;
  const total = bound.requests ?? Math.floor(bound.durationS! * rate);
  const agent = new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  const { hostname, port } = new URL(origin);
  const intervalMs = 1000 / rate;
  const t0 = performance.now();
  rec.loadStarted(t0);
  const giveUpAt = t0 + total * intervalMs + MAX_BEHIND_MS;
  let next = 0;
  let inFlight = 0;
  let maxSendLagMs = 0;
  let timer: NodeJS.Timeout | undefined;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => { finish = resolve; });

  const send = (k: number) => {
    const scheduled = t0 + k * intervalMs;
    const spec = w.request(k);
    inFlight++;
    maxSendLagMs = Math.max(maxSendLagMs, performance.now() - scheduled);
    rec.sent();
    sendRequest({ agent, hostname, port }, spec, (status, body) => {
      inFlight--;
      const now = performance.now();
      if (status === 0) rec.error(now);
      else rec.response(spec, status, body, now - scheduled, now);
      pump();
    });
  };

  // Sends every request that is due while a connection is free; then sleeps until the next one
  // is due (or, with all connections busy, until an answer frees one and calls pump again).
  function pump(): void {
    clearTimeout(timer);
    const now = performance.now();
    const stopSending = stopRequested || now > giveUpAt;
    if (!stopSending) {
      const due = Math.min(total, Math.floor((now - t0) / intervalMs) + 1);
      while (next < due && inFlight < connections) send(next++);
    }
    if ((next >= total || stopSending) && inFlight === 0) {
      finish();
      return;
    }
    if (!stopSending && next < total && inFlight < connections) {
      timer = setTimeout(pump, Math.max(0, t0 + next * intervalMs - performance.now()));
    } else if (!stopSending && next < total) {
      // all connections busy: an answer calls pump; this bounds the wait when none comes.
      timer = setTimeout(pump, Math.max(1, giveUpAt - performance.now()));
    }
  }

  pump();
  await done;
  clearTimeout(timer);
  agent.destroy();
  return { unsent: total - next, maxSendLagMs };
}
