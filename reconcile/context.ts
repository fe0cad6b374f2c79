/** What every reconciliation step needs: the clients, the layouts, and its limits. */
import type { Config } from '../config/index.ts';
import { masters, type RedisClient } from '../lua/client.ts';
import { Commands } from '../lua/commands.ts';
import type { KeySpace } from '../lua/keys.ts';
import { answerOf } from '../lua/record.ts';
import { LiveTemplates } from '../templates/live.ts';
import { StockLedger } from '../templates/stock-ledger.ts';
import { TemplateStore } from '../templates/store.ts';
import type { MysqlPools } from '../core/mysql.ts';
import { shardTables as allShardTables, type ShardLayout } from '../core/shards.ts';

export interface ReconcileCtx {
  readonly redis: RedisClient;
  readonly commands: Commands;
  readonly mysql: MysqlPools;
  readonly ks: KeySpace;
  readonly layout: ShardLayout;
  readonly dbPrefix: string;
  readonly store: TemplateStore;
  readonly ledger: StockLedger;
  /** The sink's consumer group. */
  readonly group: string;
  readonly cfg: Config['reconcile'];
}

/** The context for this config on the given clients. */
export function reconcileCtx(cfg: Config, redis: RedisClient, mysql: MysqlPools): ReconcileCtx {
  const ks = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
  return {
    redis, commands: new Commands(redis, ks), mysql, ks, layout: { dbs: cfg.mysql.shardDbs, tables: cfg.mysql.shardTables }, dbPrefix: cfg.mysql.dbPrefix,
    store: new TemplateStore(mysql, new LiveTemplates(redis, ks), cfg.mysql), ledger: new StockLedger(mysql, cfg.mysql),
    group: cfg.redis.streamGroup, cfg: cfg.reconcile,
  };
}

/** Every user-coupon table: its pool and qualified name. */
export function shardTables(c: ReconcileCtx): { db: number; name: string }[] {
  return allShardTables(c.dbPrefix, c.layout);
}

/** Redis's clock in ms (claim scripts stamp reservations and records with it). */
export async function redisNowMs(redis: RedisClient): Promise<number> {
  const node = masters(redis)[0]!;
  const [s, us] = await node.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

/** The answer a claim script stored for a coupon row (`coupon_id`, `amount`): what a replay returns. */
export function rowAnswer(r: Record<string, unknown>): string {
  return answerOf(String(r.coupon_id), r.amount === null || r.amount === undefined ? null : Number(r.amount));
}
