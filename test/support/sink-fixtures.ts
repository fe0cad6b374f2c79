/**
 * Shared set-up for the sink tests (not a test file itself): template rows, real claims through
 * the claim script, and probes of the streams and shard tables.
 */
import assert from 'node:assert/strict';
import type { Config } from '../../config/index.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { Commands } from '../../lua/commands.ts';
import { homeSubStock, type KeySpace, stockKey, streamKey, subStockPartition } from '../../lua/keys.ts';
import { couponIdPrefix, shardDbName, shardTableName, type ShardLayout } from '../../core/shards.ts';
import { mainDbName } from '../../core/shards.ts';
import type { Storage } from '../../tools/harness/storage.ts';

export const keySpace = (cfg: Config): KeySpace => ({ prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions });
export const layout = (cfg: Config): ShardLayout => ({ dbs: cfg.mysql.shardDbs, tables: cfg.mysql.shardTables });

export interface TemplateRow {
  id: string;
  name: string;
  type: 'direct' | 'threshold' | 'discount';
  value: number;
  threshold: number | null;
  maxDiscount: number | null;
  subStocks: number;
  validDays: number;
}

/** Inserts a template row into <prefix>_main.coupon_template. */
export async function insertTemplate(st: Storage, t: TemplateRow): Promise<void> {
  const now = new Date();
  await st.mysql.main.query(
    `INSERT INTO \`${mainDbName(st.cfg.mysql.dbPrefix)}\`.coupon_template
      (id, name, type, value, threshold, max_discount, total_stock, per_user_limit, sub_stocks, claim_start, claim_end,
       valid_days, status, version, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, NULL, NULL, ?, 'active', 1, ?, ?)`,
    [t.id, t.name, t.type, t.value, t.threshold, t.maxDiscount, 1_000_000, t.subStocks, t.validDays, now, now]);
}

/** What the claim script said for one issued coupon. */
export interface Issued {
  couponId: string;
  userId: string;
  requestId: string;
  templateId: string;
}

/**
 * Claims one coupon per user through the real claim-home script, after setting every sub-stock
 * to `stockPerSub`; asserts each claim was issued (stock is ample, so no overflow path).
 */
export async function produceClaims(st: Storage, templateId: string, userIds: readonly string[],
  subStocks: number, stockPerSub = 1_000_000): Promise<Issued[]> {
  const ks = keySpace(st.cfg);
  for (let k = 0; k < subStocks; k++) {
    await st.redis.set(stockKey(ks, templateId, k), stockPerSub, 'NX');
  }
  const out: Issued[] = [];
  const commands = new Commands(st.redis, ks);
  for (let i = 0; i < userIds.length; i += 1000) {
    const chunk = userIds.slice(i, i + 1000);
    const replies = await Promise.all(chunk.map((userId) => {
      const k = homeSubStock(templateId, userId, subStocks);
      const requestId = `r-${userId}`;
      return commands.claimHome({ templateId, userId, requestId, remember: '1', perUserLimit: 1, home: k,
        homePartition: subStockPartition(ks, templateId, k), shardPrefix: couponIdPrefix(layout(st.cfg), userId) })
        .then((reply) => ({ reply, userId, requestId }));
    }));
    for (const { reply, userId, requestId } of replies) {
      assert.equal(reply[0], ScriptCode.Issued, `claim of ${userId}: ${JSON.stringify(reply)}`);
      out.push({ couponId: String(reply[1]), userId, requestId, templateId });
    }
  }
  return out;
}

/** Polls `cond` every 50 ms until true; fails with `what` after `timeoutMs`. */
export async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Entries pending (delivered, unacked) in the sink's group, over all partitions (0 before it exists). */
export async function pendingTotal(st: Storage): Promise<number> {
  let n = 0;
  for (let p = 0; p < st.cfg.redis.partitions; p++) {
    try {
      const summary = await st.redis.xpending(streamKey(keySpace(st.cfg), p), st.cfg.redis.streamGroup) as [number, ...unknown[]];
      n += Number(summary[0]);
    } catch (err) {
      // no group yet: a sink process has not started; nothing is pending.
      if (!(err instanceof Error && err.message.startsWith('NOGROUP'))) throw err;
    }
  }
  return n;
}

export interface CouponRow {
  db: number;
  table: number;
  coupon_id: string;
  user_id: string;
  template_id: string;
  request_id: string;
  status: string;
  name: string;
  type: string;
  value: number;
  threshold: number | null;
  max_discount: number | null;
  claimed_at: Date;
  valid_from: Date;
  valid_to: Date;
  stream_id: string;
}

/** Every row of every shard table of this prefix, with the shard it was found in. */
export async function couponRows(st: Storage): Promise<CouponRow[]> {
  const out: CouponRow[] = [];
  for (let d = 0; d < st.cfg.mysql.shardDbs; d++) {
    for (let t = 0; t < st.cfg.mysql.shardTables; t++) {
      const [rows] = await st.mysql.forDb(d).query(
        `SELECT * FROM \`${shardDbName(st.cfg.mysql.dbPrefix, d)}\`.\`${shardTableName(t)}\``);
      for (const r of rows as Omit<CouponRow, 'db' | 'table'>[]) out.push({ ...r, db: d, table: t });
    }
  }
  return out;
}

/** Number of rows over all shard tables. */
export async function countRows(st: Storage): Promise<number> {
  let n = 0;
  for (let d = 0; d < st.cfg.mysql.shardDbs; d++) {
    for (let t = 0; t < st.cfg.mysql.shardTables; t++) {
      const [rows] = await st.mysql.forDb(d).query(
        `SELECT COUNT(*) AS n FROM \`${shardDbName(st.cfg.mysql.dbPrefix, d)}\`.\`${shardTableName(t)}\``);
      n += Number((rows as { n: number }[])[0]!.n);
    }
  }
  return n;
}

/** Environment for a sink child process on the same Redis, MySQL and prefixes as `cfg`. */
export function sinkEnv(cfg: Config, extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    APP_ENV: 'test',
    KEY_PREFIX: cfg.redis.keyPrefix,
    DB_PREFIX: cfg.mysql.dbPrefix,
    REDIS_URL: cfg.redis.url,
    REDIS_CLUSTER_NODES: cfg.redis.clusterNodes.join(','),
    MYSQL_URL: cfg.mysql.url,
    MYSQL_SHARD_URLS: cfg.mysql.shardUrls.join(','),
    PARTITIONS: String(cfg.redis.partitions),
    SHARD_DBS: String(cfg.mysql.shardDbs),
    SHARD_TABLES: String(cfg.mysql.shardTables),
    STREAM_GROUP: cfg.redis.streamGroup,
    ...extra,
  };
}

/** Polls until `templateId` has `count` rows (or the timeout passes) and returns them. */
export async function waitForRows(st: Storage, templateId: string, count: number, timeoutMs = 20_000): Promise<CouponRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = (await couponRows(st)).filter((r) => r.template_id === templateId);
    if (rows.length >= count || Date.now() > deadline) return rows;
    await new Promise((r) => setTimeout(r, 100));
  }
}
