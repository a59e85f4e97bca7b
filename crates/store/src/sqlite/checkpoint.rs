//! WAL checkpoints beside the writer instead of inside its commits.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages, on the
//! writer thread: it copies those pages into the database file and fsyncs both files while every
//! queued write waits. That pause was the add p99 of issue 2 (`docs/PERFORMANCE.md`).
//!
//! Here the writer's automatic checkpoint is off, and a background thread with a connection of
//! its own does the work:
//!
//! - Every [`CheckpointPolicy::pass_interval`] it copies new WAL pages into the database file
//!   with a `PASSIVE` checkpoint, which SQLite runs beside the writer's commits, and then
//!   fdatasyncs the database file itself. SQLite skips that sync while the WAL keeps growing
//!   during the pass, and leaves it all to the first checkpoint that finds the writer idle:
//!   syncing after every pass keeps that last sync small.
//! - A `PASSIVE` checkpoint never lets the WAL start over under constant writes: there is
//!   always a newer page it has not copied. Once the WAL is longer than
//!   [`CheckpointPolicy::restart_frames`] and the passes have caught up, the writer holds back
//!   its next group while the background thread runs one `RESTART` checkpoint, which copies only
//!   the pages committed since its last pass and waits up to
//!   [`CheckpointPolicy::reader_wait`] for readers to leave the WAL. The next commit writes the
//!   WAL from its beginning again, so the file stays bounded. A reader that stays longer (a
//!   backup, say) postpones the restart, not the writer.
//!
//! The writer's pause is that last pass: a few milliseconds, instead of a whole checkpoint and
//! two large fsyncs. SQLite has no checkpoint that restarts the WAL without any pause in writes
//! (its `wal2` mode is not in the released library), which is why this coordination is written
//! here rather than taken from a crate.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// When the background thread copies pages and when the WAL starts over.
#[derive(Clone, Copy, Debug)]
pub(super) struct CheckpointPolicy {
    /// How often the background thread copies new WAL pages into the database file.
    pub pass_interval: Duration,
    /// WAL length (pages) past which the WAL is restarted.
    pub restart_frames: i64,
    /// Pages a pass may leave uncopied and still hand over to the restart: they are copied while
    /// the writer waits, so this bounds the pause.
    pub restart_backlog: i64,
    /// How long the writer waits for the restart before it goes on without it.
    pub writer_wait: Duration,
    /// How long the restarting checkpoint waits for readers still on the WAL. A reader that
    /// stays longer (a backup, say) postpones the restart until the WAL has grown by another
    /// `restart_frames`, instead of holding up the writer at every pass.
    pub reader_wait: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            pass_interval: Duration::from_millis(20),
            // 32 MiB of 4 KiB pages. A longer WAL pauses the writer less often but makes the
            // file larger; shorter and longer lengths measured about the same adds, so this
            // sits between them (docs/PERFORMANCE.md has the figures).
            restart_frames: 8192,
            restart_backlog: 512,
            writer_wait: Duration::from_secs(5),
            reader_wait: Duration::from_millis(100),
        }
    }
}

/// Where the restart of the WAL stands. Only the background thread moves it out of `Copying`
/// and out of `WriterWaiting`; only the writer moves it out of `RestartWanted`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// The background thread copies pages; the writer commits.
    Copying,
    /// The WAL is due to restart: the writer is to pause before its next group.
    RestartWanted,
    /// The writer is paused until the background thread's restarting checkpoint is done.
    WriterWaiting,
}

/// What the writer and the background checkpointer share.
pub(super) struct Checkpoints {
    phase: Mutex<Phase>,
    changed: Condvar,
    policy: CheckpointPolicy,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Restarts given up because a reader stayed on the WAL longer than `reader_wait`.
    postponed: AtomicU64,
}

impl Checkpoints {
    /// Turns off the automatic checkpoints of `writer` and starts the background thread on
    /// `background`, a second connection to the database file at `path`. The thread stops once
    /// the returned handle (held by the writer thread) is dropped.
    pub(super) fn start(
        writer: &Connection,
        background: Connection,
        path: &Path,
        policy: CheckpointPolicy,
    ) -> std::io::Result<Arc<Self>> {
        let database = File::open(path)?;
        // Only the restarting checkpoint waits on this connection (for readers to leave).
        background
            .busy_timeout(policy.reader_wait)
            .map_err(std::io::Error::other)?;
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(std::io::Error::other)?;
        let shared = Self::new(policy);
        let weak = Arc::downgrade(&shared);
        let thread = std::thread::Builder::new()
            .name("cartd-sqlite-checkpoint".into())
            .spawn(move || copy_in_background(&background, &database, policy, &weak))?;
        *shared.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
        Ok(shared)
    }

