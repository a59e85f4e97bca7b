-- add.lua: `POST /v1/cart/{guestId}/items` spread over many guest carts.
--
-- Every request adds quantity 1 of a random paperback/ebook (`book-NNN-pb` /
-- `book-NNN-eb`, NNN = 001..040: 80 products without a stock limit) to a
-- random cart among BENCH_CARTS (default 10,000) guest ids. With 10,000 carts
-- x 80 products = 800,000 (cart, product) lines, no line comes near the
-- 99-unit cap and no cart can exceed 80 lines (< the 100-line cap), however
-- long the run.
--
-- Guest ids must match ^guest_[0-9A-HJKMNP-TV-Z]{26}$ (a ULID in Crockford
-- base32, first char 0-7). We derive them deterministically from the cart
-- index: "guest_0" + 21 zeros + the index in 4 Crockford digits (32^4 > 10^6).
-- The random generator is seeded per wrk thread with a fixed seed, so a run's
-- sequence of (cart, product) pairs is reproducible.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/report.lua")

local NCARTS = tonumber(os.getenv("BENCH_CARTS") or "10000")
assert(NCARTS >= 1 and NCARTS <= 32 ^ 4, "add.lua: BENCH_CARTS out of range")

dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/guests.lua")

-- Request paths, one per cart: "/v1/cart/guest_0000…XXXX/items".
local paths = {}
for i = 1, NCARTS do
  paths[i] = "/v1/cart/guest_0" .. string.rep("0", 21) .. crockford(i - 1, 4) .. "/items"
end

-- Request bodies, one per product.
local bodies = {}
for n = 1, 40 do
  for _, format in ipairs({ "pb", "eb" }) do
    bodies[#bodies + 1] = string.format(
      '{"product_id":"book-%03d-%s","quantity":1}', n, format)
  end
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

-- Every body has the same length (the product number always has 3 digits), so the request
-- line and headers depend on the cart alone: they are formatted once per cart, in init(), and
-- request() only joins a cart's head to a product's body. wrk.format per request cost wrk
-- measurably more CPU, taken from the 2 cores the server shares with it (docs/PERFORMANCE.md,
-- "Fewer statements, pages and copies per add"). The requests are the same bytes as before.
for _, body in ipairs(bodies) do
  assert(#body == #bodies[1], "add.lua: bodies must all have one length")
end
local heads = {}

-- setup() runs in wrk's main Lua state once per thread: hand each thread an id.
local next_thread_id = 1
function setup(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
end

-- init() runs inside each thread's own Lua state.
function init(args)
  math.randomseed(1000003 * (thread_id or 0) + 12345)
  local body_length = #bodies[1]
  for i = 1, NCARTS do
    local whole = wrk.format(nil, paths[i], nil, bodies[1])
    heads[i] = whole:sub(1, #whole - body_length)
  end
end

function request()
  return heads[math.random(NCARTS)] .. bodies[math.random(#bodies)]
end
