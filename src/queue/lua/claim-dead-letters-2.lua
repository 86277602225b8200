--[[
  claim-dead-letters-2: claim dead-letter entries for one redrive or retry, so that two
  run at once (two admins, the CLI beside the portal) never put the same message back
  twice — the second would ZADD an id the dispatcher had already claimed off the schedule,
  and the message would be sent twice at once.

  KEYS[1]  dead       stream: the target's dead letters (field `m`: the message id)
  KEYS[2]  redriving  sorted set: message_id -> until when a redrive holds it (ms)
  ARGV[1]  now (ms)
  ARGV[2]  until (ms): the claim's end, should its holder die before releasing it
  ARGV[3..] pairs: entry id, message id

  An entry is claimed if it is still in the stream and no live claim holds its message
  (claims are by message: two entries of one message go to one caller). The holder puts
  the message back and drops its entries and its claim in one MULTI; a claim left by a
  crashed holder expires, and the entries it kept are claimable again.

  Returns: the entry ids claimed.
]]
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local claimed, mine = {}, {}
for i = 3, #ARGV - 1, 2 do
  local entry, message = ARGV[i], ARGV[i + 1]
  if #redis.call('XRANGE', KEYS[1], entry, entry) > 0 then
    if mine[message] or redis.call('ZADD', KEYS[2], 'NX', ARGV[2], message) == 1 then
      mine[message] = true
      claimed[#claimed + 1] = entry
    end
  end
end
return claimed
