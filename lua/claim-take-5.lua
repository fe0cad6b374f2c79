#!lua
--[[ claim-take: overflow step, take one coupon from another sub-stock of the template.
  The user's slot is already reserved on the home partition (claim-home returned RESERVED);
  the record carries the request id and home partition so a crash before settle is repairable.
  A reservation the reconciler released (its gateway looked dead) is fenced here first: the
  reconciler adds it to the released set of every partition of the template before it decides,
  so a gateway that wakes up late cannot take a coupon for a slot that is no longer held.
  KEYS[1] stock     remaining count of this sub-stock                             (partition {j})
  KEYS[2] seq       coupon sequence of partition j
  KEYS[3] stream    issuance record stream of partition j
  KEYS[4] released  zset of released reservations '<template>|<user>|<rid>|<token>' of partition j
  KEYS[5] budget    red packet: cents left of this sub-stock's budget (unused for other coupons)
  ARGV[1] templateId  ARGV[2] userId  ARGV[3] requestId  ARGV[4] shard prefix '<db>.<table>'
  ARGV[5] j (this partition)  ARGV[6] h (the user's home partition)
  ARGV[7] the reservation's token (claim-home's RESERVED reply)
  ARGV[8] red packet: minAmount; '' for other coupons
  Returns (lua/codes.ts): {1, answer} ISSUED   {8} EMPTY   {7} STOCK_MISSING (or budget missing)
    answer: the coupon id, or '<couponId>:<amount>' for a red packet, drawn from THIS
    sub-stock's budget (so each sub-stock's amounts still sum to its budget)
    {31} RELEASED (the reservation was released by the reconciler: take nothing)
]]
--- @include "issue"
--- @include "counter"
--- @include "packet"

local stockKey, seqKey, streamKey, releasedKey, budgetKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
if redis.call('ZSCORE', releasedKey, ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[7]) then return {31} end
local stock = redis.call('GET', stockKey)
if not stock then return {7} end
stock = tonumber(stock)
if stock <= 0 then return {8} end
local amount = nil
if ARGV[8] ~= '' then
  amount = drawAmount(budgetKey, stock, tonumber(ARGV[8]))
  if not amount then return {7} end
end
redis.call('DECR', stockKey)
local couponId = issue(seqKey, ARGV[4], ARGV[5], ARGV[2], ARGV[3], amount)
flushIssued(seqKey, streamKey, ARGV[1], ARGV[6])
if amount then return {1, couponId .. ':' .. string.format('%d', amount)} end
return {1, couponId}
