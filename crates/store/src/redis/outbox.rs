//! The relay's side of the Redis outbox: the relay lease, publication marks, pruning and stats,
//! each one small Lua script so it is atomic on the server.
//!
//! The outbox stream `{P}:outbox` holds events in `seq` order without gaps (one commit script
//! numbers and appends them), and only the lease holder publishes, always the oldest pending
//! events first. So "published" is a prefix of the stream, kept as a cursor rather than a flag
//! per entry:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{P}:outbox:cursor` | hash | `id` stream id and `seq` of the last published event |
//! | `{P}:relay:lease` | hash | `holder`, `exp` (ms) |
//!
//! - **Pending** events are the stream after the cursor (`XRANGE key (<id> + COUNT n`).
//! - **Lease**: acquire and release compare the stored holder and expiry with the caller's
//!   holder and `now` passed as arguments; Redis's own clock and key expiry are not used, so the
//!   lease follows the service's (injectable) clock like every other store. The lease key has no
//!   TTL; it is one small hash per prefix.
//! - **Marks** check the lease and advance the cursor over the entries after it whose `seq` is at
//!   most the largest one marked, in the same script. The relay marks what it just read, so the
//!   store remembers the stream ids of the batch it last returned and names the entry of the
//!   largest marked `seq`: the script then looks up that one entry (and checks its `seq`)
//!   instead of copying the whole batch into Lua again. Without a remembered id (another
//!   process read the batch) it scans from the cursor as before.
//! - **Commit time** is the entry's `at` field (the commit's time, written by the commit script);
//!   entries written before that field existed fall back to the millisecond part of their stream
//!   id, i.e. Redis's clock at `XADD`.
//! - **Pruning** keeps no publish time: it removes published entries (up to the cursor) whose
//!   commit time is before the cutoff, oldest first, stopping at the first one that is not, with
//!   an exact `XTRIM MINID` just past the last one removed.
//!
//! Every call runs under the store's timeout.

use async_trait::async_trait;
use time::OffsetDateTime;

use cart_core::{Outbox, OutboxEntry, OutboxStats, StoreError};

use super::RedisStore;
use crate::columns::{from_millis, json_error, millis};

/// Shared Lua: the value of field `name` of a stream entry `{id, {k1, v1, k2, v2, …}}`, and its
/// commit time in ms (`at`, else the id's millisecond part).
const FIELDS: &str = r"
local function field(entry, name)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end
local function committed_at(entry)
  return tonumber(field(entry, 'at') or string.match(entry[1], '^(%d+)'))
end
";

/// KEYS: lease. ARGV: holder, now (ms), new expiry (ms). Returns 1 when `holder` holds it now.
const ACQUIRE: &str = r"
local lease = redis.call('HMGET', KEYS[1], 'holder', 'exp')
local exp = tonumber(lease[2])
if lease[1] and lease[1] ~= ARGV[1] and exp and exp > tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'exp', ARGV[3])
return 1
";

/// KEYS: lease. ARGV: holder. Deletes the lease if `holder` holds it.
const RELEASE: &str = r"
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// KEYS: lease, cursor, outbox. ARGV: holder, now (ms), largest seq marked, how many, the
/// stream id of the entry with the largest seq or ''. Returns 'lost' (nothing changed) or 'ok'.
const MARK: &str = r"
local lease = redis.call('HMGET', KEYS[1], 'holder', 'exp')
local exp = tonumber(lease[2])
if lease[1] ~= ARGV[1] or (not exp) or exp <= tonumber(ARGV[2]) then
  return 'lost'
end
local count = tonumber(ARGV[4])
if count == 0 then return 'ok' end
local last = tonumber(ARGV[3])
local at = redis.call('HMGET', KEYS[2], 'id', 'seq')
local cursor = at[1]
if at[2] and tonumber(at[2]) >= last then return 'ok' end
if ARGV[5] ~= '' then
  -- Stream order is seq order, so every entry between the cursor and this one has a smaller seq.
  local hinted = redis.call('XRANGE', KEYS[3], ARGV[5], ARGV[5])
  if hinted[1] and tonumber(field(hinted[1], 'seq')) == last then
    redis.call('HSET', KEYS[2], 'id', ARGV[5], 'seq', string.format('%d', last))
    return 'ok'
  end
