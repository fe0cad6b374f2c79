#!lua
--[[ claim-home: a group commit of claims on ONE home sub-stock of a template, decided in
  order, each exactly as if it were alone (a later claim sees what an earlier one wrote). The
  gateway sends the claims of one event-loop turn that share the sub-stock; a lone claim is a
  group of one. Every key is in the home partition's slot, whatever the group's size.
  KEYS[1] stock   remaining count of the home sub-stock      (partition {h})
  KEYS[2] users   per-template user hash of partition h:
                  <user> = claims held (pending included), <user>#p = pending reservations,
                  <user>|<rid> = the answer: coupon id ('<couponId>:<amount>' for a
                  red packet), or 'P' while a reservation is unsettled
  KEYS[3] pending zset of '<template>|<user>|<rid>' reservations, scored by ms
  KEYS[4] seq     coupon sequence of partition h
  KEYS[5] stream  issuance record stream of partition h: ONE entry holds every record issued
  ARGV[1] templateId  ARGV[2] perUserLimit  ARGV[3] h (home partition)
  then 4 per claim, in order: userId, requestId (client's, or '~' + generated),
    '1' when the client sent the request id (its answer is remembered for replays),
    the user's shard prefix '<db>.<table>'
  Returns a flat list, two per claim in order: code, value ('' when the code has none)
  (lua/codes.ts):
    1 ISSUED couponId        2 REPLAYED couponId
    3 LIMIT_REACHED
    4 RESERVED token (home empty: slot held, try other sub-stocks; the token names this
               reservation, for claim-take's fence: its score in the pending zset)
    5 PENDING (this request's reservation is unsettled)
    6 BUSY (at the limit only through unsettled reservations)
    7 STOCK_MISSING (the sub-stock key does not exist: never guess a stock)
]]
--- @include "issue"
--- @include "counter"

local stockKey, usersKey, pendingKey, seqKey, streamKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local templateId, limit, homePartition = ARGV[1], tonumber(ARGV[2]), ARGV[3]
-- The stock is read once and counted down here, written once at the end (nil: not read yet,
-- false: the key is missing).
local stock, taken = nil, 0
local token = nil

local function decide(userId, requestId, remember, shardPrefix)
  local requestField = userId .. '|' .. requestId
  if remember then
    local prior = redis.call('HGET', usersKey, requestField)
    if prior == 'P' then return 5, '' end
    if prior then return 2, prior end
  end

  if stock == nil then
    -- only an integer counts: DECRBY at the end must not fail after claims were decided.
    local s = redis.call('GET', stockKey)
    stock = s and string.match(s, '^%-?%d+$') and tonumber(s) or false
  end

  -- Stock left (the common case): one HINCRBY takes the user's slot and tells whether it was
  -- free; over the limit it is given back, with the same answer as the check below.
  if stock and stock - taken > 0 then
    if redis.call('HINCRBY', usersKey, userId, 1) <= limit then
      taken = taken + 1
      local couponId = issue(seqKey, shardPrefix, homePartition, userId, requestId)
      if remember then redis.call('HSET', usersKey, requestField, couponId) end
      return 1, couponId
    end
    addField(usersKey, userId, -1)
  end

  local held = tonumber(redis.call('HGET', usersKey, userId) or '0')
  if held >= limit then
    if redis.call('HEXISTS', usersKey, userId .. '#p') == 1 then return 6, '' end
    return 3, ''
  end
  if not stock then return 7, '' end

  addField(usersKey, userId, 1)
  addField(usersKey, userId .. '#p', 1)
  redis.call('HSET', usersKey, requestField, 'P')
  if not token then
    local t = redis.call('TIME')
    token = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  end
  redis.call('ZADD', pendingKey, token, templateId .. '|' .. userId .. '|' .. requestId)
  return 4, token
end

local out = {}
for i = 4, #ARGV, 4 do
  local code, value = decide(ARGV[i], ARGV[i + 1], ARGV[i + 2] == '1', ARGV[i + 3])
  out[#out + 1] = code
  out[#out + 1] = value
end
if taken > 0 then redis.call('DECRBY', stockKey, taken) end
flushIssued(seqKey, streamKey, templateId, homePartition)
return out
