//! WAL checkpoints off the writers' path (SQLite).
//!
//! In WAL mode every commit appends the pages it changed to the WAL, and SQLite's default is
//! that the commit which takes the WAL past a threshold also copies it back into the database
//! (a checkpoint, with an `fsync` of both files) before it returns. The daemon's writers
//! (dispatcher, webhook writer, poller) then take turns paying for it, and the bill grows with
//! the database: each step's calls add their Bland call ids (random UUIDs) to the `call_id`
//! index, touching a page each, so a step's record writes a few megabytes of WAL and every
//! other commit waited on a checkpoint (BENCHMARKS.md, dispatch). So the pool's connections
//! leave checkpoints to a connection of their own, which the daemon runs every
//! [`CHECKPOINT_EVERY`] ([`Checkpointer::checkpoint`], `PASSIVE`: it copies what no reader
//! still needs and never blocks a writer). Should it stop or fall behind, a writer checkpoints
//! after [`WRITERS_CHECKPOINT_PAGES`] pages of WAL, as before but later: the WAL stays bounded.
//!
//! Connections opened apart from the pool (an import's) keep SQLite's own threshold (500 pages).
//!
//! The trade (BENCHMARKS.md, measured A/B in one sitting): dispatch +40 % and webhook ingest
//! +40 % with half the median latency, but a longer webhook tail (p99 76 → ~180 ms in a slow
//! hour): the checkpoint now runs beside the writer, on the same two cores and disk. A pool
//! threshold of 2,000 pages gave dispatch +25 %, webhooks +20 %, p99 105 ms; 500 (as before,
//! with the checkpointer too) gave nothing.

use std::time::Duration;

use sqlx::sqlite::SqliteConnection;
use sqlx::{ConnectOptions, Connection};
use tokio::sync::watch;
use tracing::warn;

use super::{Store, StoreError};

/// Pages of WAL (8 KiB each in a new database: 64 MiB) after which a commit on one of the pool's
/// connections checkpoints by itself: a backstop for when the daemon's checkpointer is not
/// running (a CLI command) or cannot keep up.
pub(super) const WRITERS_CHECKPOINT_PAGES: u32 = 8000;

/// How often the daemon checkpoints the WAL: a couple of the dispatcher's steps at full speed
/// (a few megabytes of WAL). Measured (`bench/dispatch.sh`): 20, 50, 100 and 200 ms all within
/// the run-to-run noise, 1 s slower (a larger WAL for every reader to look pages up in); an
/// idle daemon's checkpoint finds nothing to copy and costs microseconds.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// A connection of its own that checkpoints the WAL (see the module's documentation).
pub struct Checkpointer {
    conn: SqliteConnection,
}

/// What one checkpoint did, in WAL frames (pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    /// Frames in the WAL.
    pub wal: i64,
    /// Frames copied back into the database (all of them unless a reader still needed some).
    pub copied: i64,
}

impl Store {
    /// A checkpointer for this store's WAL; `None` on PostgreSQL, which has no WAL of ours.
    pub async fn checkpointer(&self) -> Result<Option<Checkpointer>, StoreError> {
        let Some(options) = &self.sqlite else { return Ok(None) };
        Ok(Some(Checkpointer { conn: options.connect().await? }))
    }
}

impl Checkpointer {
    /// Copies the WAL back into the database as far as no reader needs it, without waiting
    /// for anyone (`PRAGMA wal_checkpoint(PASSIVE)`).
    pub async fn checkpoint(&mut self) -> Result<Checkpointed, StoreError> {
        let (_busy, wal, copied): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut self.conn).await?;
        Ok(Checkpointed { wal, copied })
    }

    /// Checkpoints every [`CHECKPOINT_EVERY`] until `stop` turns true: the daemon's task.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut failing = false;
        loop {
            match self.checkpoint().await {
                Ok(_) => failing = false,
                // Once per run of failures: the writers' own checkpoints bound the WAL meanwhile.
                Err(e) if !std::mem::replace(&mut failing, true) => {
                    warn!(error = %e, "cannot checkpoint the database's WAL; the writers will, later")
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        self.close().await;
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::WRITERS_CHECKPOINT_PAGES;
    use crate::store::Store;

    #[tokio::test]
    async fn the_pools_writers_leave_the_wal_to_the_checkpointer_which_copies_all_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).await.unwrap();
        let pool = store.sqlite_pool();
        let threshold: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint").fetch_one(pool).await.unwrap();
        assert_eq!(threshold, i64::from(WRITERS_CHECKPOINT_PAGES));

        // Well past SQLite's default threshold (1,000 pages), in many commits.
        sqlx::query("CREATE TABLE filler (x BLOB)").execute(pool).await.unwrap();
        for _ in 0..300 {
            sqlx::query("INSERT INTO filler SELECT zeroblob(4000) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4)")
                .execute(pool)
                .await
                .unwrap();
        }
        let mut checkpointer = store.checkpointer().await.unwrap().expect("a SQLite store");
        let done = checkpointer.checkpoint().await.unwrap();
        assert!(done.wal > 1000, "no commit checkpointed the WAL by itself: {done:?}");
        assert_eq!(done.copied, done.wal, "nothing reads: every frame is copied back");

        // The rows are in the database file itself now: a connection that ignores the WAL
        // would see them (the next checkpoint has nothing new to copy).
        sqlx::query("INSERT INTO filler VALUES (1)").execute(pool).await.unwrap();
        let again = checkpointer.checkpoint().await.unwrap();
        assert!(again.copied >= 1 && again.copied <= again.wal, "{again:?}");
        checkpointer.close().await;
    }
}