end
local entries = redis.call('XRANGE', KEYS[3], cursor and ('(' .. cursor) or '-', '+',
  'COUNT', count)
local id, seq = nil, nil
for _, entry in ipairs(entries) do
  local s = tonumber(field(entry, 'seq'))
  if (not s) or s > last then break end
  id, seq = entry[1], s
end
if id then
  redis.call('HSET', KEYS[2], 'id', id, 'seq', string.format('%d', seq))
end
return 'ok'
";

/// KEYS: cursor, outbox. ARGV: limit. The entries after the cursor.
const PENDING: &str = r"
local cursor = redis.call('HGET', KEYS[1], 'id')
return redis.call('XRANGE', KEYS[2], cursor and ('(' .. cursor) or '-', '+', 'COUNT', ARGV[1])
";

/// KEYS: cursor, outbox. ARGV: before (ms), batch. Returns how many entries were removed.
const PRUNE: &str = r"
local cursor = redis.call('HGET', KEYS[1], 'id')
local batch = tonumber(ARGV[2])
if (not cursor) or batch <= 0 then return 0 end
local before = tonumber(ARGV[1])
local last = nil
for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '-', cursor, 'COUNT', batch)) do
  if committed_at(entry) >= before then break end
  last = entry[1]
end
if not last then return 0 end
local ms, n = string.match(last, '^(%d+)-(%d+)$')
return redis.call('XTRIM', KEYS[2], 'MINID', ms .. '-' .. string.format('%d', tonumber(n) + 1))
";

/// KEYS: cursor, outbox, outbox seq. Returns {depth, commit time of the oldest pending or ''}.
const STATS: &str = r"
local cursor = redis.call('HMGET', KEYS[1], 'id', 'seq')
local depth = tonumber(redis.call('GET', KEYS[3]) or '0') - tonumber(cursor[2] or '0')
local first = redis.call('XRANGE', KEYS[2], cursor[1] and ('(' .. cursor[1]) or '-', '+',
  'COUNT', 1)
local oldest = ''
if first[1] then oldest = string.format('%d', committed_at(first[1])) end
return {string.format('%d', depth), oldest}
";

/// The `(seq, stream id)` of each event of the batch [`RedisStore::events_after_cursor`]
/// returned last, oldest first.
#[derive(Default)]
pub(super) struct LastRead(std::sync::Mutex<Vec<(u64, String)>>);

impl LastRead {
    fn replace(&self, ids: Vec<(u64, String)>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = ids;
    }

    /// The stream id of the event numbered `seq`, if it was in the last batch read.
    fn id_of(&self, seq: u64) -> Option<String> {
        let ids = self.0.lock().unwrap_or_else(|p| p.into_inner());
        ids.binary_search_by_key(&seq, |(s, _)| *s)
            .ok()
            .map(|i| ids[i].1.clone())
    }
}

/// The relay's scripts, hashed once when the store opens.
pub(super) struct Scripts {
    acquire: redis::Script,
    release: redis::Script,
    mark: redis::Script,
    pending: redis::Script,
    prune: redis::Script,
    stats: redis::Script,
}

impl Scripts {
    /// Hashes every script (Redis caches them by SHA1 on first use).
    pub(super) fn new() -> Self {
        let with_fields = |body: &str| redis::Script::new(&format!("{FIELDS}{body}"));
        Self {
            acquire: redis::Script::new(ACQUIRE),
            release: redis::Script::new(RELEASE),
            mark: with_fields(MARK),
            pending: redis::Script::new(PENDING),
            prune: with_fields(PRUNE),
            stats: with_fields(STATS),
        }
    }
}

