#!lua
--[[ stock-freeze: set a sub-stock aside for a rebuild. Claim scripts find no stock key and
  answer STOCK_MISSING, so nothing of this sub-stock can be issued until stock-restore (or
  stock-thaw) puts a key back; the stream's last id after this call is the drain point.
  KEYS[1] stock   the live sub-stock key        (partition {p})
  KEYS[2] frozen  where the rebuild keeps it    (partition {p})
  Returns (lua/codes.ts):
    {20, value} FROZEN (live key moved aside, or a frozen key kept from an aborted rebuild)
    {21} STOCK_ABSENT (neither exists: Redis lost it, nothing can be issued anyway)
]]
local stockKey, frozenKey = KEYS[1], KEYS[2]
-- Both exist only if a key was put back after an aborted rebuild: the live one is current.
if redis.call('EXISTS', stockKey) == 1 then redis.call('RENAME', stockKey, frozenKey) end
local frozen = redis.call('GET', frozenKey)
if not frozen then return {21} end
return {20, tonumber(frozen)}
