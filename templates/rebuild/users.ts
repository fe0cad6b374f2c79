/**
 * Rebuild step "users": count a template's coupons in every MySQL shard table and rebuild its
 * users hashes from them (claims held per user, the coupon of every client request id), then
 * swap them in partition by partition (lua/users-swap-3.lua). The marks of the redemption codes
 * among the coupons are written back as MySQL shows them. Rows are read in keyset pages and
 * written straight into a side hash per partition, so memory stays bounded by one page however
 * large the campaign; the side hash only replaces the live one in the final swap.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { RedisClient } from '../../lua/client.ts';
import type { Commands } from '../../lua/commands.ts';
import { answerOf } from '../../lua/record.ts';
import { codeMarksKey, homeSubStock, type KeySpace, pendingKey, rebuiltUsersKey, subStockPartition } from '../../lua/keys.ts';
import { codeOfRequest } from '../../core/ids.ts';
import type { MysqlPools } from '../../core/mysql.ts';
import { shardDbName, shardTableName } from '../../core/shards.ts';
import type { Template } from '../model.ts';

// Rows per MySQL page, and field-value pairs per HSET (a bounded command per round trip).
const PAGE_ROWS = 5000;
const HSET_PAIRS = 1000;

export interface UserCounts {
  /** Coupons of the template in MySQL. */
  issued: number;
  /** Distinct users holding at least one. */
  users: number;
  /** Client request ids whose coupon a retry is answered with again. */
  replays: number;
  /** Reservations still in flight, carried over into the new hashes. */
  kept: number;
  /** Users holding more than perUserLimit coupons (an invariant violation already in MySQL). */
  overLimit: number;
  /** Request ids with more than one coupon (an idempotency violation already in MySQL). */
  duplicates: number;
}

export interface UsersDeps {
  readonly redis: RedisClient;
  readonly commands: Commands;
  readonly mysql: MysqlPools;
  readonly ks: KeySpace;
  readonly dbPrefix: string;
  readonly shardDbs: number;
  readonly shardTables: number;
}

/** Writes one page of rows into the side hashes, per home partition. */
class PageWriter {
  private readonly counts = new Map<number, Map<string, number>>();
  private readonly answers = new Map<number, string[]>();
  // Marks of the redemption codes among the rows, by key: code number, '<user>|<coupon>'.
  private readonly marks = new Map<string, string[]>();

  constructor(private readonly d: UsersDeps, private readonly t: Template, private readonly c: UserCounts) {}

  add(p: number, userId: string, requestId: string, couponId: string, amount: number | null): void {
    let perUser = this.counts.get(p);
    if (!perUser) this.counts.set(p, (perUser = new Map()));
    perUser.set(userId, (perUser.get(userId) ?? 0) + 1);
    // '~' marks a request id the gateway generated: nobody can retry it, nothing to remember.
    if (!requestId.startsWith('~')) {
      let list = this.answers.get(p);
      if (!list) this.answers.set(p, (list = []));
      // the answer a replay gives: with a red packet's amount (lua/record.ts)
      list.push(`${userId}|${requestId}`, answerOf(couponId, amount));
    }
    // A code redeemed stays redeemed, whatever Redis lost, marked in the CODE's partition (number
    // mod subStocks) wherever its coupon came from; this replaces a hold its redemption left
    // (lua/code-take-6.lua).
    const code = codeOfRequest(requestId);
    if (code !== undefined) {
      const key = codeMarksKey(this.d.ks, this.t.id, code % this.t.subStocks);
      let list = this.marks.get(key);
      if (!list) this.marks.set(key, (list = []));
      list.push(String(code), `${userId}|${couponId}`);
    }
  }

