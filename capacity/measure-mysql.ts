/**
 * Calibration, MySQL: rows per second into one MariaDB through the sink's own writer
 * (sink/writer.ts: the real multi-row idempotent INSERT with template fields copied into each
 * row) at several batch sizes; batch size 1 is the single-row autocommit write of the source
 * designs. Several INSERTs are in flight, one shard table each, as the sink writes its groups.
 */
import type { Config } from '../config/index.ts';
import { cpuMeter } from '../tools/harness/cpu.ts';
import type { BenchStorage } from '../tools/harness/bench-storage.ts';
import { LiveTemplates } from '../templates/live.ts';
import { TemplateStore } from '../templates/store.ts';
import type { IssuanceRecord } from '../lua/record.ts';
import { createLog } from '../sink/log.ts';
import { couponIdPrefix, shardOfUser, type ShardLayout } from '../core/shards.ts';
import { type Item, OpenEntry } from '../sink/entries.ts';
import { ShardWriter } from '../sink/writer.ts';
import { templateFixture } from '../tools/harness/template-fixture.ts';
import type { MysqlRun } from './calibration-file.ts';

const TEMPLATE = 'cap-mysql';

/** One user id per shard table, so a batch goes to exactly one table as the sink's groups do. */
function userPerTable(layout: ShardLayout): string[] {
  const users: (string | undefined)[] = Array.from({ length: layout.dbs * layout.tables });
  for (let i = 0, found = 0; found < users.length; i++) {
    const u = `m${i}`;
    const s = shardOfUser(layout, u);
    const slot = s.db * layout.tables + s.table;
    if (users[slot] === undefined) {
      users[slot] = u;
      found++;
    }
  }
  return users as string[];
}

/** Every batch size in turn on the storage's own databases; `concurrency` INSERTs in flight; `step` after each size. */
export async function measureMysql(st: BenchStorage, seconds: number, batchSizes: readonly number[],
  mariadbPid: number | undefined, step: () => void): Promise<MysqlRun[]> {
  const cfg: Config = st.cfg;
  const layout: ShardLayout = { dbs: cfg.mysql.shardDbs, tables: cfg.mysql.shardTables };
  // the writer's template lookup needs the row; creating it through the store is what the gateway does.
  await new TemplateStore(st.mysql, new LiveTemplates(st.redis, { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions }),
    cfg.mysql).create(templateFixture({ id: TEMPLATE, name: 'capacity calibration', totalStock: 1e9 }));
  const stop = new AbortController();
  const lines: string[] = [];
  const writer = new ShardWriter(st.mysql, cfg.mysql, {
    retryMaxMs: cfg.sink.retryMaxMs, queryTimeoutMs: cfg.sink.mysqlTimeoutMs, templateWaitMs: cfg.sink.templateWaitMs,
    // the writer logs only failures: a measurement does not retry them, it stops with the reason.
    signal: stop.signal, log: createLog((l) => { lines.push(l); stop.abort(); }),
  });
  const users = userPerTable(layout);
  const concurrency = Math.min(users.length, cfg.mysql.poolSize);
  const now = Date.now();
  let seq = 0;

  /** One INSERT of `size` new rows into the worker's table; every coupon id is new (no duplicate path). */
  const insertBatch = async (worker: number, size: number) => {
    const userId = users[worker % users.length]!;
    const prefix = couponIdPrefix(layout, userId);
    const items: Item[] = Array.from({ length: size }, () => {
      const n = seq++;
      const record: IssuanceRecord = { couponId: `${prefix}.0.${now * 1000 + n}`, templateId: TEMPLATE, userId,
        requestId: `~cap.${n}`, claimedAtMs: now, homePartition: 0, amount: null };
      return { entry: new OpenEntry(0, `${now}-${n}`, 1), record };
    });
    const plan = await writer.plan(items);
    if (plan.groups.length !== 1 || plan.poison.length > 0 || plan.deferred.length > 0) {
      throw new Error(`writer planned ${plan.groups.length} groups, ${plan.poison.length} poison, ${plan.deferred.length} deferred`);
    }
    const { written, poison } = await writer.insert(plan.groups[0]!);
    if (written.length !== size || poison.length > 0) throw new Error(`wrote ${written.length} of ${size} rows`);
  };

  const runs: MysqlRun[] = [];
  try {
    for (const size of batchSizes) {
      let rows = 0;
      const worker = async (w: number, until: number, count: boolean) => {
        do {
          await insertBatch(w, size);
          if (count) rows += size;
        } while (performance.now() < until);
      };
      // one INSERT per connection first: connecting and the template load are not measured.
      await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w, 0, false)));
      const m = cpuMeter({ mariadb: mariadbPid, client: process.pid });
      const t0 = performance.now();
      await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w, t0 + seconds * 1000, true)));
      const wall = (performance.now() - t0) / 1000;
      const cpu = m.finish();
      const mariadbCpuS = mariadbPid === undefined ? null : cpu.find((c) => c.name === 'mariadb')!.cpuS;
      const run: MysqlRun = {
        batchSize: size, concurrency, rows, seconds: wall, rowsPerS: rows / wall, mariadbCpuS,
        rowsPerMariadbCpuS: mariadbCpuS && mariadbCpuS > 0 ? rows / mariadbCpuS : null,
        clientCores: cpu.find((c) => c.name === 'client')!.cores,
      };
      console.log(`mysql: ${String(size).padStart(5)} rows/INSERT: ${Math.round(run.rowsPerS)} rows/s` +
        (run.rowsPerMariadbCpuS === null ? '' : `, ${Math.round(run.rowsPerMariadbCpuS)} per MariaDB CPU-second`) +
        `, client ${run.clientCores.toFixed(2)} cores`);
      runs.push(run);
      step();
    }
  } catch (err) {
    // the writer's own log lines say why an INSERT kept failing.
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${lines.join('\n')}`);
  } finally {
    stop.abort();
  }
  return runs;
}
