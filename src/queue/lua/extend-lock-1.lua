--[[
  extend-lock-1: keep a lock this holder still owns alive for at least a while longer.

  KEYS[1]  lock key   string  holder token
  ARGV[1]  holder token
  ARGV[2]  minimum time to live (ms)

  The TTL is only ever raised, never shortened: a lock taken for a whole interval keeps
  marking that interval after its run.

  Returns: 1 when the caller still holds the lock, 0 when it lost it (expired, taken over).
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
