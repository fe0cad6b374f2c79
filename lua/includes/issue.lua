-- Coupon ids and issuance records of one script call in one partition. Ids come from the
-- partition's sequence, which never runs behind the clock in microseconds: after Redis restarts
-- from an AOF that lost its last second, new ids still cannot repeat ids the sink already
-- stored. The records of one template in a call go out as ONE stream entry (lua/record.ts,
-- version 2), so a group of claims costs one XADD and one sequence write per template, and one
-- clock read.
local mintSeq, mintMs = nil, 0
-- [2, templateId, claimedAtMs, homePartition] then couponId, userId, requestId per record;
-- version 3 (red packets) adds each record's amount.
local mintRecords = {2, '', 0, 0}

-- Mints the next coupon id of this partition for a claim and keeps its record for flushIssued;
-- `amount` is a red packet's (nil for other coupons; one entry holds one template's records).
local function issue(seqKey, shardPrefix, partition, userId, requestId, amount)
  if not mintSeq then
    local t = redis.call('TIME')
    local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
    mintSeq = math.max(tonumber(redis.call('GET', seqKey) or '0'), nowUs - 1)
    mintMs = math.floor(nowUs / 1000)
  end
  mintSeq = mintSeq + 1
  local couponId = shardPrefix .. '.' .. partition .. '.' .. string.format('%d', mintSeq)
  local n = #mintRecords
  mintRecords[n + 1] = couponId
  mintRecords[n + 2] = userId
  mintRecords[n + 3] = requestId
  if amount then
    mintRecords[1] = 3
    mintRecords[n + 4] = amount
  end
  return couponId
end

-- Stores the sequence, then appends the records kept since the last flush, all of `templateId`,
-- as one entry (none: nothing). Both at once: a later error in the call (Redis keeps what a
-- script wrote before it failed) must not leave stored records behind a sequence that would
-- mint their ids again.
local function flushIssued(seqKey, streamKey, templateId, homePartition)
  if #mintRecords == 4 then return end
  redis.call('SET', seqKey, string.format('%d', mintSeq))
  mintRecords[2] = templateId
  mintRecords[3] = mintMs
  mintRecords[4] = tonumber(homePartition)
  redis.call('XADD', streamKey, '*', 'd', cmsgpack.pack(mintRecords))
  mintRecords = {2, '', 0, 0}
end
