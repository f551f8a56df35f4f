-- wrk script for one bench scenario: the method and body come from the environment
-- (BENCH_METHOD, BENCH_BODY; headers come as -H flags), every response's status is counted,
-- and done() prints one line "BENCH_JSON {...}" that bench/load.py parses.
--
-- BENCH_BODIES names a file of one body per line: each request then sends one picked at
-- random (a different patient per consent check). With BENCH_COUNT_DECISIONS=1 the
-- BENCH_DECISION_FIELD ("decision" unless set) and "reason" fields of every response body
-- are counted too.
--
-- For data uses: BENCH_IDEMPOTENCY_PREFIX (a fresh random value per wrk run) makes every
-- request carry its own Idempotency-Key (prefix, thread, per-thread counter, random);
-- BENCH_STAMP_NOW=1 replaces @NOW@ in the body with the current second in UTC; and
-- BENCH_REFUSAL_STATUS (403) is an answer, not a failure: it is counted as the decision
-- "refused" (with the body's reason) and not as non-2xx.

local method = os.getenv("BENCH_METHOD")
if method and method ~= "" then
  wrk.method = method
end
local body = os.getenv("BENCH_BODY")
if body then
  wrk.body = body
end
local count_decisions = os.getenv("BENCH_COUNT_DECISIONS") == "1"
local decision_field = os.getenv("BENCH_DECISION_FIELD")
if not decision_field or decision_field == "" then
  decision_field = "decision"
end
local decision_pattern = '"' .. decision_field .. '":%s*"([%a_]+)"'
local refusal_status = tonumber(os.getenv("BENCH_REFUSAL_STATUS") or "")
local idempotency_prefix = os.getenv("BENCH_IDEMPOTENCY_PREFIX")
if idempotency_prefix == "" then
  idempotency_prefix = nil
end
local stamp_now = os.getenv("BENCH_STAMP_NOW") == "1"

local bodies = nil
local bodies_path = os.getenv("BENCH_BODIES")
if bodies_path and bodies_path ~= "" then
  bodies = {}
  for line in io.lines(bodies_path) do
    if line ~= "" then
      table.insert(bodies, line)
    end
  end
  if #bodies == 0 then
    error("no request bodies in " .. bodies_path)
  end
end

local sent = 0
local stamped_second = nil
local stamp = nil

local function now_utc()
  local second = os.time()
  if second ~= stamped_second then
    stamped_second = second
    stamp = os.date("!%Y-%m-%dT%H:%M:%SZ", second)
  end
  return stamp
end

local function request_headers()
  sent = sent + 1
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  headers["Idempotency-Key"] = string.format(
    "%s-%d-%d-%06x", idempotency_prefix, thread_number or 0, sent, math.random(0, 0xffffff)
  )
  return headers
end

if bodies or idempotency_prefix or stamp_now then
  -- Defining request() makes wrk build every request here instead of reusing one.
  function request()
    local text = bodies and bodies[math.random(#bodies)] or wrk.body
    if stamp_now and text then
      text = string.gsub(text, "@NOW@", now_utc())
    end
    local headers = idempotency_prefix and request_headers() or nil
    return wrk.format(nil, nil, headers, text)
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  non2xx = 0
  statuses = {}
  decisions = {}
  reasons = {}
  math.randomseed(os.time() * 100 + (thread_number or 0))
end

local function count(into, pattern, text)
  for value in string.gmatch(text, pattern) do
    into[value] = (into[value] or 0) + 1
  end
end

function response(status, headers, body)
  if status == refusal_status then
    decisions["refused"] = (decisions["refused"] or 0) + 1
    if count_decisions and body then
      count(reasons, '"reason":%s*"([%a_]+)"', body)
    end
  elseif status < 200 or status > 299 then
    non2xx = non2xx + 1
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  elseif count_decisions and body then
    count(decisions, decision_pattern, body)
    count(reasons, '"reason":%s*"([%a_]+)"', body)
  end
end

local function merged_json(name)
  local merged = {}
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get(name) or {}) do
      merged[key] = (merged[key] or 0) + n
    end
  end
  local parts = {}
  for key, n in pairs(merged) do
    table.insert(parts, string.format('"%s":%d', key, n))
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
      .. '"non2xx":%d,"statuses":%s,"decisions":%s,"reasons":%s,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max,
    non2xx_total, merged_json("statuses"), merged_json("decisions"), merged_json("reasons"),
    errors.connect, errors.read, errors.write, errors.timeout, errors.status
  ))
end
