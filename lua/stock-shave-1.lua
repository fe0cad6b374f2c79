#!lua
--[[ stock-shave: take up to n from one sub-stock, never below 0: the reconciler's repair when
  Redis believes fewer coupons were issued than MySQL holds (e.g. Redis restarted from an AOF
  that lost its last second after the sink had stored those coupons).
  KEYS[1] stock   remaining count of the sub-stock
  ARGV[1] n (> 0)
  Returns (lua/codes.ts): {28, taken}   {7} STOCK_MISSING
]]
local stock = redis.call('GET', KEYS[1])
if not stock then return {7} end
local taken = math.min(math.max(tonumber(stock), 0), tonumber(ARGV[1]))
if taken > 0 then redis.call('DECRBY', KEYS[1], taken) end
return {28, taken}
