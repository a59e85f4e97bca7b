-- report.lua: the shared wrk `done()` hook for every cartd benchmark scenario.
--
-- Each scenario script loads this file with `dofile`. After the run, wrk calls
-- `done()` once (in its main Lua state) with the aggregated summary and latency
-- histogram; we print ONE machine-parseable line that bench/run.sh greps for:
--
--   BENCH_RESULT requests=N duration_us=N rps=F p50_us=N p99_us=N non2xx=N
--                connect_err=N read_err=N write_err=N timeout_err=N
--
-- Notes:
--  * Latencies from wrk are in microseconds.
--  * `summary.errors.status` is wrk's count of responses with status > 399
--    (wrk increments it in C, so there is no need for the slow per-response
--    `response()` Lua hook). We report it as "non2xx"; the scenarios never
--    expect a 3xx, so >399 and non-2xx coincide in practice.
--  * Socket-level errors (connect/read/write/timeout) are reported separately;
--    a timed-out request is not included in the latency histogram.

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local rps = 0
  if secs > 0 then rps = summary.requests / secs end
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d rps=%.2f p50_us=%d p99_us=%d " ..
    "non2xx=%d connect_err=%d read_err=%d write_err=%d timeout_err=%d\n",
    summary.requests, summary.duration, rps,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
