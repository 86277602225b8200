--[[
  store-ack-n: a stored batch, acknowledged in one step — each domain stream's entries
  XACKed and XDELed (a stream holds only what is not yet stored, so its length stays the
  queue position), the messages dropped from the domain's queued index (status lookups
  find them in MySQL now), then the status events of the rows new in MySQL appended to
  their clients' event streams: `stored`, and `delivered` for a store target (being stored
  is its delivery). One call per batch where a pipeline sent 3 commands per stream, 1 per
  event and 2 per client: the delivery actor builds and parses one command instead of
  hundreds.

  The acknowledgement comes before the events, as in the pipeline it replaces: a script
  that has written once runs to its end even when Redis reaches maxmemory meanwhile, and
  one refused at its first write acknowledges nothing (the batch is read again; its rows
  are stored, so the replay adds no events).

  Each client stream is trimmed once per call (XTRIM MAXLEN ~ and MINID ~, then PEXPIRE)
  rather than by a MAXLEN on every XADD: the bound is the same, overshot by at most one
  batch's events until the call's end, and Redis does less per event.

  -n: the number of keys varies (ioredis passes it first).
  KEYS[s]            s = 1..S: the batch's domain streams (consumer group ARGV[1])
  KEYS[S + s]        stream s's queued index (hash message_id -> ...)
  KEYS[2S + c]       c = 1..C: client c's event stream

  ARGV[1] consumer group   ARGV[2] S   ARGV[3] C   ARGV[4] events MAXLEN (~)
  ARGV[5] events MINID (~, the retention's oldest id)   ARGV[6] events TTL (ms)
  ARGV[7] the events' time (ISO, one for the batch)
  ARGV[8] the events' entry format: 'packed' (one field `j`, the event's JSON) or 'fields'
  then S × (I, M, I entry ids, M message ids)
  then C × 2: client c's CN (name.domain), its domain
  then E, then E × 3: client c (1-based), message id, 1 = stored and delivered / 0 = stored

  Returns the number of events appended.
]]
local group = ARGV[1]
local n_streams, n_clients = tonumber(ARGV[2]), tonumber(ARGV[3])
local maxlen, at_time = ARGV[4], ARGV[7]
local packed = ARGV[8] == 'packed'

-- unpack is bounded by Lua's C stack: long id lists go in slices.
local function in_slices(command, key, head, first, count)
  local last = first + count - 1
  for from = first, last, 1000 do
    local to = math.min(from + 999, last)
    if head then
      redis.call(command, key, head, unpack(ARGV, from, to))
    else
      redis.call(command, key, unpack(ARGV, from, to))
    end
  end
end

local at = 9
for s = 1, n_streams do
  local ids, messages = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  local first = at + 2
  if ids > 0 then
    in_slices('XACK', KEYS[s], group, first, ids)
    in_slices('XDEL', KEYS[s], nil, first, ids)
  end
  if messages > 0 then in_slices('HDEL', KEYS[n_streams + s], nil, first + ids, messages) end
  at = first + ids + messages
end

local clients = {}
for c = 1, n_clients do
  local client = { key = KEYS[2 * n_streams + c], cn = ARGV[at], domain = ARGV[at + 1] }
  -- A packed event is JSON in the key order of src/events/status-event.ts (packedEvent):
  -- the client's part encoded once (cjson escapes it); message ids and the time are the
  -- broker's own (UUIDs, an ISO time: nothing to escape).
  if packed then
    client.event_tail = '","client_id":' .. cjson.encode(client.cn) .. ',"domain":' .. cjson.encode(client.domain)
      .. ',"attempt":'
  end
  clients[c] = client
  at = at + 2
end
local at_json = ',"at":"' .. at_time .. '"}'

local n_events = tonumber(ARGV[at])
at = at + 1
local appended = 0
-- As src/events/status-event.ts writes them (toStreamFields); trimmed below.
for _ = 1, n_events do
  local client = clients[tonumber(ARGV[at])]
  local message = ARGV[at + 1]
  if packed then
    redis.call('XADD', client.key, '*', 'j',
      '{"type":"stored","message_id":"' .. message .. client.event_tail .. '0' .. at_json)
  else
    redis.call('XADD', client.key, '*', 't', 'stored', 'm', message, 'c', client.cn,
      'd', client.domain, 'a', '0', 'at', at_time)
  end
  appended = appended + 1
  if ARGV[at + 2] == '1' then
    if packed then
      redis.call('XADD', client.key, '*', 'j',
        '{"type":"delivered","message_id":"' .. message .. client.event_tail .. '1' .. at_json)
    else
      redis.call('XADD', client.key, '*', 't', 'delivered', 'm', message, 'c', client.cn,
        'd', client.domain, 'a', '1', 'at', at_time)
    end
    appended = appended + 1
  end
  at = at + 3
end

if n_events > 0 then
  for c = 1, n_clients do
    redis.call('XTRIM', clients[c].key, 'MAXLEN', '~', maxlen)
    redis.call('XTRIM', clients[c].key, 'MINID', '~', ARGV[5])
    redis.call('PEXPIRE', clients[c].key, ARGV[6])
  end
end
return appended
