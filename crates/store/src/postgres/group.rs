//! Group commit: many carts' commits in one statement, so one transaction (one WAL flush, one
//! round trip, one wake-up) serves every request that was waiting at that moment.
//!
//! Only the common commit takes this path: one cart created or updated, with its events, and no
//! idempotency record and no record writes (every add, update, remove and clear without an
//! `Idempotency-Key`).
//! Requests encode their cart and events on their own task and queue them here; one task drains
//! the queue into groups and runs each group as the data-modifying `WITH` of [`GROUP_COMMIT`]
//! on a pooled connection, with up to [`IN_FLIGHT`] groups running at once. Each cart in a
//! group keeps its own compare-and-set: the statement reports which carts it wrote, and a cart
//! whose version did not match gets its events dropped and a mismatch, as on its own.
//!
//! Why this preserves the store's guarantees:
//! - **Atomicity per cart**: a statement is its own transaction, so a cart's row and its events
//!   commit together (and with the rest of the group, which only makes the unit larger).
//! - **No cart twice in a group**: a request for a cart already in the group being built waits
//!   for the next one, so two versions of one cart never race inside one statement.
//! - **Per-cart event order**: a cart's next commit can only be built after its previous one
//!   was acknowledged (it must read the new version), so its events get later `seq` values.
//! - **A failing group does not fail innocent carts**: when PostgreSQL refuses the statement
//!   for what it writes (it rolled back, so nothing was written), each cart is committed again
//!   on its own, and only the cart that caused it sees the error. An unavailable server fails
//!   the group as it would fail each cart.
//!
//! There is no crate for this: the batching is specific to the statement it feeds.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

use cart_core::{Cart, CartWrite, Commit, StoreError};

use super::sql_error;
use crate::columns::{json_error, version_column};

/// Groups running at once (fewer if the pool is smaller). Two let one group's WAL flush overlap
/// the next group's work. More only make each group smaller, so PostgreSQL spends more CPU per
/// cart and fewer adds get through (`docs/PERFORMANCE.md` has the figures).
pub(super) const IN_FLIGHT: usize = 2;

/// Queued carts waiting for a group before requests wait to queue.
const QUEUE: usize = 8192;

/// Writes a group of carts and the events of those whose write matched; answers the positions
/// (`n`) of the carts written. Carts with an expected version are compare-and-set updates,
/// carts without one are inserts that do nothing if the key exists. Events are inserted in
/// array order, so `seq` follows the order of each cart's events.
const GROUP_COMMIT: &str = "
    WITH input AS (
        SELECT * FROM unnest($1::int[], $2::text[], $3::uuid[], $4::bigint[],
                             $5::timestamptz[], $6::text[], $7::bigint[])
            AS i(n, cart_key, cart_id, version, expires_at, doc, expected)),
    updated AS (
        UPDATE carts c SET version = i.version, expires_at = i.expires_at,
                           doc = i.doc::jsonb, cart_id = i.cart_id
        FROM input i
        WHERE i.expected IS NOT NULL AND c.cart_key = i.cart_key AND c.version = i.expected
        RETURNING i.n),
    inserted AS (
        INSERT INTO carts (cart_key, cart_id, version, expires_at, doc)
        SELECT cart_key, cart_id, version, expires_at, doc::jsonb FROM input
        WHERE expected IS NULL ORDER BY n
        ON CONFLICT (cart_key) DO NOTHING
        RETURNING cart_key),
    written AS (
        SELECT n FROM updated
        UNION ALL
        SELECT i.n FROM inserted JOIN input i
            ON i.cart_key = inserted.cart_key AND i.expected IS NULL),
    events AS (
        INSERT INTO outbox (event_id, cart_key, version, event_type, payload, created_at)
        SELECT e.id, e.cart_key, e.version, e.event_type, e.payload::jsonb, e.created_at
        FROM unnest($8::int[], $9::uuid[], $10::text[], $11::bigint[], $12::text[],
                    $13::text[], $14::timestamptz[])
            WITH ORDINALITY AS e(n, id, cart_key, version, event_type, payload, created_at, ord)
        WHERE e.n IN (SELECT n FROM written)
        ORDER BY e.ord)
    SELECT n FROM written";

