/**
 * Sink throughput against its own baseline in the same run: rows/s of the real sink draining
 * pre-filled streams with its configured batching (the defaults unless SINK_BATCH_* are set),
 * and rows/s of single-row autocommit INSERTs of the same row shape into the same shard tables.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Profiler } from 'node:inspector';
import { Session } from 'node:inspector/promises';
import { ScriptCode } from '../lua/codes.ts';
import { Commands } from '../lua/commands.ts';
import { homeSubStock, type KeySpace, subStockPartition } from '../lua/keys.ts';
import type { Template } from '../templates/model.ts';
import { LiveTemplates } from '../templates/live.ts';
import { TemplateStore } from '../templates/store.ts';
import { createLog } from '../sink/log.ts';
import { openMysql } from '../core/mysql.ts';
import { couponIdPrefix, shardDbName, shardOfUser, shardTableName, type ShardLayout } from '../core/shards.ts';
import { startSink } from '../sink/sink.ts';
import { onCleanup } from '../tools/harness/cleanup.ts';
import { type CpuShare, cpuMeter } from '../tools/harness/cpu.ts';
import type { BenchOptions } from './options.ts';
import { drained } from '../tools/harness/storage.ts';
import { templateFixture } from '../tools/harness/template-fixture.ts';
import { benchConfig, type BenchStorage, openBenchStorage, serverFacts, waitUntil } from '../tools/harness/bench-storage.ts';
import { judgeTemplate } from '../tools/verify/facts.ts';

export interface WriteRun {
  readonly rows: number;
  readonly seconds: number;
  readonly rowsPerS: number;
  /** Rows per INSERT statement. */
  readonly rowsPerInsert: number;
  readonly cpu: CpuShare[];
}

export interface SinkBenchResult {
  readonly produced: number;
  readonly produceS: number;
  readonly sink: WriteRun;
  readonly single: WriteRun & { readonly concurrency: number };
  readonly servers: { redisVersion: string; mariadbVersion: string };
  /** The sink's batching settings (defaults unless SINK_BATCH_* are set). */
  readonly batch: { readonly maxRows: number; readonly maxWaitMs: number };
  readonly failures: string[];
}

const TEMPLATE_ID = 'bench-sink';
const DAY_MS = 86_400_000;
// The sink's INSERT (sink/writer.ts), one row at a time.
const COLUMNS = ['coupon_id', 'user_id', 'template_id', 'request_id', 'name', 'type', 'value', 'threshold',
  'max_discount', 'claimed_at', 'valid_from', 'valid_to', 'stream_id'];
