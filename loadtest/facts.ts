/**
 * Gathers the verifier's facts from the gateway's own storage (addresses from loadConfig(), the
 * same environment the gateway reads): the sink's backlog, the sub-stock counters in Redis, and
 * the run's coupon rows in every MySQL shard table. Reads only.
 */
import type { Config } from '../config/index.ts';
import { createRedis, type RedisClient, waitReady } from '../lua/client.ts';
import { type KeySpace, metaKey, stockKey, templateKey } from '../lua/keys.ts';
import { totalBacklog } from '../lua/backlog.ts';
import { openMysql, type MysqlPools } from '../core/mysql.ts';
import { type ShardLayout } from '../core/shards.ts';
import { storedCoupons, templateState } from '../tools/verify/facts.ts';
import type { CreatedTemplate } from './admin.ts';
import type { CouponRow, IssuedAnswer, TemplateFacts } from './verify.ts';
import type { UserAuth } from './requests.ts';

export interface Storage {
  readonly cfg: Config;
  readonly redis: RedisClient;
  readonly mysql: MysqlPools;
  readonly ks: KeySpace;
  readonly layout: ShardLayout;
  close(): Promise<void>;
}

/** Connects to the gateway's Redis and MySQL. */
export async function openStorage(cfg: Config): Promise<Storage> {
  const redis = createRedis(cfg.redis, { offlineQueue: true, name: 'loadtest' });
  try {
    await waitReady(redis, 5_000);
  } catch {
    redis.disconnect();
    throw new Error(`cannot reach Redis at ${cfg.redis.clusterNodes.join(',') || cfg.redis.url} (REDIS_URL / REDIS_CLUSTER_NODES)`);
  }
  const mysql = openMysql(cfg.mysql);
  return {
    cfg, redis, mysql,
    ks: { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions },
    layout: { dbs: cfg.mysql.shardDbs, tables: cfg.mysql.shardTables },
    close: async () => {
      redis.disconnect();
      await mysql.close();
    },
  };
}

/**
 * Throws unless Redis holds a gateway's layout under this KEY_PREFIX with the same partitions
 * and shards: with other values the facts would be read from the wrong keys and tables.
 */
export async function checkSameLayout(st: Storage): Promise<void> {
  const [partitions, dbs, tables] = await st.redis.hmget(metaKey(st.ks), 'partitions', 'shardDbs', 'shardTables');
  if (partitions === null) {
    throw new Error(`no gateway data under KEY_PREFIX=${st.ks.prefix} in Redis: run with the gateway's KEY_PREFIX, REDIS_URL, DB_PREFIX`);
  }
  const mine = { PARTITIONS: st.ks.partitions, SHARD_DBS: st.layout.dbs, SHARD_TABLES: st.layout.tables };
  const theirs = { PARTITIONS: Number(partitions), SHARD_DBS: Number(dbs), SHARD_TABLES: Number(tables) };
  for (const [k, v] of Object.entries(mine)) {
    const t = theirs[k as keyof typeof theirs];
    if (t !== v) throw new Error(`${k}=${v} here but the gateway's data uses ${t}: run with the gateway's settings`);
  }
}

