/**
 * Calibration, Redis: claims per second that one Redis core decides through the real claim-home
 * script, at several group sizes (claims per call, as the gateway's group commit sends them),
 * through ioredis as the gateway calls it (each call its own write, many in flight) and
 * pipelined (one write per batch of calls, as a corked gateway turn). After each run of the
 * first kind, the sink's own reader (sink/consumer.ts) reads and acks what the run appended, so
 * the sink's share of Redis is measured per entry of that many records too. Redis's own CPU is
 * metered from /proc, so the figures per Redis CPU-second are the ceiling of a shard with a
 * core to itself, even on a shared box where this client competes with Redis for the cores.
 */
import type { Config } from '../config/index.ts';
import { onCleanup } from '../tools/harness/cleanup.ts';
import { cpuMeter } from '../tools/harness/cpu.ts';
import { commandMeter } from '../tools/harness/redis-stats.ts';
import { createRedis, type RedisClient, waitReady } from '../lua/client.ts';
import { ScriptCode, type ScriptReply } from '../lua/codes.ts';
import { Commands, type FencedCall, type HomeClaim } from '../lua/commands.ts';
import { checkLayout, layoutFacts } from '../lua/layout.ts';
import { homeSubStock, type KeySpace, stockKey, subStockPartition } from '../lua/keys.ts';
import { couponIdPrefix } from '../core/shards.ts';
import { deleteKeys } from '../tools/harness/storage.ts';
import { StreamConsumer } from '../sink/consumer.ts';
import { createLog } from '../sink/log.ts';
import type { RedisRun, StreamReadRun } from './calibration-file.ts';

const TEMPLATE = 'cap-redis';
// 16 sub-stocks over 16 partitions: the script's keys spread as a hot template's do.
const SUB_STOCKS = 16;
// Users are reused round-robin with a limit no run reaches, so every claim issues (the full
// path). About 512 per sub-stock: a group of up to 64 holds distinct users, as a turn's does.
const USERS = 8192;
const PER_USER_LIMIT = 1_000_000_000;
export const IN_FLIGHT = 64;
const PIPELINES_IN_FLIGHT = 4;
// A corked gateway turn sends at most one call per sub-stock of a template in one write.
const PIPELINE_DEPTH = SUB_STOCKS;
// Throughput, not latency, is measured: a pipeline of 64-claim calls on a busy shared box may
// wait longer than the gateway's timeout, and a timeout would end the calibration.
export const COMMAND_TIMEOUT_MS = 5_000;
export const WARMUP_MS = 300;

/**
 * Pre-built calls of exactly `size` claims each, every call on one home sub-stock, consecutive
 * calls on different sub-stocks (as a turn's groups are): the client's CPU goes to Redis calls,
 * not to key strings.
 */
export function groupCalls(cfg: Config, commands: Commands, size: number): FencedCall[] {
  const ks: KeySpace = commands.ks;
  const layout = { dbs: cfg.mysql.shardDbs, tables: cfg.mysql.shardTables };
  const bySub: HomeClaim[][] = Array.from({ length: SUB_STOCKS }, () => []);
  for (let i = 0; i < USERS; i++) {
    const userId = `u${i}`;
    const k = homeSubStock(TEMPLATE, userId, SUB_STOCKS);
    bySub[k]!.push({ templateId: TEMPLATE, userId, requestId: `~cap.${i}`, remember: '0', perUserLimit: PER_USER_LIMIT,
      home: k, homePartition: subStockPartition(ks, TEMPLATE, k), shardPrefix: couponIdPrefix(layout, userId) });
  }
  const perSub = bySub.map((claims) => Array.from({ length: Math.ceil(claims.length / size) }, (_, j) =>
    commands.homeCall(Array.from({ length: size }, (_, i) => claims[(j * size + i) % claims.length]!))));
  const calls: FencedCall[] = [];
  for (let j = 0; j < Math.max(...perSub.map((s) => s.length)); j++) {
    for (const s of perSub) if (j < s.length) calls.push(s[j]!);
  }
  return calls;
}