const SINGLE_INSERT = (target: string) => `INSERT INTO ${target} (${COLUMNS.map((c) => `\`${c}\``).join(',')}) ` +
  `VALUES (${COLUMNS.map(() => '?').join(',')}) ON DUPLICATE KEY UPDATE coupon_id = coupon_id`;

/** Runs section 2. */
export async function runSinkBench(o: BenchOptions): Promise<SinkBenchResult> {
  const failures: string[] = [];
  const cfg = benchConfig('sink');
  const st = await openBenchStorage(cfg);
  onCleanup('sink storage', () => st.cleanup());
  const facts = await serverFacts(st);
  const ks: KeySpace = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
  const layout: ShardLayout = { dbs: cfg.mysql.shardDbs, tables: cfg.mysql.shardTables };
  const subStocks = Math.min(16, cfg.redis.partitions);
  const template = templateFixture({ id: TEMPLATE_ID, name: 'bench sink', totalStock: o.sinkRecords * 2, subStocks });
  await new TemplateStore(st.mysql, new LiveTemplates(st.redis, ks), cfg.mysql).create(template);

  console.log(`sink: producing ${o.sinkRecords} issuance records with the claim-home script`);
  const t0 = performance.now();
  await produce(st, ks, layout, template, o.sinkRecords);
  const produceS = (performance.now() - t0) / 1000;

  console.log(`sink: draining them with the real sink (batches of ${cfg.sink.batchMaxRows} rows / ${cfg.sink.batchMaxWaitMs} ms)`);
  const lines: string[] = [];
  const log = createLog((l) => { if (lines.push(l) > 200) lines.shift(); });
  const profiler = o.profileDir ? await startProfile() : undefined;
  let m = cpuMeter({ 'sink (bench process)': process.pid, redis: facts.redisPid, mariadb: facts.mariadbPid });
  const t1 = performance.now();
  const sink = await startSink(cfg, { log });
  const stopSink = onCleanup('in-process sink', () => sink.stop());
  let done = false;
  const deadline = Date.now() + 180_000;
  while (!(done = sink.stats().rowsWritten >= o.sinkRecords) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const sinkS = (performance.now() - t1) / 1000;
  const sinkCpu = m.finish();
  if (profiler && o.profileDir) await profiler.stop(`${o.profileDir}/sink-drain`);
  const stats = sink.stats();
  if (!done) throw new Error(`the sink wrote ${stats.rowsWritten} of ${o.sinkRecords} rows in 180 s:\n${lines.join('\n')}`);
  if (!(await waitUntil(() => drained(st), 30_000))) failures.push('sink bench: the sink wrote the rows but did not ack them all');
  await stopSink();
  const v = await judgeTemplate(st, TEMPLATE_ID);
  const rows = v.templates[0]!.rows;
  if (rows !== o.sinkRecords) failures.push(`sink bench: ${o.sinkRecords} records produced but ${rows} rows in MySQL`);
  for (const x of v.violations.slice(0, 5)) failures.push(`sink bench: ${x.kind}: ${x.detail}`);

  console.log(`sink: ${o.singleRows} single-row autocommit INSERTs, ${o.singleConcurrency} at a time`);
  m = cpuMeter({ 'bench process': process.pid, mariadb: facts.mariadbPid });
  const single = await singleRowInserts(st, layout, o.singleRows, o.singleConcurrency);
  const singleCpu = m.finish();
  return {
    produced: o.sinkRecords, produceS,
    sink: { rows: stats.rowsWritten, seconds: sinkS, rowsPerS: stats.rowsWritten / sinkS,
      rowsPerInsert: stats.rowsWritten / Math.max(1, stats.inserts), cpu: sinkCpu },
    single: { ...single, rowsPerInsert: 1, cpu: singleCpu, concurrency: o.singleConcurrency },
    servers: facts, batch: { maxRows: cfg.sink.batchMaxRows, maxWaitMs: cfg.sink.batchMaxWaitMs }, failures,
  };
}

/** Fills the streams through the real claim-home script: one record per distinct user. */
async function produce(st: BenchStorage, ks: KeySpace, layout: ShardLayout, t: Template, n: number): Promise<void> {
  const CHUNK = 2000;
  const commands = new Commands(st.redis, ks);
  for (let i = 0; i < n; i += CHUNK) {
    const replies = await Promise.all(Array.from({ length: Math.min(CHUNK, n - i) }, (_, j) => {
      const userId = `s${i + j}`;
      const k = homeSubStock(t.id, userId, t.subStocks);
      return commands.claimHome({ templateId: t.id, userId, requestId: `~bench.${i + j}`, remember: '0', perUserLimit: t.perUserLimit,
        home: k, homePartition: subStockPartition(ks, t.id, k), shardPrefix: couponIdPrefix(layout, userId) });
    }));
    const bad = replies.find((r) => r[0] !== ScriptCode.Issued);
    if (bad) throw new Error(`claim-home did not issue while producing records: ${JSON.stringify(bad)}`);
  }
}

/** `rows` one-row INSERTs, `concurrency` in flight, on a pool of that many connections. */
async function singleRowInserts(st: BenchStorage, layout: ShardLayout, rows: number, concurrency: number) {
  const pools = openMysql({ ...st.cfg.mysql, poolSize: concurrency });
  const close = onCleanup('single-row pool', () => pools.close());
  const now = Date.now();
  const insert = (i: number) => {
    const userId = `x${i}`;
    const s = shardOfUser(layout, userId);
    const target = `\`${shardDbName(st.cfg.mysql.dbPrefix, s.db)}\`.\`${shardTableName(s.table)}\``;
    const claimedAt = new Date(now + i);
    return pools.forDb(s.db).query(SINGLE_INSERT(target), [`${s.db}.${s.table}.0.${now * 1000 + i}`, userId,
      TEMPLATE_ID, `~single.${i}`, 'bench sink', 'direct', 100, null, null, claimedAt, claimedAt,
      new Date(now + i + 30 * DAY_MS), `${now}-${i}`]);
  };
  let next = 0;
  const worker = async (end: number) => {
    while (next < end) await insert(next++);
  };
  // warm-up: open every connection before the clock starts; connecting is not what is compared.
  await Promise.all(Array.from({ length: concurrency }, () => worker(concurrency)));
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => worker(concurrency + rows)));
  const seconds = (performance.now() - t0) / 1000;
  await close();
  return { rows, seconds, rowsPerS: rows / seconds };
}

/** Self time of a V8 CPU profile by origin: a package, a file of this repo, or a V8 pseudo-node. */
function selfTimeShares(profile: Profiler.Profile): [string, number][] {
  const origin = new Map<number, string>();
  for (const n of profile.nodes) {
    const url = n.callFrame.url;
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    origin.set(n.id, pkg ?? (url.includes('/work/') || url.startsWith('file:') ? url.replace(/^.*?\/((?:[a-z-]+\/)?[^/]+\.ts)$/, '$1')
      : url ? 'node internals' : n.callFrame.functionName));
  }
  const counts = new Map<string, number>();
  const samples = profile.samples ?? [];
  for (const id of samples) counts.set(origin.get(id)!, (counts.get(origin.get(id)!) ?? 0) + 1);
  const busy = samples.length - (counts.get('(idle)') ?? 0);
  counts.delete('(idle)');
  return [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, n / busy]);
}

/** Profiles this process (the in-process sink) until stop(), which writes the profile and prints its shares. */
async function startProfile(): Promise<{ stop(dir: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {
    stop: async (dir) => {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      mkdirSync(dir, { recursive: true });
      const file = `${dir}/sink-${Date.now()}.cpuprofile`;
      writeFileSync(file, JSON.stringify(profile));
      console.log(`sink: CPU profile of the drain in ${file}; self time by origin, share of busy samples:`);
      for (const [k, share] of selfTimeShares(profile).slice(0, 15)) console.log(`  ${(share * 100).toFixed(1).padStart(5)}%  ${k}`);
    },
  };
}
