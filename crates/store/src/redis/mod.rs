//! The Redis backend (feature `redis`): every commit is one Lua script, so the compare-and-set
//! on each cart's version, the cart values, the outbox entries (a Redis Stream), the
//! idempotency record and the record writes (each conditional on its version) are written all
//! or nothing.
//!
//! Keys, under a configurable prefix `P` (default `cartd`):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{P}:cart:<cart key>` | hash | `v` version, `id` cart id, `exp` expiry (ms), `doc` the cart JSON |
//! | `{P}:expiry` | sorted set | cart keys by expiry, for the sweeper |
//! | `{P}:idem:<scoped key>` | hash | `fp` fingerprint, `resp` stored response, `exp` expiry |
//! | `{P}:outbox` | stream | `seq`, `at` (commit time, ms), `event` (the event JSON), in commit order |
//! | `{P}:outbox:seq` | string | the last outbox sequence number |
//! | `{P}:outbox:cursor` | hash | `id`, `seq` of the last published event (see [`outbox`]) |
//! | `{P}:relay:lease` | hash | `holder`, `exp` (ms): which relay may publish |
//! | `{P}:product:<id>` | hash | `name`, `unit_price`, `currency`, `active`, `stock`, `tax_class` |
//! | `{P}:products` | sorted set | product ids (score 0: ordered by id, for paging) |
//! | `{P}:pricing:<kind>` | hash | pricing settings of a kind: key (region, code) → JSON document |
//! | `{P}:record:<kind>:<key>` | hash | `v` version, `body` of a record (order, stock level, …) |
//! | `{P}:records:<kind>` | sorted set | a kind's record keys (score 0: ordered by key, for listing) |
//! | `{P}:seq:<name>` | string | the last number of a sequence (order numbers), `INCR`ed |
//!
//! Every key carries the hash tag `{P}`, so in Redis Cluster they all live in one slot: a commit
//! that touches two carts (a merge) and the shared outbox must be on one node for one script to
//! write them atomically. Scaling past one primary means one prefix per tenant (or shop), each
//! its own slot. Carts get `PEXPIREAT` a day past [`KEPT_AFTER_EXPIRY`] after their expiry (so
//! they answer `410`, and their key's versions go on, until then); the sweeper deletes them
//! from the expiry index once they are past keeping.

mod outbox;

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use time::OffsetDateTime;

use cart_core::{
    Cart, CartKey, CartStamp, Catalog, Commit, IdempotencyRecord, KEPT_AFTER_EXPIRY, OutboxEntry,
    PricingKind, PricingSettings, Product, ProductId, RecordKind, Records, Store, StoreError,
    StoredRecord, SweepReport,
};

use crate::columns::{self, from_millis, json_error, millis, version_column};
use crate::url::RedisOptions;

/// How long Redis keeps a cart after it expired or ended: a day longer than the sweeper
/// ([`KEPT_AFTER_EXPIRY`]), so the sweeper deletes (and counts) it first, and Redis still
/// forgets it where no replica sweeps.
const GRACE_MS: i64 = (KEPT_AFTER_EXPIRY.whole_milliseconds() + DAY_MS) as i64;

/// A day in milliseconds.
const DAY_MS: i128 = 24 * 3600 * 1000;

const COMMIT: &str = include_str!("commit.lua");

/// Deletes up to ARGV[2] carts whose expiry (ARGV[1], ms) has passed; returns how many existed.
const SWEEP: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local deleted = 0
for _, member in ipairs(due) do
  local key = ARGV[3] .. member
  local exp = redis.call('HGET', key, 'exp')
  if exp and tonumber(exp) <= tonumber(ARGV[1]) then
    redis.call('DEL', key)
    deleted = deleted + 1
  end
  if (not exp) or tonumber(exp) <= tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], member)
  end
end
return deleted
";

