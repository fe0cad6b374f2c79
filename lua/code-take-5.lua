#!lua
--[[ code-take: redeem a code, the overflow step of a redemption. The user's slot is already
  reserved on the home partition (claim-home in reserve-only mode returned RESERVED); here, in
  the partition of the sub-stock the code's number picks, ONE script checks the code's mark,
  takes one coupon, issues it and marks the code: a code can never be redeemed twice, and its
  stock and mark never disagree, whatever happens to the gateway around this call. The record
  carries the request id 'code:<number>' and the home partition, so a reservation left pending
  by a dead gateway is settled from MySQL like any overflow claim's (reconcile/reservations.ts),
  and a reservation the reconciler released is fenced here as in claim-take.
  KEYS[1] stock     remaining count of this sub-stock                             (partition {j})
  KEYS[2] seq       coupon sequence of partition j
  KEYS[3] stream    issuance record stream of partition j
  KEYS[4] released  zset of released reservations '<template>|<user>|<rid>|<token>' of partition j
  KEYS[5] marks     hash of this sub-stock's redeemed codes: code number -> '<user>|<couponId>'
  ARGV[1] templateId  ARGV[2] userId  ARGV[3] requestId ('code:<number>')
  ARGV[4] shard prefix '<db>.<table>'  ARGV[5] j (this partition)  ARGV[6] h (home partition)
  ARGV[7] the reservation's token (claim-home's RESERVED reply)  ARGV[8] the code number
  Returns (lua/codes.ts): {1, couponId} ISSUED
    {2, couponId} REPLAYED (this user redeemed the code before: that coupon, nothing taken)
    {40} CODE_USED (another user redeemed it)   {8} EMPTY   {7} STOCK_MISSING
    {31} RELEASED (the reservation was released by the reconciler: take nothing)
]]
--- @include "issue"

local stockKey, seqKey, streamKey, releasedKey, marksKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local templateId, userId, requestId, code = ARGV[1], ARGV[2], ARGV[3], ARGV[8]
if redis.call('ZSCORE', releasedKey, templateId .. '|' .. userId .. '|' .. requestId .. '|' .. ARGV[7]) then return {31} end
local mark = redis.call('HGET', marksKey, code)
if mark then
  -- ids never contain '|': the mark splits back into its user and coupon.
  local bar = string.find(mark, '|', 1, true)
  if string.sub(mark, 1, bar - 1) == userId then return {2, string.sub(mark, bar + 1)} end
  return {40}
end
local stock = redis.call('GET', stockKey)
if not stock then return {7} end
if tonumber(stock) <= 0 then return {8} end
redis.call('DECR', stockKey)
local couponId = issue(seqKey, ARGV[4], ARGV[5], userId, requestId)
redis.call('HSET', marksKey, code, userId .. '|' .. couponId)
flushIssued(seqKey, streamKey, templateId, ARGV[6])
return {1, couponId}
