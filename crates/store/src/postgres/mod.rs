//! The PostgreSQL backend (feature `postgres`): carts as JSONB documents keyed by cart key, the
//! outbox, idempotency records and the catalog in tables of one database (or one schema), a
//! transaction per commit; the common single-cart commits waiting at one moment share one
//! (`group`).
//!
//! - **Compare-and-set**: `UPDATE … WHERE cart_key = $1 AND version = $2` (PostgreSQL re-checks
//!   the condition after waiting for a concurrent writer's row lock, so two writers of one cart
//!   cannot both succeed); creation is `INSERT … ON CONFLICT DO NOTHING`. `READ COMMITTED` is
//!   enough: every condition is checked by the statement that writes.
//! - **Per-cart event order**: a cart's commits are serialised by its row lock, so their outbox
//!   rows get increasing `seq` in commit order.
//! - **Sweeping**: expired carts are deleted in batches picked with `FOR UPDATE SKIP LOCKED`, so
//!   several replicas can sweep at once without waiting on each other.
//! - **Timeouts**: acquiring a connection waits at most `acquire_timeout`; every statement runs
//!   under the server-side `statement_timeout`.
//! - **Group commit**: the common commit (one cart, no idempotency record) is queued and
//!   written with other carts' in one statement; see [`group`].
//! - **Relay**: the lease, publication marks and pruning are in [`outbox`].
//! - **Records** (orders, stock levels, …): rows of `records` by kind and key (byte-order
//!   collation), written with compare-and-set in the commit's transaction, never grouped; order
//!   numbers come from rows of `sequences`, one upsert per number.

mod group;
mod outbox;
mod schema;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use cart_core::{
    Cart, CartKey, CartStamp, CartWrite, Catalog, Commit, IdempotencyRecord, KEPT_AFTER_EXPIRY,
    OutboxEntry, PricingKind, PricingSettings, Product, ProductId, RecordKind, RecordWrite,
    Records, Store, StoreError, StoredRecord, SweepReport,
};

use crate::columns::{self, json_error, version_column};
use crate::url::PostgresOptions;
use group::{CartCommit, GroupCommitter};

/// How long a pooled connection may sit idle before it is pinged on its way out of the pool.
const IDLE_BEFORE_PING: std::time::Duration = std::time::Duration::from_secs(1);

/// The PostgreSQL store and catalog.
pub struct PgStore {
    pool: PgPool,
    group: GroupCommitter,
}

impl crate::ConnectionPool for PgStore {
    fn pool_stats(&self) -> crate::PoolStats {
        let size = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        crate::PoolStats {
            in_use: size.saturating_sub(idle),
            idle,
            max: self.pool.options().get_max_connections(),
            commits_waiting: u32::try_from(self.group.queued()).unwrap_or(u32::MAX),
        }
    }
}

