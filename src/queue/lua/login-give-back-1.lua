--[[
  login-give-back-1: a sign-in begun with login-begin-1 succeeded, so it is not a failure:
  take it off the address's count. The window keeps its expiry; a count that has expired
  meanwhile is left alone (DECR would create it at -1, without an expiry).

  KEYS[1]  the address's failed sign-ins (see login-begin-1)

  Returns: the failures left counted (0 when there was no window)
]]
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
if failures <= 0 then return 0 end
return redis.call('DECR', KEYS[1])
