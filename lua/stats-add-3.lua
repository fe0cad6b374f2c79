#!lua
--[[ stats-add: adds one gateway's batch of claim counts for one template, exactly once. A batch
  whose reply was lost (timeout, dropped connection) is sent again with the same sequence; the
  applied marker makes that resend a no-op if the first one did run.
  KEYS[1] totals   hash: rejection reason = count since the template was created
  KEYS[2] second   hash of one second: c = claims, i = issued coupons (expires after ARGV[4] s)
  KEYS[3] applied  last batch sequence of this gateway applied for this template (expires after ARGV[5] s)
  ARGV[1] batch sequence (increasing per gateway)  ARGV[2] claims  ARGV[3] issued
  ARGV[4] second ttl  ARGV[5] applied ttl  ARGV[6..] reason, count pairs (counts > 0)
  Returns (lua/codes.ts): {13} WRITTEN   {14} STALE (this batch was applied before: nothing done)
]]
local totalsKey, secondKey, appliedKey = KEYS[1], KEYS[2], KEYS[3]
local seq = tonumber(ARGV[1])
if seq <= tonumber(redis.call('GET', appliedKey) or '0') then return {14} end
redis.call('SET', appliedKey, ARGV[1], 'EX', ARGV[5])

local claims, issued = tonumber(ARGV[2]), tonumber(ARGV[3])
if claims > 0 then redis.call('HINCRBY', secondKey, 'c', claims) end
if issued > 0 then redis.call('HINCRBY', secondKey, 'i', issued) end
if claims > 0 or issued > 0 then redis.call('EXPIRE', secondKey, ARGV[4]) end
for i = 6, #ARGV, 2 do
  redis.call('HINCRBY', totalsKey, ARGV[i], ARGV[i + 1])
end
return {13}
