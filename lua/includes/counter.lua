-- Adds delta to a counter field of a hash and deletes the field when it reaches zero.
local function addField(key, field, delta)
  local v = redis.call('HINCRBY', key, field, delta)
  if v <= 0 then redis.call('HDEL', key, field) end
  return v
end

-- The integer a counter key holds, as DECRBY reads one (no leading zero, no '-0', far inside 64
-- bits and exact as a Lua number), or nil: a script must not decide against a value it could
-- not count down at its end, or the writes made before the failure would stay.
local function countOf(s)
  if s and (s == '0' or (#s <= 16 and string.match(s, '^%-?[1-9]%d*$'))) then return tonumber(s) end
  return nil
end
