#!lua
--[[ template-put: store a template's live copy unless a newer version is already there, so an
  update that arrives late (a slow admin call, a reload from MySQL) never undoes a newer one.
  KEYS[1] template  hash: version = integer, data = the template as JSON
  ARGV[1] version   ARGV[2] data
  Returns (lua/codes.ts): {13} WRITTEN (also for the same version again)   {14, stored} STALE
]]
local stored = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if stored > tonumber(ARGV[1]) then return {14, stored} end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'data', ARGV[2])
return {13}
