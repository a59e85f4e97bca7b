-- purchase.lua: whole purchases, one after another on each connection.
--
-- A checkout needs a cart with lines, a region, and the quote token of its totals, so each
-- connection runs one purchase after another, four requests each:
--   1. POST /v1/cart/{guest}/items      one paperback without a stock limit (book-001-pb)
--   2. PATCH /v1/cart/{guest}           region US-CA (demo tax and shipping)
--   3. GET /v1/cart/{guest}/totals      the quote token
--   4. POST /v1/cart/{guest}/checkout   the order (Idempotency-Key: the guest id)
-- and a fresh guest id for the next purchase. A wrk thread's Lua state serves all of its
-- connections, so run.sh gives this scenario one connection per thread (-t = -c): each
-- thread's requests then alternate with their responses, and one state machine per thread is
-- one per connection.
--
-- BENCH_RESULT's rps is purchases (201 checkouts) per second, not requests: the checkout
-- rate with everything a purchase needs before it. Latencies are over all four requests.

dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/guests.lua")

local threads = {}
local next_thread_id = 1
function setup(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
  table.insert(threads, thread)
end

local step, purchase, guest, token = 0, 0, nil, nil
checkouts = 0
failures = 0

local function new_guest()
  purchase = purchase + 1
  -- "guest_0" + 17 zeros + thread (2 digits) + purchase (6 digits): 26 Crockford characters.
  return "guest_0" .. string.rep("0", 17) .. crockford(thread_id, 2) .. crockford(purchase, 6)
end

local json = { ["Content-Type"] = "application/json" }

function request()
  if step == 0 then
    guest = new_guest()
    return wrk.format("POST", "/v1/cart/" .. guest .. "/items", json,
      '{"product_id":"book-001-pb","quantity":1}')
  elseif step == 1 then
    return wrk.format("PATCH", "/v1/cart/" .. guest, json, '{"region":"US-CA"}')
  elseif step == 2 then
    return wrk.format("GET", "/v1/cart/" .. guest .. "/totals")
  end
  local address = '{"name":"Bench","line1":"1 Market St","city":"San Francisco",'
    .. '"postal_code":"94105","country":"US"}'
  local body = '{"quote_token":"' .. (token or "") .. '","email":"bench@example.com",'
    .. '"shipping_address":' .. address .. ',"billing_address":' .. address .. '}'
  return wrk.format("POST", "/v1/cart/" .. guest .. "/checkout",
    { ["Content-Type"] = "application/json", ["Idempotency-Key"] = guest }, body)
end

function response(status, headers, body)
  if step == 2 then
    token = body:match('"quote_token":"([^"]+)"')
  elseif step == 3 then
    if status == 201 then checkouts = checkouts + 1 else failures = failures + 1 end
  end
  step = (step + 1) % 4
end

function done(summary, latency, requests)
  local purchases, failed = 0, 0
  for _, thread in ipairs(threads) do
    purchases = purchases + (thread:get("checkouts") or 0)
    failed = failed + (thread:get("failures") or 0)
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  local rps = 0
  if secs > 0 then rps = purchases / secs end
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d rps=%.2f p50_us=%d p99_us=%d " ..
    "non2xx=%d connect_err=%d read_err=%d write_err=%d timeout_err=%d checkouts=%d failed_checkouts=%d\n",
    summary.requests, summary.duration, rps,
    latency:percentile(50), latency:percentile(99),
    e.status + failed, e.connect, e.read, e.write, e.timeout, purchases, failed))
end
