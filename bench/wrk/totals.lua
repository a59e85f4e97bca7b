-- totals.lua: `GET /v1/cart/{guestId}/totals` on one pre-seeded guest cart (10 lines, region
-- US-CA, two discount codes). bench/run.sh seeds the cart and passes its guest id in
-- BENCH_GUEST_ID.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/report.lua")

local guest = os.getenv("BENCH_GUEST_ID")
assert(guest and guest ~= "", "totals.lua: BENCH_GUEST_ID is not set")

wrk.method = "GET"
wrk.path   = "/v1/cart/" .. guest .. "/totals"
