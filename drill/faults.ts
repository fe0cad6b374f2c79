/**
 * The five faults, each injected while the load runs and then repaired. A step returns when
 * the broken part serves again, with the moments the verifier and the report need.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppProcess } from './apps.ts';
import type { Probe } from './collect.ts';
import type { LossWindow } from './facts.ts';
import type { DrillName } from './options.ts';
import type { Services } from './services.ts';

export interface FaultCtx {
  readonly services: Services;
  readonly gateways: readonly AppProcess[];
  readonly sinks: readonly AppProcess[];
  /** SINK_CONSUMER of each sink, by index. */
  readonly sinkConsumers: readonly string[];
  readonly probe: Probe;
  /** Claims in flight to gateway i, as the clients see them. */
  readonly inFlightTo: (gateway: number) => number;
  readonly appendfsync: 'everysec' | 'always';
}

export interface FaultResult {
  /** When the fault began (epoch ms). */
  readonly injectedAt: number;
  /** When the broken part served again (epoch ms): recovery is measured from here. */
  readonly repairedAt: number;
  /** The gateway whose claims count for recovery, when the fault hit one gateway. */
  readonly gateway?: number;
  /** Where answered coupons may be missing without a violation (reported as lost after ack). */
  readonly lossWindows: readonly LossWindow[];
  /** One line on what exactly happened. */
  readonly note: string;
}

// How long each part stays broken: long enough for claims to be in flight and retried into
// the outage, short enough that the whole drill stays within minutes.
const GATEWAY_DOWN_MS = 1_000;
const SINK_DOWN_MS = 1_000;
const REDIS_DOWN_MS = 1_000;
const MYSQL_DOWN_MS = 5_000;
// far above the gateway's Redis command timeout (250 ms) and the client's (1 s).
const REDIS_PAUSE_MS = 3_000;
// everysec: the AOF is write()n before each reply, fsynced every second, and a write may be
// postponed up to 2 s while an fsync is slow. Answers this close before a kill may be lost
// with the AOF tail if the host dies; a killed process alone loses none of them.
const EVERYSEC_WINDOW_MS = 3_000;
// the gateway is killed once this many claims are in flight to it (or after the wait).
const IN_FLIGHT_WANTED = 3;
const IN_FLIGHT_WAIT_MS = 3_000;
// a sink holds a batch at most SINK_BATCH_MAX_WAIT_MS; under load one is held almost always.
const SINK_HOLD_WAIT_MS = 5_000;

async function gatewayKill(c: FaultCtx): Promise<FaultResult> {
  const g = c.gateways[0]!;
  const pid = g.pid;
  // mid-claim: wait for a moment with several claims in flight to this gateway.
  let inFlight = 0;
  const until = Date.now() + IN_FLIGHT_WAIT_MS;
  while (Date.now() < until && (inFlight = c.inFlightTo(0)) < IN_FLIGHT_WANTED) await sleep(1);
  const injectedAt = Date.now();
  await g.kill9();
  await sleep(GATEWAY_DOWN_MS);
  await g.start();
  return { injectedAt, repairedAt: Date.now(), gateway: 0, lossWindows: [],
    note: `${g.spec.name} (pid ${pid}) killed -9 with ${inFlight} claim(s) in flight to it, restarted on its port` };
}

async function sinkKill(c: FaultCtx): Promise<FaultResult> {
  const s = c.sinks[0]!;
  const pid = s.pid;
  // mid-batch: wait until it holds records it has read and not acknowledged.
  let held = 0;
  const until = Date.now() + SINK_HOLD_WAIT_MS;
  while (Date.now() < until && (held = await c.probe.pendingOf(c.sinkConsumers[0]!)) === 0) await sleep(10);
  const injectedAt = Date.now();
  await s.kill9();
  await sleep(SINK_DOWN_MS);
  await s.start();
  return { injectedAt, repairedAt: Date.now(), lossWindows: [],
    note: `${s.spec.name} (pid ${pid}) killed -9 holding ${held} unacknowledged record(s), restarted as the same consumer` };
}

async function redisKill(c: FaultCtx): Promise<FaultResult> {
  const injectedAt = Date.now();
  await c.services.redisSignal('KILL');
  const killedAt = Date.now();
  await sleep(REDIS_DOWN_MS);
  await c.services.redisUp();
  const lossWindows = c.appendfsync === 'everysec' ? [{ from: injectedAt - EVERYSEC_WINDOW_MS, to: killedAt }] : [];
  return { injectedAt, repairedAt: Date.now(), lossWindows,
    note: `redis-server killed -9, restarted from its AOF (appendfsync ${c.appendfsync})` };
}

async function mysqlStop(c: FaultCtx): Promise<FaultResult> {
  const injectedAt = Date.now();
  await c.services.mysqlDown();
  await sleep(MYSQL_DOWN_MS);
  await c.services.mysqlUp();
  return { injectedAt, repairedAt: Date.now(), lossWindows: [], note: `mariadbd stopped (SIGTERM by pid), down ${MYSQL_DOWN_MS / 1000} s, started again` };
}

async function redisPause(c: FaultCtx): Promise<FaultResult> {
  const injectedAt = Date.now();
  await c.services.redisSignal('STOP');
  try {
    await sleep(REDIS_PAUSE_MS);
  } finally {
    await c.services.redisSignal('CONT');
  }
  return { injectedAt, repairedAt: Date.now(), lossWindows: [], note: `redis-server SIGSTOP for ${REDIS_PAUSE_MS / 1000} s, then SIGCONT` };
}

/** The fault step of each drill. */
export const FAULTS: Readonly<Record<DrillName, (c: FaultCtx) => Promise<FaultResult>>> = {
  'gateway-kill': gatewayKill,
  'sink-kill': sinkKill,
  'redis-kill': redisKill,
  'mysql-stop': mysqlStop,
  'redis-pause': redisPause,
};
