--[[
  login-begin-1: start a portal sign-in from one address, counted as a failure right away
  (before its password is checked), unless the address has used up its allowance. One
  step, so parallel attempts on any number of brokers cannot all pass the check before
  the first of them is counted. The window is fixed: it starts with the first counted
  attempt and its key expires with it.

  KEYS[1]  the address's failed sign-ins: an integer, with the window's expiry as TTL
  ARGV[1]  failures allowed per window (> 0)
  ARGV[2]  window (ms)

  Returns: {allowed (1|0), failures counted (this one included when allowed), ms until the window ends}
]]
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])

local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
if failures >= limit then
  local ttl = redis.call('PTTL', KEYS[1])
  -- A counter without an expiry (written by hand?) would throttle forever: give it one.
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], window_ms)
    ttl = window_ms
  end
  return {0, failures, ttl}
end
failures = redis.call('INCR', KEYS[1])
if failures == 1 then redis.call('PEXPIRE', KEYS[1], window_ms) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], window_ms)
  ttl = window_ms
end
return {1, failures, ttl}
