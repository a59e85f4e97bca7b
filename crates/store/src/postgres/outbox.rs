//! The relay's side of the PostgreSQL outbox: the relay lease, publication marks, pruning and
//! stats.
//!
//! - **Lease**: one row of `relay_lease` (name `relay`), taken or renewed with
//!   `INSERT … ON CONFLICT DO UPDATE … WHERE` the same holder or an expired lease; `RETURNING`
//!   answers only when this relay holds it. A concurrent acquire waits on the row lock and
//!   re-checks the condition, so two relays cannot both win.
//! - **Marks** are one statement: a CTE reads the lease row `FOR SHARE` (a takeover waits until
//!   the mark committed; a mark after a takeover sees the new holder) and the `UPDATE` of
//!   `published_at` runs only when the lease is held. The statement answers both whether the
//!   lease was held and how many rows it marked, so a lost lease is told apart from events that
//!   were already marked.
//! - **Pruning** deletes a batch chosen with `FOR UPDATE SKIP LOCKED` from the partial index
//!   `outbox_published`, like the sweeper.
//!
//! Every statement runs under the pool's `acquire_timeout` and the server's `statement_timeout`.

use async_trait::async_trait;
use time::OffsetDateTime;

use cart_core::{Outbox, OutboxStats, StoreError};

use super::{PgStore, sql_error};

/// The name of the one relay lease row.
const LEASE: &str = "relay";

#[async_trait]
impl Outbox for PgStore {
    async fn acquire_relay_lease(
        &self,
        holder: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<bool, StoreError> {
        let taken: Option<String> = sqlx::query_scalar(
            "INSERT INTO relay_lease (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET
                holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
             WHERE relay_lease.holder = EXCLUDED.holder OR relay_lease.expires_at <= $4
             RETURNING holder",
        )
        .bind(LEASE)
        .bind(holder)
        .bind(now + ttl)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(taken.is_some())
    }

    async fn release_relay_lease(&self, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM relay_lease WHERE name = $1 AND holder = $2")
            .bind(LEASE)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(())
    }

    async fn mark_published(
        &self,
        holder: &str,
        seqs: &[u64],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let seqs: Vec<i64> = seqs
            .iter()
            .map(|&seq| i64::try_from(seq).unwrap_or(i64::MAX))
            .collect();
        let (held, _marked): (bool, i64) = sqlx::query_as(
            "WITH lease AS (
                SELECT 1 FROM relay_lease
                WHERE name = $1 AND holder = $2 AND expires_at > $3
                FOR SHARE
             ), marked AS (
                UPDATE outbox SET published_at = $3
                WHERE seq = ANY($4) AND published_at IS NULL AND EXISTS (SELECT 1 FROM lease)
                RETURNING seq
             )
             SELECT EXISTS (SELECT 1 FROM lease), (SELECT count(*) FROM marked)",
        )
        .bind(LEASE)
        .bind(holder)
        .bind(now)
        .bind(seqs)
        .fetch_one(&self.pool)
        .await
        .map_err(sql_error)?;
        if held {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    async fn prune_published(
        &self,
        before: OffsetDateTime,
        batch: usize,
    ) -> Result<usize, StoreError> {
        // SKIP LOCKED: rows another replica's pruner holds are left to it.
        let deleted = sqlx::query(
            "DELETE FROM outbox WHERE seq IN
             (SELECT seq FROM outbox WHERE published_at IS NOT NULL AND published_at < $1
              LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before)
        .bind(i64::try_from(batch).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(usize::try_from(deleted.rows_affected()).unwrap_or(usize::MAX))
    }

    async fn outbox_stats(&self, _now: OffsetDateTime) -> Result<OutboxStats, StoreError> {
        let (depth, oldest): (i64, Option<OffsetDateTime>) = sqlx::query_as(
            "SELECT count(*),
                    (SELECT created_at FROM outbox WHERE published_at IS NULL
                     ORDER BY seq LIMIT 1)
             FROM outbox WHERE published_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(OutboxStats {
            depth: u64::try_from(depth).unwrap_or(0),
            oldest_pending_at: oldest,
        })
    }
}