impl RedisStore {
    /// Up to `limit` events after the publication cursor, oldest first.
    pub(super) async fn events_after_cursor(
        &self,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut invocation = self.outbox.pending.prepare_invoke();
        invocation
            .key(self.key("outbox:cursor"))
            .key(self.key("outbox"))
            .arg(limit);
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamRangeReply =
            self.call(invocation.invoke_async(&mut conn)).await?;
        let mut ids = Vec::with_capacity(reply.ids.len());
        let entries = reply
            .ids
            .iter()
            .map(|entry| {
                let seq: u64 = entry
                    .get("seq")
                    .ok_or_else(|| StoreError::Internal("outbox entry without seq".into()))?;
                let event: String = entry
                    .get("event")
                    .ok_or_else(|| StoreError::Internal("outbox entry without event".into()))?;
                ids.push((seq, entry.id.clone()));
                Ok(OutboxEntry {
                    seq,
                    event: serde_json::from_str(&event).map_err(json_error)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.last_read.replace(ids);
        Ok(entries)
    }
}

#[async_trait]
impl Outbox for RedisStore {
    async fn acquire_relay_lease(
        &self,
        holder: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<bool, StoreError> {
        let mut invocation = self.outbox.acquire.prepare_invoke();
        invocation
            .key(self.key("relay:lease"))
            .arg(holder)
            .arg(millis(now))
            .arg(millis(now + ttl));
        let mut conn = self.conn.clone();
        let taken: i64 = self.call(invocation.invoke_async(&mut conn)).await?;
        Ok(taken == 1)
    }

    async fn release_relay_lease(&self, holder: &str) -> Result<(), StoreError> {
        let mut invocation = self.outbox.release.prepare_invoke();
        invocation.key(self.key("relay:lease")).arg(holder);
        let mut conn = self.conn.clone();
        let _: i64 = self.call(invocation.invoke_async(&mut conn)).await?;
        Ok(())
    }

    async fn mark_published(
        &self,
        holder: &str,
        seqs: &[u64],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let last = seqs.iter().max().copied().unwrap_or(0);
        let mut invocation = self.outbox.mark.prepare_invoke();
        invocation
            .key(self.key("relay:lease"))
            .key(self.key("outbox:cursor"))
            .key(self.key("outbox"))
            .arg(holder)
            .arg(millis(now))
            .arg(last)
            .arg(seqs.len())
            .arg(self.last_read.id_of(last).unwrap_or_default());
        let mut conn = self.conn.clone();
        let outcome: String = self.call(invocation.invoke_async(&mut conn)).await?;
        match outcome.as_str() {
            "ok" => Ok(()),
            "lost" => Err(StoreError::LeaseLost),
            other => Err(StoreError::Internal(format!(
                "unexpected mark script answer {other:?}"
            ))),
        }
    }

    async fn prune_published(
        &self,
        before: OffsetDateTime,
        batch: usize,
    ) -> Result<usize, StoreError> {
        let mut invocation = self.outbox.prune.prepare_invoke();
        invocation
            .key(self.key("outbox:cursor"))
            .key(self.key("outbox"))
            .arg(millis(before))
            .arg(batch);
        let mut conn = self.conn.clone();
        self.call(invocation.invoke_async(&mut conn)).await
    }

    async fn outbox_stats(&self, _now: OffsetDateTime) -> Result<OutboxStats, StoreError> {
        let mut invocation = self.outbox.stats.prepare_invoke();
        invocation
            .key(self.key("outbox:cursor"))
            .key(self.key("outbox"))
            .key(self.key("outbox:seq"));
        let mut conn = self.conn.clone();
        let (depth, oldest): (String, String) =
            self.call(invocation.invoke_async(&mut conn)).await?;
        let bad = || StoreError::Internal("unexpected stats script answer".into());
        let depth: i64 = depth.parse().map_err(|_| bad())?;
        Ok(OutboxStats {
            depth: u64::try_from(depth).unwrap_or(0),
            oldest_pending_at: match oldest.as_str() {
                "" => None,
                ms => Some(from_millis(ms.parse().map_err(|_| bad())?)?),
            },
        })
    }
}
