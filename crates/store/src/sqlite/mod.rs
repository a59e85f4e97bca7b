//! The embedded default store: one SQLite file in WAL mode.
//!
//! Writes go to one writer thread that groups concurrent commits into one transaction
//! ([`writer`]); a background thread with its own connection runs the WAL checkpoints beside it
//! ([`checkpoint`]). Reads take a connection from a small pool and run on the calling thread,
//! not the blocking pool: they are primary-key lookups that WAL lets run beside the writer
//! without waiting for it (see `SqliteStore::read`). Carts are stored as compact binary
//! documents ([`doc`]), outbox events likewise ([`event_doc`]), with a cart's version and
//! expiry in columns, so a compare-and-set is one `UPDATE … WHERE version = ?`. The relay's
//! side of the outbox (lease, cursor, pruning, stats) is in [`outbox`].

mod checkpoint;
mod doc;
mod event_doc;
mod numbers;
mod outbox;
mod schema;
mod writer;

use std::time::Duration;

use async_trait::async_trait;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use uuid::Uuid;

use cart_core::{
    Cart, CartEvent, CartKey, CartStamp, CartWrite, Catalog, Commit, IdempotencyRecord,
    KEPT_AFTER_EXPIRY, OutboxEntry, PricingKind, PricingSettings, Product, ProductId, RecordKind,
    RecordWrite, Records, Store, StoreError, StoredRecord, SweepReport,
};

use crate::columns::{self, from_millis, millis, version_column};
use crate::url::{SqliteOptions, Synchronous};
use checkpoint::{CheckpointPolicy, Checkpoints};
use numbers::NumberBlocks;
use writer::Writer;

/// How long a connection waits for a lock held by another process (e.g. `cartd catalog import`
/// while the server runs) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read connections in the pool.
const READERS: u32 = 8;

/// The SQLite store and catalog.
pub struct SqliteStore {
    readers: r2d2::Pool<SqliteConnectionManager>,
    writer: Writer,
    numbers: NumberBlocks,
}

/// The readers' pool; the single writer thread is not a pool.
impl crate::ConnectionPool for SqliteStore {
    fn pool_stats(&self) -> crate::PoolStats {
        let state = self.readers.state();
        crate::PoolStats {
            in_use: state.connections.saturating_sub(state.idle_connections),
            idle: state.idle_connections,
            max: self.readers.max_size(),
            commits_waiting: u32::try_from(self.writer.queued()).unwrap_or(u32::MAX),
        }
    }
}

fn sql_error(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(code, _)
            if matches!(
                code.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Internal(other.to_string()),
    }
}

fn configure(conn: &Connection, synchronous: Synchronous) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let level = match synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", level)?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, applies pending migrations and starts the
    /// writer thread. Blocking: call from a blocking context.
    pub fn open(options: &SqliteOptions) -> Result<Self, StoreError> {
        let mut conn = Connection::open(&options.path).map_err(|e| {
            StoreError::Unavailable(format!("cannot open {}: {e}", options.path.display()))
        })?;
        configure(&conn, options.synchronous).map_err(sql_error)?;
        schema::migrate(&mut conn).map_err(sql_error)?;
        let synchronous = options.synchronous;
        let manager = SqliteConnectionManager::file(&options.path)
            .with_init(move |c| configure(c, synchronous));
        let readers = r2d2::Pool::builder()
            .max_size(READERS)
            .min_idle(Some(2))
            // A read fails loudly on a broken connection anyway; a test query per checkout
            // would double the work of every read.
            .test_on_check_out(false)
            .build(manager)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // Each job's savepoint journals the pages it touches: in memory, not a temp file.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(sql_error)?;
        // Every statement the writer runs stays prepared (the default cache of 16 is smaller
        // than the writer's set of statements).
        conn.set_prepared_statement_cache_capacity(64);
        let background = Connection::open(&options.path).map_err(sql_error)?;
        configure(&background, options.synchronous).map_err(sql_error)?;
        let checkpoints = Checkpoints::start(
            &conn,
            background,
            &options.path,
            CheckpointPolicy::default(),
        )
        .map_err(|e| StoreError::Internal(format!("cannot start the WAL checkpointer: {e}")))?;
        let writer =
            Writer::start(conn, checkpoints).map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(Self {
            readers,
            writer,
            numbers: NumberBlocks::default(),
        })
    }

    /// Runs `work` on a read connection, on the calling thread.
    ///
    /// Reads are point lookups by primary key on a WAL database, which never wait for the
    /// writer: they take microseconds, less than handing them to the blocking pool costs (and
    /// the blocking pool grew to dozens of threads under load; see `docs/PERFORMANCE.md`).
    /// Anything slow (commits, checkpoints, fsync) stays on the writer thread.
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError>,
    {
        let conn = self
            .readers
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        work(&conn)
    }
}

