/** The claim scripts of one user on a 2-sub-stock template, called directly (to stage reservations). */
import type { Template } from '../../templates/model.ts';
import type { RedisClient } from '../../lua/client.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { Commands } from '../../lua/commands.ts';
import { homeSubStock, type KeySpace, pendingKey, subStockPartition, usersKey } from '../../lua/keys.ts';
import { couponIdPrefix, type ShardLayout } from '../../core/shards.ts';

/**
 * claim-home on the user's home sub-stock, claim-take on the other one (for the reservation
 * made last, or the token given), claim-settle, and what Redis holds of the user.
 */
export function userScripts(redis: RedisClient, ks: KeySpace, layout: ShardLayout, t: Template, userId: string) {
  const home = homeSubStock(t.id, userId, 2);
  const h = subStockPartition(ks, t.id, home);
  const commands = new Commands(redis, ks);
  const claim = (requestId: string) => ({ templateId: t.id, userId, requestId, remember: '1', perUserLimit: t.perUserLimit, home,
    homePartition: h, shardPrefix: couponIdPrefix(layout, userId) }) as const;
  let token = '';
  return {
    home,
    homePartition: h,
    claimHome: async (rid: string) => {
      const reply = await commands.claimHome(claim(rid));
      if (reply[0] === ScriptCode.Reserved) token = String(reply[1]);
      return reply;
    },
    take: (rid: string, reservation = token) => commands.claimTake({ ...claim(rid), token: reservation }, 1 - home),
    settle: (rid: string, couponId: string) => commands.claimSettle(claim(rid), couponId),
    users: async () => Object.fromEntries(Object.entries(await redis.hgetall(usersKey(ks, h, t.id)))
      .filter(([f]) => f === userId || f.startsWith(`${userId}|`) || f.startsWith(`${userId}#`))),
    pending: async () => (await redis.zrange(pendingKey(ks, h), '0', '-1')).filter((m) => m.split('|')[1] === userId),
  };
}
