//! The relay's side of the embedded store's outbox: the relay lease, publication marks, pruning
//! and stats.
//!
//! - **Lease**: one row of `relay_lease` (name `relay`), taken or renewed with an upsert whose
//!   `DO UPDATE … WHERE` only fires for the same holder or an expired lease, so the row count
//!   says whether this relay holds it.
//! - **Marks**: the relay's progress is one cursor row, `outbox_cursor`: every event with a `seq`
//!   up to it is published. SQLite has one writer, so `seq` order is commit order, and the relay
//!   always marks the oldest pending events, so a cursor says as much as a mark on each row at a
//!   fraction of the writes (see migration 4). One writer job checks the lease and moves the
//!   cursor forward (never back); without the lease the job fails with
//!   [`StoreError::LeaseLost`] before writing anything.
//! - **Pruning** deletes published rows committed before the cutoff, oldest first, in batches,
//!   through the writer like the sweeper. `seq` is a plain rowid (the largest plus one), so a
//!   pruning that empties the outbox sets the cursor back to 0 in the same transaction: the next
//!   event, `seq` 1, is then pending as it should be. (This store keeps no publish time any
//!   more; the trait allows commit time, as on Redis and DynamoDB.)
//! - **Stats** count the rows after the cursor on a read connection.
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
        let Some(&last) = seqs.iter().max() else {
            return Ok(());
        };
        let last = i64::try_from(last)
            .map_err(|_| StoreError::Internal(format!("outbox seq {last} out of range")))?;
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
                    "UPDATE outbox_cursor SET seq = ?1 WHERE name = 'relay' AND seq < ?1",
                )
                .and_then(|mut s| s.execute([last]))
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
                // The oldest `batch` published rows, of which those committed before the
                // cutoff go: rows are in commit order, so this stops at the first young one
                // instead of scanning a day of events for nothing.
                let pruned = conn
                    .prepare_cached(
                        "DELETE FROM outbox WHERE created_at < ?1 AND seq IN
                         (SELECT seq FROM outbox
                          WHERE seq <= (SELECT seq FROM outbox_cursor WHERE name = 'relay')
                          ORDER BY seq LIMIT ?2)",
                    )
                    .and_then(|mut s| s.execute(params![before, batch]))
                    .map_err(sql_error)?;
                // `seq` is a plain rowid (migration 5): the next event of an empty outbox
                // gets 1, so the cursor must not stay ahead of it.
                if pruned > 0 {
                    conn.prepare_cached(
                        "UPDATE outbox_cursor SET seq = 0
                         WHERE name = 'relay' AND NOT EXISTS (SELECT 1 FROM outbox)",
                    )
                    .and_then(|mut s| s.execute([]))
                    .map_err(sql_error)?;
                }
                Ok(pruned)
            })
            .await
    }

    async fn outbox_stats(&self, _now: OffsetDateTime) -> Result<OutboxStats, StoreError> {
        self.read(|conn| {
            let (depth, oldest): (i64, Option<i64>) = conn
                .prepare_cached(
                    "WITH cursor AS (SELECT seq FROM outbox_cursor WHERE name = 'relay')
                     SELECT COUNT(*),
                            (SELECT created_at FROM outbox WHERE seq > (SELECT seq FROM cursor)
                             ORDER BY seq LIMIT 1)
                     FROM outbox WHERE seq > (SELECT seq FROM cursor)",
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