  async flush(): Promise<void> {
    const { redis, ks } = this.d;
    const writes: Promise<void>[] = [];
    for (const [p, perUser] of this.counts) {
      const key = rebuiltUsersKey(ks, p, this.t.id);
      for (const [userId, n] of perUser) {
        writes.push(redis.hincrby(key, userId, n).then((held) => {
          // a user's rows all live in one shard table, but may span pages: count them once.
          if (held > this.t.perUserLimit && held - n <= this.t.perUserLimit) this.c.overLimit++;
        }));
      }
    }
    for (const [p, list] of this.answers) {
      const key = rebuiltUsersKey(ks, p, this.t.id);
      for (let i = 0; i < list.length; i += 2 * HSET_PAIRS) {
        const chunk = list.slice(i, i + 2 * HSET_PAIRS);
        writes.push(redis.hset(key, ...chunk).then((added) => {
          this.c.replays += added;
          this.c.duplicates += chunk.length / 2 - added;
        }));
      }
    }
    for (const [key, list] of this.marks) {
      for (let i = 0; i < list.length; i += 2 * HSET_PAIRS) writes.push(redis.hset(key, ...list.slice(i, i + 2 * HSET_PAIRS)).then(() => undefined));
    }
    this.counts.clear();
    this.answers.clear();
    this.marks.clear();
    await Promise.all(writes);
  }
}

/** '<user>|<rid>' of the template's reservations awaiting settle, per home partition. */
async function reservations(d: UsersDeps, t: Template, partitions: readonly number[]): Promise<Map<number, Set<string>>> {
  const out = new Map<number, Set<string>>();
  const prefix = `${t.id}|`;
  await Promise.all(partitions.map(async (p) => {
    const members = await d.redis.zrange(pendingKey(d.ks, p), '0', '-1');
    out.set(p, new Set(members.filter((m) => m.startsWith(prefix)).map((m) => m.slice(prefix.length))));
  }));
  return out;
}

/**
 * Replaces the template's users hashes with what MySQL holds. Call only while the template is
 * frozen and after the drain point: then MySQL holds every coupon the template ever issued.
 */
export async function rebuildUsers(d: UsersDeps, t: Template): Promise<UserCounts> {
  const { redis, ks } = d;
  const c: UserCounts = { issued: 0, users: 0, replays: 0, kept: 0, overLimit: 0, duplicates: 0 };
  const homes = Array.from({ length: t.subStocks }, (_, k) => subStockPartition(ks, t.id, k));
  // Side hashes left by an aborted rebuild must not add to this one's counts.
  await Promise.all(homes.map((p) => redis.del(rebuiltUsersKey(ks, p, t.id))));
  // While frozen no reservation can start, so this list only shrinks (by settles) from here.
  const unresolved = await reservations(d, t, homes);

  const page = new PageWriter(d, t, c);
  for (let db = 0; db < d.shardDbs; db++) {
    for (let table = 0; table < d.shardTables; table++) {
      const target = `\`${shardDbName(d.dbPrefix, db)}\`.\`${shardTableName(table)}\``;
      // Keyset pages along idx_template (template_id, then the primary key coupon_id).
      for (let after = ''; ;) {
        const [rows] = await d.mysql.forDb(db).query<RowDataPacket[]>(
          `SELECT coupon_id, user_id, request_id, amount FROM ${target} WHERE template_id = ? AND coupon_id > ?
           ORDER BY coupon_id LIMIT ?`, [t.id, after, PAGE_ROWS]);
        for (const r of rows) {
          const userId = String(r.user_id);
          const requestId = String(r.request_id);
          const p = subStockPartition(ks, t.id, homeSubStock(t.id, userId, t.subStocks));
          // MySQL holds this reservation's coupon: it was taken before the freeze.
          unresolved.get(p)?.delete(`${userId}|${requestId}`);
          page.add(p, userId, requestId, String(r.coupon_id), r.amount === null ? null : Number(r.amount));
        }
        c.issued += rows.length;
        await page.flush();
        if (rows.length < PAGE_ROWS) break;
        after = String(rows[rows.length - 1]!.coupon_id);
      }
    }
  }

  for (const p of homes) {
    const fields = await redis.hlen(rebuiltUsersKey(ks, p, t.id));
    const [, kept] = await d.commands.usersSwap(t.id, p, [...unresolved.get(p)!]);
    c.kept += Number(kept);
    c.users += fields;
  }
  c.users -= c.replays;
  return c;
}