fn sql_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(db)
            // statement_timeout, serialization failure, deadlock, too many connections,
            // cannot connect now, admin shutdown: worth retrying later.
            if matches!(
                db.code().as_deref(),
                Some("57014" | "40001" | "40P01" | "53300" | "57P03" | "57P01")
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

impl PgStore {
    /// Connects (at least one connection must open now), applies pending migrations under an
    /// advisory lock (replicas starting together migrate once) and returns the store.
    pub async fn open(options: &PostgresOptions) -> Result<Self, StoreError> {
        let mut connect: PgConnectOptions = options.url.parse().map_err(|e: sqlx::Error| {
            StoreError::Unavailable(format!("bad PostgreSQL URL: {e}"))
        })?;
        let statement_timeout = format!("{}", options.statement_timeout.as_millis());
        let mut settings = vec![("statement_timeout", statement_timeout)];
        if let Some(schema) = &options.schema {
            settings.push(("search_path", schema.clone()));
        }
        connect = connect.application_name("cartd").options(settings);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            // sqlx pings every connection it hands out by default: a round trip (and a wake-up
            // of a PostgreSQL backend) before every statement. Only a connection that sat idle
            // for a while is worth checking; under load, a broken one fails its statement with
            // a `503` like any other lost connection.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        schema::migrate(&pool, options.schema.as_deref())
            .await
            .map_err(sql_error)?;
        let in_flight = group::IN_FLIGHT.min(options.max_connections as usize);
        let group = GroupCommitter::start(pool.clone(), options.group_commit, in_flight);
        Ok(Self { pool, group })
    }
}

async fn write_cart(
    tx: &mut Transaction<'_, Postgres>,
    write: &CartWrite,
) -> Result<(), StoreError> {
    let key = write.key.as_str();
    let changed = match (&write.new_state, write.expected_version) {
        (Some(cart), Some(expected)) => {
            let doc = serde_json::to_string(&**cart).map_err(json_error)?;
            sqlx::query(
                "UPDATE carts SET version = $2, expires_at = $3, doc = $4::jsonb, cart_id = $6
                 WHERE cart_key = $1 AND version = $5",
            )
            .bind(key)
            .bind(version_column(cart.version()))
            .bind(cart.expires_at())
            .bind(doc)
            .bind(version_column(expected))
            .bind(cart.id())
            .execute(&mut **tx)
            .await
        }
        (Some(cart), None) => {
            let doc = serde_json::to_string(&**cart).map_err(json_error)?;
            sqlx::query(
                "INSERT INTO carts (cart_key, cart_id, version, expires_at, doc)
                 VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (cart_key) DO NOTHING",
            )
            .bind(key)
            .bind(cart.id())
            .bind(version_column(cart.version()))
            .bind(cart.expires_at())
            .bind(doc)
            .execute(&mut **tx)
            .await
        }
        (None, Some(expected)) => {
            sqlx::query("DELETE FROM carts WHERE cart_key = $1 AND version = $2")
                .bind(key)
                .bind(version_column(expected))
                .execute(&mut **tx)
                .await
        }
        (None, None) => {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM carts WHERE cart_key = $1)")
                    .bind(key)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(sql_error)?;
            if exists {
                return mismatch(&mut **tx, write).await;
            }
            return Ok(());
        }
    }
    .map_err(sql_error)?;
    if changed.rows_affected() == 1 {
        Ok(())
    } else {
        mismatch(&mut **tx, write).await
    }
}

/// The version-mismatch error for `write`, with the version stored now.
async fn mismatch<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    write: &CartWrite,
) -> Result<(), StoreError> {
    let current: Option<i64> = sqlx::query_scalar("SELECT version FROM carts WHERE cart_key = $1")
        .bind(write.key.as_str())
        .fetch_optional(executor)
        .await
        .map_err(sql_error)?;
    Err(StoreError::VersionMismatch {
        key: write.key.clone(),
        current: current.map(|v| v as u64),
    })
}

async fn record_idempotency(
    tx: &mut Transaction<'_, Postgres>,
    record: &IdempotencyRecord,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let response = crate::idempotency_doc::encode(&record.outcome)?;
    // Inserts, or takes over a record that has expired but not been swept yet.
    let changed = sqlx::query(
        "INSERT INTO idempotency (scoped_key, fingerprint, response, expires_at)
         VALUES ($1, $2, $3::jsonb, $4)
         ON CONFLICT (scoped_key) DO UPDATE SET
            fingerprint = excluded.fingerprint, response = excluded.response,
            expires_at = excluded.expires_at
         WHERE idempotency.expires_at <= $5",
    )
    .bind(&record.scoped_key)
    .bind(&record.fingerprint)
    .bind(response)
    .bind(record.expires_at)
    .bind(at)
    .execute(&mut **tx)
    .await
    .map_err(sql_error)?;
    if changed.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::DuplicateIdempotencyKey)
    }
}

