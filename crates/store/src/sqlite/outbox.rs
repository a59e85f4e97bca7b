//! The relay's side of the embedded store's outbox: the relay lease, publication marks, pruning
//! and stats.
//!
//! - **Lease**: one row of `relay_lease` (name `relay`), taken or renewed with an upsert whose
//!   `DO UPDATE … WHERE` only fires for the same holder or an expired lease, so the row count
//!   says whether this relay holds it.
//! - **Marks**: one writer job (hence one savepoint of one transaction, and SQLite has one writer)
//!   checks the lease and sets `published_at` on the given rows still unpublished; without the
//!   lease the job fails with [`StoreError::LeaseLost`] before writing anything.
//! - **Pruning** deletes published rows whose `published_at` is before the cutoff, in batches,
//!   through the writer like the sweeper; `outbox_published` indexes them.
//! - **Stats** read the partial index `outbox_pending` on a read connection.
//!
//! Times are unix milliseconds, as everywhere in this store.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use cart_core::{Outbox, OutboxStats, StoreError};

use super::{SqliteStore, sql_error};
use crate::columns::{from_millis, millis};

/// The name of the one relay lease row.
const LEASE: &str = "relay";

#[async_trait]
impl Outbox for SqliteStore {
    async fn acquire_relay_lease(
        &self,
        holder: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<bool, StoreError> {
        let holder = holder.to_owned();
        let (now, until) = (millis(now), millis(now + ttl));
        self.writer
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "INSERT INTO relay_lease (name, holder, expires_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (name) DO UPDATE SET
                            holder = excluded.holder, expires_at = excluded.expires_at
                         WHERE relay_lease.holder = excluded.holder
                            OR relay_lease.expires_at <= ?4",
                    )
                    .and_then(|mut s| s.execute(params![LEASE, holder, until, now]))
                    .map_err(sql_error)?;
                Ok(changed == 1)
            })
            .await
    }

    async fn release_relay_lease(&self, holder: &str) -> Result<(), StoreError> {
        let holder = holder.to_owned();
        self.writer
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM relay_lease WHERE name = ?1 AND holder = ?2")
                    .and_then(|mut s| s.execute(params![LEASE, holder]))
                    .map_err(sql_error)?;
                Ok(())
            })
            .await
    }

    async fn mark_published(
        &self,
        holder: &str,
        seqs: &[u64],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let holder = holder.to_owned();
        let now = millis(now);
        // One JSON array bound to one cached statement, however many events the batch has.
        let seqs = serde_json::to_string(seqs).map_err(crate::columns::json_error)?;
        self.writer
            .write(move |conn| {
                let held = conn
                    .prepare_cached(
                        "SELECT 1 FROM relay_lease
                         WHERE name = ?1 AND holder = ?2 AND expires_at > ?3",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![LEASE, holder, now], |_| Ok(()))
                            .optional()
                    })
                    .map_err(sql_error)?;
                if held.is_none() {
                    return Err(StoreError::LeaseLost);
                }
                conn.prepare_cached(
                    "UPDATE outbox SET published_at = ?1
                     WHERE seq IN (SELECT value FROM json_each(?2)) AND published_at IS NULL",
                )
                .and_then(|mut s| s.execute(params![now, seqs]))
                .map_err(sql_error)?;
                Ok(())
            })
            .await
    }

    async fn prune_published(
        &self,
        before: OffsetDateTime,
        batch: usize,
    ) -> Result<usize, StoreError> {
        let before = millis(before);
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "DELETE FROM outbox WHERE seq IN
                     (SELECT seq FROM outbox
                      WHERE published_at IS NOT NULL AND published_at < ?1 LIMIT ?2)",
                )
                .and_then(|mut s| s.execute(params![before, batch]))
                .map_err(sql_error)
            })
            .await
    }

    async fn outbox_stats(&self, _now: OffsetDateTime) -> Result<OutboxStats, StoreError> {
        self.read(|conn| {
            let (depth, oldest): (i64, Option<i64>) = conn
                .prepare_cached(
                    "SELECT COUNT(*),
                            (SELECT created_at FROM outbox WHERE published_at IS NULL
                             ORDER BY seq LIMIT 1)
                     FROM outbox WHERE published_at IS NULL",
                )
                .and_then(|mut s| s.query_row([], |row| Ok((row.get(0)?, row.get(1)?))))
                .map_err(sql_error)?;
            Ok(OutboxStats {
                depth: u64::try_from(depth).unwrap_or(0),
                oldest_pending_at: oldest.map(from_millis).transpose()?,
            })
        })
        .await
    }
}
