-- Mints a coupon id in this partition and appends the issuance record to its stream.
-- The sequence never runs behind the clock in microseconds, so after Redis restarts from an
-- AOF that lost its last second, new ids still cannot repeat ids the sink already stored.
local function issue(seqKey, streamKey, shardPrefix, partition, templateId, userId, requestId, homePartition)
  local t = redis.call('TIME')
  local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local seq = tonumber(redis.call('GET', seqKey) or '0') + 1
  if seq < nowUs then seq = nowUs end
  local seqText = string.format('%d', seq)
  redis.call('SET', seqKey, seqText)
  local couponId = shardPrefix .. '.' .. partition .. '.' .. seqText
  local nowMs = math.floor(nowUs / 1000)
  redis.call('XADD', streamKey, '*', 'd',
    cmsgpack.pack({1, couponId, templateId, userId, requestId, nowMs, tonumber(homePartition)}))
  return couponId
end
