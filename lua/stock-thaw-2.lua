#!lua
--[[ stock-thaw: undo a freeze (the rebuild gave up): the frozen value goes back exactly.
  A live key that appeared meanwhile is never overwritten (claims may be spending it).
  KEYS[1] stock   the live sub-stock key        (partition {p})
  KEYS[2] frozen  the key stock-freeze moved it to
  Returns (lua/codes.ts):
    {22, value} THAWED   {23} STOCK_LIVE (a live key exists; the frozen one is left)
    {21} STOCK_ABSENT (nothing was frozen)
]]
local stockKey, frozenKey = KEYS[1], KEYS[2]
local frozen = redis.call('GET', frozenKey)
if not frozen then return {21} end
if redis.call('EXISTS', stockKey) == 1 then return {23} end
redis.call('RENAME', frozenKey, stockKey)
return {22, tonumber(frozen)}
