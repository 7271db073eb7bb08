-- wrk script: POST one OpenAI chat completion per request, then print the results as one JSON line.
-- Configured through the environment so that one script serves every target and mode, and so that
-- the body comes from Python (bench/overhead/workload.py), the single place that defines it:
--   BENCH_BODY        the JSON request body
--   BENCH_TOKEN       bearer token for the Authorization header
--   BENCH_STOP_AFTER  optional: each thread stops after this many answers (the memory phase runs
--                     with -t1, so this is the request count); unset for throughput runs, because a
--                     response() callback makes wrk hand every answer to Lua and slows it down

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "sk-none")

local stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "")
if stop_after then
  local answered = 0
  function response(status, headers, body)
    answered = answered + 1
    if answered >= stop_after then
      wrk.thread:stop()
    end
  end
end

-- Prefixed so that the Python side finds the line among wrk's own text report.
function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,'
    .. '"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
