-- checkout-seed.lua: prepares the carts the checkout scenario checks out (not a scenario).
--
-- Each connection fills guest carts one after another, three requests each:
--   1. POST /v1/cart/{guest}/items      one unit of a stock-tracked bench product
--                                       (bench-stock-01..40, which run.sh imports first)
--   2. PATCH /v1/cart/{guest}           region US-CA (demo tax and shipping)
--   3. GET /v1/cart/{guest}/totals      the quote token
-- and appends "guest token" to $BENCH_SEED_DIR/seed-<thread>.txt. A thread stops after its
-- share of $BENCH_CHECKOUT_CARTS; run.sh interrupts wrk once every line is written. As in
-- purchase.lua, one connection per thread keeps one cart's steps in order.
local TRACKED_PRODUCTS = 40

dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/guests.lua")

local next_thread_id = 1
function setup(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
end

local quota, seeded, step, guest, out = 0, 0, 0, nil, nil
local json = { ["Content-Type"] = "application/json" }

function init(args)
  local carts = tonumber(os.getenv("BENCH_CHECKOUT_CARTS"))
  local threads = tonumber(os.getenv("BENCH_SEED_THREADS"))
  quota = math.ceil(carts / threads)
  out = assert(io.open(os.getenv("BENCH_SEED_DIR") .. "/seed-" .. thread_id .. ".txt", "w"))
end

function request()
  if step == 0 then
    -- "guest_0" + 17 zeros + thread (2 digits) + cart (6 digits): 26 Crockford characters.
    guest = "guest_0" .. string.rep("0", 17) .. crockford(thread_id, 2) .. crockford(seeded, 6)
    local product = string.format("bench-stock-%02d", seeded % TRACKED_PRODUCTS + 1)
    return wrk.format("POST", "/v1/cart/" .. guest .. "/items", json,
      '{"product_id":"' .. product .. '","quantity":1}')
  elseif step == 1 then
    return wrk.format("PATCH", "/v1/cart/" .. guest, json, '{"region":"US-CA"}')
  end
  return wrk.format("GET", "/v1/cart/" .. guest .. "/totals")
end

function response(status, headers, body)
  if seeded >= quota then return end
  local wanted = ({ [0] = 201, [1] = 200, [2] = 200 })[step]
  if status ~= wanted then
    io.stderr:write(string.format("checkout-seed: step %d for %s answered %d: %s\n",
      step, guest, status, body))
    os.exit(1)
  end
  if step == 2 then
    out:write(guest, " ", body:match('"quote_token":"([^"]+)"'), "\n")
    out:flush()
    seeded = seeded + 1
    if seeded >= quota then
      out:close()
      wrk.thread:stop()
    end
  end
  step = (step + 1) % 3
end
