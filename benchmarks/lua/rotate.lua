-- wrk script of `make bench`: rotate through requests prepared by benchmarks/run.py.
--
-- Each prepared request is complete (method, path, Cookie with a user's signed
-- session, X-CSRFToken, JSON body with a code), so request() only hands out the
-- next string: Lua does no formatting while the clock runs.
--
-- Usage: wrk -t T -c C -d D -s rotate.lua URL -- REQUESTS_FILE MODE THREADS DONE_DIR
--   REQUESTS_FILE  "<length>\n<bytes>" records, one per request
--   MODE           "cycle": every thread loops over all requests from its own offset;
--                  "once": thread t sends requests t+1, t+1+T, ... exactly once, then
--                  writes DONE_DIR/<t> and stops (accepts by distinct users)
--   THREADS        the -t value (setup() cannot know how many threads follow)
--
-- done() prints one line "BENCH_RESULT {json}" for the harness: wrk's totals and
-- latency percentiles (microseconds), and the per-status counts kept here, since
-- wrk itself only counts statuses above 399 as errors.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local timeval = ffi.new("bench_timeval")
local function now_us()
  ffi.C.gettimeofday(timeval, nil)
  return tonumber(timeval.tv_sec) * 1000000 + tonumber(timeval.tv_usec)
end

-- setup() and done() run in wrk's main Lua state --------------------------------

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

-- init(), request() and response() run in each thread's own Lua state ------------

local requests, position, expected = {}, 0, 0
local mode, done_dir
local statuses = {}
local verifying
-- Globals, so that done() can read them through thread:get().
sent, answered, first_us, last_us = 0, 0, 0, 0
statuses_json, error_sample, finished = "{}", "", false

function init(args)
  local path, thread_count = args[1], tonumber(args[3])
  mode, done_dir = args[2], args[4]
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local all, at = {}, 1
  while at <= #data do
    local newline = data:find("\n", at, true)
    local length = tonumber(data:sub(at, newline - 1))
    table.insert(all, data:sub(newline + 1, newline + length))
    at = newline + length + 1
  end
  if mode == "once" then
    for i = thread_index + 1, #all, thread_count do
      table.insert(requests, all[i])
    end
    expected = #requests
  else
    requests = all
    position = math.floor(#all * thread_index / thread_count)
  end
  assert(#requests > 0, "no requests for thread " .. thread_index)
  -- wrk calls request() once on the first thread to check the request, and never sends
  -- that one: hand it out without consuming it.
  verifying = thread_index == 0
end

function request()
  if verifying then
    verifying = false
    return requests[position % #requests + 1]
  end
  if mode == "once" then
    if sent >= expected then
      return "" -- all sent: this connection stays idle until the run ends
    end
  end
  if sent == 0 then
    first_us = now_us()
  end
  sent = sent + 1
  position = position + 1
  return requests[(position - 1) % #requests + 1]
end

local function encode_statuses()
  local parts = {}
  for status, count in pairs(statuses) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function response(status, headers, body)
  answered = answered + 1
  last_us = now_us()
  statuses[status] = (statuses[status] or 0) + 1
  if (status < 200 or status > 299) and error_sample == "" then
    error_sample = status .. " " .. (headers["Location"] or "") .. " " .. body:sub(1, 300)
  end
  statuses_json = encode_statuses()
  if mode == "once" and answered == expected and not finished then
    finished = true
    local marker = assert(io.open(done_dir .. "/" .. thread_index, "w"))
    marker:write(answered)
    marker:close()
    wrk.thread:stop()
  end
end

-- done(): gather the threads' numbers --------------------------------------------

local function quote(text)
  return '"' .. text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function done(summary, latency, _)
  local per_thread = {}
  for _, thread in ipairs(threads) do
    local statuses_text = thread:get("statuses_json")
    if statuses_text == nil then statuses_text = "{}" end
    table.insert(per_thread, string.format(
      '{"sent": %d, "answered": %d, "first_us": %.0f, "last_us": %.0f, "statuses": %s, "error_sample": %s}',
      thread:get("sent") or 0, thread:get("answered") or 0, thread:get("first_us") or 0,
      thread:get("last_us") or 0, statuses_text, quote(thread:get("error_sample") or "")))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "status_errors": %d, ' ..
    '"latency_us": {"min": %.0f, "mean": %.1f, "max": %.0f, "p50": %.0f, "p90": %.0f, "p95": %.0f, "p99": %.0f}, ' ..
    '"threads": [%s]}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    table.concat(per_thread, ", ")))
end
