#!lua
--[[ users-atleast: make a users hash hold at least what MySQL shows each user holds, and every
  client request id's coupon; never lowers a count (a later claim may already have raised it).
  The reconciler's repair after Redis restarted from an AOF that lost its last second.
  KEYS[1] users   per-template user hash (see claim-home-n.lua)
  ARGV    triples: userId, coupons held in MySQL, then '' or '<requestId>=<answer>' pairs
          joined by ' ' (ids never contain '=' or ' '; the answer is the coupon id, with
          ':<amount>' for a red packet)
  Returns (lua/codes.ts): {29, fields changed}
]]
local changed = 0
for i = 1, #ARGV, 3 do
  local user, held = ARGV[i], tonumber(ARGV[i + 1])
  if tonumber(redis.call('HGET', KEYS[1], user) or '0') < held then
    redis.call('HSET', KEYS[1], user, held)
    changed = changed + 1
  end
  for rid, coupon in string.gmatch(ARGV[i + 2], '([^ =]+)=([^ ]+)') do
    changed = changed + redis.call('HSETNX', KEYS[1], user .. '|' .. rid, coupon)
  end
end
return {29, changed}
