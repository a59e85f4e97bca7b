-- One cartd commit, all or nothing (a Lua script runs atomically on the Redis server).
--
-- KEYS: the cart hashes of the writes, in order; then the idempotency key (if any); then the
--       outbox stream, the outbox sequence counter and the expiry index.
-- ARGV[1]: JSON {writes: [{expected, version, id, exp, doc}|{expected, delete: true}],
--                events: [payload], idem: {fp, resp, exp} | null, at, grace}
-- Returns {'ok'} | {'mismatch', index (1-based), current version or ''} | {'duplicate'}.
-- Each event becomes one stream entry: `seq` (from the counter, gap-free), `at` (the commit time,
-- ms, which the relay's stats and pruning read) and `event`.
local spec = cjson.decode(ARGV[1])
local n = #spec.writes
local idem = spec.idem ~= cjson.null and spec.idem or nil
local base = n + (idem and 1 or 0)
local outbox, seq_key, expiry = KEYS[base + 1], KEYS[base + 2], KEYS[base + 3]

-- Every condition is checked before anything is written.
for i, w in ipairs(spec.writes) do
  local current = redis.call('HGET', KEYS[i], 'v')
  if w.expected == cjson.null then
    if current then return {'mismatch', tostring(i), current} end
  elseif (not current) or tonumber(current) ~= w.expected then
    return {'mismatch', tostring(i), current or ''}
  end
end
if idem then
  -- An unexpired record under the key wins; an expired one (not yet dropped) is taken over.
  local exp = redis.call('HGET', KEYS[n + 1], 'exp')
  if exp and tonumber(exp) > spec.at then return {'duplicate'} end
end

for i, w in ipairs(spec.writes) do
  local member = string.sub(KEYS[i], string.len(spec.cart_prefix) + 1)
  if w.delete then
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', expiry, member)
  else
    redis.call('DEL', KEYS[i])
    redis.call('HSET', KEYS[i], 'v', string.format('%d', w.version), 'id', w.id,
      'exp', string.format('%d', w.exp), 'doc', w.doc)
    -- Redis drops the cart a grace period after it expires; until then it answers 410.
    redis.call('PEXPIREAT', KEYS[i], string.format('%d', w.exp + spec.grace))
    redis.call('ZADD', expiry, string.format('%d', w.exp), member)
  end
end
for _, payload in ipairs(spec.events) do
  local seq = redis.call('INCR', seq_key)
  redis.call('XADD', outbox, '*', 'seq', seq, 'at', string.format('%d', spec.at),
    'event', payload)
end
if idem then
  redis.call('DEL', KEYS[n + 1])
  redis.call('HSET', KEYS[n + 1], 'fp', idem.fp, 'resp', idem.resp,
    'exp', string.format('%d', idem.exp))
  redis.call('PEXPIREAT', KEYS[n + 1], string.format('%d', idem.exp))
end
return {'ok'}