/// A commit turned into column values before it reaches the writer thread, so the one thread
/// that holds the write lock spends its time on SQL only, not on JSON.
struct EncodedCommit {
    writes: Vec<EncodedWrite>,
    events: Vec<EncodedEvent>,
    idempotency: Option<EncodedRecord>,
    /// Already text: records are few and need no encoding.
    records: Vec<RecordWrite>,
    at: i64,
}

struct EncodedWrite {
    key: CartKey,
    expected_version: Option<i64>,
    /// `(cart_id, version, expires_at, doc)`; `None` deletes.
    new_state: Option<(String, i64, i64, Vec<u8>)>,
}

/// An event as the outbox stores it ([`event_doc`]; it holds its id, cart, version and type).
struct EncodedEvent {
    payload: Vec<u8>,
}

struct EncodedRecord {
    scoped_key: String,
    fingerprint: String,
    response: String,
    expires_at: i64,
}

impl EncodedCommit {
    fn new(commit: &Commit) -> Result<Self, StoreError> {
        let writes = commit
            .writes
            .iter()
            .map(|write: &CartWrite| {
                let new_state = write
                    .new_state
                    .as_ref()
                    .map(|cart| {
                        doc::encode(cart).map(|doc| {
                            (
                                cart.id().to_string(),
                                version_column(cart.version()),
                                millis(cart.expires_at()),
                                doc,
                            )
                        })
                    })
                    .transpose()?;
                Ok(EncodedWrite {
                    key: write.key.clone(),
                    expected_version: write.expected_version.map(version_column),
                    new_state,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let events = commit
            .events
            .iter()
            .map(|event: &CartEvent| {
                Ok(EncodedEvent {
                    payload: event_doc::encode(event)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let idempotency = commit
            .idempotency
            .as_ref()
            .map(|record: &IdempotencyRecord| {
                Ok::<_, StoreError>(EncodedRecord {
                    scoped_key: record.scoped_key.clone(),
                    fingerprint: record.fingerprint.clone(),
                    response: crate::idempotency_doc::encode(&record.outcome)?,
                    expires_at: millis(record.expires_at),
                })
            })
            .transpose()?;
        Ok(Self {
            writes,
            events,
            idempotency,
            records: commit.records.clone(),
            at: millis(commit.at),
        })
    }
}

/// How far the sweeper's index column rounds expiries up: an hour, so a cart edited during a
/// session updates that index at most once an hour. Expired carts are swept up to an hour late;
/// they answer `410` from their exact expiry on (reads check the document's `expires_at`).
const SWEEP_GRANULARITY_MS: i64 = 3_600_000;

/// `expires_at` rounded up to the sweep granularity: never before the real expiry.
fn sweep_after(expires_at: i64) -> i64 {
    expires_at.div_euclid(SWEEP_GRANULARITY_MS) * SWEEP_GRANULARITY_MS
        + if expires_at.rem_euclid(SWEEP_GRANULARITY_MS) == 0 {
            0
        } else {
            SWEEP_GRANULARITY_MS
        }
}

fn write_cart(conn: &Connection, write: &EncodedWrite) -> Result<(), StoreError> {
    let key = write.key.as_str();
    let changed = match (&write.new_state, write.expected_version) {
        (Some((id, version, expires, doc)), Some(expected)) => {
            // Most writes stay within the cart's sweep hour: leave `sweep_after` (and its index)
            // alone then, and set it only when the new expiry has moved past it.
            conn.prepare_cached(
                "UPDATE carts SET version = ?2, expires_at = ?3, doc = ?4, cart_id = ?6
                 WHERE cart_key = ?1 AND version = ?5 AND sweep_after >= ?3",
            )
            .and_then(|mut s| s.execute(params![key, version, expires, doc, expected, id]))
            .and_then(|changed| match changed {
                0 => conn
                    .prepare_cached(
                        "UPDATE carts SET version = ?2, expires_at = ?3, doc = ?4, cart_id = ?6,
                                          sweep_after = ?7
                         WHERE cart_key = ?1 AND version = ?5",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            key,
                            version,
                            expires,
                            doc,
                            expected,
                            id,
                            sweep_after(*expires)
                        ])
                    }),
                n => Ok(n),
            })
        }
        (Some((id, version, expires, doc)), None) => conn
            .prepare_cached(
                "INSERT INTO carts (cart_key, cart_id, version, expires_at, sweep_after, doc)
                 VALUES (?1, ?5, ?2, ?3, ?6, ?4) ON CONFLICT (cart_key) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    key,
                    version,
                    expires,
                    doc,
                    id,
                    sweep_after(*expires)
                ])
            }),
        (None, Some(expected)) => conn
            .prepare_cached("DELETE FROM carts WHERE cart_key = ?1 AND version = ?2")
            .and_then(|mut s| s.execute(params![key, expected])),
        (None, None) => conn
            .prepare_cached("SELECT COUNT(*) FROM carts WHERE cart_key = ?1")
            .and_then(|mut s| s.query_row([key], |row| row.get::<_, i64>(0)))
            .map(|n| usize::from(n == 0)),
    }
    .map_err(sql_error)?;
    if changed == 1 {
        return Ok(());
    }
    let current = conn
        .prepare_cached("SELECT version FROM carts WHERE cart_key = ?1")
        .and_then(|mut s| s.query_row([key], |row| row.get::<_, i64>(0)).optional())
        .map_err(sql_error)?;
    Err(StoreError::VersionMismatch {
        key: write.key.clone(),
        current: current.map(|v| v as u64),
    })
}

fn append_event(conn: &Connection, event: &EncodedEvent, at: i64) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO outbox (payload, created_at) VALUES (?1, ?2)")
        .and_then(|mut s| s.execute(params![event.payload, at]))
        .map_err(sql_error)?;
    Ok(())
}

fn record_idempotency(
    conn: &Connection,
    record: &EncodedRecord,
    at: i64,
) -> Result<(), StoreError> {
    // Inserts, or takes over a record that has expired but not been swept yet.
    let changed = conn
        .prepare_cached(
            "INSERT INTO idempotency (scoped_key, fingerprint, response, expires_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (scoped_key) DO UPDATE SET
                fingerprint = excluded.fingerprint, response = excluded.response,
                expires_at = excluded.expires_at
             WHERE idempotency.expires_at <= ?5",
        )
        .and_then(|mut s| {
            s.execute(params![
                record.scoped_key,
                record.fingerprint,
                record.response,
                record.expires_at,
                at
            ])
        })
        .map_err(sql_error)?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::DuplicateIdempotencyKey)
    }
}

