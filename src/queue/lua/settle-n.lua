--[[
  settle-n: a settled batch of webhook/amqp attempts of one target, in one step — the
  status events of their outcomes (`delivered`, `retry_scheduled`, `failed`) appended to
  their clients' event streams, the retries put back on the schedule at their due times,
  and every settled attempt's lease dropped. One call per batch where a MULTI sent one
  XADD per event: the delivery actor builds and parses one command instead of hundreds
  (as store-ack-n does for the store path).

  Atomic, as the MULTI it replaces was. The events come first: a script that has written
  once runs to its end even when Redis reaches maxmemory meanwhile, and one refused at its
  first write changes nothing (the leases expire and the attempts are made again).

  Each client stream is trimmed once per call (XTRIM MAXLEN ~ and MINID ~, then PEXPIRE),
  with the bounds of src/queue/status-events.ts.

  -n: the number of keys varies (ioredis passes it first).
  KEYS[1]        the target's schedule (ZSET id -> due time)
  KEYS[2]        the target's leases (ZSET id -> lease end)
  KEYS[2 + c]    c = 1..C: client c's event stream

  ARGV[1] C   ARGV[2] events MAXLEN (~)   ARGV[3] events MINID (~, the retention's oldest id)
  ARGV[4] events TTL (ms)   ARGV[5] R, retries   ARGV[6] D, attempts done (delivered or dead)
  then R × 2: due time (unix ms), message id
  then D: message ids
  then E, then per event: client c (1-based), F, then F stream fields (name, value, …) as
  src/events/status-event.ts writes them (toStreamFields)

  Returns the number of events appended.
]]
local n_clients = tonumber(ARGV[1])
local n_retries, n_done = tonumber(ARGV[5]), tonumber(ARGV[6])
local at = 7

-- unpack is bounded by Lua's C stack: long lists go in slices.
local function in_slices(command, key, first, count)
  local last = first + count - 1
  for from = first, last, 1000 do
    redis.call(command, key, unpack(ARGV, from, math.min(from + 999, last)))
  end
end

local retries_at, done_at = at, at + 2 * n_retries
local events_at = done_at + n_done
local n_events = tonumber(ARGV[events_at])
at = events_at + 1
for _ = 1, n_events do
  local client, fields = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  redis.call('XADD', KEYS[2 + client], '*', unpack(ARGV, at + 2, at + 1 + fields))
  at = at + 2 + fields
end

if n_retries > 0 then
  -- Pairs of (due time, id): slices of an even length.
  local last = retries_at + 2 * n_retries - 1
  for from = retries_at, last, 1000 do
    redis.call('ZADD', KEYS[1], unpack(ARGV, from, math.min(from + 999, last)))
  end
  -- Back on the schedule, so no longer leased.
  local ids, n = {}, 0
  for i = retries_at + 1, last, 2 do
    n = n + 1
    ids[n] = ARGV[i]
  end
  for from = 1, n, 1000 do redis.call('ZREM', KEYS[2], unpack(ids, from, math.min(from + 999, n))) end
end
if n_done > 0 then in_slices('ZREM', KEYS[2], done_at, n_done) end

if n_events > 0 then
  for c = 1, n_clients do
    redis.call('XTRIM', KEYS[2 + c], 'MAXLEN', '~', ARGV[2])
    redis.call('XTRIM', KEYS[2 + c], 'MINID', '~', ARGV[3])
    redis.call('PEXPIRE', KEYS[2 + c], ARGV[4])
  end
end
return n_events
