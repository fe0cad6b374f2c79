#!lua
--[[ claim-replay: the answer stored for a request, for a retry that this gateway would refuse
  from memory (paused, window closed, sold out): idempotency outranks every refusal. A script,
  not a plain HGET, so that it is fenced like the claim itself (lua/fenced.ts): after a Redis
  restart the answer may be missing until the reconciler has put it back from MySQL.
  KEYS[1] users   per-template user hash of the home partition (see claim-home)
  ARGV[1] '<user>|<requestId>'
  ARGV[2] wait: '1' when the caller WAITs for replicas after the call (lua/fenced.ts): the answer
          is written again, so the WAIT covers it even when another connection stored it
  Returns (lua/codes.ts): {2, answer} REPLAYED (the coupon id; '<couponId>:<amount>' for a red packet)   {5} PENDING (a reservation is unsettled)
    {32} NO_ANSWER (nothing stored for this request)
]]
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if not prior then return {32} end
if prior == 'P' then return {5} end
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], ARGV[1], prior) end
return {2, prior}