/// KEYS[1]: a kind's record index. ARGV: the `ZRANGEBYLEX` bounds, the most records to return,
/// the prefix of the kind's record hashes. Returns key, version and body of each record, flat.
/// One script, so the index and the records are read at one moment.
const LIST_RECORDS: &str = r"
local keys = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, key in ipairs(keys) do
  local fields = redis.call('HMGET', ARGV[4] .. key, 'v', 'body')
  if fields[1] then
    out[#out + 1] = key
    out[#out + 1] = fields[1]
    out[#out + 1] = fields[2]
  end
end
return out
";

/// The Redis store and catalog.
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    commit: redis::Script,
    sweep: redis::Script,
    /// [`LIST_RECORDS`].
    list_records: redis::Script,
    /// The relay's scripts (lease, marks, pruning, stats, pending reads).
    outbox: outbox::Scripts,
    /// The stream ids of the last batch of pending events this store read, so marking them
    /// can name the last one instead of re-reading the batch (see [`outbox`]).
    last_read: outbox::LastRead,
}

fn redis_error(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Internal(e.to_string())
    }
}

impl RedisStore {
    /// Connects (the server must answer now) and returns the store.
    pub async fn open(options: &RedisOptions) -> Result<Self, StoreError> {
        let client = redis::Client::open(options.url.as_str())
            .map_err(|e| StoreError::Unavailable(format!("bad Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            options.timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| StoreError::Unavailable("Redis did not answer in time".into()))?
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to Redis: {e}")))?;
        let store = Self {
            conn,
            prefix: format!("{{{}}}", options.prefix),
            timeout: options.timeout,
            commit: redis::Script::new(COMMIT),
            sweep: redis::Script::new(SWEEP),
            list_records: redis::Script::new(LIST_RECORDS),
            outbox: outbox::Scripts::new(),
            last_read: outbox::LastRead::default(),
        };
        store.check().await?;
        Ok(store)
    }

    fn cart_key(&self, key: &CartKey) -> String {
        format!("{}:cart:{}", self.prefix, key.as_str())
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.prefix)
    }

    /// The hash holding every pricing setting of `kind` (a handful per shop: one hash suffices).
    fn pricing_key(&self, kind: PricingKind) -> String {
        self.key(&format!("pricing:{}", kind.as_str()))
    }

    /// The prefix of the hashes holding records of `kind`; the record key follows it.
    fn record_prefix(&self, kind: RecordKind) -> String {
        self.key(&format!("record:{}:", kind.as_str()))
    }

    /// The sorted set of the record keys of `kind`.
    fn record_index(&self, kind: RecordKind) -> String {
        self.key(&format!("records:{}", kind.as_str()))
    }

    /// Runs one Redis call under the store's timeout.
    async fn call<T>(
        &self,
        work: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| StoreError::Unavailable("Redis did not answer in time".into()))?
            .map_err(redis_error)
    }
}

fn product_from_fields(
    id: &ProductId,
    fields: &std::collections::HashMap<String, String>,
) -> Result<Product, StoreError> {
    let bad = |what: &str| StoreError::Internal(format!("stored product {id:?} has a bad {what}"));
    let field = |name: &str| fields.get(name).ok_or_else(|| bad(name));
    columns::product(
        id.as_str().to_owned(),
        field("name")?.clone(),
        field("unit_price")?
            .parse()
            .map_err(|_| bad("unit_price"))?,
        field("currency")?,
        field("active")? == "1",
        match fields.get("stock").map(String::as_str) {
            None | Some("") => None,
            Some(n) => Some(n.parse().map_err(|_| bad("stock"))?),
        },
        fields.get("tax_class").map(String::as_str),
    )
}

#[async_trait]
impl Store for RedisStore {
    async fn load_cart(&self, key: &CartKey) -> Result<Option<Cart>, StoreError> {
        let mut conn = self.conn.clone();
        let doc: Option<String> = self.call(conn.hget(self.cart_key(key), "doc")).await?;
        doc.map(|doc| serde_json::from_str(&doc).map_err(json_error))
            .transpose()
    }

    async fn cart_stamp(&self, key: &CartKey) -> Result<Option<CartStamp>, StoreError> {
        let mut conn = self.conn.clone();
        let (version, id, exp): (Option<i64>, Option<String>, Option<i64>) = self
            .call(conn.hmget(self.cart_key(key), &["v", "id", "exp"]))
            .await?;
        match (version, id, exp) {
            (Some(version), Some(id), Some(exp)) => Ok(Some(CartStamp {
                cart_id: id
                    .parse()
                    .map_err(|_| StoreError::Internal("stored cart id".into()))?,
                version: version as u64,
                expires_at: from_millis(exp)?,
            })),
            _ => Ok(None),
        }
    }

    async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        // The script's positional arguments (see commit.lua): documents and events go over the
        // wire as they are stored, not wrapped in a JSON spec the script would have to decode.
        let mut invocation = self.commit.prepare_invoke();
        for write in &commit.writes {
            invocation.key(self.cart_key(&write.key));
        }
        if let Some(record) = &commit.idempotency {
            invocation.key(self.key(&format!("idem:{}", record.scoped_key)));
        }
        invocation
            .key(self.key("outbox"))
            .key(self.key("outbox:seq"))
            .key(self.key("expiry"));
        for write in &commit.records {
            invocation
                .key(format!("{}{}", self.record_prefix(write.kind), write.key))
                .key(self.record_index(write.kind));
        }
        invocation
            .arg(millis(commit.at))
            .arg(GRACE_MS)
            .arg(self.key("cart:"))
            .arg(commit.writes.len())
            .arg(commit.events.len())
            .arg(if commit.idempotency.is_some() {
                "1"
            } else {
                "0"
            })
            .arg(commit.records.len());
        let version_arg = |version: Option<u64>| {
            version.map_or_else(String::new, |v| version_column(v).to_string())
        };
        for write in &commit.writes {
            invocation.arg(version_arg(write.expected_version));
            match &write.new_state {
                Some(cart) => invocation
                    .arg(version_arg(Some(cart.version())))
                    .arg(cart.id().to_string())
                    .arg(millis(cart.expires_at()))
                    .arg(serde_json::to_vec(&**cart).map_err(json_error)?),
                None => invocation.arg("").arg("").arg("").arg(""),
            };
        }
        for event in &commit.events {
            invocation.arg(serde_json::to_vec(event).map_err(json_error)?);
        }
        if let Some(record) = &commit.idempotency {
            invocation
                .arg(&record.fingerprint)
                .arg(crate::idempotency_doc::encode(&record.outcome)?)
                .arg(millis(record.expires_at));
        }
        for write in &commit.records {
            let new_version = write.body.as_ref().map(|_| write.new_version());
            invocation
                .arg(version_arg(write.expected_version))
                .arg(version_arg(new_version))
                .arg(write.body.as_deref().unwrap_or_default())
                .arg(&write.key);
        }
        let mut conn = self.conn.clone();
        let outcome: Vec<String> = self.call(invocation.invoke_async(&mut conn)).await?;
        match outcome.first().map(String::as_str) {
            Some("ok") => Ok(()),
            Some("duplicate") => Err(StoreError::DuplicateIdempotencyKey),
            Some("mismatch") => {
                let index: usize = outcome
                    .get(1)
                    .and_then(|i| i.parse().ok())
                    .ok_or_else(|| StoreError::Internal("commit script answer".into()))?;
                let write = commit
                    .writes
                    .get(index.saturating_sub(1))
                    .ok_or_else(|| StoreError::Internal("commit script answer".into()))?;
                Err(StoreError::VersionMismatch {
                    key: write.key.clone(),
                    current: outcome.get(2).and_then(|v| v.parse().ok()),
                })
            }
            Some("conflict") => {
                let write = outcome
                    .get(1)
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| commit.records.get(i.checked_sub(1)?))
                    .ok_or_else(|| StoreError::Internal("commit script answer".into()))?;
                Err(StoreError::RecordConflict {
                    kind: write.kind,
                    key: write.key.clone(),
                })
            }
            _ => Err(StoreError::Internal(format!(
                "unexpected commit script answer {outcome:?}"
            ))),
        }
    }

    async fn idempotency_record(
        &self,
        scoped_key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let (fingerprint, response, exp): (Option<String>, Option<String>, Option<i64>) = self
            .call(conn.hmget(
                self.key(&format!("idem:{scoped_key}")),
                &["fp", "resp", "exp"],
            ))
            .await?;
        let (Some(fingerprint), Some(response), Some(exp)) = (fingerprint, response, exp) else {
            return Ok(None);
        };
        let expires_at = from_millis(exp)?;
        if expires_at <= now {
            return Ok(None);
        }
        let outcome = crate::idempotency_doc::decode(&response)?;
        Ok(Some(IdempotencyRecord {
            scoped_key: scoped_key.to_owned(),
            fingerprint,
            outcome,
            expires_at,
        }))
    }

    async fn sweep_expired(
        &self,
        now: OffsetDateTime,
        batch: usize,
    ) -> Result<SweepReport, StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.sweep.prepare_invoke();
        invocation
            .key(self.key("expiry"))
            .arg(millis(now - KEPT_AFTER_EXPIRY))
            .arg(batch)
            .arg(self.key("cart:"));
        let carts: usize = self.call(invocation.invoke_async(&mut conn)).await?;
        // Idempotency records carry PEXPIREAT: Redis drops them itself.
        Ok(SweepReport {
            carts,
            idempotency_records: 0,
        })
    }

    async fn pending_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        // Published events are the stream up to the relay's cursor.
        self.events_after_cursor(limit).await
    }

    async fn check(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = self.call(redis::cmd("PING").query_async(&mut conn)).await?;
        Ok(())
    }
}

