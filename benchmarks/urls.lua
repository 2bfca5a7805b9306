-- wrk script of benchmarks/loadgen.py: requests from a file of presigned paths.
-- Arguments: <file> <METHOD> <random|sequence> <body bytes>.
-- random: each request picks a path at random; sequence: each path once in order, and
-- `wraps` counts the times the list ran out (0: every request had its own path).
-- done() prints one line "WRK_JSON {...}" for the harness to parse.

local paths, count = {}, 0
local method, mode, body = "GET", "random", nil
position, wraps = 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      count = count + 1
      paths[count] = line
    end
  end
  method, mode = args[2], args[3]
  local size = tonumber(args[4] or "0")
  if size > 0 then body = string.rep("b", size) end
  math.randomseed(os.time())
end

function request()
  local path
  if mode == "random" then
    path = paths[math.random(count)]
  else
    position = position + 1
    if position > count then
      position, wraps = 1, wraps + 1
    end
    path = paths[position]
  end
  return wrk.format(method, path, nil, body)
end

function done(summary, latency, requests)
  local total_wraps = 0
  for _, thread in ipairs(threads) do
    total_wraps = total_wraps + (thread:get("wraps") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "p50_us": %.0f, "p99_us": %.0f, "wraps": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), total_wraps))
end
