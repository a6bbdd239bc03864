//! The SQLite store: the pool, the migrations, and every query switchboard runs.
//!
//! The schema (`migrations/`) is the contract between the CLI and the daemon, which may run at
//! the same time: the database is in WAL mode so readers never wait for the writer, and every
//! connection waits (busy timeout) rather than fail while another process writes. State
//! transitions that can race are single guarded statements whose rows-affected is checked.
//! Times are stored as milliseconds since the Unix epoch.

mod analyses;
mod blackouts;
mod campaigns;
mod dispatch;
mod dnc;
mod export;
mod imports;
mod inbox;
mod observe;
mod outcomes;
mod records;
mod report;
mod states;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use analyses::{
    AnalysisBacklog, AnalysisClaim, AnalysisRecord, AnalysisResult, AnalysisScope, AnalysisSpend, ClaimDecision,
    ClaimedAnalysis, Recorded, SchemaAnswers,
};
pub use blackouts::BlackoutRecord;
pub use campaigns::{CampaignChange, CampaignRow, CapUsage, RetryChange, Saved, SendActivity, SpecChange, SpecUpdated};
pub use dispatch::{ClaimedJob, Deferral, NewAttempt, PendingAttempt, RecentDial};
pub use dnc::{DncAdded, DncEntry};
pub use export::{AnalysisAnswers, ExportAttempt, ExportReader, ExportRecipient, ImportColumns, Variables};
pub use imports::{ImportCounts, ImportRow, ImportSnapshot, ImportTx, NewJob, phone_key};
pub use inbox::Pruned;
pub use observe::{MigrationStatus, SendErrorAt, SendErrors};
pub use outcomes::{Application, AttemptContext, Delivery, JobTarget, OutcomeRecord, PollDue};
pub use records::{AttemptDetails, AttemptRecord, InboxRecord, JobDetails, JobRecord};
pub use report::{
    AnswerGroup, DialGroup, JobGroup, LengthBucket, Period, ReasonCount, RecipientGroup, TOP_TEXT, ZoneQuarter,
};
pub use states::{
    AnalysisState, Applied, AttemptState, CallCounts, CampaignAction, CampaignState, JobCounts, JobState, Outcome,
    ZoneSource,
};

/// The schema this binary was built with (`migrations/`): applied at open, compared by `/readyz`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Errors at the store's boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    /// The operation is not allowed in the current state (e.g. editing a started campaign).
    #[error("{0}")]
    Conflict(String),
    /// A stored value the code does not know (an unknown state, a time out of range): the
    /// database was changed by something else. Never read as a default.
    #[error("corrupt database: {0}")]
    Corrupt(String),
    /// A write given up before its commit (the task holding it was cancelled): nothing of it
    /// was stored, and it may be tried again.
    #[error("{0}")]
    NotWritten(String),
    #[error("cannot open the database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

impl StoreError {
    /// The campaign `id` does not exist.
    pub(crate) fn no_campaign(id: &str) -> StoreError {
        StoreError::NotFound(format!("no campaign `{id}` (see `switchboard campaign list`)"))
    }
}

/// The database: a pool of connections to one SQLite file.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// How the pool's connections are opened, for a connection of its own (an import's).
    options: SqliteConnectOptions,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies pending migrations. A new
    /// database is created 0600: it holds people's names and numbers (SQLite gives its WAL and
    /// shared-memory files the database's own mode).
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        match crate::files::private().write(true).create_new(true).open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(StoreError::Open { path: path.display().to_string(), source: sqlx::Error::Io(e) });
            }
        }
        Self::connect(path).await
    }

    /// Opens the database at `path`, which must exist: for commands that only read, so a
    /// mistyped path is an error that names it rather than a new empty database.
    pub async fn open_existing(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotFound(format!(
                "no database at {} (create a campaign first, or point --db / SWITCHBOARD_DB at yours)",
                path.display()
            )));
        }
        Self::connect(path).await
    }

    async fn connect(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open { path: path.display().to_string(), source };
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(open_err)?
            .filename(path)
            .create_if_missing(true)
            // A new database gets 8 KiB pages (an existing one keeps its own). Measured
            // (BENCHMARKS.md): a million-row import writes half as many WAL frames and
            // checkpoints them faster than with 4 KiB; 16 KiB imports faster still, but every
            // webhook rewrites a handful of pages at random, and p99 went past 50 ms.
            .page_size(8192)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(60))
            .foreign_keys(true)
            // 64 MiB of page cache per connection: the dispatcher and the webhook writer touch
            // jobs and attempts at random, and this keeps the hot pages of both in memory.
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            // Checkpoint every 4 MiB of WAL (SQLite's default of 1000 pages, at 4 KiB pages): the
            // writer waits while a checkpoint copies, and with 8 KiB pages the default doubled
            // that wait — webhook p99 49 ms → 37–42 ms with this (BENCHMARKS.md).
            .pragma("wal_autocheckpoint", "500");
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options.clone()).await.map_err(open_err)?;
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool, options })
    }

    /// Bytes the database's pages hold (its size less the free pages), for growth checks.
    pub async fn bytes_in_use(&self) -> Result<i64, StoreError> {
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&self.pool).await?;
        let free: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(&self.pool).await?;
        let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&self.pool).await?;
        Ok((pages - free) * size)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.options.get_filename()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch, as the store keeps time.