/// Writes one record if its version condition holds ([`RecordWrite`]).
fn write_record(conn: &Connection, write: &RecordWrite) -> Result<(), StoreError> {
    let kind = write.kind.as_str();
    let key = write.key.as_str();
    let new_version = version_column(write.new_version());
    let changed = match (&write.body, write.expected_version.map(version_column)) {
        (Some(body), Some(expected)) => conn
            .prepare_cached(
                "UPDATE records SET version = ?3, body = ?4
                 WHERE kind = ?1 AND key = ?2 AND version = ?5",
            )
            .and_then(|mut s| s.execute(params![kind, key, new_version, body, expected])),
        (Some(body), None) => conn
            .prepare_cached(
                "INSERT INTO records (kind, key, version, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kind, key) DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![kind, key, new_version, body])),
        (None, Some(expected)) => conn
            .prepare_cached("DELETE FROM records WHERE kind = ?1 AND key = ?2 AND version = ?3")
            .and_then(|mut s| s.execute(params![kind, key, expected])),
        (None, None) => conn
            .prepare_cached("SELECT COUNT(*) FROM records WHERE kind = ?1 AND key = ?2")
            .and_then(|mut s| s.query_row(params![kind, key], |row| row.get::<_, i64>(0)))
            .map(|n| usize::from(n == 0)),
    }
    .map_err(sql_error)?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::RecordConflict {
            kind: write.kind,
            key: write.key.clone(),
        })
    }
}

fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRecord> {
    Ok(StoredRecord {
        key: row.get(0)?,
        version: row.get::<_, i64>(1)? as u64,
        body: row.get(2)?,
    })
}

fn product_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Product, StoreError>> {
    let currency: String = row.get(3)?;
    Ok(columns::product(
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        &currency,
        row.get(4)?,
        row.get(5)?,
        row.get::<_, Option<String>>(6)?.as_deref(),
    ))
}

#[async_trait]
impl Store for SqliteStore {
    async fn load_cart(&self, key: &CartKey) -> Result<Option<Cart>, StoreError> {
        let key = key.as_str().to_owned();
        self.read(move |conn| {
            let mut statement = conn
                .prepare_cached("SELECT doc FROM carts WHERE cart_key = ?1")
                .map_err(sql_error)?;
            let mut rows = statement.query([&key]).map_err(sql_error)?;
            // Decoded from the row's own bytes, without copying them out first.
            match rows.next().map_err(sql_error)? {
                Some(row) => doc::decode(row.get_ref(0).map_err(sql_error)?).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    async fn cart_stamp(&self, key: &CartKey) -> Result<Option<CartStamp>, StoreError> {
        self.read(|conn| {
            let row: Option<(String, i64, i64)> = conn
                .prepare_cached(
                    "SELECT cart_id, version, expires_at FROM carts WHERE cart_key = ?1",
                )
                .and_then(|mut s| {
                    s.query_row([key.as_str()], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })
                    .optional()
                })
                .map_err(sql_error)?;
            row.map(|(id, version, expires_at)| {
                Ok(CartStamp {
                    cart_id: Uuid::parse_str(&id)
                        .map_err(|e| StoreError::Internal(format!("stored cart id: {e}")))?,
                    version: version as u64,
                    expires_at: from_millis(expires_at)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        let commit = EncodedCommit::new(&commit)?;
        self.writer
            .write(move |conn| {
                for write in &commit.writes {
                    write_cart(conn, write)?;
                }
                for event in &commit.events {
                    append_event(conn, event, commit.at)?;
                }
                if let Some(record) = &commit.idempotency {
                    record_idempotency(conn, record, commit.at)?;
                }
                for write in &commit.records {
                    write_record(conn, write)?;
                }
                Ok(())
            })
            .await
    }

    async fn idempotency_record(
        &self,
        scoped_key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let scoped_key = scoped_key.to_owned();
        let now = millis(now);
        self.read(move |conn| {
            let row: Option<(String, String, i64)> = conn
                .prepare_cached(
                    "SELECT fingerprint, response, expires_at FROM idempotency
                     WHERE scoped_key = ?1 AND expires_at > ?2",
                )
                .and_then(|mut s| {
                    s.query_row(params![scoped_key, now], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })
                    .optional()
                })
                .map_err(sql_error)?;
            row.map(|(fingerprint, response, expires_at)| {
                let outcome = crate::idempotency_doc::decode(&response)?;
                let expires_at = from_millis(expires_at)?;
                Ok(IdempotencyRecord {
                    scoped_key,
                    fingerprint,
                    outcome,
                    expires_at,
                })
            })
            .transpose()
        })
        .await
    }

    async fn sweep_expired(
        &self,
        now: OffsetDateTime,
        batch: usize,
    ) -> Result<SweepReport, StoreError> {
        let past_keeping = millis(now - KEPT_AFTER_EXPIRY);
        let now = millis(now);
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        self.writer
            .write(move |conn| {
                let carts = conn
                    .prepare_cached(
                        "DELETE FROM carts WHERE rowid IN
                         (SELECT rowid FROM carts WHERE sweep_after <= ?1 LIMIT ?2)",
                    )
                    .and_then(|mut s| s.execute(params![past_keeping, batch]))
                    .map_err(sql_error)?;
                let idempotency_records = conn
                    .prepare_cached(
                        "DELETE FROM idempotency WHERE scoped_key IN
                         (SELECT scoped_key FROM idempotency WHERE expires_at <= ?1 LIMIT ?2)",
                    )
                    .and_then(|mut s| s.execute(params![now, batch]))
                    .map_err(sql_error)?;
                Ok(SweepReport {
                    carts,
                    idempotency_records,
                })
            })
            .await
    }

    async fn pending_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT seq, payload FROM outbox
                     WHERE seq > (SELECT seq FROM outbox_cursor WHERE name = 'relay')
                     ORDER BY seq LIMIT ?1",
                )
                .map_err(sql_error)?;
            let mut rows = statement.query([limit]).map_err(sql_error)?;
            let mut entries = Vec::new();
            // Decoded from the row's own bytes, without copying them out first.
            while let Some(row) = rows.next().map_err(sql_error)? {
                entries.push(OutboxEntry {
                    seq: row.get::<_, i64>(0).map_err(sql_error)? as u64,
                    event: event_doc::decode(row.get_ref(1).map_err(sql_error)?)?,
                });
            }
            Ok(entries)
        })
        .await
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(sql_error)
        })
        .await?;
        // The writer must be alive too: a no-op write proves it.
        self.writer.write(|_| Ok(())).await
    }
}

#[async_trait]
impl Catalog for SqliteStore {
    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let id = id.as_str().to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, name, unit_price, currency, active, stock, tax_class FROM products
                 WHERE id = ?1",
            )
            .and_then(|mut s| s.query_row([&id], product_from_row).optional())
            .map_err(sql_error)?
            .transpose()
        })
        .await
    }

    async fn products(
        &self,
        after: Option<&ProductId>,
        limit: usize,
    ) -> Result<Vec<Product>, StoreError> {
        let after = after.map(|id| id.as_str().to_owned()).unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT id, name, unit_price, currency, active, stock, tax_class FROM products
                     WHERE id > ?1 ORDER BY id LIMIT ?2",
                )
                .map_err(sql_error)?;
            let rows = statement
                .query_map(params![after, limit], product_from_row)
                .map_err(sql_error)?;
            rows.map(|row| row.map_err(sql_error)?).collect()
        })
        .await
    }

    async fn upsert_products(&self, products: Vec<Product>) -> Result<Vec<bool>, StoreError> {
        self.writer
            .write(move |conn| {
                let mut exists = conn
                    .prepare_cached("SELECT COUNT(*) FROM products WHERE id = ?1")
                    .map_err(sql_error)?;
                let mut upsert = conn
                    .prepare_cached(
                        "INSERT INTO products (id, name, unit_price, currency, active, stock, tax_class)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                            unit_price = excluded.unit_price, currency = excluded.currency,
                            active = excluded.active, stock = excluded.stock,
                            tax_class = excluded.tax_class",
                    )
                    .map_err(sql_error)?;
                products
                    .iter()
                    .map(|p| {
                        let id = p.id.as_str();
                        let found: i64 = exists
                            .query_row([id], |row| row.get(0))
                            .map_err(sql_error)?;
                        upsert
                            .execute(params![
                                id,
                                p.name,
                                p.price.amount(),
                                p.price.currency().as_str(),
                                p.active,
                                p.stock,
                                p.tax_class.as_str()
                            ])
                            .map_err(sql_error)?;
                        Ok(found == 0)
                    })
                    .collect()
            })
            .await
    }

    async fn product_count(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT COUNT(*) FROM products", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(sql_error)
        })
        .await
    }
}

