#!lua
--[[ stock-restore: the rebuild's last step on a sub-stock: write the recomputed stock and drop
  the frozen key. Its presence re-opens claims on this sub-stock.
  A live key that appeared while frozen is never overwritten: claims may have spent from it,
  and those issues are not in the counts the new value was computed from.
  KEYS[1] stock   the live sub-stock key        (partition {p})
  KEYS[2] frozen  the key stock-freeze moved it to
  ARGV[1] the new remaining count of this sub-stock
  Returns (lua/codes.ts): {13} WRITTEN   {23} STOCK_LIVE (nothing written)
]]
local stockKey, frozenKey = KEYS[1], KEYS[2]
if redis.call('EXISTS', stockKey) == 1 then return {23} end
redis.call('SET', stockKey, ARGV[1])
redis.call('DEL', frozenKey)
return {13}
