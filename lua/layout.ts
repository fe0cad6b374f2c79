/**
 * Start-up guards on the Redis side. The partition count and the MySQL shard layout are fixed
 * for the life of the data: a process started with other values would look for keys in the
 * wrong partitions or mint coupon ids the sink routes to the wrong table. And Redis must never
 * evict our keys (a lost stream, users hash or sequence breaks the invariants silently).
 */
import { masters, type RedisClient } from './client.ts';
import { markRepaired, redisRunId } from './fenced.ts';
import { type KeySpace, metaKey } from './keys.ts';

export interface LayoutFacts {
  readonly partitions: number;
  readonly shardDbs: number;
  readonly shardTables: number;
  /** Servers the shard databases are spread over (database d on server d % n); host names
   *  may change (failover), their number may not without moving the data. */
  readonly shardServers: number;
}

/** The layout facts of a config. */
export function layoutFacts(cfg: { redis: { partitions: number }; mysql: { shardDbs: number; shardTables: number; shardUrls: readonly string[] } }): LayoutFacts {
  return {
    partitions: cfg.redis.partitions, shardDbs: cfg.mysql.shardDbs, shardTables: cfg.mysql.shardTables,
    shardServers: Math.max(1, cfg.mysql.shardUrls.length),
  };
}

/**
 * Records the layout on first use; throws if this process was started with another one. The
 * first use of a key space also records the current Redis runs as repaired: there is nothing
 * a restart could have lost yet, so the claim scripts may run (lua/fenced.ts).
 */
export async function checkLayout(redis: RedisClient, ks: KeySpace, facts: LayoutFacts): Promise<void> {
  const key = metaKey(ks);
  let created = false;
  for (const [field, value] of Object.entries(facts)) created = (await redis.hsetnx(key, field, value)) === 1 || created;
  const stored = await redis.hmget(key, ...Object.keys(facts));
  Object.entries(facts).forEach(([field, value], i) => {
    if (Number(stored[i]) !== value) {
      const env = { partitions: 'PARTITIONS', shardDbs: 'SHARD_DBS', shardTables: 'SHARD_TABLES',
        shardServers: 'the number of MYSQL_SHARD_URLS' }[field];
      throw new Error(`${env}=${value} but the data in Redis was laid out with ${stored[i]}; keys and rows would not be found`);
    }
  });
  await checkEviction(redis);
  if (created) await markRepaired(redis, ks, await redisRunId(redis));
}

/** Throws unless every master keeps keys without a TTL (noeviction or a volatile-* policy). */
async function checkEviction(redis: RedisClient): Promise<void> {
  for (const node of masters(redis)) {
    const policy = /maxmemory_policy:(\S+)/.exec(await node.info('memory'))?.[1];
    // Claim data has no TTL, so volatile-* policies never pick it (only the claim-stats rate
    // buckets and flush markers expire); allkeys-* would.
    if (policy === undefined || !(policy === 'noeviction' || policy.startsWith('volatile-'))) {
      throw new Error(`Redis maxmemory-policy is ${policy}: it may evict claim data; use noeviction`);
    }
  }
}
