/**
 * The backlog the gateway sheds on and the drills wait for (lua/backlog.ts), on the real Redis:
 * a group whose entries-read trails the stream's entries-added, as on a replica a cluster
 * failover promoted (make drill TOPOLOGY=cluster met one: lag 53, nothing left to deliver), has
 * nothing waiting once it delivered the stream's last entry; entries added after it still count.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRedis, waitReady } from '../../../lua/client.ts';
import { streamBacklog } from '../../../lua/backlog.ts';
import { testConfig } from '../../../tools/harness/storage.ts';

const lagOf = async (redis: ReturnType<typeof createRedis>, key: string) => {
  const g = ((await redis.xinfo('GROUPS', key)) as unknown[][])[0]!;
  return g[g.indexOf('lag') + 1];
};

test('a group that delivered the last entry has no backlog, whatever its entries-read', async () => {
  const cfg = testConfig();
  const redis = createRedis(cfg.redis, { offlineQueue: true, name: 'test' });
  const key = `${cfg.redis.keyPrefix}:{0}:stream`;
  try {
    await waitReady(redis, 5_000);
    for (let i = 0; i < 5; i++) await redis.xadd(key, '*', 'f', String(i));
    await redis.xgroup('CREATE', key, 'g', '0');
    const read = (await redis.xreadgroup('GROUP', 'g', 'c', 'COUNT', 10, 'STREAMS', key, '>')) as [string, [string, string[]][]][];
    const ids = read[0]![1].map(([id]) => id);
    await redis.xack(key, 'g', ...ids);
    assert.equal(await streamBacklog(redis, key, 'g'), 0);

    // The promoted replica's state: everything delivered, entries-read behind by 3.
    await redis.xgroup('SETID', key, 'g', ids.at(-1)!, 'ENTRIESREAD', 2);
    assert.equal(await lagOf(redis, key), 3, 'Redis reports a lag with nothing to deliver');
    assert.equal(await streamBacklog(redis, key, 'g'), 0);

    // A new entry is waiting (counted, if with the group's excess).
    await redis.xadd(key, '*', 'f', 'new');
    assert.ok(await streamBacklog(redis, key, 'g') >= 1);
  } finally {
    await redis.del(key);
    redis.disconnect();
  }
});
