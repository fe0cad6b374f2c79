/**
 * Closed loop of flows: `concurrency` workers each run one flow (a sequence of calls where each
 * depends on the answer before, such as an order's quote, lock and confirm) after another until
 * the bound. Neither autocannon nor the open loop can send a call built from an earlier answer,
 * so this driver sends each call itself (node:http, keep-alive) and records it like the others.
 */
import { Agent } from 'node:http';
import type { Bound } from './closed-loop.ts';
import type { Recorder } from './recorder.ts';
import type { RequestSpec } from './requests.ts';
import { sendRequest } from './send-request.ts';

/** A call's answer as a flow sees it; status 0 is a socket error or timeout. */
export interface FlowAnswer {
  readonly status: number;
  readonly body: Buffer;
}

/** Sends one call and resolves with its answer (recorded on the way). */
export type Send = (spec: RequestSpec) => Promise<FlowAnswer>;

/**
 * One flow of worker `worker`; it returns false when the worker has nothing left to do (its
 * users hold no coupon to order with).
 */
export type Flow = (worker: number, send: Send) => Promise<boolean>;

let stopRequested = false;

/** Stops a running flow loop (Ctrl-C): no new flow starts. */
export function stopFlowLoop(): void {
  stopRequested = true;
}

/** Runs flows on `concurrency` workers until the bound (seconds, or calls sent); returns the workers used. */
export async function runFlowLoop(origin: string, flow: Flow, bound: Bound, concurrency: number, rec: Recorder): Promise<number> {
  stopRequested = false;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const { hostname, port } = new URL(origin);
  const t0 = performance.now();
  rec.loadStarted(t0);
  const endAt = bound.durationS === undefined ? Infinity : t0 + bound.durationS * 1000;
  let sent = 0;
  const more = () => !stopRequested && performance.now() < endAt && (bound.requests === undefined || sent < bound.requests);

  const send: Send = (spec) => new Promise((resolve) => {
    const start = performance.now();
    sent++;
    rec.sent();
    sendRequest({ agent, hostname, port }, spec, (status, body) => {
      const now = performance.now();
      if (status === 0) rec.error(now);
      else rec.response(spec, status, body, now - start, now);
      resolve({ status, body });
    });
  });

  const worker = async (w: number) => {
    while (more() && await flow(w, send));
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  agent.destroy();
  return concurrency;
}
