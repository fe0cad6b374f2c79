/** A claim script whose reply is lost runs once, never twice (no automatic re-send). */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RedisClient, waitReady } from '../../../lua/client.ts';
import { Commands } from '../../../lua/commands.ts';
import * as keys from '../../../lua/keys.ts';
import type { CuttingProxy } from '../../../tools/harness/cutting-proxy.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../../tools/harness/storage.ts';
import { type ProxiedRedis, redisBehindProxy } from '../../support/redis-proxy.ts';

const env = testEnv();
let s: Storage;
let cut: ProxiedRedis;
let proxy: CuttingProxy;
let viaProxy: RedisClient;

before(async () => {
  s = await openStorage(testConfig(env));
  cut = await redisBehindProxy(s, 'cut');
  ({ proxy, client: viaProxy } = cut);
});
after(async () => {
  await cut?.close();
  await s?.close();
});

test('claim-take whose reply was lost ran exactly once, even after the client reconnects', async () => {
  const ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  const p = keys.subStockPartition(ks, 'cut-t', 0);
  await s.redis.set(keys.stockKey(ks, 'cut-t', 0), 10);
  proxy.armCut();
  await assert.rejects(new Commands(viaProxy, ks).claimTake({ templateId: 'cut-t', userId: 'u1', requestId: 'r1', remember: '1',
    perUserLimit: 1, home: 0, homePartition: p, shardPrefix: '0.0', token: '1' }, 0));
  await waitReady(viaProxy, 5000);
  await viaProxy.ping();
  await sleep(200);
  assert.equal(await s.redis.get(keys.stockKey(ks, 'cut-t', 0)), '9', 'the script ran twice (or not at all)');
  assert.equal(await s.redis.xlen(keys.streamKey(ks, p)), 1);
});
