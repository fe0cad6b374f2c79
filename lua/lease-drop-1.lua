#!lua
--[[ lease-drop: give a lease back, only if this owner still holds it.
  KEYS[1] lease   ARGV[1] owner
  Returns (lua/codes.ts): {27} DROPPED (or it had expired)   {26, holder} HELD (someone else's now)
]]
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {26, holder} end
redis.call('DEL', KEYS[1])
return {27}
