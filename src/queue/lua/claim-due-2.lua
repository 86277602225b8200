--[[
  claim-due-2: take due delivery attempts off the schedule and lease them.

  KEYS[1]  schedule  sorted set  message_id -> due time (ms)
  KEYS[2]  inflight  sorted set  message_id -> lease expiry (ms)
  ARGV[1]  now (ms)
  ARGV[2]  limit: most ids to claim
  ARGV[3]  lease expiry (ms) given to claimed ids

  First, leases that expired (their holder died mid-attempt) go back on the schedule as
  due now: delivery is at-least-once. Then up to `limit` due ids move from the schedule
  to inflight, atomically, so two brokers never claim the same attempt.

  Returns: the claimed message ids.
]]
local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], now, id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[3], id)
end
return due
