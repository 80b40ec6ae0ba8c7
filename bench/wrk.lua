-- wrk script for bench/. Each thread has one connection and posts the lines of its own body file in order
-- (a line is "<path>\t<json body>"), remembering which requests got no 2xx answer, so the bench knows exactly
-- which events the service acknowledged.
--   closed loop: wrk -t N -c N -s wrk.lua URL -- <dir with 0.txt .. N-1.txt>
--   open loop:   wrk -t N -c N -s wrk.lua URL -- <dir> <requests/s per thread>
-- In the open loop each connection sends on a fixed schedule, and a latency is counted from the time the
-- request was due, not from when a busy connection could send it (no coordinated omission).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  for line in io.lines(args[1] .. "/" .. id .. ".txt") do
    local tab = line:find("\t", 1, true)
    reqs[#reqs + 1] = wrk.format("POST", line:sub(1, tab - 1), {["Content-Type"] = "application/json"},
                                 line:sub(tab + 1))
  end
  issued = 0
  verifying = id == 0  -- wrk calls request() once on the first thread to check the script; that one is not sent
  pending = -1  -- number of the request waiting for its answer, -1 when none
  failed = ""   -- comma-separated numbers of requests answered with a non-2xx, or never answered
  lat = {}      -- open loop: microseconds from due time to answer
  if args[2] then
    interval_us = 1000000 / tonumber(args[2])
    stagger = (id * 0.6180339887) % 1  -- spreads the connections' schedules over one interval
  else
    delay = nil  -- closed loop: no delay() at all, so wrk sends the next request at once
  end
end

function delay()
  if due == nil then
    return 0
  end
  local wait = due - now_us()
  return wait > 1000 and math.floor(wait / 1000) or 0
end

function request()
  if verifying then
    verifying = false
    return reqs[1]
  end
  if pending >= 0 then  -- the last request never got an answer (the connection broke): unacknowledged
    failed = failed .. pending .. ","
  end
  pending = issued
  issued = issued + 1
  if interval_us then
    sent = now_us()
    if due == nil then  -- the first request starts the schedule; its latency is not counted
      due = sent + interval_us * (1 + stagger)
      this_due = nil
    else
      this_due = due
      due = due + interval_us
    end
  end
  return reqs[(pending % #reqs) + 1]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    failed = failed .. pending .. ","
  end
  pending = -1
  if this_due then
    lat[#lat + 1] = now_us() - math.min(this_due, sent)
  end
end

local function percentile(sorted, q)
  if #sorted == 0 then
    return 0
  end
  local rank = math.max(1, math.min(#sorted, math.ceil(q / 100 * #sorted)))
  return sorted[rank]
end

function done(summary, latency, requests)
  local parts, all = {}, {}
  for _, t in ipairs(threads) do
    parts[#parts + 1] = string.format('{"id":%d,"issued":%d,"pending":%d,"failed":[%s]}', t:get("id"),
      t:get("issued"), t:get("pending"), (t:get("failed"):gsub(",$", "")))
    for _, v in ipairs(t:get("lat")) do
      all[#all + 1] = v
    end
  end
  local p50, p90, p99, p999, max, mean
  if #all > 0 then  -- open loop: our own latencies, from the due time
    table.sort(all)
    local sum = 0
    for _, v in ipairs(all) do
      sum = sum + v
    end
    p50, p90, p99, p999 = percentile(all, 50), percentile(all, 90), percentile(all, 99), percentile(all, 99.9)
    max, mean = all[#all], sum / #all
  else  -- closed loop: wrk's own statistics
    p50, p90, p99, p999 = latency:percentile(50), latency:percentile(90), latency:percentile(99),
                          latency:percentile(99.9)
    max, mean = latency.max, latency.mean
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d},"latency_us":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,"max":%.1f,"mean":%.1f},' ..
    '"threads":[%s]}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    p50, p90, p99, p999, max, mean, table.concat(parts, ",")))
end
