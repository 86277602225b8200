--[[
  schedule-new-2: put first delivery attempts of freshly stored messages on the schedule.

  KEYS[1]  schedule  sorted set  message_id -> due time (ms)
  KEYS[2]  inflight  sorted set  message_id -> lease expiry (ms)
  ARGV[1]  due time (ms)
  ARGV[2…] message ids

  A stored batch can be stored again (a replay after a failure or a crash): its ids may
  be scheduled already (NX keeps their due time, a Retry-After included) or leased by an
  attempt under way — adding those to the schedule again would start a second,
  concurrent POST of the same message. Both are left alone.

  Returns: how many ids were added.
]]
local added = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if not redis.call('ZSCORE', KEYS[2], id) then
    added = added + redis.call('ZADD', KEYS[1], 'NX', ARGV[1], id)
  end
end
return added