#[async_trait]
impl PricingSettings for SqliteStore {
    async fn put_setting(
        &self,
        kind: PricingKind,
        key: &str,
        document: &str,
    ) -> Result<bool, StoreError> {
        let (key, document) = (key.to_owned(), document.to_owned());
        self.writer
            .write(move |conn| {
                let existed: i64 = conn
                    .prepare_cached("SELECT COUNT(*) FROM pricing WHERE kind = ?1 AND key = ?2")
                    .and_then(|mut s| s.query_row(params![kind.as_str(), key], |r| r.get(0)))
                    .map_err(sql_error)?;
                conn.prepare_cached(
                    "INSERT INTO pricing (kind, key, doc) VALUES (?1, ?2, ?3)
                     ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc",
                )
                .and_then(|mut s| s.execute(params![kind.as_str(), key, document]))
                .map_err(sql_error)?;
                Ok(existed == 0)
            })
            .await
    }

    async fn setting(&self, kind: PricingKind, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT doc FROM pricing WHERE kind = ?1 AND key = ?2")
                .and_then(|mut s| {
                    s.query_row(params![kind.as_str(), key], |r| r.get(0))
                        .optional()
                })
                .map_err(sql_error)
        })
        .await
    }

    async fn settings(&self, kind: PricingKind) -> Result<Vec<(String, String)>, StoreError> {
        self.read(move |conn| {
            let mut statement = conn
                .prepare_cached("SELECT key, doc FROM pricing WHERE kind = ?1 ORDER BY key")
                .map_err(sql_error)?;
            let rows = statement
                .query_map([kind.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sql_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql_error)
        })
        .await
    }

    async fn delete_setting(&self, kind: PricingKind, key: &str) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.writer
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM pricing WHERE kind = ?1 AND key = ?2")
                    .and_then(|mut s| s.execute(params![kind.as_str(), key]))
                    .map(|deleted| deleted > 0)
                    .map_err(sql_error)
            })
            .await
    }
}

