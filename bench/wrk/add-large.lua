-- add-large.lua: carts that fill towards 100 lines, for the memory bound (issue 20).
--
-- Like add.lua, `POST /v1/cart/{guestId}/items` of quantity 1 over BENCH_CARTS (default
-- 10,000) guest carts, but each cart takes a NEW product on each of its first 100 adds: the
-- 80 paperbacks and ebooks and the first 20 hardcovers in print (stock 3 or more), in order.
-- After 100 adds a cart starts over with quantity 2 of each, and so on, so a long enough run
-- (BENCH_DURATION=60s at 32 connections) leaves every cart at 100 lines, the line-count cap,
-- with no request refused. Each wrk thread owns its own share of the carts, so its per-cart
-- counters are the carts' true add counts.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/report.lua")

local NCARTS = tonumber(os.getenv("BENCH_CARTS") or "10000")
local NTHREADS = tonumber(os.getenv("BENCH_THREADS") or "2")
assert(NCARTS >= 1 and NCARTS <= 32 ^ 4, "add-large.lua: BENCH_CARTS out of range")

dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/guests.lua")

local products = {}
for n = 1, 40 do
  products[#products + 1] = string.format("book-%03d-pb", n)
  products[#products + 1] = string.format("book-%03d-eb", n)
end
for n = 1, 21 do
  if n ~= 13 then -- book-013-hc is out of print
    products[#products + 1] = string.format("book-%03d-hc", n)
  end
end
assert(#products == 100, "add-large.lua: 100 products")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local next_thread_id = 1
function setup(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
end

local mine = {}   -- this thread's carts: paths
local adds = {}   -- adds sent per cart of this thread

function init(args)
  math.randomseed(1000003 * (thread_id or 0) + 54321)
  local t = (thread_id or 1) - 1
  for i = t, NCARTS - 1, NTHREADS do
    mine[#mine + 1] = "/v1/cart/guest_0" .. string.rep("0", 21) .. crockford(i, 4) .. "/items"
    adds[#mine] = 0
  end
end

function request()
  local c = math.random(#mine)
  local product = products[adds[c] % 100 + 1]
  adds[c] = adds[c] + 1
  local body = '{"product_id":"' .. product .. '","quantity":1}'
  return wrk.format(nil, mine[c], nil, body)
end
