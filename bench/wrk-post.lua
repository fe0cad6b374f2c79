-- wrk script of the end-to-end bench: POST /v1/claim with a different user on every request,
-- so most claims really issue. BENCH_TEMPLATE_ID and BENCH_USERS come from bench/load.ts.
local template = os.getenv("BENCH_TEMPLATE_ID") or "hello"
local users = tonumber(os.getenv("BENCH_USERS") or "200000")
local threads = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

-- Runs in the main Lua state once per thread: give each thread its own user range.
function setup(thread)
  threads = threads + 1
  thread:set("prefix", "w" .. threads .. "_")
end

local counter = 0

function request()
  counter = counter + 1
  local body = '{"userId":"' .. (prefix or "w0_") .. (counter % users) .. '","templateId":"' .. template .. '"}'
  return wrk.format(nil, nil, nil, body)
end
