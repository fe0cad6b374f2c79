/** Guards the key layout: the partition count is fixed for the life of the data. */
import { type KeySpace, metaKey } from './keys.ts';
import type { RedisClient } from './client.ts';

/** Records the partition count on first use; throws if this process was started with another. */
export async function checkLayout(redis: RedisClient, ks: KeySpace): Promise<void> {
  const key = metaKey(ks);
  await redis.hsetnx(key, 'partitions', ks.partitions);
  const stored = Number(await redis.hget(key, 'partitions'));
  if (stored !== ks.partitions) {
    throw new Error(`PARTITIONS=${ks.partitions} but the data in Redis was laid out with ${stored}; keys would not be found`);
  }
}
