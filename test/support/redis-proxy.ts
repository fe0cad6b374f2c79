/** A Redis client of a test's storage that talks through a cutting proxy (tools/harness/cutting-proxy.ts). */
import { createRedis, type RedisClient, waitReady } from '../../lua/client.ts';
import { type CuttingProxy, startCuttingProxy } from '../../tools/harness/cutting-proxy.ts';
import type { Storage } from '../../tools/harness/storage.ts';

export interface ProxiedRedis {
  readonly proxy: CuttingProxy;
  /** The gateway's kind of client (no offline queue), connected through the proxy. */
  readonly client: RedisClient;
  close(): Promise<void>;
}

/** Starts a proxy in front of the storage's Redis and a client through it. */
export async function redisBehindProxy(s: Storage, name: string): Promise<ProxiedRedis> {
  const target = new URL(s.cfg.redis.url);
  const proxy = await startCuttingProxy(target.hostname, Number(target.port));
  const client = createRedis({ ...s.cfg.redis, url: `redis://127.0.0.1:${proxy.port}` }, { offlineQueue: false, name });
  client.on('error', () => {});
  await waitReady(client, 5000);
  return {
    proxy, client,
    close: async () => {
      client.disconnect();
      await proxy.close();
    },
  };
}
