#!lua
--[[ stream-trim: drop entries every consumer group has acknowledged, and nothing else.
  MAXLEN trimming could drop records the sink has not written yet (brief, section 6), so the
  threshold is the lowest of, per group, its oldest pending id or else its last delivered id.
  KEYS[1] stream
  Returns (lua/codes.ts): {11, trimmed} TRIMMED   {12} NO_GROUP (nothing is trimmed without a reader)
]]

local streamKey = KEYS[1]
if redis.call('EXISTS', streamKey) == 0 then return {12} end
local groups = redis.call('XINFO', 'GROUPS', streamKey)
if #groups == 0 then return {12} end

local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end

local threshold = nil
for _, g in ipairs(groups) do
  local name, lastDelivered
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] end
    if g[i] == 'last-delivered-id' then lastDelivered = g[i + 1] end
  end
  local summary = redis.call('XPENDING', streamKey, name)
  local floor = lastDelivered
  if summary[1] > 0 then floor = summary[2] end
  if threshold == nil or less(floor, threshold) then threshold = floor end
end
return {11, redis.call('XTRIM', streamKey, 'MINID', '~', threshold)}
