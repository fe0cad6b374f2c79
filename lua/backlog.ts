/**
 * How many stream entries (the records of one claim call each) are not acknowledged yet: the
 * gateway sheds claims on it, the sink reports it. Shared so both sides count the same way.
 */
import { allStreamKeys, type KeySpace } from './keys.ts';
import type { RedisClient } from './client.ts';

/** Unacknowledged entries of one stream for `group`: lag + pending; the length when unknown. */
export async function streamBacklog(redis: RedisClient, key: string, group: string): Promise<number> {
  let groups: unknown[][];
  try {
    groups = (await redis.xinfo('GROUPS', key)) as unknown[][];
  } catch (err) {
    if (/no such key/i.test(String(err))) return 0;
    throw err;
  }
  for (const g of groups) {
    const f: Record<string, unknown> = {};
    for (let i = 0; i + 1 < g.length; i += 2) f[String(g[i])] = g[i + 1];
    if (f.name !== group) continue;
    // lag is null when Redis cannot tell (after deletions); only acknowledged entries are ever
    // trimmed, so the length is a safe upper bound.
    if (f.lag === null || f.lag === undefined) return Number(await redis.xlen(key));
    return Number(f.lag) + Number(f.pending);
  }
  // No reader yet: everything in the stream is waiting.
  return Number(await redis.xlen(key));
}

/** The backlog over all partitions. */
export async function totalBacklog(redis: RedisClient, ks: KeySpace, group: string): Promise<number> {
  const parts = await Promise.all(allStreamKeys(ks).map((k) => streamBacklog(redis, k, group)));
  return parts.reduce((a, b) => a + b, 0);
}
