-- Adds delta to a counter field of a hash and deletes the field when it reaches zero.
local function addField(key, field, delta)
  local v = redis.call('HINCRBY', key, field, delta)
  if v <= 0 then redis.call('HDEL', key, field) end
  return v
end
