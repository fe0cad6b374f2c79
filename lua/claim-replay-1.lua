#!lua
--[[ claim-replay: the answer stored for a request, for a retry that this gateway would refuse
  from memory (paused, window closed, sold out): idempotency outranks every refusal. A script,
  not a plain HGET, so that it is fenced like the claim itself (lua/fenced.ts): after a Redis
  restart the answer may be missing until the reconciler has put it back from MySQL.
  KEYS[1] users   per-template user hash of the home partition (see claim-home)
  ARGV[1] '<user>|<requestId>'
  Returns (lua/codes.ts): {2, answer} REPLAYED (the coupon id; '<couponId>:<amount>' for a red packet)   {5} PENDING (a reservation is unsettled)
    {32} NO_ANSWER (nothing stored for this request)
]]
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if not prior then return {32} end
if prior == 'P' then return {5} end
return {2, prior}
