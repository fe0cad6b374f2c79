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
    // A replica promoted by a cluster failover can hold a group whose entries-read trails the
    // stream's entries-added (Redis 7.0): its lag stays above 0 with nothing left to deliver.
    // Nothing is waiting once the group has delivered the stream's last entry.
    if (Number(f.lag) > 0 && f['last-delivered-id'] === await lastGeneratedId(redis, key)) return Number(f.pending);
    return Number(f.lag) + Number(f.pending);
  }
  // No reader yet: everything in the stream is waiting.
  return Number(await redis.xlen(key));
}

/** The id of the last entry ever added to a stream (XINFO STREAM's last-generated-id). */
async function lastGeneratedId(redis: RedisClient, key: string): Promise<string> {
  const info = (await redis.xinfo('STREAM', key)) as unknown[];
  const i = info.indexOf('last-generated-id');
  return i < 0 ? '' : String(info[i + 1]);
}

/** The backlog over all partitions. */
export async function totalBacklog(redis: RedisClient, ks: KeySpace, group: string): Promise<number> {
  const parts = await Promise.all(allStreamKeys(ks).map((k) => streamBacklog(redis, k, group)));
  return parts.reduce((a, b) => a + b, 0);
}