/** Waits until every issuance record is acknowledged by the sink (or `timeoutMs` passes). */
export async function waitForDrain(st: Storage, timeoutMs: number): Promise<{ drained: boolean; backlog: number; ms: number }> {
  const t0 = Date.now();
  let lastPrint = t0;
  for (;;) {
    const backlog = await totalBacklog(st.redis, st.ks, st.cfg.redis.streamGroup);
    const ms = Date.now() - t0;
    if (backlog === 0) return { drained: true, backlog, ms };
    if (ms > timeoutMs) return { drained: false, backlog, ms };
    if (Date.now() - lastPrint >= 3_000) {
      console.log(`  waiting for the sink: ${backlog.toLocaleString('en-US')} records not yet stored`);
      lastPrint = Date.now();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sum of a template's sub-stock counters; throws if one is missing (wrong KEY_PREFIX, or lost data). */
export async function remaining(st: Storage, t: CreatedTemplate): Promise<number> {
  const { remaining: r } = await templateState(st.redis, st.ks, t);
  if (r === null) throw new Error(`template ${t.id}: sub-stock keys missing in Redis under KEY_PREFIX=${st.ks.prefix}`);
  return r;
}

/**
 * Reads the template's live copy, which stamps it with Redis's key clock: the reference that
 * stockIdle compares the sub-stocks with. Nothing else reads that key while the gateway's
 * cache holds the template.
 */
export async function markKeyClock(st: Storage, t: CreatedTemplate): Promise<void> {
  if (await st.redis.hget(templateKey(st.ks, t.id), 'version') === null) throw new Error(`template ${t.id} has no live copy in Redis`);
}

/**
 * Seconds since a command last read or wrote the reference key (markKeyClock) and each
 * sub-stock key (OBJECT IDLETIME reads without touching); null when Redis does not track it.
 */
export async function stockIdle(st: Storage, t: CreatedTemplate): Promise<{ reference: number; stock: number[] } | null> {
  const idle = async (key: string) => Number(await st.redis.object('IDLETIME', key));
  try {
    // the reference first: the clock only moves on, so a sub-stock read later is never unfairly less idle.
    const reference = await idle(templateKey(st.ks, t.id));
    const stock: number[] = [];
    for (let k = 0; k < t.subStocks; k++) stock.push(await idle(stockKey(st.ks, t.id, k)));
    return { reference, stock };
  } catch (err) {
    if (/LFU/i.test(String(err))) return null;
    throw err;
  }
}

/** Every coupon row of templates whose id starts with `idPrefix` ([a-z0-9-] only), from every shard table. */
async function rowsOf(st: Storage, idPrefix: string): Promise<CouponRow[]> {
  const rows = await storedCoupons(st.mysql, st.cfg.mysql.dbPrefix, st.layout, { prefix: idPrefix });
  return rows.map((r) => ({ couponId: r.couponId, userId: r.userId, templateId: r.templateId, requestId: r.requestId, amount: r.amount,
    db: r.shard!.db, table: r.shard!.table }));
}

/** The stock facts of every template and the rows of the run (after the drain). */
export async function gatherFacts(st: Storage, templates: readonly CreatedTemplate[], idPrefix: string):
  Promise<{ templates: TemplateFacts[]; rows: CouponRow[] }> {
  const facts: TemplateFacts[] = [];
  // chunks keep thousands of templates from queueing thousands of GETs at once.
  for (let i = 0; i < templates.length; i += 200) {
    const chunk = templates.slice(i, i + 200);
    const states = await Promise.all(chunk.map((t) => templateState(st.redis, st.ks, t)));
    for (const s of states) {
      if (s.remaining === null) throw new Error(`template ${s.id}: sub-stock keys missing in Redis under KEY_PREFIX=${st.ks.prefix}`);
      facts.push({ ...s, remaining: s.remaining });
    }
  }
  return { templates: facts, rows: await rowsOf(st, idPrefix) };
}

const LISTING_MAX = 200;

/**
 * Reads the listing of up to `sample` users who were told they got coupons, and returns every
 * told coupon their listing does not show (the read path after the drain).
 */
export async function checkListings(origin: string, answers: readonly IssuedAnswer[], sample: number, auth: UserAuth):
  Promise<{ users: number; missing: { userId: string; couponId: string }[] }> {
  const byUser = new Map<string, Set<string>>();
  for (const a of answers) {
    if (!byUser.has(a.userId) && byUser.size >= sample) continue;
    (byUser.get(a.userId) ?? byUser.set(a.userId, new Set()).get(a.userId)!).add(a.couponId);
  }
  // a listing shows the newest 200: users with more coupons than that cannot be checked whole.
  for (const [userId, coupons] of byUser) if (coupons.size > LISTING_MAX / 2) byUser.delete(userId);
  const missing: { userId: string; couponId: string }[] = [];
  for (const [userId, coupons] of byUser) {
    const res = await fetch(`${origin}/v1/users/${encodeURIComponent(userId)}/coupons?limit=${LISTING_MAX}`,
      { headers: auth(userId), signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`listing of ${userId}: ${res.status} ${await res.text()}`);
    const listed = new Set(((await res.json()) as { coupons: { couponId: string }[] }).coupons.map((c) => c.couponId));
    for (const c of coupons) if (!listed.has(c)) missing.push({ userId, couponId: c });
  }
  return { users: byUser.size, missing };
}