/// Writes one record if its version condition holds ([`RecordWrite`]); otherwise the commit
/// fails with [`StoreError::RecordConflict`]. As for carts, an update or delete re-checks the
/// version after waiting for a concurrent writer's row lock, and a create loses to a concurrent
/// one on the primary key.
async fn write_record(
    tx: &mut Transaction<'_, Postgres>,
    write: &RecordWrite,
) -> Result<(), StoreError> {
    let kind = write.kind.as_str();
    let key = write.key.as_str();
    let new_version = version_column(write.new_version());
    let changed = match (&write.body, write.expected_version.map(version_column)) {
        (Some(body), Some(expected)) => {
            sqlx::query(
                "UPDATE records SET version = $3, body = $4
                 WHERE kind = $1 AND key = $2 AND version = $5",
            )
            .bind(kind)
            .bind(key)
            .bind(new_version)
            .bind(body)
            .bind(expected)
            .execute(&mut **tx)
            .await
        }
        (Some(body), None) => {
            sqlx::query(
                "INSERT INTO records (kind, key, version, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind, key) DO NOTHING",
            )
            .bind(kind)
            .bind(key)
            .bind(new_version)
            .bind(body)
            .execute(&mut **tx)
            .await
        }
        (None, Some(expected)) => {
            sqlx::query("DELETE FROM records WHERE kind = $1 AND key = $2 AND version = $3")
                .bind(kind)
                .bind(key)
                .bind(expected)
                .execute(&mut **tx)
                .await
        }
        (None, None) => {
            let absent: bool = sqlx::query_scalar(
                "SELECT NOT EXISTS (SELECT 1 FROM records WHERE kind = $1 AND key = $2)",
            )
            .bind(kind)
            .bind(key)
            .fetch_one(&mut **tx)
            .await
            .map_err(sql_error)?;
            return if absent {
                Ok(())
            } else {
                Err(record_conflict(write))
            };
        }
    }
    .map_err(sql_error)?;
    if changed.rows_affected() == 1 {
        Ok(())
    } else {
        Err(record_conflict(write))
    }
}

/// The conflict error for `write`.
fn record_conflict(write: &RecordWrite) -> StoreError {
    StoreError::RecordConflict {
        kind: write.kind,
        key: write.key.clone(),
    }
}

/// The commit's record writes in (kind, key) order, so that two transactions writing the same
/// records (two checkouts reserving the same products) lock their rows in the same order
/// instead of deadlocking. The sort is stable: writes of one key keep their order.
fn in_lock_order(records: &[RecordWrite]) -> Vec<&RecordWrite> {
    let mut ordered: Vec<&RecordWrite> = records.iter().collect();
    ordered.sort_by(|a, b| (a.kind, a.key.as_str()).cmp(&(b.kind, b.key.as_str())));
    ordered
}

/// A record from its `(key, version, body)` row.
fn record_from_row((key, version, body): (String, i64, String)) -> StoredRecord {
    StoredRecord {
        key,
        version: version as u64,
        body,
    }
}

fn product_from_row(row: &sqlx::postgres::PgRow) -> Result<Product, StoreError> {
    let currency: String = row.try_get("currency").map_err(sql_error)?;
    let stock: Option<i64> = row.try_get("stock").map_err(sql_error)?;
    let tax_class: String = row.try_get("tax_class").map_err(sql_error)?;
    columns::product(
        row.try_get("id").map_err(sql_error)?,
        row.try_get("name").map_err(sql_error)?,
        row.try_get("unit_price").map_err(sql_error)?,
        &currency,
        row.try_get("active").map_err(sql_error)?,
        stock,
        Some(&tax_class),
    )
}