#[async_trait]
impl Records for RedisStore {
    async fn record(
        &self,
        kind: RecordKind,
        key: &str,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let (version, body): (Option<i64>, Option<String>) = self
            .call(conn.hmget(format!("{}{key}", self.record_prefix(kind)), &["v", "body"]))
            .await?;
        Ok(match (version, body) {
            (Some(version), Some(body)) => Some(StoredRecord {
                key: key.to_owned(),
                version: version as u64,
                body,
            }),
            _ => None,
        })
    }

    async fn records(
        &self,
        kind: RecordKind,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let (min, max) = lex_range(prefix, after);
        let mut invocation = self.list_records.prepare_invoke();
        invocation
            .key(self.record_index(kind))
            .arg(min)
            .arg(max)
            .arg(i64::try_from(limit).unwrap_or(i64::MAX))
            .arg(self.record_prefix(kind));
        let mut conn = self.conn.clone();
        let flat: Vec<String> = self.call(invocation.invoke_async(&mut conn)).await?;
        flat.chunks_exact(3)
            .map(|fields| {
                Ok(StoredRecord {
                    key: fields[0].clone(),
                    version: fields[1]
                        .parse()
                        .map_err(|_| StoreError::Internal("stored record version".into()))?,
                    body: fields[2].clone(),
                })
            })
            .collect()
    }

