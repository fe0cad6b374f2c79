/**
 * Drain points: a stream's last id, read at some moment, is a drain point. When the sink's
 * consumer group has delivered past every drain point and acknowledged everything at or below
 * it, every record issued before that moment is in MySQL, or in the dead letters. The rebuild
 * (after freezing a template) and the reconciler (before trusting MySQL's counts) wait on them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from './client.ts';
import { deadKey, type KeySpace, streamKey } from './keys.ts';
import { type Decoded, decodeEntry } from './record.ts';

export interface DrainPoint {
  readonly partition: number;
  readonly key: string;
  /** The stream's last generated id when it was read (after the freeze). */
  readonly id: string;
}

const POLL_MS = 50;

/** Stream ids compare as (ms, seq) pairs. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

/** Fields of a flat [name, value, ...] reply. */
function fields(list: unknown[]): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (let i = 0; i + 1 < list.length; i += 2) m.set(String(list[i]), list[i + 1]);
  return m;
}

const noSuchKey = (err: unknown) => /no such key/i.test(String(err));

/** The drain points of these partitions; a stream that does not exist or never held an entry needs none. */
export async function drainPoints(redis: RedisClient, ks: KeySpace, partitions: readonly number[]): Promise<DrainPoint[]> {
  const points = await Promise.all(partitions.map(async (partition): Promise<DrainPoint | undefined> => {
    const key = streamKey(ks, partition);
    try {
      const id = String(fields(await redis.xinfo('STREAM', key) as unknown[]).get('last-generated-id'));
      return id === '0-0' ? undefined : { partition, key, id };
    } catch (err) {
      if (noSuchKey(err)) return undefined;
      throw err;
    }
  }));
  return points.filter((x): x is DrainPoint => x !== undefined);
}

/** Why the group has not drained past this point yet, or undefined when it has. */
async function waitingOn(redis: RedisClient, group: string, point: DrainPoint): Promise<string | undefined> {
  let groups: unknown[][];
  try {
    groups = await redis.xinfo('GROUPS', point.key) as unknown[][];
  } catch (err) {
    // the stream vanished since (Redis lost it): its records are gone, nothing left to wait for.
    if (noSuchKey(err)) return undefined;
    throw err;
  }
  const g = groups.map(fields).find((x) => x.get('name') === group);
  if (!g) return `${point.key} has entries but no consumer group ${group}`;
  const delivered = String(g.get('last-delivered-id'));
  if (compareIds(delivered, point.id) < 0) return `${point.key}: delivered up to ${delivered}, drain point ${point.id}`;
  const pending = await redis.xpending(point.key, group, '-', point.id, 1) as [string, string, number, number][];
  if (pending.length > 0) {
    const [id, consumer] = pending[0]!;
    return `${point.key}: ${id} still unacknowledged by consumer ${consumer}`;
  }
  return undefined;
}

/** Waits until every point is drained; resolves undefined then, or what was still awaited at the deadline. */
export async function waitDrained(redis: RedisClient, group: string, points: readonly DrainPoint[],
  timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let left = [...points];
  for (;;) {
    const reasons = await Promise.all(left.map((p) => waitingOn(redis, group, p)));
    left = left.filter((_, i) => reasons[i] !== undefined);
    if (left.length === 0) return undefined;
    if (Date.now() >= deadline) return reasons.filter((r) => r !== undefined).join('; ');
    await sleep(POLL_MS);
  }
}

/** One entry of a dead-letter stream, decoded when it holds a record. */
export interface DeadEntry {
  readonly partition: number;
  readonly id: string;
  readonly fields: Buffer[] | null;
  readonly decoded: Decoded;
}

/** Every entry of these partitions' dead-letter streams, page by page (records issued but never stored). */
export async function* deadEntries(redis: RedisClient, ks: KeySpace, partitions: readonly number[]): AsyncGenerator<DeadEntry> {
  for (const partition of partitions) {
    for (let start = '-'; ;) {
      const page = await redis.xrangeBuffer(deadKey(ks, partition), start, '+', 'COUNT', 1000);
      for (const [idBuf, fields] of page) {
        const id = idBuf.toString();
        yield { partition, id, fields, decoded: decodeEntry({ partition, id, fields }) };
      }
      if (page.length < 1000) break;
      start = `(${page[page.length - 1]![0].toString()}`;
    }
  }
}

/** Records of this template the sink set aside as unstorable (issued, but not in MySQL). */
export async function deadLetters(redis: RedisClient, ks: KeySpace, partitions: readonly number[],
  templateId: string): Promise<number> {
  let n = 0;
  for await (const e of deadEntries(redis, ks, partitions)) {
    if (e.decoded.ok) for (const r of e.decoded.records) if (r.templateId === templateId) n++;
  }
  return n;
}

/** True when `group` has been delivered every entry of every partition and acknowledged them all. */
export async function caughtUp(redis: RedisClient, ks: KeySpace, group: string): Promise<boolean> {
  for (let p = 0; p < ks.partitions; p++) {
    const key = streamKey(ks, p);
    if (await redis.exists(key) === 0) continue;
    const last = flat(await redis.xinfo('STREAM', key) as unknown[]).get('last-generated-id');
    const groups = (await redis.xinfo('GROUPS', key) as unknown[][]).map(flat);
    const g = groups.find((x) => x.get('name') === group);
    if (!g) return false;
    if (Number(g.get('pending')) !== 0 || g.get('last-delivered-id') !== last) return false;
  }
  return true;
}

function flat(list: unknown[]): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (let i = 0; i + 1 < list.length; i += 2) m.set(String(list[i]), list[i + 1]);
  return m;
}
