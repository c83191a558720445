-- wrk script of `make bench`: `-- submit` POSTs a fresh address with each request (closed loop); `-- status FILE`
-- GETs the status of the addresses in FILE (one a line), in turn; without arguments wrk sends its URL as it is.
-- Either way done() prints one JSON line for load/bench.py.

local hex = "0123456789abcdef"

local function fresh_address()
  local digits = {}
  for i = 1, 40 do
    local n = math.random(1, 16)
    digits[i] = hex:sub(n, n)
  end
  return "0x" .. table.concat(digits)
end

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
end

function init(args)
  -- Different streams per thread and per run; lower-case addresses carry no checksum and are accepted.
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919 + math.floor(os.clock() * 1e6))
  if args[1] == "status" then
    local addresses = {}
    for line in io.lines(args[2]) do addresses[#addresses + 1] = line end
    local next_one = math.random(1, #addresses)
    request = function()
      next_one = next_one % #addresses + 1
      return wrk.format("GET", "/contracts/" .. addresses[next_one])
    end
  elseif args[1] == "submit" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    request = function()
      return wrk.format(nil, "/contracts", nil, '{"address": "' .. fresh_address() .. '"}')
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_s": %.3f, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}, "latency_ms": {"p50": %.2f, "p90": %.2f, "p99": %.2f, "max": %.2f}}\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
