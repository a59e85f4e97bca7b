-- One cartd commit, all or nothing (a Lua script runs atomically on the Redis server).
--
-- KEYS: the cart hashes of the writes, in order; then the idempotency key (if any); then the
--       outbox stream, the outbox sequence counter and the expiry index; then, per record
--       write, the record's hash and its kind's index (a sorted set of keys).
-- ARGV, positional (no JSON to decode: the cart document is passed as it is stored):
--   [1] at (commit time, ms)  [2] grace (ms)  [3] cart key prefix
--   [4] number of writes      [5] number of events  [6] '1' when an idempotency record follows
--   [7] number of record writes
--   then per write five values: expected version ('' = the cart must not exist), new version
--     ('' = delete the cart), cart id, expiry (ms), document;
--   then one value per event (its JSON);
--   then, with an idempotency record: fingerprint, stored response, expiry (ms);
--   then per record write four values: expected version ('' = there must be no record), new
--     version ('' = delete the record), body, key (the index member).
-- Returns {'ok'} | {'mismatch', index (1-based), current version or ''} | {'duplicate'}
--   | {'conflict', record write index (1-based)}.
-- Each event becomes one stream entry: `seq` (from the counter, gap-free), `at` (the commit time,
-- ms, which the relay's stats and pruning read) and `event`.
local at, grace, cart_prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local n, events, has_idem = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == '1'
local records = tonumber(ARGV[7])
local first_write, first_event = 8, 8 + 5 * n
local first_idem = first_event + events
local first_record = first_idem + (has_idem and 3 or 0)
local base = n + (has_idem and 1 or 0)
local outbox, seq_key, expiry = KEYS[base + 1], KEYS[base + 2], KEYS[base + 3]
local record_keys = base + 3

-- Every condition is checked before anything is written.
for i = 1, n do
  local expected = ARGV[first_write + 5 * (i - 1)]
  local current = redis.call('HGET', KEYS[i], 'v')
  if expected == '' then
    if current then return {'mismatch', tostring(i), current} end
  elseif current ~= expected then
    return {'mismatch', tostring(i), current or ''}
  end
end
if has_idem then
  -- An unexpired record under the key wins; an expired one (not yet dropped) is taken over.
  local exp = redis.call('HGET', KEYS[n + 1], 'exp')
  if exp and tonumber(exp) > tonumber(at) then return {'duplicate'} end
end
for j = 1, records do
  local expected = ARGV[first_record + 4 * (j - 1)]
  local current = redis.call('HGET', KEYS[record_keys + 2 * j - 1], 'v')
  if expected == '' then
    if current then return {'conflict', tostring(j)} end
  elseif current ~= expected then
    return {'conflict', tostring(j)}
  end
end

for i = 1, n do
  local w = first_write + 5 * (i - 1)
  local version, id, exp, doc = ARGV[w + 1], ARGV[w + 2], ARGV[w + 3], ARGV[w + 4]
  local member = string.sub(KEYS[i], string.len(cart_prefix) + 1)
  if version == '' then
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', expiry, member)
  else
    -- The hash always holds exactly these four fields, so HSET replaces it whole.
    redis.call('HSET', KEYS[i], 'v', version, 'id', id, 'exp', exp, 'doc', doc)
    -- Redis drops the cart a grace period after it expires; until then it answers 410.
    redis.call('PEXPIREAT', KEYS[i], string.format('%d', tonumber(exp) + grace))
    redis.call('ZADD', expiry, exp, member)
  end
end
for e = first_event, first_idem - 1 do
  local seq = redis.call('INCR', seq_key)
  redis.call('XADD', outbox, '*', 'seq', seq, 'at', at, 'event', ARGV[e])
end
if has_idem then
  local key = KEYS[n + 1]
  redis.call('HSET', key, 'fp', ARGV[first_idem], 'resp', ARGV[first_idem + 1],
    'exp', ARGV[first_idem + 2])
  redis.call('PEXPIREAT', key, ARGV[first_idem + 2])
end
for j = 1, records do
  local r = first_record + 4 * (j - 1)
  local hash, index = KEYS[record_keys + 2 * j - 1], KEYS[record_keys + 2 * j]
  local version, body, member = ARGV[r + 1], ARGV[r + 2], ARGV[r + 3]
  if version == '' then
    redis.call('DEL', hash)
    redis.call('ZREM', index, member)
  else
    -- The hash always holds exactly these two fields, so HSET replaces it whole. Score 0 for
    -- every member: the index orders keys bytewise, for ZRANGEBYLEX.
    redis.call('HSET', hash, 'v', version, 'body', body)
    redis.call('ZADD', index, 0, member)
  end
end
return {'ok'}
