/**
 * After Redis restarts from an AOF with `appendfsync everysec`, up to about a second of claims
 * may be gone from Redis although the sink already stored their coupons: the users hashes no
 * longer count them (a user could claim past the limit, a retry would not replay). A new Redis
 * run id gives the restart away; the users of every coupon claimed in the window before it are
 * raised back to what MySQL shows (never lowered), with the coupon of every client request id,
 * and the redemption codes among them are marked redeemed again (lua/code-take-6.lua). The
 * stock side of the same loss is repaired by the counts step (counts.ts).
 */
import type { RowDataPacket } from 'mysql2/promise';
import { markRepaired, redisRunId } from '../lua/fenced.ts';
import { codeMarksKey, homeSubStock, reconcileRunKey, seqKey, subStockPartition } from '../lua/keys.ts';
import { codeOfRequest } from '../core/ids.ts';
import type { Template } from '../templates/model.ts';
import { type ReconcileCtx, rowAnswer, shardTables } from './context.ts';

// Users per usersAtLeast call: a bounded script run.
const USERS_PER_CALL = 200;

/** Whether Redis restarted (or lost its data) since `recordRun`, and the run id now. */
export async function restartedSince(c: ReconcileCtx): Promise<{ restarted: boolean; runId: string }> {
  const runId = await redisRunId(c.redis);
  return { restarted: (await c.redis.get(reconcileRunKey(c.ks))) !== runId, runId };
}

/**
 * Remembers the run id whose losses have been repaired, and lets claims run on it again: until
 * now the claim scripts were fenced off the restarted masters (lua/fenced.ts).
 */
export async function recordRun(c: ReconcileCtx, runId: string): Promise<void> {
  await markRepaired(c.redis, c.ks, runId);
}

interface UserFix {
  held: number;
  answers: string[];
}

/** Raises the users of `t`'s coupons claimed since `since` (ms) to what MySQL holds; returns fields changed. */
async function raiseTemplate(c: ReconcileCtx, t: Template, since: number): Promise<number> {
  // Users by shard table, with the request answers of their recent coupons.
  const recent = new Map<string, Map<string, UserFix>>();
  // Redemption codes among them: their marks may be gone with the rest.
  const redeemed: { code: number; mark: string }[] = [];
  for (const { db, name } of shardTables(c)) {
    const [rows] = await c.mysql.forDb(db).query<RowDataPacket[]>(
      `SELECT user_id, request_id, coupon_id, amount FROM ${name} WHERE template_id = ? AND claimed_at >= ?`, [t.id, new Date(since)]);
    if (rows.length === 0) continue;
    const users = new Map<string, UserFix>();
    for (const r of rows) {
      let u = users.get(r.user_id);
      if (!u) users.set(r.user_id, (u = { held: 0, answers: [] }));
      if (!String(r.request_id).startsWith('~')) u.answers.push(`${r.request_id}=${rowAnswer(r)}`);
      const code = codeOfRequest(String(r.request_id));
      if (code !== undefined) redeemed.push({ code, mark: `${r.user_id}|${r.coupon_id}` });
    }
    const [held] = await c.mysql.forDb(db).query<RowDataPacket[]>(
      `SELECT user_id, COUNT(*) AS n FROM ${name} WHERE template_id = ? AND user_id IN (?) GROUP BY user_id`, [t.id, [...users.keys()]]);
    for (const h of held) users.get(h.user_id)!.held = Number(h.n);
    recent.set(name, users);
  }
  // Per home partition, in bounded calls.
  const byPartition = new Map<number, (string | number)[]>();
  for (const users of recent.values()) {
    for (const [userId, fix] of users) {
      const p = subStockPartition(c.ks, t.id, homeSubStock(t.id, userId, t.subStocks));
      let args = byPartition.get(p);
      if (!args) byPartition.set(p, (args = []));
      args.push(userId, fix.held, fix.answers.join(' '));
    }
  }
  // A code redeemed before the restart stays redeemed, marked in the CODE's partition (number
  // mod subStocks), wherever its coupon came from. Claims are fenced until now: no one else can
  // have marked it since; a hold left standing is its own redemption's, which MySQL shows ended.
  let changed = 0;
  for (const { code, mark } of redeemed) {
    const key = codeMarksKey(c.ks, t.id, code % t.subStocks);
    const now = await c.redis.hget(key, String(code));
    if (now !== null && !now.startsWith('|')) continue;
    await c.redis.hset(key, String(code), mark);
    changed++;
  }
  for (const [p, args] of byPartition) {
    for (let i = 0; i < args.length; i += USERS_PER_CALL * 3) {
      const [, n] = await c.commands.usersAtLeast(t.id, p, args.slice(i, i + USERS_PER_CALL * 3));
      changed += Number(n);
    }
  }
  return changed;
}

/**
 * The last coupon the restarted Redis remembers issuing in each of `partitions` (Redis ms, from
 * its sequence, which follows the clock); the claims it forgot were all issued after it on their
 * partition. `at` where a partition remembers none.
 */
async function remembered(c: ReconcileCtx, partitions: Iterable<number>, at: number): Promise<number> {
  let oldest = at;
  for (const p of new Set(partitions)) {
    const seq = await c.redis.get(seqKey(c.ks, p));
    if (seq !== null) oldest = Math.min(oldest, Math.floor(Number(seq) / 1000));
  }
  return oldest;
}

/**
 * Where the repair of a restart must begin looking (ms): RECONCILE_RESTART_WINDOW_MS before the
 * last claim the restarted Redis remembers (or before `at` if that is earlier). Anchored at the
 * restart, not at the pass: a pass may come long after it (the sink or MySQL was down; claims
 * were fenced all along), and the forgotten claims are as old as the restart.
 */
export async function restartWindowStart(c: ReconcileCtx, at: number): Promise<number> {
  return (await remembered(c, Array.from({ length: c.ks.partitions }, (_, p) => p), at)) - c.cfg.restartWindowMs;
}

/** Raises the users of every template's coupons the restart could have forgotten (pass began at `at`); returns fields changed. */
export async function raiseUsers(c: ReconcileCtx, templates: readonly Template[], at: number): Promise<number> {
  let changed = 0;
  for (const t of templates) {
    // Per template, from its own partitions: one that stayed idle elsewhere does not make it read years of rows.
    const parts = Array.from({ length: t.subStocks }, (_, k) => subStockPartition(c.ks, t.id, k));
    changed += await raiseTemplate(c, t, (await remembered(c, parts, at)) - c.cfg.restartWindowMs);
  }
  return changed;
}