    async fn next_number(&self, sequence: &str) -> Result<u64, StoreError> {
        // INCR is atomic on the server: every caller, in any process, gets its own number.
        let mut conn = self.conn.clone();
        self.call(conn.incr(self.key(&format!("seq:{sequence}")), 1))
            .await
    }
}

/// The `ZRANGEBYLEX` bounds of the keys starting with `prefix` and sorting after `after`.
/// Keys are printable ASCII, so every key starting with `prefix` sorts before `prefix` followed
/// by DEL (0x7f); the bounds are plain bytes, so `*`, `?` or `[` in a key match only
/// themselves.
fn lex_range(prefix: &str, after: Option<&str>) -> (String, String) {
    let max = if prefix.is_empty() {
        "+".to_owned()
    } else {
        format!("({prefix}\x7f")
    };
    let min = match after {
        Some(after) if after >= prefix => format!("({after}"),
        _ if prefix.is_empty() => "-".to_owned(),
        _ => format!("[{prefix}"),
    };
    (min, max)
}

#[async_trait]
impl PricingSettings for RedisStore {
    async fn put_setting(
        &self,
        kind: PricingKind,
        key: &str,
        document: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let added: i64 = self
            .call(conn.hset(self.pricing_key(kind), key, document))
            .await?;
        Ok(added == 1)
    }

