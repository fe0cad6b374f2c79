/**
 * What one of N gateway workers takes of the settings that are budgets of the whole gateway.
 * The kernel spreads connections evenly over the workers' listen sockets, so each worker's
 * buckets get 1/N: together they admit what the configuration says, not N times it.
 */
import type { Config } from '../config/index.ts';

// Rounded up and at least 1: a bucket of 0 would refuse everything, and rounding down could
// starve a small setting (rate 1 over 2 workers); the cost is at most N - 1 tokens over.
const share = (n: number, workers: number) => Math.max(1, Math.ceil(n / workers));

/** One worker's token buckets out of `workers` (the same settings when there is one). */
export function admissionShare(a: Config['admission'], workers: number): Config['admission'] {
  return {
    globalRps: share(a.globalRps, workers), globalBurst: share(a.globalBurst, workers),
    templateRps: share(a.templateRps, workers), templateBurst: share(a.templateBurst, workers),
  };
}

/**
 * Worker `index`'s admin routes. A separate admin listener is served by worker 0 alone: admin
 * traffic is a trickle, the wrong-token budget stays exact, and ADMIN_PORT=0 still works (only
 * a concrete port can be shared). Public admin routes come with the public port, which every
 * worker serves, so there the wrong-token budget is split like the buckets.
 */
export function adminShare(a: Config['admin'], workers: number, index: number): Config['admin'] {
  if (a.routes === 'separate') return index === 0 ? a : { ...a, routes: 'off' };
  if (a.routes === 'off') return a;
  return { ...a, failureBurst: share(a.failureBurst, workers), failuresPerMinute: share(a.failuresPerMinute, workers) };
}

/** One worker's redemption failure budget out of `workers` (the same settings when there is one). */
export function codesShare(c: Config['codes'], workers: number): Config['codes'] {
  return { ...c, failureBurst: share(c.failureBurst, workers), failuresPerMinute: share(c.failuresPerMinute, workers) };
}
