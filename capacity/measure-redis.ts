/**
 * Calibration, Redis: executions per second of the real claim-home script on one Redis core,
 * through ioredis as the gateway calls it (each command its own write, many in flight) and
 * pipelined (one write per batch). Redis's own CPU is metered from /proc, so the figure per
 * Redis CPU-second is the ceiling of a shard with a core to itself, even on a shared box where
 * this client competes with Redis for the cores.
 */
import type { Config } from '../config/index.ts';
import { onCleanup } from '../tools/harness/cleanup.ts';
import { cpuMeter } from '../tools/harness/cpu.ts';
import { createRedis, type RedisClient, waitReady } from '../lua/client.ts';
import { ScriptCode, type ScriptReply } from '../lua/codes.ts';
import { Commands, type FencedCall } from '../lua/commands.ts';
import { checkLayout, layoutFacts } from '../lua/layout.ts';
import { homeSubStock, type KeySpace, stockKey, subStockPartition } from '../lua/keys.ts';
import { couponIdPrefix } from '../core/shards.ts';
import { deleteKeys } from '../tools/harness/storage.ts';
import type { RedisRun } from './calibration-file.ts';

const TEMPLATE = 'cap-redis';
// 16 sub-stocks over 16 partitions: the script's keys spread as a hot template's do.
const SUB_STOCKS = 16;
// Users are reused round-robin with a limit no run reaches, so every call issues (the full path).
const USERS = 8192;
const PER_USER_LIMIT = 1_000_000_000;
const IN_FLIGHT = 64;
const PIPELINES_IN_FLIGHT = 4;
const PIPELINE_DEPTH = 64;
const WARMUP_MS = 300;

/** Pre-built calls of one claim per user: the client's CPU goes to Redis calls, not to key strings. */
function claimCalls(cfg: Config, commands: Commands): FencedCall[] {
  const ks: KeySpace = commands.ks;
  const layout = { dbs: cfg.mysql.shardDbs, tables: cfg.mysql.shardTables };
  return Array.from({ length: USERS }, (_, i) => {
    const userId = `u${i}`;
    const k = homeSubStock(TEMPLATE, userId, SUB_STOCKS);
    return commands.homeCall([{ templateId: TEMPLATE, userId, requestId: `~cap.${i}`, remember: '0', perUserLimit: PER_USER_LIMIT,
      home: k, homePartition: subStockPartition(ks, TEMPLATE, k), shardPrefix: couponIdPrefix(layout, userId) }]);
  });
}

function check(reply: ScriptReply): void {
  if (reply[0] !== ScriptCode.Issued) throw new Error(`claim-home did not issue during the Redis run: ${JSON.stringify(reply)}`);
}

/** The pid of the Redis server (INFO server), or undefined when it is not on this machine's /proc. */
export async function redisPid(redis: RedisClient): Promise<number | undefined> {
  const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Both Redis runs on the config's own prefix; its keys are deleted after each run and at the end. */
export async function measureRedis(cfg: Config, seconds: number): Promise<{ notPipelined: RedisRun; pipelined: RedisRun }> {
  // the gateway's own client settings, with auto-pipelining off whatever the environment says.
  const redis = createRedis({ ...cfg.redis, autoPipelining: false }, { offlineQueue: true, name: 'capacity' });
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
    // A fresh key space: pins the layout and loads the claim scripts (lua/fenced.ts).
    const ks: KeySpace = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
    await checkLayout(redis, ks, layoutFacts(cfg));
    const commands = new Commands(redis, ks);
    const pid = await redisPid(redis);
    const calls = claimCalls(cfg, commands);
    let next = 0;
    const nextCall = () => calls[next++ % USERS]!;
    const going = (until: number) => !stopped && performance.now() < until;
    const single = async (until: number) => {
      while (going(until)) check(await commands.run(nextCall()));
    };
    const batch = async (until: number) => {
      while (going(until)) {
        const p = redis.pipeline();
        for (let i = 0; i < PIPELINE_DEPTH; i++) commands.pipeline(p, nextCall());
        for (const [err, reply] of (await p.exec())!) {
          if (err) throw err;
          check(reply as ScriptReply);
        }
      }
    };
    const run = async (mode: RedisRun['mode']): Promise<RedisRun> => {
      const pipelined = mode === 'pipelined';
      const inFlight = pipelined ? PIPELINES_IN_FLIGHT : IN_FLIGHT;
      const fleet = (until: number) => (active = Promise.all(Array.from({ length: inFlight }, () => (pipelined ? batch : single)(until))));
      await resetStock(redis, cfg);
      // the first calls warm the JIT: not measured.
      await fleet(performance.now() + WARMUP_MS);
      const before = next;
      const m = cpuMeter({ redis: pid, client: process.pid });
      const t0 = performance.now();
      await fleet(t0 + seconds * 1000);
      const wall = (performance.now() - t0) / 1000;
      const cpu = m.finish();
      if (stopped) throw new Error('the Redis run was stopped');
      const execs = next - before;
      const redisCpuS = pid === undefined ? null : cpu.find((c) => c.name === 'redis')!.cpuS;
      return {
        mode, inFlight, depth: pipelined ? PIPELINE_DEPTH : 1, execs, seconds: wall, execsPerS: execs / wall,
        redisCpuS, execsPerRedisCpuS: redisCpuS && redisCpuS > 0 ? execs / redisCpuS : null,
        clientCores: cpu.find((c) => c.name === 'client')!.cores,
      };
    };
    const notPipelined = await run('not pipelined');
    if (stopped) throw new Error('the Redis run was stopped');
    console.log(`redis: not pipelined ${line(notPipelined)}`);
    const pipelined = await run('pipelined');
    console.log(`redis: pipelined     ${line(pipelined)}`);
    return { notPipelined, pipelined };
  } finally {
    await cleanup();
  }
}

/** Empties the previous run's streams and user entries (memory) and sets every sub-stock anew. */
async function resetStock(redis: RedisClient, cfg: Config): Promise<void> {
  await deleteKeys(redis, `${cfg.redis.keyPrefix}:*`);
  const ks: KeySpace = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
  for (let k = 0; k < SUB_STOCKS; k++) await redis.set(stockKey(ks, TEMPLATE, k), 1e12);
}

function line(r: RedisRun): string {
  const perCore = r.execsPerRedisCpuS === null ? 'Redis CPU unknown' : `${Math.round(r.execsPerRedisCpuS)} per Redis CPU-second`;
  return `${Math.round(r.execsPerS)} scripts/s (${r.execs} in ${r.seconds.toFixed(1)} s), ${perCore}, client ${r.clientCores.toFixed(2)} cores`;
}
