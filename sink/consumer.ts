/**
 * The Redis side of the sink: one consumer of the consumer group on every partition stream.
 * Every command names ONE partition's keys, so on Redis Cluster each goes to the node that owns
 * that partition; the partitions are read concurrently instead of in one multi-key command.
 */
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../lua/client.ts';
import { Commands } from '../lua/commands.ts';
import { deadKey, type KeySpace, streamKey } from '../lua/keys.ts';
import { RECORD_FIELD, type StreamEntry } from '../lua/record.ts';
import { totalBacklog } from '../lua/backlog.ts';
import type { Log } from './log.ts';

export interface ConsumerOptions {
  readonly group: string;
  readonly consumer: string;
  readonly readCount: number;
  readonly reclaimIdleMs: number;
}

type EntryReply = [id: Buffer, fields: Buffer[] | null];
type ReadReply = [key: Buffer, entries: EntryReply[]][] | null;
type ClaimReply = [cursor: Buffer, entries: EntryReply[], deleted?: Buffer[]];

const isNoGroup = (err: unknown) => err instanceof Error && err.message.startsWith('NOGROUP');

export class StreamConsumer {
  /** Stream key of each partition, index = partition. */
  readonly keys: readonly string[];
  // XAUTOCLAIM cursor per partition, kept between runs when a run stops early at its budget.
  private readonly cursors: string[];
  // Where re-reading our own pending entries goes on, per partition; null: nothing left to re-read.
  private readonly replayCursors: (string | null)[];
  private readonly commands: Commands;

  constructor(private readonly redis: RedisClient, private readonly ks: KeySpace,
    private readonly o: ConsumerOptions, private readonly log: Log) {
    this.commands = new Commands(redis, ks);
    this.keys = Array.from({ length: ks.partitions }, (_, p) => streamKey(ks, p));
    this.cursors = this.keys.map(() => '0-0');
    this.replayCursors = this.keys.map(() => null);
  }

  /** Creates the consumer group on every partition stream (from the start: 0), if missing. */
  async ensureGroups(): Promise<void> {
    await Promise.all(this.keys.map((_, p) => this.createGroup(p)));
  }

