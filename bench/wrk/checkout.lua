-- checkout.lua: `POST /v1/cart/{guest}/checkout` on carts prepared beforehand.
--
-- run.sh first fills $BENCH_CHECKOUT_CARTS guest carts with checkout-seed.lua (one line of a
-- stock-tracked product each, region US-CA, quote token read) and concatenates their
-- "guest token" lines into $BENCH_CHECKOUT_SEED. Each wrk thread takes every n-th line
-- (n = $BENCH_THREADS) and checks its carts out one by one, whatever connection asks: so a
-- request is exactly one checkout (quote again, reserve stock, order, lock the cart; one
-- commit), and its rate compares directly with the add scenario's.
--
-- A thread that runs out of carts asks for a path that does not exist instead: the 404s are
-- counted as non-2xx, which flags the run, as its rate would be too low (raise
-- BENCH_CHECKOUT_CARTS).
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/report.lua")

local next_thread_id = 1
function setup(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
end

local address = '{"name":"Bench","line1":"1 Market St","city":"San Francisco",'
  .. '"postal_code":"94105","country":"US"}'
local carts, taken = {}, 0

function init(args)
  local threads = tonumber(os.getenv("BENCH_THREADS"))
  local index = 0
  for line in io.lines(os.getenv("BENCH_CHECKOUT_SEED")) do
    if index % threads == thread_id - 1 then
      local guest, token = line:match("^(%S+) (%S+)$")
      local body = '{"quote_token":"' .. token .. '","email":"bench@example.com",'
        .. '"shipping_address":' .. address .. ',"billing_address":' .. address .. '}'
      carts[#carts + 1] = wrk.format("POST", "/v1/cart/" .. guest .. "/checkout",
        { ["Content-Type"] = "application/json", ["Idempotency-Key"] = guest }, body)
    end
    index = index + 1
  end
end

function request()
  taken = taken + 1
  if taken > #carts then
    return wrk.format("GET", "/bench/out-of-seeded-carts")
  end
  return carts[taken]
end

