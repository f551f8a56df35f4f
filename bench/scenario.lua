-- wrk script for one bench scenario: the method and body come from the environment
-- (BENCH_METHOD, BENCH_BODY; headers come as -H flags), every response's status is counted,
-- and done() prints one line "BENCH_JSON {...}" that bench/load.py parses.

local method = os.getenv("BENCH_METHOD")
if method and method ~= "" then
  wrk.method = method
end
local body = os.getenv("BENCH_BODY")
if body then
  wrk.body = body
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  statuses = {}
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

local function statuses_json()
  local merged = {}
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses") or {}) do
      merged[code] = (merged[code] or 0) + count
    end
  end
  local parts = {}
  for code, count in pairs(merged) do
    table.insert(parts, string.format('"%s":%d', code, count))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local non2xx_total = 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + (thread:get("non2xx") or 0)
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d},'
      .. '"non2xx":%d,"statuses":%s,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max,
    non2xx_total, statuses_json(),
    errors.connect, errors.read, errors.write, errors.timeout, errors.status
  ))
end
