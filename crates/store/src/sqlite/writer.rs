//! The single writer: one thread owns the write connection and commits queued jobs in groups.
//!
//! SQLite allows one writer at a time. Rather than let many connections queue on its lock, every
//! write is sent here; the thread takes whatever jobs are waiting (up to [`MAX_GROUP`]), runs
//! them in one transaction, and commits once. A failed job is undone alone; a failed commit
//! fails every job of the group. Replies are sent only after the commit, so an acknowledged
//! write is a durable one.
//!
//! Undoing a failed job alone takes a savepoint around it, and savepoints are not free: two
//! more statements per job, and a copy of every page the job touches into the savepoint's
//! journal, on every add, for a rollback that almost never happens. Nearly every job that fails
//! fails before it changes anything (a compare-and-set that finds another version), so a group
//! first runs without savepoints. A job that fails having changed rows
//! (`sqlite3_total_changes` moved) rolls the whole transaction back, and the group runs again
//! with a savepoint per job; that is why a job is `Fn`, not `FnOnce`.
//!
//! Checkpoints are not this thread's work ([`super::checkpoint`] copies WAL pages beside it);
//! between two groups it only pauses, now and then, for the WAL to start over.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use cart_core::StoreError;

use super::checkpoint::Checkpoints;
use super::sql_error;

/// The most jobs one transaction commits.
const MAX_GROUP: usize = 256;

/// Queued jobs waiting for the writer before senders wait.
const QUEUE: usize = 8192;

/// A job as the writer thread sees it: run it, then tell it how the commit went.
trait Job: Send {
    /// Runs the work (again, if the group is run again); `false` when it failed.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Called once the group's transaction committed (`Ok`) or failed.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

struct TypedJob<T, F> {
    work: F,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: Fn(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = (self.work)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let outcome = match (self.result, commit) {
            (Some(Err(job_error)), _) => Err(job_error),
            (Some(Ok(_)), Err(commit_error)) | (None, Err(commit_error)) => Err(commit_error),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (None, Ok(())) => Err(StoreError::Internal("write job did not run".into())),
        };
        // The requester may have gone away (client disconnected); the write stands regardless.
        let _ = self.reply.send(outcome);
    }
}

/// A handle for sending write jobs to the writer thread.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`, which pauses between groups when `checkpoints` is
    /// about to restart the WAL.
    pub fn start(conn: Connection, checkpoints: Arc<Checkpoints>) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("cartd-sqlite-writer".into())
            .spawn(move || run(conn, queue, checkpoints))?;
        Ok(Self { jobs })
    }

    /// Write jobs waiting for the writer thread now.
    pub fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// Runs `work` in the next group transaction and returns its result once committed.
    /// `work` may run twice (see the module's documentation): it must act on the connection
    /// only.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            work,
            result: None,
            reply,
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the sqlite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Internal("the sqlite writer dropped a job".into()))?
    }
}

fn run(conn: Connection, mut queue: mpsc::Receiver<Box<dyn Job>>, checkpoints: Arc<Checkpoints>) {
    while let Some(first) = queue.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let outcome = commit_group(&conn, &mut group);
        for job in group {
            job.finish(outcome.clone());
        }
        // After the replies: the group just committed does not wait for the checkpoint.
        checkpoints.between_groups(&conn);
    }
}

/// How a group's jobs are kept apart within its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// No savepoints: enough while every failed job has changed nothing.
    Shared,
    /// A savepoint per job, so a job that fails halfway is undone alone.
    Savepoints,
}

/// Runs and commits a group: without savepoints first, and again with them if a job failed
/// halfway.
fn commit_group(conn: &Connection, group: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    // With savepoints an attempt always ends in an outcome; the `None` below cannot happen.
    attempt(conn, group, Isolation::Shared)
        .or_else(|| attempt(conn, group, Isolation::Savepoints))
        .unwrap_or_else(|| Err(StoreError::Internal("a write group ended halfway".into())))
}

