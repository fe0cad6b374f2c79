#!lua
--[[ lease-take: take or renew a lease held by one owner at a time (the reconciler's).
  KEYS[1] lease   string: the owner's name, expiring after ARGV[2] ms
  ARGV[1] owner   ARGV[2] ttl in ms
  Returns (lua/codes.ts): {25} LEASED (taken or renewed: ours until the ttl)   {26, holder} HELD
]]
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {26, holder} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {25}
