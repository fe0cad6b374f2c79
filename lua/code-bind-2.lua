#!lua
--[[ code-bind: end a code's hold (code-take's CODE_HELD), in the code's partition: bind it to
  the coupon its reservation took from another sub-stock, or release it when none was taken.
  Run by the gateway after the take, and by the reconciler for a reservation (or a hold) left
  by a dead gateway, from what MySQL holds. Idempotent.
  A coupon with the request id 'code:<n>' is that code's redemption: binding also marks a code
  whose hold is gone (a Redis restart lost it), so the code cannot be redeemed again. A release
  touches only the hold of this reservation (user and token).
  KEYS[1] marks  hash of the sub-stock's codes (see code-take)   KEYS[2] holds  zset of holds
  ARGV[1] templateId  ARGV[2] code number  ARGV[3] userId  ARGV[4] the reservation's token
  ARGV[5] the answer of the coupon taken (its id), or '' to release the hold
  Returns (lua/codes.ts): {43} BOUND (the code is this user's coupon's; after a release: this hold is gone)
    {44, mark} CODE_CONFLICT (the code is marked or held otherwise: nothing changed)
]]

local marksKey, holdsKey = KEYS[1], KEYS[2]
local templateId, code, userId, token, answer = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local hold = '|' .. userId .. '|' .. token
local mark = redis.call('HGET', marksKey, code)
redis.call('ZREM', holdsKey, templateId .. '|' .. code .. '|' .. userId .. '|' .. token)
if answer == '' then
  if mark == hold then redis.call('HDEL', marksKey, code) end
  return {43}
end
local bound = userId .. '|' .. answer
if mark == hold or mark == false then
  redis.call('HSET', marksKey, code, bound)
  return {43}
end
if mark == bound then return {43} end
return {44, mark}
