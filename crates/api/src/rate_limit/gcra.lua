-- GCRA over several buckets at once, all or nothing (see shared.rs).
-- KEYS: the buckets. ARGV[1]: the emission interval (µs per request);
-- ARGV[2]: the burst window (interval × burst, µs).
-- Returns 0 when every bucket had room (and charges each), else the µs until all have.
-- The clock is Redis's own, so replicas with skewed clocks share one timeline.
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local wait = 0
local next_tats = {}
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local next_tat = tat + interval
  local allowed_at = next_tat - window
  if allowed_at > now and allowed_at - now > wait then wait = allowed_at - now end
  next_tats[i] = next_tat
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  -- '%.0f': tostring would print a µs timestamp in exponent form and lose its digits.
  redis.call('SET', key, string.format('%.0f', next_tats[i]),
    'PX', math.ceil((next_tats[i] - now) / 1000) + 1)
end
return 0