#[async_trait]
impl Store for PgStore {
    async fn load_cart(&self, key: &CartKey) -> Result<Option<Cart>, StoreError> {
        let doc: Option<String> =
            sqlx::query_scalar("SELECT doc::text FROM carts WHERE cart_key = $1")
                .bind(key.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(sql_error)?;
        doc.map(|doc| serde_json::from_str(&doc).map_err(json_error))
            .transpose()
    }

    async fn cart_stamp(&self, key: &CartKey) -> Result<Option<CartStamp>, StoreError> {
        let row: Option<(Uuid, i64, OffsetDateTime)> =
            sqlx::query_as("SELECT cart_id, version, expires_at FROM carts WHERE cart_key = $1")
                .bind(key.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(sql_error)?;
        Ok(row.map(|(cart_id, version, expires_at)| CartStamp {
            cart_id,
            version: version as u64,
            expires_at,
        }))
    }

    async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        if let Some((write, cart_commit)) = CartCommit::of(&commit) {
            if self.group.commit(cart_commit?).await? {
                return Ok(());
            }
            return mismatch(&self.pool, write).await;
        }
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        for write in &commit.writes {
            write_cart(&mut tx, write).await?;
        }
        for event in &commit.events {
            let payload = serde_json::to_string(event).map_err(json_error)?;
            sqlx::query(
                "INSERT INTO outbox (event_id, cart_key, version, event_type, payload, created_at)
                 VALUES ($1, $2, $3, $4, $5::jsonb, $6)",
            )
            .bind(event.id)
            .bind(event.cart_key.as_str())
            .bind(version_column(event.version))
            .bind(event.event_type.as_str())
            .bind(payload)
            .bind(commit.at)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        }
        if let Some(record) = &commit.idempotency {
            record_idempotency(&mut tx, record, commit.at).await?;
        }
        for write in in_lock_order(&commit.records) {
            write_record(&mut tx, write).await?;
        }
        // Dropping the transaction on an early return above rolls it back.
        tx.commit().await.map_err(sql_error)
    }

    async fn idempotency_record(
        &self,
        scoped_key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row: Option<(String, String, OffsetDateTime)> = sqlx::query_as(
            "SELECT fingerprint, response::text, expires_at FROM idempotency
             WHERE scoped_key = $1 AND expires_at > $2",
        )
        .bind(scoped_key)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        row.map(|(fingerprint, response, expires_at)| {
            Ok(IdempotencyRecord {
                scoped_key: scoped_key.to_owned(),
                fingerprint,
                outcome: crate::idempotency_doc::decode(&response)?,
                expires_at,
            })
        })
        .transpose()
    }

    async fn sweep_expired(
        &self,
        now: OffsetDateTime,
        batch: usize,
    ) -> Result<SweepReport, StoreError> {
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        // SKIP LOCKED: rows another replica's sweep (or a writer) holds are left to it.
        let carts = sqlx::query(
            "DELETE FROM carts WHERE cart_key IN
             (SELECT cart_key FROM carts WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(now - KEPT_AFTER_EXPIRY)
        .bind(batch)
        .execute(&self.pool)
        .await
        .map_err(sql_error)?;
        let records = sqlx::query(
            "DELETE FROM idempotency WHERE scoped_key IN
             (SELECT scoped_key FROM idempotency WHERE expires_at <= $1 LIMIT $2
              FOR UPDATE SKIP LOCKED)",
        )
        .bind(now)
        .bind(batch)
        .execute(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(SweepReport {
            carts: carts.rows_affected() as usize,
            idempotency_records: records.rows_affected() as usize,
        })
    }

    async fn pending_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, payload::text FROM outbox WHERE published_at IS NULL
             ORDER BY seq LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        rows.into_iter()
            .map(|(seq, payload)| {
                Ok(OutboxEntry {
                    seq: seq as u64,
                    event: serde_json::from_str(&payload).map_err(json_error)?,
                })
            })
            .collect()
    }

    async fn check(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(sql_error)
    }
}

#[async_trait]
impl Catalog for PgStore {
    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, unit_price, currency, active, stock, tax_class FROM products
             WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        row.as_ref().map(product_from_row).transpose()
    }

    async fn products(
        &self,
        after: Option<&ProductId>,
        limit: usize,
    ) -> Result<Vec<Product>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, unit_price, currency, active, stock, tax_class FROM products
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.map_or("", ProductId::as_str))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        rows.iter().map(product_from_row).collect()
    }

    async fn upsert_products(&self, products: Vec<Product>) -> Result<Vec<bool>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let mut created = Vec::with_capacity(products.len());
        for p in &products {
            // `xmax = 0` is true for a freshly inserted row, false for an updated one.
            let inserted: bool = sqlx::query_scalar(
                "INSERT INTO products (id, name, unit_price, currency, active, stock, tax_class)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                    unit_price = excluded.unit_price, currency = excluded.currency,
                    active = excluded.active, stock = excluded.stock,
                    tax_class = excluded.tax_class
                 RETURNING (xmax = 0)",
            )
            .bind(p.id.as_str())
            .bind(&p.name)
            .bind(p.price.amount())
            .bind(p.price.currency().as_str())
            .bind(p.active)
            .bind(p.stock.map(i64::from))
            .bind(p.tax_class.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(sql_error)?;
            created.push(inserted);
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(created)
    }

    async fn product_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM products")
            .fetch_one(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(count as u64)
    }
}

#[async_trait]
impl PricingSettings for PgStore {
    async fn put_setting(
        &self,
        kind: PricingKind,
        key: &str,
        document: &str,
    ) -> Result<bool, StoreError> {
        // `xmax = 0` is true for a freshly inserted row, false for an updated one.
        sqlx::query_scalar(
            "INSERT INTO pricing (kind, key, doc) VALUES ($1, $2, $3)
             ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc
             RETURNING (xmax = 0)",
        )
        .bind(kind.as_str())
        .bind(key)
        .bind(document)
        .fetch_one(&self.pool)
        .await
        .map_err(sql_error)
    }

