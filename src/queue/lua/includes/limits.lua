--[[
  limits.lua, included by enqueue-n and rate-take-1 (see scripts.ts): a client's limits
  state, the one string "<window start ms>|<requests in window>|<UTC day>|<messages that day>"
  under its limits key, read once and written once per call.

  Time is Redis' (TIME), so instances with skewed clocks still agree on windows and days.
  The rate window is fixed: it starts with the first request counted after the previous
  one ended. The quota counts per UTC day (epoch day).
]]
local DAY_MS = 86400000

-- Redis' clock: now (unix ms) and today (epoch day).
local function limits_clock()
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  return now, math.floor(now / DAY_MS)
end

-- The stored state: window start and requests while the window lasts (else 0, 0), and
-- the day and its messages as stored, whichever day that was (0, 0 without a state).
local function limits_read(key, now, window_ms)
  local window_start, rate_used, day, quota_used = 0, 0, 0, 0
  local state = redis.call('GET', key)
  if state then
    local s, u, d, q = string.match(state, '^(%d+)|(%d+)|(%d+)|(%d+)$')
    if s and now - tonumber(s) < window_ms then
      window_start, rate_used = tonumber(s), tonumber(u)
    end
    if d then day, quota_used = tonumber(d), tonumber(q) end
  end
  return window_start, rate_used, day, quota_used
end

-- Writes the state after something was counted; returns the window start written (now
-- when no window was running: a window starts with the first request it counts).
local function limits_write(key, window_start, rate_used, day, quota_used, window_ms, now)
  if window_start == 0 then window_start = now end
  -- Kept as long as either count matters: to the end of the day or of the window.
  local day_end = (math.floor(now / DAY_MS) + 1) * DAY_MS
  redis.call('SET', key, window_start .. '|' .. rate_used .. '|' .. day .. '|' .. quota_used,
    'PXAT', math.max(day_end, window_start + window_ms))
  return window_start
end

-- ms until the window ends: a whole window when none is running.
local function limits_reset_ms(window_start, window_ms, now)
  if window_start > 0 then return window_start + window_ms - now end
  return window_ms
end
