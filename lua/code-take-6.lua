#!lua
--[[ code-take: redeem a code, the second step of a redemption. The user's slot is already
  reserved on the home partition (claim-home in reserve-only mode returned RESERVED); here, in
  the partition of the sub-stock the code's number picks, ONE script checks the code's mark and
  either takes one coupon of this sub-stock, issues it and marks the code, or, when this
  sub-stock is empty, HOLDS the code for this reservation: the gateway then takes a coupon from
  another sub-stock (claim-take, same request id) and code-bind turns the hold into the mark or
  releases it. Either way a code is claimed by one redemption at a time and never used twice.
  The record carries the request id 'code:<number>' and the home partition, so a reservation
  left pending by a dead gateway is settled from MySQL like any overflow claim's, its hold bound
  or released with it (reconcile/reservations.ts, code-holds.ts); a reservation the reconciler
  released is fenced here as in claim-take.
  KEYS[1] stock     remaining count of this sub-stock                             (partition {j})
  KEYS[2] seq       coupon sequence of partition j
  KEYS[3] stream    issuance record stream of partition j
  KEYS[4] released  zset of released reservations '<template>|<user>|<rid>|<token>' of partition j
  KEYS[5] marks     hash of this sub-stock's codes: code number -> '<user>|<couponId>' (redeemed)
                    or '|<user>|<token>' (held by that reservation while it takes elsewhere; ids
                    are never empty nor contain '|', so only a hold starts with '|')
  KEYS[6] holds     zset of partition j's holds '<template>|<code>|<user>|<token>' by ms (the
                    reconciler finds stale ones there)
  ARGV[1] templateId  ARGV[2] userId  ARGV[3] requestId ('code:<number>')
  ARGV[4] shard prefix '<db>.<table>'  ARGV[5] j (this partition)  ARGV[6] h (home partition)
  ARGV[7] the reservation's token (claim-home's RESERVED reply)  ARGV[8] the code number
  ARGV[9] wait: '1' when the caller WAITs for replicas after the call (lua/fenced.ts): a replay
          writes the code's mark again, so the WAIT covers it even when another connection wrote it
  Returns (lua/codes.ts): {1, couponId} ISSUED
    {2, couponId} REPLAYED (this user redeemed the code before: that coupon, nothing taken)
    {40} CODE_USED (another user redeemed it)   {7} STOCK_MISSING
    {41} CODE_HELD (this sub-stock is empty: the code is now, or was already, held by this
         reservation; take elsewhere, then code-bind)
    {42} CODE_BUSY (another reservation holds the code: nothing taken, retry later)
    {31} RELEASED (the reservation was released by the reconciler: take nothing)
]]
--- @include "issue"

local stockKey, seqKey, streamKey, releasedKey, marksKey, holdsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local templateId, userId, requestId, token, code = ARGV[1], ARGV[2], ARGV[3], ARGV[7], ARGV[8]
if redis.call('ZSCORE', releasedKey, templateId .. '|' .. userId .. '|' .. requestId .. '|' .. token) then return {31} end
local hold = '|' .. userId .. '|' .. token
local holdMember = templateId .. '|' .. code .. '|' .. userId .. '|' .. token
local mark = redis.call('HGET', marksKey, code)
if mark and mark ~= hold then
  if string.sub(mark, 1, 1) == '|' then return {42} end
  -- ids never contain '|': the mark splits back into its user and coupon.
  local bar = string.find(mark, '|', 1, true)
  if string.sub(mark, 1, bar - 1) == userId then
    if ARGV[9] == '1' then redis.call('HSET', marksKey, code, mark) end
    return {2, string.sub(mark, bar + 1)}
  end
  return {40}
end
local stock = redis.call('GET', stockKey)
if not stock then return {7} end
if tonumber(stock) <= 0 then
  if mark then return {41} end
  redis.call('HSET', marksKey, code, hold)
  local t = redis.call('TIME')
  redis.call('ZADD', holdsKey, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), holdMember)
  return {41}
end
-- Free, or held for this very reservation (the reconciler holds the codes of pending
-- redemptions after a Redis restart): take from this sub-stock after all.
redis.call('DECR', stockKey)
local couponId = issue(seqKey, ARGV[4], ARGV[5], userId, requestId)
redis.call('HSET', marksKey, code, userId .. '|' .. couponId)
if mark then redis.call('ZREM', holdsKey, holdMember) end
flushIssued(seqKey, streamKey, templateId, ARGV[6])
return {1, couponId}
