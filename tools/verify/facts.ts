/**
 * Reads the oracle's facts from storage (oracle.ts judges them): the coupon rows of some
 * templates from every shard table, and each template's remaining stock in Redis. One scan of
 * the shards for every tool.
 */
import type { Config } from '../../config/index.ts';
import type { MysqlPools } from '../../core/mysql.ts';
import { type ShardLayout, shardTables } from '../../core/shards.ts';
import type { RedisClient } from '../../lua/client.ts';
import { budgetKey, type KeySpace, stockKey } from '../../lua/keys.ts';
import { LiveTemplates } from '../../templates/live.ts';
import { TemplateStore } from '../../templates/store.ts';
import { judge, type StoredCoupon, type TemplateState, type Verdict } from './oracle.ts';

/** Which templates' rows: these ids, or every id starting with a prefix of [a-z0-9-]. */
export type RowFilter = { readonly ids: readonly string[] } | { readonly prefix: string };

interface Row {
  coupon_id: string;
  user_id: string;
  template_id: string;
  request_id: string;
  amount: number | string | null;
  conflicts: number;
}

/** Every coupon row of the filtered templates, with the shard table it was found in. */
export async function storedCoupons(mysql: MysqlPools, dbPrefix: string, layout: ShardLayout, filter: RowFilter): Promise<StoredCoupon[]> {
  let where: string;
  let arg: unknown;
  if ('ids' in filter) {
    if (filter.ids.length === 0) return [];
    [where, arg] = ['template_id IN (?)', filter.ids];
  } else {
    if (!/^[a-z0-9-]+$/.test(filter.prefix)) throw new Error(`template id prefix ${filter.prefix} would need LIKE escaping`);
    // idx_template turns the prefix into an index range.
    [where, arg] = ['template_id LIKE ?', `${filter.prefix}%`];
  }
  const out: StoredCoupon[] = [];
  for (const { db, table, name } of shardTables(dbPrefix, layout)) {
    const [rows] = await mysql.forDb(db).query(`SELECT coupon_id, user_id, template_id, request_id, amount, conflicts FROM ${name} WHERE ${where}`, [arg]);
    for (const r of rows as Row[]) {
      out.push({ couponId: r.coupon_id, userId: r.user_id, templateId: r.template_id, requestId: r.request_id,
        amount: r.amount === null ? null : Number(r.amount), conflicts: Number(r.conflicts), shard: { db, table } });
    }
  }
  return out;
}

/** The sum of one key per sub-stock, or null when a key is missing. */
async function sumKeys(redis: RedisClient, subStocks: number, key: (k: number) => string): Promise<number | null> {
  const values = await Promise.all(Array.from({ length: subStocks }, (_, k) => redis.get(key(k))));
  return values.some((v) => v === null) ? null : values.reduce((s, v) => s + Number(v), 0);
}

/**
 * A template as the oracle needs it, with the sum of its sub-stocks (null when a key is
 * missing), and for a red packet its budget, minimum and the sum of its sub-stocks' budgets left.
 */
export async function templateState(redis: RedisClient, ks: KeySpace,
  t: { readonly id: string; readonly totalStock: number; readonly perUserLimit: number; readonly subStocks: number;
    readonly budget?: number | null; readonly minAmount?: number | null }): Promise<TemplateState> {
  const remaining = await sumKeys(redis, t.subStocks, (k) => stockKey(ks, t.id, k));
  const state = { id: t.id, totalStock: t.totalStock, perUserLimit: t.perUserLimit, remaining };
  if (t.budget === undefined || t.budget === null) return state;
  return { ...state, budget: t.budget, minAmount: t.minAmount ?? 1, budgetLeft: await sumKeys(redis, t.subStocks, (k) => budgetKey(ks, t.id, k)) };
}

/**
 * Judges every row of one template of a run whose answers were not kept (the bench and the
 * capacity calibration: their load tools only count them), once the sink has drained.
 */
export async function judgeTemplate(st: { readonly redis: RedisClient; readonly mysql: MysqlPools; readonly cfg: Config },
  templateId: string): Promise<Verdict> {
  const ks = { prefix: st.cfg.redis.keyPrefix, partitions: st.cfg.redis.partitions };
  const t = await new TemplateStore(st.mysql, new LiveTemplates(st.redis, ks), st.cfg.mysql).get(templateId);
  if (!t) throw new Error(`template ${templateId} has no row in MySQL`);
  const layout = { dbs: st.cfg.mysql.shardDbs, tables: st.cfg.mysql.shardTables };
  const [state, rows] = await Promise.all([templateState(st.redis, ks, t),
    storedCoupons(st.mysql, st.cfg.mysql.dbPrefix, layout, { ids: [t.id] })]);
  return judge({ templates: [state], rows, told: [], uncertain: Number.POSITIVE_INFINITY, backlog: 0 });
}