  private async createGroup(p: number): Promise<void> {
    try {
      // MKSTREAM: the sink may start before the first claim ever reached this partition.
      await this.redis.xgroup('CREATE', this.keys[p]!, this.o.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw err;
    }
  }

  /** One non-blocking XREADGROUP per partition, concurrently; failed partitions are counted. */
  async read(): Promise<{ entries: StreamEntry[]; failures: number }> {
    const results = await Promise.allSettled(this.keys.map((_, p) => this.readPartition(p)));
    const entries: StreamEntry[] = [];
    for (const r of results) if (r.status === 'fulfilled') entries.push(...r.value);
    return { entries, failures: this.reportFailures('XREADGROUP', results) };
  }

  private async readPartition(p: number): Promise<StreamEntry[]> {
    const key = this.keys[p]!;
    let reply: ReadReply;
    try {
      reply = await this.redis.xreadgroupBuffer('GROUP', this.o.group, this.o.consumer,
        'COUNT', this.o.readCount, 'STREAMS', key, '>') as unknown as ReadReply;
    } catch (err) {
      // the stream (and its group) vanished, e.g. deleted by hand: recreate and read next round.
      if (!isNoGroup(err)) throw err;
      this.log.error(`nogroup-${p}`, `group missing on ${key}; recreating it`);
      await this.createGroup(p);
      return [];
    }
    if (!reply) return [];
    return reply.flatMap(([, list]) => list.map(([id, fields]) => ({ partition: p, id: id.toString(), fields })));
  }

  /** True when the last reclaim stopped at its budget somewhere: more is waiting to be taken. */
  get reclaimUnfinished(): boolean {
    return this.cursors.some((c) => c !== '0-0');
  }

  /**
   * XAUTOCLAIM per partition: takes over entries pending longer than reclaimIdleMs (a dead
   * consumer's, or our own that we dropped to retry later). `budget` is shared by all
   * partitions; a partition stops at its share and resumes there next time, so a big dead
   * backlog does not flood memory.
   */
  async reclaim(budget: number): Promise<StreamEntry[]> {
    const share = Math.max(1, Math.ceil(budget / this.keys.length));
    const results = await Promise.allSettled(this.keys.map((_, p) => this.reclaimPartition(p, share)));
    const entries: StreamEntry[] = [];
    for (const r of results) if (r.status === 'fulfilled') entries.push(...r.value);
    this.reportFailures('XAUTOCLAIM', results);
    return entries;
  }

  private async reclaimPartition(p: number, budget: number): Promise<StreamEntry[]> {
    const key = this.keys[p]!;
    const out: StreamEntry[] = [];
    let cursor = this.cursors[p]!;
    do {
      // ioredis types no xautoclaimBuffer; callBuffer keeps field values binary all the same.
      const [next, list, deleted] = await this.redis.callBuffer('XAUTOCLAIM', key, this.o.group, this.o.consumer,
        this.o.reclaimIdleMs, cursor, 'COUNT', this.o.readCount) as ClaimReply;
      cursor = next.toString();
      for (const [id, fields] of list) out.push({ partition: p, id: id.toString(), fields });
      // Redis 7 drops pending ids whose entry no longer exists; our trim never causes that.
      if (deleted && deleted.length > 0) {
        this.log.error(`deleted-${p}`, `${deleted.length} pending entries of ${key} were deleted from the stream ` +
          `before being written (first ${deleted[0]!.toString()})`);
      }
    } while (cursor !== '0-0' && out.length < budget);
    this.cursors[p] = cursor;
    return out;
  }

  /** Starts re-reading this consumer's own pending entries from the first (see replay). */
  startReplay(): void {
    this.replayCursors.fill('0-0');
  }

  /** True while a replay has entries left to re-read. */
  get replaying(): boolean {
    return this.replayCursors.some((c) => c !== null);
  }

  /**
   * The next of this consumer's own pending entries, whatever their idle time (XREADGROUP from
   * an id reads the consumer's history): entries it left pending while a MySQL server was down
   * come back as soon as the server answers, not after SINK_RECLAIM_IDLE_MS. `budget` is shared
   * by the partitions still replaying; each resumes where it stopped.
   */
  async replay(budget: number): Promise<StreamEntry[]> {
    const open = this.replayCursors.filter((c) => c !== null).length;
    const share = Math.max(1, Math.ceil(budget / Math.max(1, open)));
    const results = await Promise.allSettled(this.keys.map((_, p) =>
      (this.replayCursors[p] === null ? Promise.resolve([]) : this.replayPartition(p, share))));
    const entries: StreamEntry[] = [];
    for (const r of results) if (r.status === 'fulfilled') entries.push(...r.value);
    this.reportFailures('XREADGROUP (own pending)', results);
    return entries;
  }

  private async replayPartition(p: number, count: number): Promise<StreamEntry[]> {
    const reply = await this.redis.xreadgroupBuffer('GROUP', this.o.group, this.o.consumer,
      'COUNT', count, 'STREAMS', this.keys[p]!, this.replayCursors[p]!) as unknown as ReadReply;
    const list = reply?.[0]?.[1] ?? [];
    // fewer than asked: this partition's pending list is read to its end.
    this.replayCursors[p] = list.length < count ? null : list[list.length - 1]![0].toString();
    // An entry deleted from the stream while pending comes back with no fields: there is nothing
    // to write (XAUTOCLAIM reports and drops such ids; the sink's own trim never deletes pending entries).
    return list.flatMap(([id, fields]) => (fields ? [{ partition: p, id: id.toString(), fields }] : []));
  }

  /** XACK entries of one partition. */
  async ack(partition: number, ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.redis.xack(this.keys[partition]!, this.o.group, ...ids);
  }

  /**
   * Copies a poison entry to its partition's dead-letter stream (original id, error, original
   * fields) and acks it, in one MULTI: both keys share the partition's hash tag.
   */
  async deadLetter(entry: StreamEntry, error: string): Promise<void> {
    const fields: (string | Buffer)[] = ['id', entry.id, 'error', error, 'consumer', this.o.consumer];
    if (entry.fields) fields.push(...entry.fields);
    const m = this.redis.multi().xadd(deadKey(this.ks, entry.partition), '*', ...fields);
    await this.execAck(m, entry.partition, entry.id);
  }

  /**
   * Copies some records of an entry to the dead-letter stream, one dead entry per record (the
   * entry's id, the record's error, the record packed alone), and acks the entry, in one MULTI:
   * the entry's other records are written already.
   */
  async deadLetterRecords(partition: number, id: string, records: readonly { raw: Buffer; error: string }[]): Promise<void> {
    const m = this.redis.multi();
    for (const r of records) {
      m.xadd(deadKey(this.ks, partition), '*', 'id', id, 'error', r.error, 'consumer', this.o.consumer, RECORD_FIELD, r.raw);
    }
    await this.execAck(m, partition, id);
  }

  private async execAck(m: ChainableCommander, partition: number, id: string): Promise<void> {
    const res = await m.xack(this.keys[partition]!, this.o.group, id).exec();
    const failed = res?.find(([err]) => err);
    if (!res || failed) throw failed?.[0] ?? new Error('dead-letter transaction aborted');
  }

  /** Trims every partition below its acknowledged position (lua/stream-trim-1.lua). */
  async trim(): Promise<number> {
    const results = await Promise.allSettled(this.keys.map((_, p) => this.commands.streamTrim(p)));
    let trimmed = 0;
    for (const r of results) if (r.status === 'fulfilled' && typeof r.value[1] === 'number') trimmed += r.value[1];
    this.reportFailures('stream trim', results);
    return trimmed;
  }

  /** Records not yet acknowledged by the group, over all partitions (lua/backlog.ts). */
  async backlog(): Promise<number> {
    return totalBacklog(this.redis, this.ks, this.o.group);
  }

  /** One log line for a round's failed partitions (a dead Redis fails all of them at once). */
  private reportFailures(what: string, results: readonly PromiseSettledResult<unknown>[]): number {
    const failed = results.flatMap((r, p) => (r.status === 'rejected' ? [{ p, err: r.reason as unknown }] : []));
    if (failed.length > 0) {
      const first = failed[0]!;
      this.log.error(what, `${what} failed on ${failed.length} of ${results.length} partitions ` +
        `(first: ${this.keys[first.p]})`, first.err);
    }
    return failed.length;
  }
}

