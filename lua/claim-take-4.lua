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
  ARGV[1] templateId  ARGV[2] userId  ARGV[3] requestId  ARGV[4] shard prefix '<db>.<table>'
  ARGV[5] j (this partition)  ARGV[6] h (the user's home partition)
  ARGV[7] the reservation's token (claim-home's RESERVED reply)
  Returns (lua/codes.ts): {1, couponId} ISSUED   {8} EMPTY   {7} STOCK_MISSING
    {31} RELEASED (the reservation was released by the reconciler: take nothing)
]]
--- @include "issue"

local stockKey, seqKey, streamKey, releasedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('ZSCORE', releasedKey, ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[7]) then return {31} end
local stock = redis.call('GET', stockKey)
if not stock then return {7} end
if tonumber(stock) <= 0 then return {8} end
redis.call('DECR', stockKey)
local couponId = issue(seqKey, ARGV[4], ARGV[5], ARGV[2], ARGV[3])
flushIssued(seqKey, streamKey, ARGV[1], ARGV[6])
return {1, couponId}
