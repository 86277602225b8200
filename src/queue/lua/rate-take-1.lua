--[[
  rate-take-1: count one request against a client's rate limit, unless its window is
  full. The same limits state and rules as enqueue-n (includes/limits.lua), which counts
  messages in the same step as it appends them; this one serves requests that append
  nothing (status lookups).

  KEYS[1]  limits of the client: "<window start ms>|<requests in window>|<UTC day>|<messages that day>"
  ARGV[1]  rate limit (> 0)
  ARGV[2]  rate window (ms)

  Returns: {allowed (1|0), requests in the window, ms until the window ends}
]]
--@include limits.lua
local now = limits_clock()
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])

-- The day's message count is written back as it was: only enqueue-n counts messages.
local window_start, used, day, quota_used = limits_read(KEYS[1], now, window_ms)
local allowed = 0
if used < limit then
  allowed = 1
  used = used + 1
  window_start = limits_write(KEYS[1], window_start, used, day, quota_used, window_ms, now)
end
return {allowed, used, limits_reset_ms(window_start, window_ms, now)}
