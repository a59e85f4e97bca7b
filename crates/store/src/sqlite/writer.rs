//! The single writer: one thread owns the write connection and commits queued jobs in groups.
//!
//! SQLite allows one writer at a time. Rather than let many connections queue on its lock, every
//! write is sent here; the thread takes whatever jobs are waiting (up to [`MAX_GROUP`]), runs
//! each inside its own savepoint of one transaction, and commits once. A job that fails rolls
//! back to its savepoint alone; a failed commit fails every job of the group. Replies are sent
//! only after the commit, so an acknowledged write is a durable one.
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
    /// Runs inside a savepoint; `false` rolls the savepoint back.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Called once the group's transaction committed (`Ok`) or failed.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

struct TypedJob<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = work(conn);
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

    /// Runs `work` in the next group transaction and returns its result once committed.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            work: Some(work),
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

fn commit_group(conn: &Connection, group: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    // Prepared once and reused: these run once or twice per job, and parsing them every time
    // was a measurable share of the writer thread.
    let step = |sql: &str| -> Result<(), StoreError> {
        conn.prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map(drop)
            .map_err(sql_error)
    };
    step("BEGIN IMMEDIATE")?;
    let mut outcome = Ok(());
    for job in group.iter_mut() {
        if let Err(e) = step("SAVEPOINT job") {
            outcome = Err(e);
            break;
        }
        let end = if job.run(conn) {
            step("RELEASE job")
        } else {
            step("ROLLBACK TO job").and_then(|()| step("RELEASE job"))
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
    outcome
}
