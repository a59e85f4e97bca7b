//! WAL checkpoints on a thread of their own, so that no commit waits for one.
//!
//! By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that
//! commit (and, with group commit, every request of its group) waits while the WAL is fsynced,
//! pages are copied into the database file and the file is fsynced. Under load that was the
//! slowest one percent of adds. So the writer connection turns automatic checkpoints off, and
//! after commits it nudges this thread, which waits [`Checkpointer`]'s interval (letting the
//! commits of that time share one checkpoint: a page rewritten many times is copied once) and
//! runs a `PASSIVE` checkpoint on its own connection. `PASSIVE` never blocks the writer or the
//! readers; whatever it cannot copy because a reader still needs it is copied next time.
//!
//! With no commits there are no checkpoints; when the store closes, the thread makes a last one.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

use rusqlite::Connection;

/// How long the checkpointer lets commits accumulate before checkpointing them.
pub(super) const INTERVAL: Duration = Duration::from_millis(500);

/// A handle the writer nudges after it commits; dropping it stops the thread after a last
/// checkpoint.
pub(super) struct Checkpointer {
    wake: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the checkpoint thread on `conn`, a connection of its own to the database.
    pub(super) fn start(conn: Connection, interval: Duration) -> std::io::Result<Self> {
        let (wake, woken) = sync_channel(1);
        std::thread::Builder::new()
            .name("cartd-sqlite-ckpt".into())
            .spawn(move || run(&conn, &woken, interval))?;
        Ok(Self { wake })
    }

    /// Says that the WAL has grown; cheap, never blocks (one pending nudge is enough).
    pub(super) fn nudge(&self) {
        let _ = self.wake.try_send(());
    }
}

fn run(conn: &Connection, woken: &Receiver<()>, interval: Duration) {
    while woken.recv().is_ok() {
        std::thread::sleep(interval);
        // The commits of the interval nudged too; one checkpoint covers them all.
        let open = loop {
            match woken.try_recv() {
                Ok(()) => {}
                Err(TryRecvError::Empty) => break true,
                Err(TryRecvError::Disconnected) => break false,
            }
        };
        checkpoint(conn);
        if !open {
            return;
        }
    }
    checkpoint(conn);
}

fn checkpoint(conn: &Connection) {
    // The pragma answers (busy, frames in the WAL, frames checkpointed); a failure is logged and
    // the next nudge tries again, as SQLite's own automatic checkpoint would.
    let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match outcome {
        Ok((frames, copied)) => tracing::trace!(frames, copied, "wal checkpoint"),
        Err(e) => tracing::warn!(error = %e, "wal checkpoint failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nudge_copies_the_committed_pages_into_the_database_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.db");
        let writer = Connection::open(&path).expect("open");
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (x BLOB);",
            )
            .expect("setup");
        let checkpointer =
            Checkpointer::start(Connection::open(&path).expect("open"), Duration::ZERO)
                .expect("start");
        for _ in 0..50 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .expect("insert");
        }
        // The 50 pages are in the WAL only: the writer's own checkpoints are off.
        let file_size = || std::fs::metadata(&path).expect("metadata").len();
        assert!(file_size() < 10 * 4096, "nothing was checkpointed yet");
        checkpointer.nudge();
        // Wait for the checkpoint by watching the database file grow (a test must not assume
        // how long it takes); reading the file's size does not checkpoint anything itself.
        for _ in 0..1000 {
            if file_size() >= 50 * 4096 {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the WAL was never checkpointed into the database file");
    }
}