/// One run of the group in one transaction: the commit's outcome, or `None` if, without
/// savepoints, a job failed after changing rows (the transaction is then rolled back).
fn attempt(
    conn: &Connection,
    group: &mut [Box<dyn Job>],
    isolation: Isolation,
) -> Option<Result<(), StoreError>> {
    // Prepared once and reused: these run once or twice per job, and parsing them every time
    // was a measurable share of the writer thread.
    let step = |sql: &str| -> Result<(), StoreError> {
        conn.prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map(drop)
            .map_err(sql_error)
    };
    if let Err(e) = step("BEGIN IMMEDIATE") {
        return Some(Err(e));
    }
    let mut outcome = Ok(());
    for job in group.iter_mut() {
        if isolation == Isolation::Savepoints
            && let Err(e) = step("SAVEPOINT job")
        {
            outcome = Err(e);
            break;
        }
        let changes_before = conn.total_changes();
        let succeeded = job.run(conn);
        let end = match (isolation, succeeded) {
            (Isolation::Savepoints, true) => step("RELEASE job"),
            (Isolation::Savepoints, false) => {
                step("ROLLBACK TO job").and_then(|()| step("RELEASE job"))
            }
            (Isolation::Shared, true) => Ok(()),
            // Failed before changing anything, inside a transaction SQLite kept open.
            (Isolation::Shared, false)
                if conn.total_changes() == changes_before && !conn.is_autocommit() =>
            {
                Ok(())
            }
            (Isolation::Shared, false) => {
                let _ = conn.execute_batch("ROLLBACK");
                return None;
            }
        };
        if let Err(e) = end {
            outcome = Err(e);
            break;
        }
    }
    if outcome.is_ok() {
        outcome = step("COMMIT");
    }
    if outcome.is_err() {
        // Leaves the connection usable for the next group whatever state the failure left.
        let _ = conn.execute_batch("ROLLBACK");
    }
    Some(outcome)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A job for `commit_group`, with the receiver of its reply.
    type Queued = (Box<dyn Job>, oneshot::Receiver<Result<(), StoreError>>);

    /// `work` as a queued job.
    fn job<F>(work: F) -> Queued
    where
        F: Fn(&Connection) -> Result<(), StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            work,
            result: None,
            reply,
        });
        (job, answer)
    }

    fn insert(conn: &Connection, x: i64) -> Result<(), StoreError> {
        conn.execute("INSERT INTO t (x) VALUES (?1)", [x])
            .map(drop)
            .map_err(sql_error)
    }

    /// Commits `jobs` as one group and returns each job's reply and the rows left in `t`.
    fn commit(conn: &Connection, jobs: Vec<Queued>) -> (Vec<bool>, Vec<i64>) {
        let (mut group, mut answers): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
        let outcome = commit_group(conn, &mut group);
        for job in group {
            job.finish(outcome.clone());
        }
        let replies = answers
            .iter_mut()
            .map(|answer| answer.try_recv().expect("a reply").is_ok())
            .collect();
        let rows = conn
            .prepare("SELECT x FROM t ORDER BY x")
            .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
            .expect("rows");
        (replies, rows)
    }

    fn table() -> Connection {
        let conn = Connection::open_in_memory().expect("db");
        conn.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .expect("table");
        conn
    }

    /// A job inserting `x` that counts its runs in the returned counter.
    fn counted_insert(x: i64) -> (Arc<AtomicUsize>, Queued) {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let queued = job(move |conn| {
            counted.fetch_add(1, Ordering::SeqCst);
            insert(conn, x)
        });
        (runs, queued)
    }

    #[test]
    fn a_job_failing_before_any_change_fails_alone_without_a_second_run() {
        let conn = table();
        let (runs, first) = counted_insert(1);
        let (replies, rows) = commit(
            &conn,
            vec![
                first,
                job(|_| Err(StoreError::LeaseLost)),
                job(|conn| insert(conn, 3)),
            ],
        );
        assert_eq!(replies, [true, false, true]);
        assert_eq!(rows, [1, 3]);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "no savepoint run was needed"
        );
    }

    #[test]
    fn a_job_failing_after_a_change_is_undone_alone() {
        let conn = table();
        let (runs, first) = counted_insert(1);
        let (replies, rows) = commit(
            &conn,
            vec![
                first,
                // Changes a row, then fails: its row must not be committed.
                job(|conn| insert(conn, 2).and(Err(StoreError::DuplicateIdempotencyKey))),
                // Fails on its own statement (the key exists) after the change above.
                job(|conn| insert(conn, 4).and_then(|()| insert(conn, 1))),
                job(|conn| insert(conn, 3)),
            ],
        );
        assert_eq!(replies, [true, false, false, true]);
        assert_eq!(
            rows,
            [1, 3],
            "the failed jobs' rows are gone, the others' stay"
        );
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "the group ran again with savepoints"
        );
    }
}