/// One cart's commit, encoded for [`GROUP_COMMIT`] on the requester's task.
pub(super) struct CartCommit {
    key: String,
    cart_id: Uuid,
    version: i64,
    expires_at: OffsetDateTime,
    doc: String,
    expected: Option<i64>,
    /// When the commit was made: every one of its events' `created_at`.
    at: OffsetDateTime,
    events: Vec<EventRow>,
}

/// One outbox row of a [`CartCommit`].
struct EventRow {
    id: Uuid,
    cart_key: String,
    version: i64,
    event_type: &'static str,
    payload: String,
}

impl CartCommit {
    /// The commit's one write and the commit encoded for a group, if it is the kind a group
    /// takes: one cart created or updated, no idempotency record, no record writes (the group
    /// statement writes only carts and events). `None` leaves it to the transaction path.
    pub(super) fn of(commit: &Commit) -> Option<(&CartWrite, Result<Self, StoreError>)> {
        match (commit.writes.as_slice(), &commit.idempotency) {
            ([write], None) if commit.records.is_empty() => write
                .new_state
                .as_ref()
                .map(|cart| (write, Self::encode(write, cart, commit))),
            _ => None,
        }
    }

    fn encode(write: &CartWrite, cart: &Cart, commit: &Commit) -> Result<Self, StoreError> {
        let events = commit
            .events
            .iter()
            .map(|event| {
                Ok(EventRow {
                    id: event.id,
                    cart_key: event.cart_key.as_str().to_owned(),
                    version: version_column(event.version),
                    event_type: event.event_type.as_str(),
                    payload: serde_json::to_string(event).map_err(json_error)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Self {
            key: write.key.as_str().to_owned(),
            cart_id: cart.id(),
            version: version_column(cart.version()),
            expires_at: cart.expires_at(),
            doc: serde_json::to_string(cart).map_err(json_error)?,
            expected: write.expected_version.map(version_column),
            at: commit.at,
            events,
        })
    }
}

/// A queued cart and where to send whether its write matched.
pub(super) struct Job {
    commit: CartCommit,
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// How cart commits reach [`GROUP_COMMIT`]: through the grouping task, or (groups of one)
/// directly on the requester's task.
pub(super) enum GroupCommitter {
    /// Queue to the task that builds the groups.
    Grouped(mpsc::Sender<Job>),
    /// Every cart is its own statement, run by the requester (`group_commit=1`).
    Single(PgPool),
}

impl GroupCommitter {
    /// Groups of at most `max_group` carts, at most `in_flight` of them running at once; a
    /// `max_group` of 1 turns grouping off. Spawns the grouping task on the current Tokio
    /// runtime; it ends when the committer is dropped.
    pub(super) fn start(pool: PgPool, max_group: usize, in_flight: usize) -> Self {
        if max_group <= 1 {
            return Self::Single(pool);
        }
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(build_groups(pool, queue, max_group, in_flight.max(1)));
        Self::Grouped(jobs)
    }

    /// Carts queued for a group statement now (none when grouping is off).
    pub(super) fn queued(&self) -> usize {
        match self {
            Self::Grouped(jobs) => jobs.max_capacity() - jobs.capacity(),
            Self::Single(_) => 0,
        }
    }

    /// Commits one cart; `Ok(false)` when its version (or, for a new cart, its absence) did
    /// not match and nothing of it was written.
    pub(super) async fn commit(&self, commit: CartCommit) -> Result<bool, StoreError> {
        match self {
            Self::Single(pool) => commit_alone(pool, commit).await,
            Self::Grouped(jobs) => {
                let (reply, answer) = oneshot::channel();
                jobs.send(Job { commit, reply }).await.map_err(|_| {
                    StoreError::Unavailable("the group committer has stopped".into())
                })?;
                answer.await.map_err(|_| {
                    StoreError::Internal("the group committer dropped a commit".into())
                })?
            }
        }
    }
}

/// Takes whatever is queued (at least one cart, at most `max_group`, no cart twice) each time a
/// group may start, and runs the group on its own task.
async fn build_groups(
    pool: PgPool,
    mut queue: mpsc::Receiver<Job>,
    max_group: usize,
    in_flight: usize,
) {
    let in_flight = Arc::new(Semaphore::new(in_flight));
    let mut held_over: Option<Job> = None;
    loop {
        let first = match held_over.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        // Waiting for a slot before collecting lets the group grow while others run.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut keys = HashSet::from([first.commit.key.clone()]);
        let mut group = vec![first];
        while group.len() < max_group {
            let Ok(job) = queue.try_recv() else { break };
            if keys.insert(job.commit.key.clone()) {
                group.push(job);
            } else {
                held_over = Some(job);
                break;
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            commit_group(&pool, group).await;
            drop(permit);
        });
    }
}

/// Runs one group and answers every cart in it.
async fn commit_group(pool: &PgPool, mut group: Vec<Job>) {
    // Rows in key order, so two replicas' groups lock shared carts in the same order.
    group.sort_by(|a, b| a.commit.key.cmp(&b.commit.key));
    let commits: Vec<&CartCommit> = group.iter().map(|job| &job.commit).collect();
    match run(pool, &commits).await {
        Ok(written) => {
            for (n, job) in group.into_iter().enumerate() {
                let _ = job.reply.send(Ok(written.contains(&n)));
            }
        }
        // PostgreSQL refused the statement because of what it wrote (it rolled back whole):
        // commit each cart alone, so only the one at fault sees the error. A server that is
        // unavailable, overloaded or past the statement timeout would only fail again, cart
        // by cart, so that, like a lost connection (the group may or may not have committed;
        // callers treat it as an unknown outcome), reaches every cart of the group as it is.
        Err(error) => match sql_error(error) {
            StoreError::Internal(_) if group.len() > 1 => {
                for job in group {
                    let outcome = commit_alone(pool, job.commit).await;
                    let _ = job.reply.send(outcome);
                }
            }
            error => {
                for job in group {
                    let _ = job.reply.send(Err(error.clone()));
                }
            }
        },
    }
}

/// One cart as a group of one.
async fn commit_alone(pool: &PgPool, commit: CartCommit) -> Result<bool, StoreError> {
    let written = run(pool, &[&commit]).await.map_err(sql_error)?;
    Ok(!written.is_empty())
}

/// The histogram of carts per group statement on `/metrics`, so operators can see how much
/// grouping their load gets (ones mean every commit went alone). The `_carts` suffix gives it
/// count buckets instead of latency ones (`cart_api::metrics`).
const CARTS_PER_STATEMENT: &str = "cartd_postgres_group_commit_carts";

/// Runs [`GROUP_COMMIT`] for `commits` (position = `n`); answers the positions written.
async fn run(pool: &PgPool, commits: &[&CartCommit]) -> Result<HashSet<usize>, sqlx::Error> {
    metrics::histogram!(CARTS_PER_STATEMENT).record(commits.len() as f64);
    let positions = (0..commits.len())
        .map(|n| i32::try_from(n).unwrap_or(i32::MAX))
        .collect::<Vec<i32>>();
    let events = || {
        positions
            .iter()
            .zip(commits)
            .flat_map(|(n, commit)| commit.events.iter().map(move |event| (*n, commit, event)))
    };
    let written: Vec<i32> = sqlx::query_scalar(GROUP_COMMIT)
        .bind(&positions)
        .bind(commits.iter().map(|c| c.key.as_str()).collect::<Vec<_>>())
        .bind(commits.iter().map(|c| c.cart_id).collect::<Vec<_>>())
        .bind(commits.iter().map(|c| c.version).collect::<Vec<_>>())
        .bind(commits.iter().map(|c| c.expires_at).collect::<Vec<_>>())
        .bind(commits.iter().map(|c| c.doc.as_str()).collect::<Vec<_>>())
        .bind(commits.iter().map(|c| c.expected).collect::<Vec<_>>())
        .bind(events().map(|(n, _, _)| n).collect::<Vec<_>>())
        .bind(events().map(|(_, _, e)| e.id).collect::<Vec<_>>())
        .bind(
            events()
                .map(|(_, _, e)| e.cart_key.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events().map(|(_, _, e)| e.version).collect::<Vec<_>>())
        .bind(events().map(|(_, _, e)| e.event_type).collect::<Vec<_>>())
        .bind(
            events()
                .map(|(_, _, e)| e.payload.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events().map(|(_, c, _)| c.at).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    Ok(written
        .into_iter()
        .filter_map(|n| usize::try_from(n).ok())
        .collect())
}
