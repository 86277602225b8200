--[[
  rate-take-1: count one request against a client's rate limit, unless its window is
  full. The same limits state and rules as enqueue-n (which counts messages in the same
  step as it appends them); this one serves requests that append nothing (status lookups).

  KEYS[1]  limits of the client: "<window start ms>|<requests in window>|<UTC day>|<messages that day>"
  ARGV[1]  rate limit (> 0)
  ARGV[2]  rate window (ms)

  Returns: {allowed (1|0), requests in the window, ms until the window ends}
]]
local DAY_MS = 86400000
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])

local window_start, used, day, quota_used = 0, 0, 0, 0
local state = redis.call('GET', KEYS[1])
if state then
  local s, u, d, q = string.match(state, '^(%d+)|(%d+)|(%d+)|(%d+)$')
  if s and now - tonumber(s) < window_ms then
    window_start, used = tonumber(s), tonumber(u)
  end
  if d then day, quota_used = tonumber(d), tonumber(q) end
end

local allowed = 0
if used < limit then
  allowed = 1
  used = used + 1
  if window_start == 0 then window_start = now end
  local day_end = (math.floor(now / DAY_MS) + 1) * DAY_MS
  redis.call('SET', KEYS[1], window_start .. '|' .. used .. '|' .. day .. '|' .. quota_used, 'PXAT', math.max(day_end, window_start + window_ms))
end
local reset_ms = window_ms
if window_start > 0 then reset_ms = window_start + window_ms - now end
return {allowed, used, reset_ms}
