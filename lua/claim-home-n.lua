#!lua
--[[ claim-home: a group commit of claims on ONE home partition, decided in order, each exactly
  as if it were alone (a later claim sees what an earlier one wrote). The claims come in
  segments, one per (template, home sub-stock): the gateway sends the claims of one event-loop
  turn whose home sub-stocks lie in this partition (one template's, or several templates' when a
  batch or several campaigns meet there); a lone claim is a segment of one. Every key is in the
  home partition's slot, whatever the group's size. The number of keys is variable: 3 + 3 per
  segment.
  KEYS[1] pending  zset of '<template>|<user>|<rid>' reservations, scored by ms
  KEYS[2] seq      coupon sequence of partition h
  KEYS[3] stream   issuance record stream of partition h: one entry per segment that issued
  then 3 per segment, in the order of the segments in ARGV:
    stock   remaining count of the segment's home sub-stock
    users   per-template user hash of partition h:
            <user> = claims held (pending included), <user>#p = pending reservations,
            <user>|<rid> = the answer: coupon id ('<couponId>:<amount>' for a red
            packet), or 'P' while a reservation is unsettled
    budget  the sub-stock's remaining red-packet budget (read only for red packets: each
            packet's amount is drawn from it with the decrement, lua/includes/packet.lua;
            for other templates the stock key again, never read)
  ARGV[1] h (home partition)
  ARGV[2] wait: '1' when the caller WAITs for replicas after the call (REDIS_WAIT_REPLICAS,
          lua/fenced.ts): a replay writes its answer again, so the WAIT covers the answer even
          when another connection stored it; '0' otherwise (a replay writes nothing)
  then per segment: templateId, perUserLimit, minAmount ('' unless a red packet), n (claims),
    then 4 per claim, in order: userId, requestId (client's, or '~' + generated),
    remember: '0' generated request id, '1' the client's (its answer is remembered for replays),
              '2' the client's, and reserve the slot even if the home has stock (a redemption
              takes its coupon elsewhere, lua/code-take),
    the user's shard prefix '<db>.<table>'
  Returns a flat list, two per claim in the order of ARGV: code, value ('' when the code has
  none) (lua/codes.ts):
    1 ISSUED answer          2 REPLAYED answer   (answer: the coupon id; for a red packet
                             '<couponId>:<amount>')
    3 LIMIT_REACHED
    4 RESERVED token (home empty, or reserve-only: slot held, take the coupon elsewhere; the
               token names this reservation, for claim-take's fence: its score in the pending zset)
    5 PENDING (this request's reservation is unsettled)
    6 BUSY (at the limit only through unsettled reservations)
    7 STOCK_MISSING (the sub-stock key, or a red packet's budget key, does not exist: never
                     guess a stock)
]]
--- @include "issue"
--- @include "counter"
--- @include "packet"

local pendingKey, seqKey, streamKey = KEYS[1], KEYS[2], KEYS[3]
local homePartition = ARGV[1]
local rewrite = ARGV[2] == '1'
-- The segment being decided: its keys, template and limit. Its stock is read once and counted
-- down here, written once at the end of the segment (nil: not read yet, false: key missing).
local stockKey, usersKey, templateId, limit
-- A red packet's budget key and least amount (minAmount nil: not a red packet).
local budgetKey, minAmount
local stock, taken = nil, 0
-- One reservation token (ms) for the whole call.
local token = nil

local function decide(userId, requestId, remember, shardPrefix)
  local requestField = userId .. '|' .. requestId
  if remember ~= '0' then
    local prior = redis.call('HGET', usersKey, requestField)
    if prior == 'P' then return 5, '' end
    if prior then
      if rewrite then redis.call('HSET', usersKey, requestField, prior) end
      return 2, prior
    end
  end

  if stock == nil then
    -- only an integer as DECRBY reads one counts: DECRBY at the end must not fail after claims
    -- were decided, or the call's writes so far stay (a replay of a coupon never recorded).
    stock = countOf(redis.call('GET', stockKey)) or false
    -- a red packet without a budget it can draw from: as missing as its stock.
    if stock and minAmount and not countOf(redis.call('GET', budgetKey)) then stock = false end
  end

  -- Stock left (the common case): one HINCRBY takes the user's slot and tells whether it was
  -- free; over the limit it is given back, with the same answer as the check below.
  if stock and stock - taken > 0 and remember ~= '2' then
    if redis.call('HINCRBY', usersKey, userId, 1) <= limit then
      local amount = minAmount and drawAmount(budgetKey, stock - taken, minAmount)
      taken = taken + 1
      local couponId = issue(seqKey, shardPrefix, homePartition, userId, requestId, amount)
      local answer = amount and (couponId .. ':' .. string.format('%d', amount)) or couponId
      if remember == '1' then redis.call('HSET', usersKey, requestField, answer) end
      return 1, answer
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
local a, k = 3, 4
while a <= #ARGV do
  stockKey, usersKey, budgetKey = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  templateId, limit, minAmount = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  stock, taken = nil, 0
  local last = a + 3 + 4 * tonumber(ARGV[a + 3])
  for i = a + 4, last, 4 do
    local code, value = decide(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    out[#out + 1] = code
    out[#out + 1] = value
  end
  if taken > 0 then redis.call('DECRBY', stockKey, taken) end
  flushIssued(seqKey, streamKey, templateId, homePartition)
  a, k = last + 1, k + 3
end
return out
