#!lua
--[[ claim-settle: confirm or release a reservation made by claim-home (RESERVED).
  Idempotent: settling an entry that is no longer pending changes nothing.
  KEYS[1] users   per-template user hash of the home partition (see claim-home)
  KEYS[2] pending reservations zset of the home partition
  ARGV[1] templateId  ARGV[2] userId  ARGV[3] requestId
  ARGV[4] the answer of the coupon claim-take took (its coupon id, '<couponId>:<amount>' for a
          red packet), or '' to release the slot (nothing was taken)
  ARGV[5] '1' when the client sent the request id (keep the answer for replays)
  Returns (lua/codes.ts): {9} SETTLED   {10, current} NOT_PENDING (current: the stored answer or '')
]]
--- @include "counter"

local usersKey, pendingKey = KEYS[1], KEYS[2]
local templateId, userId, requestId, couponId, remember = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1'
local requestField = userId .. '|' .. requestId

local current = redis.call('HGET', usersKey, requestField)
if current ~= 'P' then return {10, current or ''} end

addField(usersKey, userId .. '#p', -1)
redis.call('ZREM', pendingKey, templateId .. '|' .. userId .. '|' .. requestId)
if couponId ~= '' then
  if remember then
    redis.call('HSET', usersKey, requestField, couponId)
  else
    redis.call('HDEL', usersKey, requestField)
  end
else
  redis.call('HDEL', usersKey, requestField)
  addField(usersKey, userId, -1)
end
return {9}