    fn new(policy: CheckpointPolicy) -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Copying),
            changed: Condvar::new(),
            policy,
            thread: Mutex::new(None),
            postponed: AtomicU64::new(0),
        })
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called by the writer between groups: when the WAL is due to restart, waits for the
    /// background thread's restarting checkpoint, so the next commit starts the WAL over.
    ///
    /// Should the background thread have stopped, the writer's own automatic checkpoints come
    /// back on, so the WAL stays bounded whatever happens to it.
    pub(super) fn between_groups(&self, writer: &Connection) {
        let mut phase = self.phase();
        if *phase != Phase::RestartWanted {
            drop(phase);
            self.fall_back_if_stopped(writer);
            return;
        }
        *phase = Phase::WriterWaiting;
        self.changed.notify_all();
        let paused = std::time::Instant::now();
        let (mut phase, wait) = self
            .changed
            .wait_timeout_while(phase, self.policy.writer_wait, |phase| {
                *phase == Phase::WriterWaiting
            })
            .unwrap_or_else(PoisonError::into_inner);
        if wait.timed_out() {
            // The restart goes ahead without the writer's pause (and may not restart the WAL).
            *phase = Phase::Copying;
            tracing::warn!("the WAL checkpointer did not answer; writes go on without it");
        }
        tracing::debug!(pause = ?paused.elapsed(), "the writer paused for the WAL to restart");
    }

    fn fall_back_if_stopped(&self, writer: &Connection) {
        let mut thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
        if thread.as_ref().is_some_and(JoinHandle::is_finished) {
            thread.take();
            tracing::error!(
                "the WAL checkpointer stopped; SQLite's automatic checkpoints are back on"
            );
            let _ = writer.pragma_update(None, "wal_autocheckpoint", 1000);
        }
    }

    /// Waits (at most one pass interval) for the next thing the background thread has to do.
    fn next_pass(&self) -> Pass {
        let phase = self.phase();
        let (phase, _) = self
            .changed
            .wait_timeout_while(phase, self.policy.pass_interval, |phase| {
                *phase != Phase::WriterWaiting
            })
            .unwrap_or_else(PoisonError::into_inner);
        match *phase {
            Phase::Copying => Pass::Copy,
            Phase::RestartWanted => Pass::None,
            Phase::WriterWaiting => Pass::Restart,
        }
    }

    fn set(&self, to: Phase) {
        *self.phase() = to;
        self.changed.notify_all();
    }
}

/// What the background thread does next.
enum Pass {
    /// Copy new pages beside the writer.
    Copy,
    /// The writer is paused: run the restarting checkpoint.
    Restart,
    /// The writer has not reached its pause yet.
    None,
}

/// How a checkpoint went: whether it had to give up waiting, and the WAL's length and how much
/// of it is copied, in pages.
struct Progress {
    busy: bool,
    wal_frames: i64,
    copied_frames: i64,
}

fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<Progress> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok(Progress {
            busy: row.get::<_, i64>(0)? != 0,
            wal_frames: row.get(1)?,
            copied_frames: row.get(2)?,
        })
    })
}

