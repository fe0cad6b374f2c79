#!lua
--[[ stock-change: apply one operator stock change to one sub-stock, at most once per request.
  What the request did here is remembered, so a retry (after a lost reply, a crash half-way
  through the sub-stocks, a failed MySQL step) gets the same amount back instead of applying it
  again. Requests older than keepMs are forgotten a few at a time, so the records cannot pile
  up; no key has a TTL, so a volatile-* eviction policy can never drop a record early.
  KEYS[1] stock    remaining count of the sub-stock                 (partition {p})
  KEYS[2] applied  hash: request id -> amount it applied here       (partition {p})
  KEYS[3] at       zset: request id scored by when it applied (ms)  (partition {p})
  ARGV[1] requestId
  ARGV[2] delta    > 0: add exactly this   < 0: take up to this many, never below 0
  ARGV[3] keepMs   how long a request is remembered
  ARGV[4] wait     '1' when the caller WAITs for replicas after the call (lua/fenced.ts): a known
                   request's record is written again, so the WAIT covers it whoever wrote it
  Returns (lua/codes.ts): {15, applied} STOCK_CHANGED
    {16, applied} STOCK_CHANGE_KNOWN (this request was applied here before: its amount)
    {7} STOCK_MISSING (the sub-stock is not in Redis: template not created yet, or Redis lost it)
]]
local stockKey, appliedKey, atKey = KEYS[1], KEYS[2], KEYS[3]
local rid = ARGV[1]
local known = redis.call('HGET', appliedKey, rid)
if known then
  if ARGV[4] == '1' then redis.call('HSET', appliedKey, rid, known) end
  return {16, tonumber(known)}
end
local stock = redis.call('GET', stockKey)
if not stock then return {7} end
local delta = tonumber(ARGV[2])
if delta < 0 then
  local have = math.max(tonumber(stock), 0)
  if -delta > have then delta = -have end
end
-- Amounts are at most 1e9 in magnitude: integers Lua prints exactly, as INCRBY needs.
if delta ~= 0 then redis.call('INCRBY', stockKey, delta) end

local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- At most 100 per call keeps the script short however many requests expired at once.
local old = redis.call('ZRANGEBYSCORE', atKey, '-inf', string.format('%d', nowMs - tonumber(ARGV[3])), 'LIMIT', 0, 100)
if #old > 0 then
  redis.call('HDEL', appliedKey, unpack(old))
  redis.call('ZREM', atKey, unpack(old))
end
-- Recorded even when nothing was taken, so a retry takes nothing here either.
redis.call('HSET', appliedKey, rid, delta)
redis.call('ZADD', atKey, string.format('%d', nowMs), rid)
return {15, delta}