pub fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`millis`], for a stored time read back: one out of chrono's range is a corrupt row, never a default.
pub(crate) fn stored_time(ms: i64, column: &str) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    chrono::DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("{column} = {ms} is not a time (milliseconds since 1970)")))
}

/// A stored phone number: only E.164 text is ever stored (import and DNC parse it first), so
/// anything else is a corrupt row.
pub(crate) fn stored_phone(text: String) -> Result<crate::phone::PhoneNumber, StoreError> {
    let digits = text.strip_prefix('+').unwrap_or_default();
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::Corrupt(format!("stored number `{text}` is not E.164")));
    }
    Ok(crate::phone::PhoneNumber::from_stored(text))
}

/// Stored zones: `|`-separated IANA names, as import writes them.
/// `FL|OK` → the regions; `''` → none.
pub(crate) fn stored_regions(text: &str) -> Result<Vec<crate::compliance::Region>, StoreError> {
    text.split('|')
        .filter(|r| !r.is_empty())
        .map(|r| {
            crate::compliance::Region::parse(r)
                .map_err(|_| StoreError::Corrupt(format!("jobs.regions: `{r}` is not a region")))
        })
        .collect()
}

pub(crate) fn stored_zones(text: &str, column: &str) -> Result<Vec<chrono_tz::Tz>, StoreError> {
    text.split('|')
        .map(|z| z.parse().map_err(|_| StoreError::Corrupt(format!("{column}: `{z}` is not an IANA time zone"))))
        .collect()
}

/// Pushes `(?, ?, …)` binding each of `items`: the one way the store writes an `IN` list. The
/// caller keeps a list well inside SQLite's limit on bound parameters (chunks of thousands).
pub(crate) fn push_in_list<'t, T>(q: &mut sqlx::QueryBuilder<sqlx::Sqlite>, items: impl IntoIterator<Item = T>)
where
    T: sqlx::Encode<'t, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    q.push("(");
    let mut list = q.separated(", ");
    for item in items {
        list.push_bind(item);
    }
    q.push(")");
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_database_and_its_wal_are_private_and_a_missing_one_is_not_created_for_a_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let missing = Store::open_existing(&path).await.unwrap_err();
        assert!(matches!(&missing, StoreError::NotFound(m) if m.contains("s.db")), "{missing}");
        assert!(!path.exists(), "a read creates no database");
        let store = Store::open(&path).await.unwrap();
        sqlx::query("CREATE TABLE t (x)").execute(&store.pool).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("s.db-wal")), 0o600);
        assert_eq!(mode(&dir.path().join("s.db-shm")), 0o600);
        store.close().await;
        assert!(Store::open_existing(&path).await.is_ok());
    }

    #[tokio::test]
    async fn a_new_database_is_wal_with_8k_pages_4mib_checkpoints_normal_sync_a_busy_timeout_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
        let mut conn = store.pool.acquire().await.unwrap();
        let mut pragma = async |name: &str| -> String {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {name}"))).fetch_one(&mut *conn).await.unwrap();
            match row.try_get::<String, _>(0) {
                Ok(s) => s,
                Err(_) => row.get::<i64, _>(0).to_string(),
            }
        };
        assert_eq!(pragma("journal_mode").await, "wal");
        assert_eq!(pragma("page_size").await, "8192");
        assert_eq!(pragma("synchronous").await, "1", "NORMAL");
        assert_eq!(pragma("foreign_keys").await, "1");
        assert_eq!(pragma("busy_timeout").await, "60000");
        assert_eq!(pragma("wal_autocheckpoint").await, "500", "4 MiB of WAL");
    }
}