fn copy_in_background(
    conn: &Connection,
    database: &File,
    policy: CheckpointPolicy,
    shared: &Weak<Checkpoints>,
) {
    // The WAL length at which the next restart is asked for.
    let mut restart_at = policy.restart_frames;
    while let Some(shared) = shared.upgrade() {
        match shared.next_pass() {
            Pass::None => {}
            Pass::Restart => {
                match checkpoint(conn, "RESTART") {
                    Ok(progress) if !progress.busy => restart_at = policy.restart_frames,
                    outcome => {
                        let wal_frames = outcome.as_ref().map_or(restart_at, |p| p.wal_frames);
                        if let Err(e) = outcome {
                            tracing::warn!(error = %e, "the WAL's restarting checkpoint failed");
                        }
                        restart_at = wal_frames + policy.restart_frames;
                        shared.postponed.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(
                            wal_frames,
                            "a reader stayed on the WAL; restart postponed"
                        );
                    }
                }
                shared.set(Phase::Copying);
            }
            Pass::Copy => {
                let progress = match checkpoint(conn, "PASSIVE") {
                    Ok(progress) => progress,
                    Err(e) => {
                        tracing::warn!(error = %e, "a background WAL checkpoint failed");
                        continue;
                    }
                };
                if let Err(e) = database.sync_data() {
                    tracing::warn!(error = %e, "syncing the database file failed");
                }
                let caught_up =
                    progress.wal_frames - progress.copied_frames <= policy.restart_backlog;
                // Three lengths further, restart even with a longer pause: the file must stay
                // bounded if the passes cannot keep up.
                if progress.wal_frames >= restart_at + 3 * policy.restart_frames
                    || (progress.wal_frames >= restart_at && caught_up)
                {
                    shared.set(Phase::RestartWanted);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::Synchronous;

    /// A connection set up as the store sets up its own.
    fn open(path: &Path) -> Connection {
        let conn = Connection::open(path).expect("open");
        super::super::configure(&conn, Synchronous::Normal).expect("configure");
        conn
    }

    fn wal_len(path: &Path) -> u64 {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    }

    /// A WAL file page: the page and its frame header.
    const PAGE: u64 = 4096 + 24;

    /// A writer on a fresh database of 1,000 rows' room, with a checkpointer restarting every 64
    /// pages.
    fn writer_with_checkpoints(path: &Path) -> (Connection, Arc<Checkpoints>) {
        let writer = open(path);
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, pad BLOB)")
            .expect("table");
        let policy = CheckpointPolicy {
            pass_interval: Duration::from_millis(1),
            restart_frames: 64,
            restart_backlog: 16,
            writer_wait: Duration::from_secs(5),
            reader_wait: Duration::from_millis(1),
        };
        let checkpoints =
            Checkpoints::start(&writer, open(path), path, policy).expect("checkpointer");
        (writer, checkpoints)
    }

    /// Commit number `i` (two 3 KiB rows, ~3 WAL pages), then the writer's turn between groups;
    /// returns the WAL file's length after it.
    fn commit(writer: &Connection, checkpoints: &Checkpoints, path: &Path, i: i64) -> u64 {
        writer
            .execute_batch(&format!(
                "BEGIN IMMEDIATE;
                 INSERT INTO t (id, n, pad) VALUES ({}, {i}, zeroblob(3000))
                   ON CONFLICT (id) DO UPDATE SET n = excluded.n;
                 INSERT INTO t (id, n, pad) VALUES ({}, {i}, zeroblob(3000))
                   ON CONFLICT (id) DO UPDATE SET n = excluded.n;
                 COMMIT;",
                i % 500,
                500 + i % 500
            ))
            .expect("commit");
        checkpoints.between_groups(writer);
        if i % 20 == 0 {
            // A real writer waits for requests now and then; this lets the background thread's
            // passes keep pace on a busy test machine.
            std::thread::sleep(Duration::from_millis(1));
        }
        wal_len(path)
    }

    #[test]
    fn the_wal_stays_bounded_and_no_write_is_lost_under_constant_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.db");
        let (writer, checkpoints) = writer_with_checkpoints(&path);
        let page = PAGE;
        // 6,000 commits of two 3 KiB rows each: ~17,000 WAL pages (70 MiB) if it never restarted.
        let longest = (0..6_000_i64)
            .map(|i| commit(&writer, &checkpoints, &path, i))
            .max()
            .unwrap_or(0);
        // Never restarting would leave ~17,000 pages. Restarting keeps it to a few hundred (the
        // restart length and what the writer commits between two passes), up to ~3,000 when
        // every core of the test machine is busy and the background thread waits for one.
        let bound = 8_000 * page;
        eprintln!("longest WAL: {} pages", longest / page);
        assert!(
            longest <= bound,
            "the WAL grew to {longest} bytes (bound {bound})"
        );
        drop(checkpoints);
        drop(writer);
        let reader = open(&path);
        let (rows, newest): (i64, i64) = reader
            .query_row("SELECT COUNT(*), MAX(n) FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("count");
        assert_eq!((rows, newest), (1_000, 5_999));
    }

    #[test]
    fn a_reader_that_stays_postpones_restarts_which_resume_once_it_leaves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.db");
        let (writer, checkpoints) = writer_with_checkpoints(&path);
        let reader = open(&path);
        reader.execute_batch("BEGIN").expect("begin");
        let _: i64 = reader
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("read");
        for i in 0..1_500 {
            commit(&writer, &checkpoints, &path, i);
        }
        let held = checkpoint(&writer, "PASSIVE").expect("progress").wal_frames;
        let postponed = checkpoints.postponed.load(Ordering::Relaxed);
        // With the reader on old pages the passes never catch up, so each restart is forced,
        // three lengths (192 pages) past the point it is due; a postponed one is due again 64
        // pages later. So at most one per 256 pages of growth, not one at every 1 ms pass
        // (~90 here without the postponement).
        assert!(postponed >= 1, "the restart was never tried");
        assert!(
            postponed as i64 <= held / 256 + 1,
            "{postponed} postponements for a WAL of {held} pages"
        );
        reader.execute_batch("COMMIT").expect("leave");
        for i in 1_500..4_500 {
            commit(&writer, &checkpoints, &path, i);
        }
        let now = checkpoint(&writer, "PASSIVE").expect("progress").wal_frames;
        assert!(
            now < held,
            "the WAL did not start over: {now} pages, {held} held"
        );
    }

    #[test]
    fn a_writer_waiting_for_a_restart_goes_on_when_nobody_answers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = open(&dir.path().join("w.db"));
        let checkpoints = Checkpoints::new(CheckpointPolicy {
            writer_wait: Duration::from_millis(50),
            ..CheckpointPolicy::default()
        });
        *checkpoints.phase() = Phase::RestartWanted;
        checkpoints.between_groups(&writer);
        assert_eq!(*checkpoints.phase(), Phase::Copying);
    }

    #[test]
    fn the_writer_checkpoints_itself_again_once_the_checkpointer_has_stopped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = open(&dir.path().join("s.db"));
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .expect("off");
        let checkpoints = Checkpoints::new(CheckpointPolicy::default());
        let stopped = std::thread::spawn(|| {});
        while !stopped.is_finished() {
            std::thread::yield_now();
        }
        *checkpoints.thread.lock().expect("lock") = Some(stopped);
        checkpoints.between_groups(&writer);
        let pages: i64 = writer
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(pages, 1000);
    }
}
