/**
 * The sink: reads the partition streams (consumer.ts), batches by size and time (batcher.ts),
 * writes per shard table (writer.ts), and acknowledges a record only after the INSERT that
 * holds it committed. Runs in a process (main.ts) or inside a test.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/index.ts';
import { createRedis, type RedisClient } from '../lua/client.ts';
import { checkLayout, layoutFacts } from '../lua/layout.ts';
import { streamBacklog } from '../lua/backlog.ts';
import { decodeEntry, packRecord, type StreamEntry } from '../lua/record.ts';
import { Batcher } from './batcher.ts';
import { StreamConsumer } from './consumer.ts';
import { entryKey, type Item, KEEP, OpenEntry, type Outcome, WRITTEN } from './entries.ts';
import { assertBinaryIds } from '../core/collation.ts';
import { createLog, type Log } from './log.ts';
import { type MysqlPools, openMysql } from '../core/mysql.ts';
import { Abandoned, abortableSleep, retry } from './retry.ts';
import { ServerDown, ServerHealth } from './server-health.ts';
import { ShardWriter } from './writer.ts';

/** Counters since start; `held` and `inFlight` are current values. */
export interface SinkStats {
  rowsWritten: number;
  inserts: number;
  deadLettered: number;
  /** Records left pending because their template row was missing (retried via reclaim). */
  deferred: number;
  reclaimed: number;
  trimmed: number;
  /** Records left pending because their MySQL server was down (written once it answers). */
  unreachable: number;
  /** Records read but not yet written (batching or being written). */
  held: number;
  inFlight: number;
  /** MySQL servers marked down now (sink/server-health.ts). */
  serversDown: number;
}

export interface Sink {
  /** Stops reading, writes and acks what it holds, closes what it opened. */
  stop(): Promise<void>;
  stats(): SinkStats;
  /** Unacknowledged records over all partitions (reads Redis). */
  backlog(): Promise<number>;
  /** Unacknowledged records per partition, index = partition (reads Redis). */
  backlogs(): Promise<number[]>;
}

/** Hears each batch and each INSERT, for /metrics (sink/metrics.ts). */
export interface SinkObserver {
  /** A batch of `rows` records is being written. */
  batch(rows: number): void;
  /** One shard table's INSERT committed `rows` rows in `seconds`. */
  insert(seconds: number, rows: number): void;
}

export interface SinkDeps {
  /** Shared clients are used as given and left open; missing ones are created and closed. */
  readonly redis?: RedisClient;
  readonly mysql?: MysqlPools;
  readonly log?: Log;
  /** After this long, stop() abandons writes still retrying; their records stay pending. */
  readonly stopTimeoutMs?: number;
  /** Called if the read loop dies; the process entry exits so a supervisor restarts it. */
  readonly onFatal?: (err: unknown) => void;
  readonly observer?: SinkObserver;
}

// Two batches in flight let the next batch's INSERTs overlap the previous one's acks without
// letting a slow MySQL make the sink hold an unbounded amount of records.
const MAX_IN_FLIGHT = 2;
// Redis commands of the reader and the acks: a few tries, then the entries stay pending and
// come back through XAUTOCLAIM (rows are idempotent, so a re-delivery is harmless).
const ACK_ATTEMPTS = 5;
// A down server is probed at least this often, so its records land within about a second of its return.
const PROBE_MAX_MS = 1_000;

/** The sink's Redis client: its own, longer command timeout (see SINK_REDIS_TIMEOUT_MS). */
export function createSinkRedis(cfg: Config): RedisClient {
  return createRedis({ ...cfg.redis, commandTimeoutMs: cfg.sink.redisTimeoutMs }, { offlineQueue: true, name: 'sink' });
}