    async fn setting(&self, kind: PricingKind, key: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        self.call(conn.hget(self.pricing_key(kind), key)).await
    }

    async fn settings(&self, kind: PricingKind) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.conn.clone();
        let all: std::collections::BTreeMap<String, String> =
            self.call(conn.hgetall(self.pricing_key(kind))).await?;
        Ok(all.into_iter().collect())
    }

    async fn delete_setting(&self, kind: PricingKind, key: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let removed: i64 = self.call(conn.hdel(self.pricing_key(kind), key)).await?;
        Ok(removed == 1)
    }
}

#[async_trait]
impl Catalog for RedisStore {
    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let mut conn = self.conn.clone();
        let fields: std::collections::HashMap<String, String> = self
            .call(conn.hgetall(self.key(&format!("product:{}", id.as_str()))))
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        product_from_fields(id, &fields).map(Some)
    }

    async fn products(
        &self,
        after: Option<&ProductId>,
        limit: usize,
    ) -> Result<Vec<Product>, StoreError> {
        let mut conn = self.conn.clone();
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({}", id.as_str()));
        let ids: Vec<String> = self
            .call(conn.zrangebylex_limit(self.key("products"), start, "+", 0, limit as isize))
            .await?;
        let mut products = Vec::with_capacity(ids.len());
        for raw in ids {
            let id = ProductId::parse(&raw)
                .map_err(|_| StoreError::Internal(format!("stored product id {raw:?}")))?;
            if let Some(product) = self.product(&id).await? {
                products.push(product);
            }
        }
        Ok(products)
    }

    async fn upsert_products(&self, products: Vec<Product>) -> Result<Vec<bool>, StoreError> {
        // One MULTI/EXEC: all products or none.
        let mut pipe = redis::pipe();
        pipe.atomic();
        for p in &products {
            pipe.zadd(self.key("products"), p.id.as_str(), 0);
        }
        for p in &products {
            let key = self.key(&format!("product:{}", p.id.as_str()));
            pipe.del(&key).ignore();
            pipe.hset_multiple(
                &key,
                &[
                    ("name", p.name.to_string()),
                    ("unit_price", p.price.amount().to_string()),
                    ("currency", p.price.currency().as_str().to_owned()),
                    ("active", if p.active { "1" } else { "0" }.to_owned()),
                    ("stock", p.stock.map(|n| n.to_string()).unwrap_or_default()),
                    ("tax_class", p.tax_class.as_str().to_owned()),
                ],
            )
            .ignore();
        }
        let mut conn = self.conn.clone();
        let added: Vec<i64> = self.call(pipe.query_async(&mut conn)).await?;
        Ok(added.into_iter().map(|n| n == 1).collect())
    }

    async fn product_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        self.call(conn.zcard(self.key("products"))).await
    }
}

#[cfg(test)]
mod tests {
    use super::lex_range;

    /// The bounds cover exactly the keys with the prefix, after `after`; an `after` before the
    /// prefix's keys changes nothing, and one past them leaves an empty range.
    #[test]
    fn lex_ranges_follow_prefix_and_after() {
        assert_eq!(lex_range("u/", None), ("[u/".into(), "(u/\x7f".into()));
        assert_eq!(
            lex_range("u/", Some("u/a")),
            ("(u/a".into(), "(u/\x7f".into())
        );
        assert_eq!(lex_range("u/", Some("a")), ("[u/".into(), "(u/\x7f".into()));
        assert_eq!(lex_range("u/", Some("v")), ("(v".into(), "(u/\x7f".into()));
        assert_eq!(lex_range("", None), ("-".into(), "+".into()));
        assert_eq!(lex_range("", Some("u/b")), ("(u/b".into(), "+".into()));
    }
}
