-- api_http.lua - wrk's script for tests/bench/api_http.sh.
--   wrk ... -s api_http.lua URL -- get IDS_FILE PATH_PREFIX [TOKEN [DELAY_MS]]
--     GETs PATH_PREFIX..id, the ids of IDS_FILE (one a line) taken in turn,
--     each thread starting at its own place in the list; with DELAY_MS a
--     connection waits that long after each answer (a paced load)
--   wrk ... -s api_http.lua URL -- post BODY_FILE PATH [TOKEN]
--     POSTs the file's bytes as application/json
-- done() prints one line the script parses:
--   WRK requests=N seconds=S rps=R p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
--       s2xx=N s201=N other=N errors=N
local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local mode, ids, prefix, i = nil, {}, nil, 1
s2xx, s201, other = 0, 0, 0

function init(args)
  mode, prefix = args[1], args[3]
  if args[4] and args[4] ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. args[4]
  end
  local pause = tonumber(args[5] or "")
  if pause and pause > 0 then
    delay = function() return pause end
  end
  if mode == "get" then
    for line in io.lines(args[2]) do
      if line ~= "" then ids[#ids + 1] = line end
    end
    i = ((tid or 1) - 1) * math.floor(#ids / 2) % #ids + 1
  else
    local f = assert(io.open(args[2], "rb"))
    wrk.method = "POST"
    wrk.body = f:read("*a")
    f:close()
    wrk.headers["Content-Type"] = "application/json"
  end
end

function request()
  if mode == "get" then
    local id = ids[i]
    i = i % #ids + 1
    return wrk.format("GET", prefix .. id)
  end
  return wrk.format(nil, prefix)
end

function response(status, headers, body)
  if status == 201 then s201 = s201 + 1 end
  if status >= 200 and status < 300 then s2xx = s2xx + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local a, c, o = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("s2xx")
    c = c + t:get("s201")
    o = o + t:get("other")
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRK requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f" ..
    " s2xx=%d s201=%d other=%d errors=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    a, c, o, e.connect + e.read + e.write + e.timeout))
end
