#!lua
--[[ packet-shave: the reconciler's repair of a red packet's sub-stock after Redis forgot issues
  (restarted from an AOF that lost its last second after the sink stored them): its stock and
  its budget are lowered, together, to what MySQL shows is left of the sub-stock's share. Only
  ever lowers (a value already below is a later issue, or a record MySQL lacks): it withholds,
  it never gives back.
  KEYS[1] stock   remaining count of the sub-stock          (partition {p})
  KEYS[2] budget  remaining budget in cents of the sub-stock (partition {p})
  ARGV[1] the stock left by MySQL's count (>= 0)   ARGV[2] the budget left by MySQL's sum (>= 0)
  Returns (lua/codes.ts): {28, packets taken, cents taken} SHAVED   {7} STOCK_MISSING
]]
local stock, budget = redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])
if not stock or not budget then return {7} end
local packets = math.max(0, tonumber(stock) - tonumber(ARGV[1]))
local cents = math.max(0, tonumber(budget) - tonumber(ARGV[2]))
if packets > 0 then redis.call('DECRBY', KEYS[1], packets) end
if cents > 0 then redis.call('DECRBY', KEYS[2], cents) end
return {28, packets, cents}