/** Starts a sink; resolves once the consumer groups exist and reading has begun. */
export async function startSink(cfg: Config, deps: SinkDeps = {}): Promise<Sink> {
  const log = deps.log ?? createLog();
  const redis = deps.redis ?? createSinkRedis(cfg);
  // ioredis reconnects by itself; a client we own still needs a listener, or it warns per event.
  if (!deps.redis) redis.on('error', (err: unknown) => log.error('redis', 'redis connection error', err));
  const mysql = deps.mysql ?? openMysql(cfg.mysql);
  const s = cfg.sink;
  const wake = new AbortController(); // ends idle sleeps at stop
  const abandon = new AbortController(); // ends retries when stop runs out of time
  const consumer = new StreamConsumer(redis, { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions }, {
    group: cfg.redis.streamGroup, consumer: s.consumer, readCount: s.readCount, reclaimIdleMs: s.reclaimIdleMs,
  }, log);
  // A server that answers again: the records left pending for it are re-read from our own
  // pending list at once (the read loop's replay), not after SINK_RECLAIM_IDLE_MS.
  const health = new ServerHealth(mysql, cfg.mysql, {
    probeMaxMs: Math.min(s.retryMaxMs, PROBE_MAX_MS), queryTimeoutMs: s.mysqlTimeoutMs, signal: wake.signal, log,
    onUp: () => consumer.startReplay(),
  });
  const writer = new ShardWriter(mysql, cfg.mysql, {
    retryMaxMs: s.retryMaxMs, queryTimeoutMs: s.mysqlTimeoutMs, templateWaitMs: s.templateWaitMs, signal: abandon.signal, log, health,
  });
  const batcher = new Batcher<Item>(s.batchMaxRows, s.batchMaxWaitMs);
  // entries read and not yet finished, so a reclaim of our own slow entries is not a duplicate.
  const held = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  const st: SinkStats = { rowsWritten: 0, inserts: 0, deadLettered: 0, deferred: 0, reclaimed: 0, trimmed: 0, unreachable: 0,
    held: 0, inFlight: 0, serversDown: 0 };
  let stopping = false;
  const redisRetry = (what: string) => ({
    maxMs: s.retryMaxMs, signal: abandon.signal, maxAttempts: ACK_ATTEMPTS,
    onError: (err: unknown, n: number) => log.error(what, `${what} failed (attempt ${n})`, err),
  });

  // A sink with another shard layout would dead-letter every coupon id the gateways mint.
  await checkLayout(redis, { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions }, layoutFacts(cfg));
  // Rows whose ids differ only in case would collide in a case-insensitive table.
  await assertBinaryIds(mysql, cfg.mysql);
  await retry(() => consumer.ensureGroups(), {
    maxMs: s.retryMaxMs, signal: wake.signal,
    onError: (err) => log.error('groups', 'creating consumer groups failed; retrying', err),
  });

  async function deadLetter(entry: StreamEntry, error: string): Promise<void> {
    try {
      await retry(() => consumer.deadLetter(entry, error), redisRetry('dead-letter'));
      st.deadLettered++;
      log.error(`poison-${entry.partition}`, `dead-lettered ${entry.id} of partition ${entry.partition}: ${error}`);
    } catch (err) {
      // not acked either: it stays pending and is tried again after a reclaim.
      if (!(err instanceof Abandoned)) log.error('dead-letter-final', `could not dead-letter ${entry.id}`, err);
    }
  }

  /** Acknowledges finished entries, per partition. */
  async function ack(entries: readonly OpenEntry[]): Promise<void> {
    const byPartition = new Map<number, string[]>();
    for (const e of entries) {
      let ids = byPartition.get(e.partition);
      if (!ids) byPartition.set(e.partition, (ids = []));
      ids.push(e.id);
    }
    await Promise.all([...byPartition].map(async ([p, ids]) => {
      try {
        await retry(() => consumer.ack(p, ids), redisRetry('ack'));
      } catch (err) {
        if (!(err instanceof Abandoned)) log.error('ack-final', `${ids.length} written entries left unacked`, err);
      }
    }));
  }

  /** Sets an entry's unstorable records aside and acknowledges it, in one transaction. */
  async function deadLetterRecords(e: OpenEntry): Promise<void> {
    const records = e.poison.map((x) => ({ raw: x.item.raw ?? packRecord(x.item.record), error: x.error }));
    try {
      await retry(() => consumer.deadLetterRecords(e.partition, e.id, records), redisRetry('dead-letter'));
      st.deadLettered += records.length;
      log.error(`poison-${e.partition}`, `dead-lettered ${records.length} records of ${e.id} of partition ${e.partition}: ` +
        records[0]!.error);
    } catch (err) {
      // not acked either: the entry stays pending and is tried again after a reclaim.
      if (!(err instanceof Abandoned)) log.error('dead-letter-final', `could not dead-letter records of ${e.id}`, err);
    }
  }

  /** Ends entries whose every record is settled: ack, dead letters with the ack, or left pending. */
  async function finish(entries: readonly OpenEntry[]): Promise<void> {
    try {
      await ack(entries.filter((e) => !e.kept && e.poison.length === 0));
      for (const e of entries) if (!e.kept && e.poison.length > 0) await deadLetterRecords(e);
    } finally {
      for (const e of entries) held.delete(e.key);
    }
  }

  /** Takes new entries into the batcher, record by record; poison goes straight to the dead letters. */
  async function accept(entries: readonly StreamEntry[]): Promise<number> {
    const now = Date.now();
    let added = 0;
    for (const e of entries) {
      if (held.has(entryKey(e.partition, e.id))) continue;
      const d = decodeEntry(e);
      if (!d.ok) {
        await deadLetter(e, d.error);
        continue;
      }
      const entry = new OpenEntry(e.partition, e.id, d.records.length);
      held.add(entry.key);
      const raw = d.records.length === 1 ? d.raw : undefined;
      for (const record of d.records) batcher.add({ entry, record, raw }, now);
      added++;
    }
    return added;
  }

  async function flush(items: Item[]): Promise<void> {
    deps.observer?.batch(items.length);
    const unsettled = new Set(items);
    // once per record: a record still unsettled when the batch ends is kept (left pending).
    const settle = (item: Item, outcome: Outcome, done: OpenEntry[]) => {
      if (unsettled.delete(item) && item.entry.settle(item, outcome)) done.push(item.entry);
    };
    try {
      const plan = await writer.plan(items);
      const planned: OpenEntry[] = [];
      for (const x of plan.poison) settle(x.item, { poison: x.error }, planned);
      for (const item of plan.deferred) settle(item, KEEP, planned);
      // a down server's records are not held in memory: they wait in the streams (see replay).
      for (const item of plan.unreachable) settle(item, KEEP, planned);
      st.unreachable += plan.unreachable.length;
      if (plan.deferred.length > 0) {
        st.deferred += plan.deferred.length;
        log.error('template-missing', `${plan.deferred.length} records wait for missing template rows ` +
          `(${plan.missingTemplates.slice(0, 5).join(', ')}); left pending, retried after ${s.reclaimIdleMs} ms`);
      }
      await finish(planned);
      // Each shard table's entries are acknowledged as soon as its INSERT commits (an entry
      // whose records span tables, once the last of them does), so one failing shard
      // database does not hold back the others, and a server going down frees the batch at
      // once (its records are kept: left unsettled here) instead of retrying in place.
      const results = await Promise.allSettled(plan.groups.map(async (g) => {
        const started = performance.now();
        let res;
        try {
          res = await writer.insert(g);
        } catch (err) {
          if (!(err instanceof ServerDown)) throw err;
          st.unreachable += g.items.length;
          return;
        }
        deps.observer?.insert((performance.now() - started) / 1000, res.written.length);
        st.inserts++;
        st.rowsWritten += res.written.length;
        const done: OpenEntry[] = [];
        for (const item of res.written) settle(item, WRITTEN, done);
        for (const x of res.poison) settle(x.item, { poison: x.error }, done);
        await finish(done);
      }));
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    } catch (err) {
      // Abandoned at shutdown, or a bug: the records stay pending and come back via reclaim.
      if (!(err instanceof Abandoned)) log.error('flush', 'batch failed; its records stay pending', err);
    } finally {
      const done: OpenEntry[] = [];
      for (const item of [...unsettled]) settle(item, KEEP, done);
      await finish(done);
    }
  }

  function startFlush(items: Item[]): void {
    const p: Promise<void> = flush(items).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }

  function dispatchDue(force: boolean): void {
    while (inFlight.size < MAX_IN_FLIGHT && batcher.size > 0 && (force || batcher.isDue(Date.now()))) {
      startFlush(batcher.take());
    }
  }

  async function readLoop(): Promise<void> {
    // reclaim once at start: a restarted sink takes over its dead predecessor's entries early.
    let nextReclaim = 0;
    let nextTrim = Date.now() + s.trimEveryMs;
    let failDelay = 0;
    while (!stopping) {
      let got = 0;
      let failed = false;
      try {
        const now = Date.now();
        if (now >= nextReclaim && !batcher.full) {
          nextReclaim = now + s.reclaimEveryMs;
          const taken = await accept(await consumer.reclaim(Math.max(s.batchMaxRows, s.readCount)));
          // our own in-flight entries come back too and are skipped: count only real takeovers.
          st.reclaimed += taken;
          got += taken;
          // a dead consumer's backlog is taken over in budget-sized steps, without waiting; not
          // while a server is down: the steps would only re-read its records to keep them again.
          if (consumer.reclaimUnfinished && health.downCount === 0) nextReclaim = 0;
        }
        if (consumer.replaying && !batcher.full) got += await accept(await consumer.replay(Math.max(s.batchMaxRows, s.readCount)));
        if (now >= nextTrim) {
          nextTrim = now + s.trimEveryMs;
          st.trimmed += await consumer.trim();
        }
        if (!batcher.full && !stopping) {
          const r = await consumer.read();
          got += await accept(r.entries);
          failed = r.failures > 0 && r.entries.length === 0;
        }
      } catch (err) {
        failed = true;
        log.error('read-loop', 'reading the streams failed', err);
      }
      dispatchDue(false);
      if (inFlight.size >= MAX_IN_FLIGHT && batcher.isDue(Date.now())) {
        // backpressure: a batch is ready but MySQL is still busy with two; reading more (or
        // polling again at once) would only pile records up, so wait for a write to finish.
        await Promise.race(inFlight);
      } else if (failed) {
        failDelay = Math.min(Math.max(failDelay * 2, s.idleSleepMs), s.retryMaxMs);
        await abortableSleep(failDelay, wake.signal);
      } else if (got === 0) {
        failDelay = 0;
        await abortableSleep(Math.max(1, Math.min(s.idleSleepMs, batcher.msUntilDue(Date.now()))), wake.signal);
      } else {
        failDelay = 0;
      }
    }
  }

  // The loop catches its own errors; if it ever ends otherwise the process must not idle on.
  const loop = readLoop().catch((err) => {
    log.error('read-loop-fatal', 'read loop ended', err);
    deps.onFatal?.(err);
  });
  let stopped: Promise<void> | undefined;

  return {
    stats: () => ({ ...st, held: held.size, inFlight: inFlight.size, serversDown: health.downCount }),
    backlog: () => consumer.backlog(),
    backlogs: () => Promise.all(consumer.keys.map((k) => streamBacklog(redis, k, cfg.redis.streamGroup))),
    stop: () => (stopped ??= (async () => {
      stopping = true;
      wake.abort();
      const deadline = setTimeout(() => abandon.abort(), deps.stopTimeoutMs ?? 10_000);
      // Past the deadline stop() returns even if a write hangs: its records stay pending.
      const gaveUp = new Promise<void>((r) => abandon.signal.addEventListener('abort', () => r(), { once: true }));
      try {
        await Promise.race([loop, gaveUp]);
        while ((batcher.size > 0 || inFlight.size > 0) && !abandon.signal.aborted) {
          dispatchDue(true);
          if (inFlight.size > 0) await Promise.race([...inFlight, gaveUp]);
        }
      } finally {
        clearTimeout(deadline);
        if (!deps.mysql) await Promise.race([mysql.close(), sleep(1000)]);
        if (!deps.redis) redis.disconnect();
      }
    })()),
  };
}
