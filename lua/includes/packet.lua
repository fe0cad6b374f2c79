-- Red packets: the amount of each packet is drawn here, in the script that takes the packet from
-- its sub-stock, so the draw and the decrement are one atomic step (templates/model.ts).
--
-- The "double mean" method: uniform in [min, 2 * budget / packets], capped so that every packet
-- still left after this one can get min; the last packet of a sub-stock takes what is left of
-- its budget. So a sub-stock's amounts sum to exactly its budget when its last packet goes, and
-- none is below min as long as budget >= packets * min (true at creation, kept by every draw).
--
-- The seed: Redis seeds math.random with a fixed value (before every call in the versions that
-- replicate scripts verbatim, so that replicas draw alike; at start in others), so each call
-- seeds it once itself, from TIME. Scripts run one at a time on a node and a call takes longer
-- than a microsecond, so no two calls on one node share a seed; two nodes may, which only makes
-- two sub-stocks' draws alike, never a draw's own distribution unfair. Redis's generator is lrand48 (31 bits per draw): scaling a
-- draw onto the range is uneven by less than range / 2^31, nothing for amounts of a campaign.
-- math.random(m, n) is not used: it takes 32-bit ints, and budgets may be larger.
local packetSeeded = false

-- Draws the amount of the next packet of a sub-stock holding `stockLeft` packets (this one
-- included) and takes it from the budget; nil when the budget key is missing or not a count
-- (lua/includes/counter.lua countOf: every script that includes this one includes that first).
local function drawAmount(budgetKey, stockLeft, minAmount)
  local budget = countOf(redis.call('GET', budgetKey))
  if not budget then return nil end
  local amount = budget
  if stockLeft > 1 then
    if not packetSeeded then
      local t = redis.call('TIME')
      -- seconds mod 2000 keep the seed inside the 31 bits math.randomseed takes.
      math.randomseed((tonumber(t[1]) % 2000) * 1000000 + tonumber(t[2]))
      packetSeeded = true
    end
    local hi = math.min(math.floor(2 * budget / stockLeft), budget - (stockLeft - 1) * minAmount)
    -- Only a budget already below packets * min (never by the draw) has no room: give what
    -- keeps the rest payable, at worst 0 (the verifiers report amounts below min).
    if hi < minAmount then amount = math.max(hi, 0) else amount = minAmount + math.floor(math.random() * (hi - minAmount + 1)) end
  end
  redis.call('DECRBY', budgetKey, amount)
  return amount
end
