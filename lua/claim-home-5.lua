#!lua
--[[ claim-home: the common one-round-trip claim on the user's home sub-stock.
  KEYS[1] stock   remaining count of the home sub-stock      (partition {h})
  KEYS[2] users   per-template user hash of partition h:
                  <user> = claims held (pending included), <user>#p = pending reservations,
                  <user>|<rid> = coupon id, or 'P' while a reservation is unsettled
  KEYS[3] pending zset of '<template>|<user>|<rid>' reservations, scored by ms
  KEYS[4] seq     coupon sequence of partition h
  KEYS[5] stream  issuance record stream of partition h
  ARGV[1] templateId  ARGV[2] userId  ARGV[3] requestId (client's, or '~' + generated)
  ARGV[4] '1' when the client sent the request id (its answer is remembered for replays)
  ARGV[5] perUserLimit  ARGV[6] shard prefix '<db>.<table>'  ARGV[7] h (home partition)
  Returns (lua/codes.ts):
    {1, couponId} ISSUED          {2, couponId} REPLAYED
    {3} LIMIT_REACHED
    {4, token} RESERVED (home empty: slot held, try other sub-stocks; the token names this
               reservation, for claim-take's fence: its score in the pending zset)
    {5} PENDING (this request's reservation is unsettled)
    {6} BUSY (at the limit only through unsettled reservations)
    {7} STOCK_MISSING (the sub-stock key does not exist: never guess a stock)
]]
--- @include "issue"
--- @include "counter"

local stockKey, usersKey, pendingKey, seqKey, streamKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local templateId, userId, requestId = ARGV[1], ARGV[2], ARGV[3]
local remember, limit, shardPrefix, homePartition = ARGV[4] == '1', tonumber(ARGV[5]), ARGV[6], ARGV[7]
local requestField = userId .. '|' .. requestId

if remember then
  local prior = redis.call('HGET', usersKey, requestField)
  if prior == 'P' then return {5} end
  if prior then return {2, prior} end
end

local held = tonumber(redis.call('HGET', usersKey, userId) or '0')
if held >= limit then
  if redis.call('HEXISTS', usersKey, userId .. '#p') == 1 then return {6} end
  return {3}
end

local stock = redis.call('GET', stockKey)
if not stock then return {7} end

if tonumber(stock) > 0 then
  redis.call('DECR', stockKey)
  local couponId = issue(seqKey, streamKey, shardPrefix, homePartition, templateId, userId, requestId, homePartition)
  redis.call('HINCRBY', usersKey, userId, 1)
  if remember then redis.call('HSET', usersKey, requestField, couponId) end
  return {1, couponId}
end

addField(usersKey, userId, 1)
addField(usersKey, userId .. '#p', 1)
redis.call('HSET', usersKey, requestField, 'P')
local t = redis.call('TIME')
local token = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('ZADD', pendingKey, token, templateId .. '|' .. userId .. '|' .. requestId)
return {4, token}
