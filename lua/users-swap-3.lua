#!lua
--[[ users-swap: replace a template's users hash in one partition with the one a rebuild built
  from MySQL, keeping the reservations that are still in flight.
  A reservation (claim-home RESERVED) whose coupon MySQL does not hold may still be confirmed
  by a claim-take that runs after the rebuild: it keeps its 'P' entry and its slot in the
  user's count, so claim-settle finds it and the user's limit still counts it. The caller
  names those still unresolved; every other reservation of this template is dropped from the
  pending zset (MySQL decided it: its coupon is counted, or it never issued).
  KEYS[1] users    the live per-template users hash of partition p (see claim-home)
  KEYS[2] rebuilt  the hash built from MySQL (consumed: renamed over KEYS[1])
  KEYS[3] pending  reservations zset of partition p: members '<template>|<user>|<rid>'
  ARGV[1] templateId   ARGV[2..] '<user>|<rid>' of reservations MySQL has no coupon for
  Returns (lua/codes.ts): {24, kept} USERS_REPLACED (kept = reservations carried over)
]]
--- @include "counter"

local usersKey, rebuiltKey, pendingKey = KEYS[1], KEYS[2], KEYS[3]
local prefix = ARGV[1] .. '|'
local keep = {}
local kept = 0
for i = 2, #ARGV do
  local field = ARGV[i]
  -- settled since the caller looked (released, or confirmed with a coupon MySQL now holds)
  if redis.call('HGET', usersKey, field) == 'P' then
    local userId = string.match(field, '^([^|]+)|')
    addField(rebuiltKey, userId, 1)
    addField(rebuiltKey, userId .. '#p', 1)
    redis.call('HSET', rebuiltKey, field, 'P')
    keep[prefix .. field] = true
    kept = kept + 1
  end
end
for _, member in ipairs(redis.call('ZRANGE', pendingKey, 0, -1)) do
  if string.sub(member, 1, #prefix) == prefix and not keep[member] then redis.call('ZREM', pendingKey, member) end
end
-- UNLINK frees a large old hash in the background instead of inside this script.
redis.call('UNLINK', usersKey)
if redis.call('EXISTS', rebuiltKey) == 1 then redis.call('RENAME', rebuiltKey, usersKey) end
return {24, kept}