/** Every claim of a call must issue: anything else is not the path being measured. */
export function check(flat: ScriptReply, size: number): void {
  for (let i = 0; i < 2 * size; i += 2) {
    if (flat[i] !== ScriptCode.Issued) throw new Error(`claim-home did not issue during the Redis run: ${JSON.stringify(flat.slice(0, 8))}`);
  }
}

/** The pid of the Redis server (INFO server), or undefined when it is not on this machine's /proc. */
export async function redisPid(redis: RedisClient): Promise<number | undefined> {
  const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Both modes at every group size on the config's own prefix (`step` after each); its keys are deleted after each run and at the end. */
export async function measureRedis(cfg: Config, seconds: number, groupSizes: readonly number[], step: () => void): Promise<RedisRun[]> {
  // the gateway's own client settings, with auto-pipelining off whatever the environment says.
  const redis = createRedis({ ...cfg.redis, autoPipelining: false, commandTimeoutMs: COMMAND_TIMEOUT_MS },
    { offlineQueue: true, name: 'capacity' });
  let stopped = false;
  let active: Promise<unknown> = Promise.resolve();
  // registered, so Ctrl-C in the middle of a run deletes the keys too: the workers stop first,
  // or a claim still in flight would write keys behind the deletion.
  const cleanup = onCleanup('redis keys', async () => {
    stopped = true;
    await active.catch(() => undefined);
    await deleteKeys(redis, `${cfg.redis.keyPrefix}:*`);
    redis.disconnect();
  });
  try {
    await waitReady(redis, 5_000);
    const ks: KeySpace = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
    const commands = new Commands(redis, ks);
    const pid = await redisPid(redis);

    const run = async (mode: RedisRun['mode'], size: number): Promise<RedisRun> => {
      const calls = groupCalls(cfg, commands, size);
      let next = 0;
      const nextCall = () => calls[next++ % calls.length]!;
      const going = (until: number) => !stopped && performance.now() < until;
      const single = async (until: number) => {
        while (going(until)) check(await commands.run(nextCall()), size);
      };
      const batch = async (until: number) => {
        while (going(until)) {
          const p = redis.pipeline();
          for (let i = 0; i < PIPELINE_DEPTH; i++) commands.pipeline(p, nextCall());
          for (const [err, reply] of (await p.exec())!) {
            if (err) throw err;
            check(reply as ScriptReply, size);
          }
        }
      };
      const pipelined = mode === 'pipelined';
      const inFlight = pipelined ? PIPELINES_IN_FLIGHT : IN_FLIGHT;
      const fleet = (until: number) => (active = Promise.all(Array.from({ length: inFlight }, () => (pipelined ? batch : single)(until))));
      await resetStock(redis, cfg);
      // the first calls warm the JIT: not measured.
      await fleet(performance.now() + WARMUP_MS);
      const before = next;
      const cmds = await commandMeter(redis);
      const m = cpuMeter({ redis: pid, client: process.pid });
      const t0 = performance.now();
      await fleet(t0 + seconds * 1000);
      const wall = (performance.now() - t0) / 1000;
      const cpu = m.finish();
      const evalsha = (await cmds.finish()).find((c) => c.command === 'evalsha');
      if (stopped) throw new Error('the Redis run was stopped');
      if (!evalsha || evalsha.calls === 0) throw new Error('INFO commandstats counted no EVALSHA during the Redis run');
      const execs = next - before;
      const claims = execs * size;
      const redisCpuS = pid === undefined ? null : cpu.find((c) => c.name === 'redis')!.cpuS;
      return {
        mode, groupSize: size, inFlight, depth: pipelined ? PIPELINE_DEPTH : 1, execs, claims, seconds: wall,
        claimsPerS: claims / wall, redisCpuS, claimsPerRedisCpuS: redisCpuS && redisCpuS > 0 ? claims / redisCpuS : null,
        // shared Redis: others' scripts are in the count too, a few against this run's thousands.
        scriptUsPerCall: evalsha.usec / evalsha.calls,
        clientCores: cpu.find((c) => c.name === 'client')!.cores,
        read: pipelined ? null : await readBack(size),
      };
    };

    /**
     * XREADGROUP and XACK, as the sink sends them, until every entry of the run is read; again
     * with a new consumer group until `seconds` have passed, as one pass is too short to meter
     * (/proc counts CPU in 10 ms ticks). Every group pays what the sink's one group pays.
     */
    const readBack = async (size: number): Promise<StreamReadRun> => {
      const m = cpuMeter({ redis: pid });
      const t0 = performance.now();
      let entries = 0;
      for (let pass = 0; pass === 0 || (!stopped && performance.now() - t0 < seconds * 1000); pass++) {
        const consumer = new StreamConsumer(redis, ks, { group: `capacity-${pass}`, consumer: 'capacity',
          readCount: cfg.sink.readCount, reclaimIdleMs: cfg.sink.reclaimIdleMs }, createLog());
        await consumer.ensureGroups();
        for (;;) {
          const { entries: got, failures } = await consumer.read();
          if (failures > 0) throw new Error('XREADGROUP failed during the Redis run');
          if (got.length === 0 || stopped) break;
          entries += got.length;
          const ids: string[][] = Array.from({ length: ks.partitions }, () => []);
          for (const e of got) ids[e.partition]!.push(e.id);
          await Promise.all(ids.map((list, p) => consumer.ack(p, list)));
        }
      }
      const wall = (performance.now() - t0) / 1000;
      const redisCpuS = pid === undefined ? null : m.finish().find((c) => c.name === 'redis')!.cpuS;
      const claims = entries * size;
      return { entries, claims, seconds: wall, claimsPerS: claims / wall, redisCpuS,
        claimsPerRedisCpuS: redisCpuS && redisCpuS > 0 ? claims / redisCpuS : null };
    };
    const runs: RedisRun[] = [];
    for (const size of groupSizes) {
      for (const mode of ['not pipelined', 'pipelined'] as const) {
        const r = await run(mode, size);
        console.log(`redis: ${String(size).padStart(2)} per call, ${mode.padEnd(13)} ${line(r)}`);
        if (r.read) console.log(`redis: ${String(size).padStart(2)} per entry, the sink's reads and acks ${readLine(r.read)}`);
        runs.push(r);
        step();
      }
    }
    return runs;
  } finally {
    await cleanup();
  }
}

/**
 * A fresh key space for each run: empties the previous run's streams and user entries (memory),
 * pins the layout and loads the claim scripts (lua/fenced.ts; again, as a shared Redis may have
 * had its scripts flushed by someone's test since), and sets every sub-stock anew.
 */
export async function resetStock(redis: RedisClient, cfg: Config): Promise<void> {
  await deleteKeys(redis, `${cfg.redis.keyPrefix}:*`);
  const ks: KeySpace = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
  await checkLayout(redis, ks, layoutFacts(cfg));
  for (let k = 0; k < SUB_STOCKS; k++) await redis.set(stockKey(ks, TEMPLATE, k), 1e12);
}

function readLine(r: StreamReadRun): string {
  const perCore = r.claimsPerRedisCpuS === null ? 'Redis CPU unknown' : `${Math.round(r.claimsPerRedisCpuS)} claims per Redis CPU-second`;
  return `${r.entries} entries (${r.claims} claims) in ${r.seconds.toFixed(2)} s, ${perCore}`;
}

function line(r: RedisRun): string {
  const perCore = r.claimsPerRedisCpuS === null ? 'Redis CPU unknown' : `${Math.round(r.claimsPerRedisCpuS)} per Redis CPU-second`;
  return `${Math.round(r.claimsPerS)} claims/s (${r.execs} calls in ${r.seconds.toFixed(1)} s), ${perCore}, ` +
    `${r.scriptUsPerCall.toFixed(1)} µs in the script per call, ` +
    `client ${r.clientCores.toFixed(2)} cores`;
}
