/** The claim scripts of one user on a 2-sub-stock template, called directly (to stage reservations). */
import type { Template } from '../../templates/model.ts';
import type { RedisClient } from '../../lua/client.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { FencedScripts } from '../../lua/fenced.ts';
import { homeSubStock, type KeySpace, pendingKey, releasedKey, seqKey, stockKey, streamKey, subStockPartition, usersKey } from '../../lua/keys.ts';
import { couponIdPrefix, type ShardLayout } from '../../core/shards.ts';

/**
 * claim-home on the user's home sub-stock, claim-take on the other one (for the reservation
 * made last, or the token given), claim-settle, and what Redis holds of the user.
 */
export function userScripts(redis: RedisClient, ks: KeySpace, layout: ShardLayout, t: Template, userId: string) {
  const home = homeSubStock(t.id, userId, 2);
  const h = subStockPartition(ks, t.id, home);
  const o = subStockPartition(ks, t.id, 1 - home);
  const prefix = couponIdPrefix(layout, userId);
  const scripts = new FencedScripts(redis, ks);
  let token = '';
  return {
    home,
    homePartition: h,
    claimHome: async (rid: string) => {
      const reply = await scripts.home(stockKey(ks, t.id, home), usersKey(ks, h, t.id), pendingKey(ks, h),
        seqKey(ks, h), streamKey(ks, h), t.id, userId, rid, '1', t.perUserLimit, prefix, h);
      if (reply[0] === ScriptCode.Reserved) token = String(reply[1]);
      return reply;
    },
    take: (rid: string, reservation = token) => scripts.take(stockKey(ks, t.id, 1 - home), seqKey(ks, o), streamKey(ks, o),
      releasedKey(ks, o), t.id, userId, rid, prefix, o, h, reservation),
    settle: (rid: string, couponId: string) => redis.claimSettle(usersKey(ks, h, t.id), pendingKey(ks, h), t.id, userId, rid, couponId, '1'),
    users: async () => Object.fromEntries(Object.entries(await redis.hgetall(usersKey(ks, h, t.id)))
      .filter(([f]) => f === userId || f.startsWith(`${userId}|`) || f.startsWith(`${userId}#`))),
    pending: async () => (await redis.zrange(pendingKey(ks, h), '0', '-1')).filter((m) => m.split('|')[1] === userId),
  };
}
