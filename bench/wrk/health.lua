-- health.lua: `GET /health` — the baseline: routing + HTTP stack, no store access.
-- The URL given to wrk already carries the path; we only set it explicitly for clarity.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/report.lua")

wrk.method = "GET"
wrk.path   = "/health"
