--[[
  enqueue-n: a batch of API requests for one domain — each checked against its
  Idempotency-Key, its client's daily quota and rate limit, and its messages appended to
  the domain stream — in one atomic step, so a refused message is never appended and a
  repeated request never appended twice. One call per domain in the ingest actor's
  pipeline (group commit): the script's own cost is paid once per batch, not per message.

  -n: the number of keys varies (ioredis passes it first): 2 + 1 per client (+ 1 more per
  client with status events) + 1 per Idempotency-Key.
  KEYS[1]            stream         the domain's inbound stream
  KEYS[2]            queued index   hash message_id -> "client_id|queued_at|target|route" while in the stream
                                    ("client_id|queued_at" for a message without a target)
  KEYS[2 + c]        limits of client c: "<window start ms>|<requests in window>|<UTC day>|<messages that day>"
  KEYS[2 + C + c]    with status events only: client c's event stream (a `queued` event per message appended)
  KEYS[2 + C(+C) + k]  the k-th idempotency record: "<request hash>\n<json>"

  ARGV[1] C, clients      ARGV[2] R, requests      ARGV[3] idempotency TTL (ms)
  ARGV[4] domain name ('' = no status events)  ARGV[5] events MAXLEN (~)
  ARGV[6] events MINID (~, the retention's oldest id)  ARGV[7] events TTL (ms)
  ARGV[8] entry format: 'packed' or 'fields' (src/queue/stream-entry-codec.ts), for the
          message entries and the `queued` events alike (src/events/status-event.ts)
  then C × 5:  client id, client name, rate limit (0 = none), rate window (ms), daily quota (0 = none)
  then R × (6 + W N):  client c (1-based), record k (0 = no Idempotency-Key), request hash,
               tracking id, timestamp, N, then N messages of W arguments each:
    packed (W = 4): message_id, queued_at, the queued index's value, the packed entry
               (appended as its one field `d`)
    fields (W = 11): message_id, body envelope, number envelope, number hash, pepper id,
               masked number, metadata JSON or '', queued_at, route, target (chosen by the
               front at submit; '' = none: the domain's default), route match (what the
               route matched: an amqp routing key's {match}); each its own stream field
  (sealed by the ingest actor: no plaintext body or number reaches Redis)

  The limits state, Redis' clock, the fixed rate window and the UTC-day quota are those of
  includes/limits.lua, shared with rate-take-1. Quota first, then rate: a message
  the quota refuses is reported as QUOTA_EXCEEDED even when the window is also full (it is
  the longer wait). Refused messages count for neither. A client's limits state is one
  string read once (GET) and written once (SET PXAT) per call: with many clients in a
  batch, calls per client are what costs.
  A record ({t, ts, i}: per message [message_id, queued_at, position] or [-1|-2]) is
  written only when something was appended (or N = 0): a request refused as a whole may be
  retried with the same key. Requests run in order, so a duplicate later in the same batch
  finds the record of the earlier one.

  A `queued` status event is appended in the same step as its message: it is never lost
  between the append and the 202, and always comes before the message's `stored`.

  Returns a flat array: the end of the current UTC day (unix ms); C × 3 — requests in the
  client's window before this call, ms until that window ends, messages that day before
  this call — then per request one of:
    'done', N, p1..pN     p = position in the stream (>= 1), -1 refused by the rate limit,
                          -2 refused by the quota
    'replay', record      the key was used before for the same request (nothing appended)
    'reused'              the key was used before for a different request
]]
--@include limits.lua
local now, today = limits_clock()
local day_end = (today + 1) * DAY_MS

local n_clients = tonumber(ARGV[1])
local n_requests = tonumber(ARGV[2])
local domain = ARGV[4]
local events = domain ~= ''
local records = 2 + n_clients
if events then records = records + n_clients end
local packed = ARGV[8] == 'packed'
local width = packed and 4 or 11
local at = 9

local clients = {}
for c = 1, n_clients do
  local client = {
    id = ARGV[at], name = ARGV[at + 1], rate_limit = tonumber(ARGV[at + 2]), window_ms = tonumber(ARGV[at + 3]),
    quota = tonumber(ARGV[at + 4]), key = KEYS[2 + c], appended = 0,
    events_key = events and KEYS[2 + n_clients + c] or nil,
    cn = events and (ARGV[at + 1] .. '.' .. domain) or nil,
    window_start = 0, rate_used = 0, quota_used = 0,
  }
  -- A packed `queued` event is JSON in the key order of src/events/status-event.ts
  -- (packedEvent); the client's part is encoded once per call (cjson escapes it), the
  -- message id and the time are the broker's own (a UUID, an ISO time: nothing to escape).
  if events and packed then
    client.event_tail = '","client_id":' .. cjson.encode(client.cn) .. ',"domain":' .. cjson.encode(domain)
      .. ',"attempt":0,"at":"'
  end
  if client.rate_limit > 0 or client.quota > 0 then
    local window_start, rate_used, day, quota_used = limits_read(client.key, now, client.window_ms)
    client.window_start, client.rate_used = window_start, rate_used
    -- Another day's count is over: that quota starts again from 0.
    if day == today then client.quota_used = quota_used end
  end
  client.rate_before = client.rate_used
  client.quota_before = client.quota_used
  clients[c] = client
  at = at + 5
end

-- Appended by position counters (n_replies, n_index): `#t` costs a search per call.
local replies, n_replies = {}, 0
local index, n_index = {}, 0
local length = nil
for _ = 1, n_requests do
  local client = clients[tonumber(ARGV[at])]
  local record = tonumber(ARGV[at + 1])
  local hash, n = ARGV[at + 2], tonumber(ARGV[at + 5])
  local tracking_id, timestamp = ARGV[at + 3], ARGV[at + 4]
  local first = at + 6
  at = first + width * n

  local existing = record > 0 and redis.call('GET', KEYS[records + record])
  if existing and string.sub(existing, 1, 64) == hash then
    replies[n_replies + 1], replies[n_replies + 2] = 'replay', existing
    n_replies = n_replies + 2
  elseif existing then
    n_replies = n_replies + 1
    replies[n_replies] = 'reused'
  else
    replies[n_replies + 1], replies[n_replies + 2] = 'done', n
    n_replies = n_replies + 2
    local appended = 0
    local items = {}
    for i = 0, n - 1 do
      local m = first + width * i
      local message_id = ARGV[m]
      local queued_at = packed and ARGV[m + 1] or ARGV[m + 7]
      local position
      if client.quota > 0 and client.quota_used >= client.quota then
        position = -2
      elseif client.rate_limit > 0 and client.rate_used >= client.rate_limit then
        position = -1
      else
        local queued
        if packed then
          redis.call('XADD', KEYS[1], '*', 'd', ARGV[m + 3])
          queued = ARGV[m + 2]
        elseif ARGV[m + 9] == '' then
          -- No target given (''): the entry and index value of before routing, which
          -- delivery reads as the domain's default target.
          redis.call('XADD', KEYS[1], '*', 'm', message_id, 'c', client.id, 'n', client.name, 'be', ARGV[m + 1],
            'se', ARGV[m + 2], 'h', ARGV[m + 3], 'p', ARGV[m + 4], 'sm', ARGV[m + 5], 'md', ARGV[m + 6],
            'q', queued_at)
          queued = client.id .. '|' .. queued_at
        else
          redis.call('XADD', KEYS[1], '*', 'm', message_id, 'c', client.id, 'n', client.name, 'be', ARGV[m + 1],
            'se', ARGV[m + 2], 'h', ARGV[m + 3], 'p', ARGV[m + 4], 'sm', ARGV[m + 5], 'md', ARGV[m + 6],
            'q', queued_at, 'rt', ARGV[m + 8], 'tg', ARGV[m + 9], 'rm', ARGV[m + 10])
          queued = client.id .. '|' .. queued_at .. '|' .. ARGV[m + 9] .. '|' .. ARGV[m + 8]
        end
        index[n_index + 1], index[n_index + 2] = message_id, queued
        n_index = n_index + 2
        if events and packed then
          redis.call('XADD', client.events_key, '*', 'j',
            '{"type":"queued","message_id":"' .. message_id .. client.event_tail .. queued_at .. '"}')
        elseif events then
          redis.call('XADD', client.events_key, '*', 't', 'queued', 'm', message_id,
            'c', client.cn, 'd', domain, 'a', '0', 'at', queued_at)
        end
        -- The stream holds only unstored messages (delivery XDELs after the MySQL
        -- commit): its length is the message's place in the queue. Nothing else runs
        -- meanwhile, so one XLEN serves the whole call.
        if length == nil then length = redis.call('XLEN', KEYS[1]) else length = length + 1 end
        position = length
        client.rate_used = client.rate_used + 1
        client.quota_used = client.quota_used + 1
        appended = appended + 1
      end
      n_replies = n_replies + 1
      replies[n_replies] = position
      -- Only a request with an Idempotency-Key keeps its items (in its record).
      if record > 0 then items[i + 1] = position > 0 and {message_id, queued_at, position} or {position} end
    end
    client.appended = client.appended + appended
    if record > 0 and (appended > 0 or n == 0) then
      local json = cjson.encode({t = tracking_id, ts = timestamp, i = items})
      redis.call('SET', KEYS[records + record], hash .. '\n' .. json, 'PX', ARGV[3])
    end
  end
end

-- One HSET for the whole call (in slices: unpack is bounded by Lua's C stack) costs less
-- than one per message.
for from = 1, n_index, 1000 do
  redis.call('HSET', KEYS[2], unpack(index, from, math.min(from + 999, n_index)))
end

local out = {day_end}
for c = 1, n_clients do
  local client = clients[c]
  if client.appended > 0 and (client.rate_limit > 0 or client.quota > 0) then
    client.window_start = limits_write(client.key, client.window_start, client.rate_used, today, client.quota_used,
      client.window_ms, now)
  end
  -- Trimmed once per client and call, as store-ack-n does, not by a MAXLEN on every XADD:
  -- the same bound, overshot by at most this call's events until here.
  if events and client.appended > 0 then
    redis.call('XTRIM', client.events_key, 'MAXLEN', '~', ARGV[5])
    redis.call('XTRIM', client.events_key, 'MINID', '~', ARGV[6])
    redis.call('PEXPIRE', client.events_key, ARGV[7])
  end
  out[#out + 1] = client.rate_before
  out[#out + 1] = limits_reset_ms(client.window_start, client.window_ms, now)
  out[#out + 1] = client.quota_before
end
local n_out = #out
for i = 1, n_replies do out[n_out + i] = replies[i] end
return out
