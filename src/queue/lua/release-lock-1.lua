--[[
  release-lock-1: delete a lock only if the caller still holds it.

  KEYS[1]  lock key   string  holder token
  ARGV[1]  holder token

  A holder whose lock expired and was taken by another must not delete the new holder's.

  Returns: 1 when deleted, 0 otherwise.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
