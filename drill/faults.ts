/**
 * The faults, each injected while the load runs and then repaired. A step returns when
 * the broken part serves again, with the moments the verifier and the report need.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppProcess } from './apps.ts';
import type { Probe, ProbedTemplate } from './collect.ts';
import { homeSubStock } from '../lua/keys.ts';
import type { CuttingProxy } from '../tools/harness/cutting-proxy.ts';
import type { LossWindow } from '../tools/verify/oracle.ts';
import type { Attempt, TemplateFacts } from './facts.ts';
import type { DrillName } from './options.ts';
import type { Services } from './services.ts';

/** A gateway whose Redis connections go through a proxy of the drill's (gateway-freeze). */
export interface ProxiedGateway {
  readonly app: AppProcess;
  readonly url: string;
  readonly proxy: CuttingProxy;
}

export interface FaultCtx {
  readonly services: Services;
  readonly gateways: readonly AppProcess[];
  readonly gatewayUrls: readonly string[];
  /** Started only by the gateway-freeze drill. */
  readonly frozen: ProxiedGateway;
  readonly sinks: readonly AppProcess[];
  /** SINK_CONSUMER of each sink, by index. */
  readonly sinkConsumers: readonly string[];
  readonly probe: Probe;
  /** Claims in flight to gateway i, as the clients see them. */
  readonly inFlightTo: (gateway: number) => number;
  readonly appendfsync: 'everysec' | 'always';
  /** An admin request through the first gateway; throws unless it succeeds; the answer's body. */
  readonly admin: (path: string, body: unknown, method?: string) => Promise<any>;
  /** One recorded claim attempt to `base` (gateway index, -1 for one outside the load's). */
  readonly attempt: (base: string, gateway: number, userId: string, templateId: string, requestId: string,
    timeoutMs: number) => Promise<Attempt>;
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
  /** Templates the fault created and claimed itself, and its claims: judged with the load's. */
  readonly templates?: readonly (TemplateFacts & ProbedTemplate)[];
  readonly attempts?: readonly Attempt[];
  /** One line on what exactly happened. */
  readonly note: string;
  /** What the fault found broken besides the oracle's invariants (the drill fails on them). */
  readonly failures?: readonly string[];
  /**
   * Redis may have forgotten stock decrements MySQL holds (a failover to a lagging replica):
   * the reconciler's count pass takes them out again. The drill waits for it before judging,
   * and reports how many units were back in stock and how long the repair took.
   */
  readonly stockRepair?: boolean;
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
// power loss: the AOF loses what it wrote this long before the kill (everysec fsyncs once a
// second; the writes since sat in the page cache).
const POWER_LOSS_MS = 1_000;
const AOF_SAMPLE_MS = 50;
// claim-home's RESERVED reply ({4, token}) in RESP: the frozen gateway stops right after it.
const RESERVED_REPLY = /\*[12]\r\n:4\r\n/;
// the reconciler releases a reservation RECONCILE_PENDING_AGE_MS (2 s in the drill) old within
// a pass (every 1 s): far less than this.
const RELEASE_WAIT_MS = 15_000;
// the frozen claim's client waits for its answer: it is recorded, whatever it is.
const LATE_ANSWER_MS = 30_000;
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

/** Kills sink 0 -9 while it holds a batch, restarts it: the other sink takes its records over (also a cluster drill). */
export async function sinkKill(c: Pick<FaultCtx, 'sinks' | 'sinkConsumers' | 'probe'>): Promise<FaultResult> {
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

/**
 * A host crash under `appendfsync everysec`: Redis killed and its AOF cut back to what it held a
 * second earlier. The sinks had stored most of that second: Redis forgets claims MySQL holds,
 * so no claim may run until the reconciler put users and stock back (lua/fenced.ts).
 */
async function redisPowerLoss(c: FaultCtx): Promise<FaultResult> {
  const sizes: { at: number; file: string; size: number }[] = [];
  const sample = () => {
    const t = c.services.aofTail();
    if (t) sizes.push({ at: Date.now(), ...t });
  };
  const sampler = setInterval(sample, AOF_SAMPLE_MS);
  let killedAt: number;
  let injectedAt: number;
  try {
    await sleep(POWER_LOSS_MS + 4 * AOF_SAMPLE_MS);
    injectedAt = Date.now();
    await c.services.redisSignal('KILL');
    killedAt = Date.now();
  } finally {
    clearInterval(sampler);
  }
  const now = c.services.aofTail();
  const cut = sizes.filter((s) => s.at <= injectedAt - POWER_LOSS_MS).at(-1);
  let note: string;
  if (c.appendfsync === 'always') {
    note = 'redis-server killed -9; its AOF kept whole: with appendfsync always a host crash loses nothing acknowledged';
  } else if (now && cut && cut.file === now.file) {
    c.services.truncateAof(now.file, cut.size);
    note = `redis-server killed -9 and its AOF cut back by ${now.size - cut.size} bytes to ${injectedAt - cut.at} ms before, `
      + 'as a host crash with appendfsync everysec leaves it; restarted';
  } else {
    throw new Error('redis-power-loss: no AOF size from a second before the kill (an AOF rewrite in between?)');
  }
  await sleep(REDIS_DOWN_MS);
  await c.services.redisUp();
  const lossWindows = c.appendfsync === 'everysec' ? [{ from: (cut?.at ?? injectedAt) - EVERYSEC_WINDOW_MS, to: killedAt }] : [];
  return { injectedAt, repairedAt: Date.now(), lossWindows, note };
}

/**
 * A gateway that only looks dead: one of its claims reserved a slot (its home sub-stock was
 * empty), then the gateway froze (SIGSTOP) before its take reached Redis, for longer than the
 * reconciler waits before it releases a reservation. The user claims again elsewhere and gets
 * the one coupon of the limit; then the gateway wakes up and its take arrives: it must be
 * refused (lua/claim-take-5.lua). The frozen gateway talks to Redis through a proxy that holds
 * the take, so the drill hits this moment every time, not by luck.
 */
async function gatewayFreeze(c: FaultCtx): Promise<FaultResult> {
  const z = c.frozen;
  const t = { id: 'gateway-freeze-late', totalStock: 10, subStocks: 2, perUserLimit: 1 };
  await c.admin('/v1/admin/templates', { id: t.id, name: t.id, type: 'direct', value: 100, totalStock: t.totalStock,
    subStocks: t.subStocks, perUserLimit: t.perUserLimit });
  // A reduction takes from sub-stock 0 first: it is empty, sub-stock 1 keeps 5.
  await c.admin(`/v1/admin/templates/${t.id}/stock`, { add: -5, requestId: 'empty-sub-stock-0' });
  const user = Array.from({ length: 100 }, (_, i) => `late-u${i}`).find((u) => homeSubStock(t.id, u, t.subStocks) === 0)!;
  await z.app.start();
  try {
    z.proxy.hangAfterReply(RESERVED_REPLY, () => z.app.freeze('SIGSTOP'));
    const injectedAt = Date.now();
    const late = c.attempt(z.url, -1, user, t.id, 'late-1', LATE_ANSWER_MS);
    const deadline = Date.now() + RELEASE_WAIT_MS;
    // Fenced (in the released set) first, then released (no longer pending) after the drain point.
    const released = async () => (await c.probe.released(t.id)) > 0 && (await c.probe.stock([t])).get(t.id)!.pending === 0;
    while (!(await released())) {
      if (Date.now() > deadline) throw new Error(`gateway-freeze: the reconciler did not release the frozen claim within ${RELEASE_WAIT_MS} ms`);
      await sleep(100);
    }
    const frozenFor = Date.now() - injectedAt;
    const fair = await c.attempt(c.gatewayUrls[0]!, 0, user, t.id, 'fair-1', 5_000);
    if (fair.outcome.kind !== 'issued') throw new Error(`gateway-freeze: the released user's new claim was not issued: ${JSON.stringify(fair.outcome)}`);
    z.app.freeze('SIGCONT');
    z.proxy.setHung(false);
    const answer = await late;
    return { injectedAt, repairedAt: Date.now(), lossWindows: [], templates: [{ ...t, totalStock: 5 }], attempts: [answer, fair],
      note: `a gateway frozen (SIGSTOP) between reserve and take for ${frozenFor} ms; the reconciler released its reservation, `
        + `the user claimed again elsewhere; woken, its late claim was answered ${answer.outcome.kind === 'error' ? answer.outcome.status : answer.outcome.kind}` };
  } finally {
    z.app.freeze('SIGCONT');
    z.proxy.setHung(false);
    await z.app.stop(2_000);
  }
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

/** The fault step of each drill but those with a file of their own. */
export const FAULTS: Readonly<Record<Exclude<DrillName, 'grant-kill' | 'checkout-mysql-kill'>, (c: FaultCtx) => Promise<FaultResult>>> = {
  'gateway-kill': gatewayKill,
  'sink-kill': sinkKill,
  'redis-kill': redisKill,
  'redis-power-loss': redisPowerLoss,
  'gateway-freeze': gatewayFreeze,
  'mysql-stop': mysqlStop,
  'redis-pause': redisPause,
};