#[async_trait]
impl Records for SqliteStore {
    async fn record(
        &self,
        kind: RecordKind,
        key: &str,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let key = key.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT key, version, body FROM records WHERE kind = ?1 AND key = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![kind.as_str(), key], record_from_row)
                    .optional()
            })
            .map_err(sql_error)
        })
        .await
    }

    async fn records(
        &self,
        kind: RecordKind,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        // Keys are printable ASCII, so every key starting with `prefix` sorts before `prefix`
        // followed by DEL (0x7f): a range the primary key's index answers.
        let start = prefix.to_owned();
        let end = format!("{prefix}\x7f");
        let after = after.map(str::to_owned);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT key, version, body FROM records
                     WHERE kind = ?1 AND key >= ?2 AND key < ?3 AND (?4 IS NULL OR key > ?4)
                     ORDER BY key LIMIT ?5",
                )
                .map_err(sql_error)?;
            let rows = statement
                .query_map(
                    params![kind.as_str(), start, end, after, limit],
                    record_from_row,
                )
                .map_err(sql_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql_error)
        })
        .await
    }

    async fn next_number(&self, sequence: &str) -> Result<u64, StoreError> {
        let name = sequence.to_owned();
        let reserve = || {
            self.writer.write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO sequences (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = value + ?2
                     RETURNING value",
                )
                .and_then(|mut s| {
                    s.query_row(params![name, numbers::BLOCK as i64], |row| {
                        row.get::<_, i64>(0)
                    })
                })
                .map(|n| n as u64)
                .map_err(sql_error)
            })
        };
        self.numbers.next(sequence, reserve).await
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use cart_core::Currency;

    /// The SQLite build options of `.cargo/config.toml` reached the bundled library: without
    /// them every connection's page fetches and allocations go through process-wide mutexes
    /// (docs/DECISIONS.md, "SQLite is built without its shared page-cache group").
    #[test]
    fn sqlite_is_built_without_the_shared_page_cache_and_memory_statistics() {
        let conn = Connection::open_in_memory().expect("open");
        let options: Vec<String> = conn
            .prepare("PRAGMA compile_options")
            .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
            .expect("compile options");
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }

    /// A cart row as a cartd from before the binary form left it: the document as JSON text.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_cart_stored_as_json_loads_and_its_next_write_stores_it_in_binary() {
        let dir = tempfile::tempdir().expect("dir");
        let options = SqliteOptions {
            path: dir.path().join("old.db"),
            synchronous: Synchronous::Normal,
        };
        let store = tokio::task::block_in_place(|| SqliteStore::open(&options)).expect("open");
        let key = CartKey::parse("guest_01HZX3K4B5C6D7E8F9G0H1J2K3").expect("key");
        let at = datetime!(2026-12-01 08:53:01.5 UTC);
        let usd = Currency::parse("USD").expect("usd");
        let mut cart = Cart::new(Uuid::now_v7(), key.clone(), usd, at, 0);
        cart.touch(at, time::Duration::days(7));
        let json = serde_json::to_string(&cart).expect("json");
        let raw = Connection::open(&options.path).expect("raw connection");
        raw.execute(
            "INSERT INTO carts (cart_key, cart_id, version, expires_at, sweep_after, doc)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
            params![
                key.as_str(),
                cart.id().to_string(),
                version_column(cart.version()),
                millis(cart.expires_at()),
                json
            ],
        )
        .expect("old row");
        let stored_type = |raw: &Connection| -> String {
            raw.query_row("SELECT typeof(doc) FROM carts", [], |row| row.get(0))
                .expect("type")
        };
        assert_eq!(stored_type(&raw), "text");

        let loaded = store.load_cart(&key).await.expect("load").expect("a cart");
        assert_eq!(loaded, cart);

        let mut next = loaded.clone();
        next.touch(at + time::Duration::minutes(1), time::Duration::days(7));
        store
            .commit(Commit {
                writes: vec![CartWrite {
                    key: key.clone(),
                    expected_version: Some(cart.version()),
                    new_state: Some(next.clone().into()),
                }],
                events: Vec::new(),
                idempotency: None,
                records: Vec::new(),
                at,
            })
            .await
            .expect("commit");
        assert_eq!(stored_type(&raw), "blob");
        assert_eq!(store.load_cart(&key).await.expect("load"), Some(next));
    }

    #[test]
    fn the_sweep_column_rounds_expiry_up_to_the_hour_and_never_before_it() {
        assert_eq!(sweep_after(0), 0);
        assert_eq!(sweep_after(1), 3_600_000);
        assert_eq!(sweep_after(3_600_000), 3_600_000);
        assert_eq!(sweep_after(3_600_001), 7_200_000);
        for t in [5, 999_999, 3_599_999, 86_400_123] {
            assert!(sweep_after(t) >= t && sweep_after(t) - t < 3_600_000);
        }
    }
}
