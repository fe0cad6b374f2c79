#!lua
--[[ stock-restore: the rebuild's last step on a sub-stock: write the recomputed stock and drop
  the frozen key. Its presence re-opens claims on this sub-stock.
  A live key that appeared while frozen is never overwritten: claims may have spent from it,
  and those issues are not in the counts the new value was computed from.
  A red packet's budget is written in the same step: no claim can draw from a budget that does
  not match the stock it finds (while frozen, no claim draws at all).
  KEYS[1] stock   the live sub-stock key        (partition {p})
  KEYS[2] frozen  the key stock-freeze moved it to
  KEYS[3] budget  the sub-stock's red-packet budget (untouched for other coupons)
  ARGV[1] the new remaining count of this sub-stock
  ARGV[2] the new remaining budget in cents (red packet), or '' for other coupons
  Returns (lua/codes.ts): {13} WRITTEN   {23} STOCK_LIVE (nothing written)
]]
local stockKey, frozenKey, budgetKey = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', stockKey) == 1 then return {23} end
if ARGV[2] ~= '' then redis.call('SET', budgetKey, ARGV[2]) end
redis.call('SET', stockKey, ARGV[1])
redis.call('DEL', frozenKey)
return {13}
