-- wrk script for the broker's submit route, as ../shared/peers/wrk-bench.lua drives Kannel:
-- one request built per call (a sender number unique per request, from disjoint per-thread
-- sequences), every answer counted by status in a Lua callback. The same work per request
-- on the load generator's side as the peer's run, so the two rates compare.
-- Usage: wrk -tT -cC -dDs --latency -s submit.lua https://HOST:PORT -- PATH SIZE
-- Prints: RESULT requests=.. duration_s=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. accepted=.. status=code:n,..
--         errors=connect:..,read:..,write:..,timeout:..

local threads, nthreads = {}, 0
function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

local path, head, tail, seq
codes = {} -- global: done() reads it from each thread via thread:get
function init(args)
  path = args[1]
  local size = tonumber(args[2])
  head = '{"sender_number":"+1415'
  tail = '","message_body":"' .. string.rep("x", size) .. '"}'
  seq = tid * 100000000
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  seq = seq + 1
  return wrk.format("POST", path, nil, head .. string.format("%07d", seq % 10000000) .. tail)
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local agg, accepted, parts = {}, 0, {}
  for _, t in ipairs(threads) do
    for code, c in pairs(t:get("codes")) do agg[code] = (agg[code] or 0) + c end
  end
  for code, c in pairs(agg) do
    if code == 202 then accepted = accepted + c end
    table.insert(parts, code .. ":" .. c)
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f accepted=%d status=%s errors=connect:%d,read:%d,write:%d,timeout:%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, accepted, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout))
end
