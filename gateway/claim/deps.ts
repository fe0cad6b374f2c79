/** What the claim path runs on, and the two ways it calls Redis (through the breaker). */
import { performance } from 'node:perf_hooks';
import type { Config } from '../../config/index.ts';
import { orUnavailable } from '../../core/errors.ts';
import type { ShardLayout } from '../../core/shards.ts';
import type { Commands } from '../../lua/commands.ts';
import type { KeySpace } from '../../lua/keys.ts';
import type { Admission } from '../admission.ts';
import type { BacklogMonitor } from '../backlog.ts';
import type { Breaker } from '../breaker.ts';
import type { TemplateCache } from '../cache/template-cache.ts';
import type { ClaimCounter } from '../stats/counter.ts';
import type { LatencyBuckets } from '../stats/latency.ts';

export interface ClaimDeps {
  /** The claim scripts; those that issue are fenced against a Redis restarted and not repaired yet. */
  readonly commands: Commands;
  readonly ks: KeySpace;
  readonly layout: ShardLayout;
  readonly cache: TemplateCache;
  readonly admission: Admission;
  readonly backlog: BacklogMonitor;
  readonly counter: ClaimCounter;
  /** Durations of the claims `counter` counts per template. */
  readonly latency: LatencyBuckets;
  /** Durations of the claim path's Redis calls (one per group of claims, group-commit.ts); unset with metrics off. */
  readonly redisLatency?: LatencyBuckets;
  /** Refuses new Redis work of claims while Redis keeps failing (breaker.ts). */
  readonly breaker: Breaker;
  readonly cfg: Config['claim'];
}

/** `f` with its duration, failed or not, recorded in d.redisLatency; `f` itself with metrics off. */
function timed<T>(d: ClaimDeps, f: () => Promise<T>): () => Promise<T> {
  const latency = d.redisLatency;
  if (latency === undefined) return f;
  return () => {
    const start = performance.now();
    const done = () => latency.observe(performance.now() - start);
    const p = f();
    p.then(done, done);
    return p;
  };
}

/** A group's claim-home call (group-commit.ts): like redisCall, timed by ClaimGroups, which awaits it anyway. */
export const groupCall = <T>(d: ClaimDeps, f: () => Promise<T>): Promise<T> => orUnavailable('redis', () => d.breaker.run(f));

/**
 * A Redis call that starts a step of a claim: refused with a 503 before it is sent while the
 * breaker is open; a failure of any kind is a 503 (http/errors.ts).
 */
export const redisCall = <T>(d: ClaimDeps, f: () => Promise<T>): Promise<T> => orUnavailable('redis', () => d.breaker.run(timed(d, f)));

/** A Redis call of a claim already under way (a reservation is held): never refused, only counted. */
export const stepCall = <T>(d: ClaimDeps, f: () => Promise<T>): Promise<T> => orUnavailable('redis', () => d.breaker.record(timed(d, f)));