    async fn setting(&self, kind: PricingKind, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT doc FROM pricing WHERE kind = $1 AND key = $2")
            .bind(kind.as_str())
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(sql_error)
    }

    async fn settings(&self, kind: PricingKind) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as("SELECT key, doc FROM pricing WHERE kind = $1 ORDER BY key")
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(sql_error)
    }

    async fn delete_setting(&self, kind: PricingKind, key: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM pricing WHERE kind = $1 AND key = $2")
            .bind(kind.as_str())
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(deleted.rows_affected() > 0)
    }
}

#[async_trait]
impl Records for PgStore {
    async fn record(
        &self,
        kind: RecordKind,
        key: &str,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let row: Option<(String, i64, String)> =
            sqlx::query_as("SELECT key, version, body FROM records WHERE kind = $1 AND key = $2")
                .bind(kind.as_str())
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(sql_error)?;
        Ok(row.map(record_from_row))
    }

    async fn records(
        &self,
        kind: RecordKind,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        // Keys are printable ASCII, so every key starting with `prefix` sorts before `prefix`
        // followed by DEL (0x7f): a range of the primary key's index, unlike `LIKE`, whose
        // `%` and `_` would have to be escaped. The column's "C" collation makes the range,
        // the comparison with `after` and the order byte order.
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT key, version, body FROM records
             WHERE kind = $1 AND key >= $2 AND key < $3 AND ($4::text IS NULL OR key > $4)
             ORDER BY key LIMIT $5",
        )
        .bind(kind.as_str())
        .bind(prefix)
        .bind(format!("{prefix}\x7f"))
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(rows.into_iter().map(record_from_row).collect())
    }

    async fn next_number(&self, sequence: &str) -> Result<u64, StoreError> {
        // The upsert holds the row's lock until it commits, so concurrent callers (in any
        // process) take turns and each gets the value it wrote. A `CREATE SEQUENCE` per name
        // would need DDL at run time; a row per name is enough.
        let value: i64 = sqlx::query_scalar(
            "INSERT INTO sequences (name, value) VALUES ($1, 1)
             ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1
             RETURNING value",
        )
        .bind(sequence)
        .fetch_one(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(value as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::StoreUrl;

    /// A store with a one-connection pool in a fresh schema of the test database, or `None`
    /// (with the reason printed) when PostgreSQL is absent and not required.
    async fn one_connection_store() -> Option<PgStore> {
        let base = std::env::var("CARTD_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("cartd_test_{}", Uuid::new_v4().simple());
        let url = format!("{base}?schema={schema}&max_connections=1&acquire_timeout=3s");
        let Ok(StoreUrl::Postgres(options)) = StoreUrl::parse(&url) else {
            panic!("bad test URL {url}");
        };
        match PgStore::open(&options).await {
            Ok(store) => Some(store),
            Err(e) if std::env::var("CARTD_REQUIRE_SERVICES").as_deref() == Ok("1") => {
                panic!("PostgreSQL is required (CARTD_REQUIRE_SERVICES=1) but unavailable: {e}")
            }
            Err(e) => {
                eprintln!("skipping: PostgreSQL unavailable: {e}");
                None
            }
        }
    }

    /// The pool does not ping connections it hands out under load, so the connection an idle
    /// pool holds must be checked: one the server closed while it sat idle is replaced, and the
    /// next statement succeeds instead of failing with a lost connection.
    #[tokio::test]
    async fn a_connection_closed_while_idle_is_replaced() {
        let Some(store) = one_connection_store().await else {
            return;
        };
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&store.pool)
            .await
            .expect("pid");
        let killer = PgPool::connect(
            &std::env::var("CARTD_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
        )
        .await
        .expect("second connection");
        let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&killer)
            .await
            .expect("terminate");
        assert!(terminated);
        // Past the idle time after which a connection is pinged before use.
        tokio::time::sleep(IDLE_BEFORE_PING + std::time::Duration::from_millis(200)).await;
        let key = CartKey::parse("guest_01JD4Z7Q8R9S0T1V2W3X4Y5Z6A").expect("key");
        assert_eq!(
            store.load_cart(&key).await.expect("load after the kill"),
            None
        );
        let new_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&store.pool)
            .await
            .expect("pid");
        assert_ne!(new_pid, pid);
    }
}
