/**
 * Test harness: every test file gets its own key prefix and MySQL database prefix on the real
 * Redis and MariaDB that `make test` started, so files never see each other's data.
 */
import { randomBytes } from 'node:crypto';
import { type Config, loadConfigWith } from '../../config/index.ts';
import { createRedis, masters, type RedisClient, waitReady } from '../../lua/client.ts';
import { caughtUp } from '../../lua/drain.ts';
import { checkLayout, layoutFacts } from '../../lua/layout.ts';
import { openMysql, type MysqlPools } from '../../core/mysql.ts';
import { dropSchema, ensureSchema } from '../../core/schema.ts';

/** Env-style variables giving a unique key and database prefix, plus `overrides`. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const prefix = `t${randomBytes(4).toString('hex')}`;
  return { APP_ENV: 'test', KEY_PREFIX: prefix, DB_PREFIX: prefix, ...overrides };
}

/** A config with a unique prefix for this test file; `overrides` are env-style variables. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfigWith(testEnv(overrides));
}

export interface Storage {
  readonly cfg: Config;
  readonly redis: RedisClient;
  readonly mysql: MysqlPools;
  /** Deletes this prefix's keys and databases and closes the connections. */
  close(): Promise<void>;
}

/** Connects to the test Redis and MariaDB and creates this prefix's schema. */
export async function openStorage(cfg: Config): Promise<Storage> {
  const redis = createRedis(cfg.redis, { offlineQueue: true, name: 'test' });
  await waitReady(redis, 5000);
  // As every process does at start: pins the layout, and opens the claim scripts' fence.
  await checkLayout(redis, { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions }, layoutFacts(cfg));
  const mysql = openMysql(cfg.mysql);
  await ensureSchema(mysql, cfg.mysql);
  return {
    cfg,
    redis,
    mysql,
    close: async () => {
      await deleteKeys(redis, `${cfg.redis.keyPrefix}:*`);
      await dropSchema(mysql, cfg.mysql);
      await mysql.close();
      redis.disconnect();
    },
  };
}

/** Deletes keys matching a pattern on every master (works for single node and cluster). */
export async function deleteKeys(redis: RedisClient, pattern: string): Promise<void> {
  for (const node of masters(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      // One key per call: on a cluster the keys of one SCAN page live in different slots.
      await Promise.all(keys.map((k) => node.unlink(k)));
    } while (cursor !== '0');
  }
}

/** True when the sink's group has been delivered every entry of every partition and acked them all. */
export function drained(st: Pick<Storage, 'cfg' | 'redis'>): Promise<boolean> {
  return caughtUp(st.redis, { prefix: st.cfg.redis.keyPrefix, partitions: st.cfg.redis.partitions }, st.cfg.redis.streamGroup);
}
