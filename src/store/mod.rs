//! The store: the pool, the migrations, and every query switchboard runs, on SQLite (the
//! embedded default) or PostgreSQL (several daemons on one database) — see [`backend`].
//!
//! The schema (`migrations/`) is the contract between the CLI and the daemon, which may run at
//! the same time: the database is in WAL mode so readers never wait for the writer, and every
//! connection waits (busy timeout) rather than fail while another process writes. State
//! transitions that can race are single guarded statements whose rows-affected is checked.
//! Times are stored as milliseconds since the Unix epoch.

mod analyses;
pub(crate) mod backend;
mod blackouts;
mod campaigns;
mod checkpoint;
mod copy;
mod dispatch;
mod dnc;
mod export;
mod imports;
mod inbox;
mod nodes;
mod observe;
mod outcomes;
mod records;
mod report;
mod states;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use backend::StoreUrl;
pub(crate) use backend::{Db, on_db};

pub use analyses::{
    AnalysisBacklog, AnalysisClaim, AnalysisRecord, AnalysisResult, AnalysisScope, AnalysisSpend, ClaimDecision,
    ClaimedAnalysis, Recorded, SchemaAnswers,
};
pub use blackouts::BlackoutRecord;
pub use campaigns::{CampaignChange, CampaignRow, CapUsage, RetryChange, Saved, SendActivity, SpecChange, SpecUpdated};
pub use checkpoint::{CHECKPOINT_EVERY, Checkpointed, Checkpointer};
pub use copy::Copied;
pub use dispatch::{Admission, AdmissionFacts, ClaimedJob, Deferral, NewAttempt, Pace, PendingAttempt, RecentDial};
pub use dnc::{DncAdded, DncEntry};
pub use export::{AnalysisAnswers, ExportAttempt, ExportReader, ExportRecipient, ImportColumns, Variables};
pub use imports::{ImportCounts, ImportRow, ImportSnapshot, ImportTx, NewJob, phone_key};
pub use inbox::Pruned;
pub use nodes::{LEADER_LEASE, LostCall};
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
/// The same schema for PostgreSQL (`migrations_pg/`): every change is made in both.
static MIGRATOR_PG: sqlx::migrate::Migrator = sqlx::migrate!("./migrations_pg");

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

/// The database: a pool of connections to one SQLite file or one PostgreSQL database.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    /// Where the busiest writers write ([`Store::apply_call_details_many`]): on SQLite a pool of
    /// one connection of its own, on PostgreSQL the same pool as `db`. SQLite drops a
    /// connection's page cache whenever another connection has committed, so a writer that took
    /// whichever of the pool's connections was idle read its pages again at every transaction;
    /// the writers' own connection keeps them as long as it is the one writing.
    writes: Db,
    url: StoreUrl,
    /// This process's name among the daemons sharing the database: what its claims, attempts
    /// and leases are written under.
    node: std::sync::Arc<str>,
    /// How long its claims and attempts are its alone (`[store] lease`), in milliseconds on the
    /// database's clock.
    lease_ms: i64,
    /// How the SQLite pool's connections are opened, for a connection of its own (an import's).
    sqlite: Option<SqliteConnectOptions>,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and applies pending migrations.
    /// A new database is created 0600: it holds people's names and numbers (SQLite gives its WAL
    /// and shared-memory files the database's own mode).
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

    /// Opens the SQLite database at `path`, which must exist: for commands that only read, so a
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

    /// Opens the store `url` names: a SQLite file (created unless `read_only`) or a PostgreSQL
    /// database (which must exist; its schema is created or brought up to date).
    pub async fn open_url(url: &StoreUrl, read_only: bool) -> Result<Store, StoreError> {
        match url {
            StoreUrl::Sqlite(path) if read_only => Self::open_existing(path).await,
            StoreUrl::Sqlite(path) => Self::open(path).await,
            StoreUrl::Postgres(text) => Self::connect_pg(text).await,
        }
    }

    async fn connect_pg(url: &str) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open { path: url.to_string(), source };
        // The password, if any, comes from PGPASSWORD or ~/.pgpass (StoreUrl refuses one in the URL).
        // A transaction left idle (its process stopped or stalled: none of ours waits on anything
        // but the database) is ended by the server after a few seconds, and with it the locks it
        // holds — a daemon stopped inside its commit must not stop every other daemon.
        let options = PgConnectOptions::from_str(url)
            .map_err(open_err)?
            .application_name("switchboard")
            .options([("idle_in_transaction_session_timeout", "5s")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options)
            .await
            .map_err(open_err)?;
        // sqlx holds an advisory lock while it migrates: daemons starting together migrate once.
        MIGRATOR_PG.run(&pool).await?;
        let StoreIdentity { node, lease_ms } = Store::identity();
        Ok(Store {
            writes: Db::Pg(pool.clone()),
            db: Db::Pg(pool),
            url: StoreUrl::Postgres(url.to_string()),
            sqlite: None,
            node,
            lease_ms,
        })
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
            // A connection apart from the pool (an import's) checkpoints every 4 MiB of WAL
            // (SQLite's default of 1000 pages, at 4 KiB pages): the writer waits while a
            // checkpoint copies, and with 8 KiB pages the default doubled that wait. The pool's
            // connections leave it to the daemon's checkpointer (`checkpoint`).
            .pragma("wal_autocheckpoint", "500");
        // The pool's writers leave checkpoints to the daemon's checkpointer (see `checkpoint`).
        let pool_options =
            options.clone().pragma("wal_autocheckpoint", checkpoint::WRITERS_CHECKPOINT_PAGES.to_string());
        let pool =
            SqlitePoolOptions::new().max_connections(4).connect_with(pool_options.clone()).await.map_err(open_err)?;
        MIGRATOR.run(&pool).await?;
        let writes = SqlitePoolOptions::new().max_connections(1).connect_with(pool_options).await.map_err(open_err)?;
        let StoreIdentity { node, lease_ms } = Store::identity();
        Ok(Store {
            db: Db::Sqlite(pool),
            writes: Db::Sqlite(writes),
            url: StoreUrl::Sqlite(path.to_path_buf()),
            sqlite: Some(options),
            node,
            lease_ms,
        })
    }

    /// A new node name and the default lease, for a store being opened (its other fields are
    /// overwritten).
    fn identity() -> StoreIdentity {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host = host.trim();
        let short = uuid::Uuid::new_v4().simple().to_string();
        let node = format!("{}-{}-{}", if host.is_empty() { "node" } else { host }, std::process::id(), &short[..8]);
        StoreIdentity { node: node.into(), lease_ms: DEFAULT_LEASE_MS }
    }

    /// This store's node name (see [`Store::with_lease`]).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The store with claims and attempts leased for `lease` (`[store] lease`).
    pub fn with_lease(mut self, lease: chrono::Duration) -> Store {
        self.lease_ms = lease.num_milliseconds().clamp(1_000, 3_600_000);
        self
    }

    /// The store under another node name (a test's second daemon on one database).
    pub fn as_node(mut self, node: &str) -> Store {
        self.node = node.into();
        self
    }

    /// Bytes the database's rows take, for growth checks (SQLite: its pages less the free ones).
    pub async fn bytes_in_use(&self) -> Result<i64, StoreError> {
        match &self.db {
            Db::Sqlite(pool) => {
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(pool).await?;
                let free: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(pool).await?;
                let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(pool).await?;
                Ok((pages - free) * size)
            }
            Db::Pg(pool) => {
                Ok(sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(pool).await?)
            }
        }
    }

    /// The SQLite database file (`None` on PostgreSQL).
    pub fn path(&self) -> Option<&Path> {
        self.url.path()
    }

    /// Where the store is, as `[store] url` names it.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// True on PostgreSQL, where several daemons may share the database.
    pub fn is_shared(&self) -> bool {
        matches!(self.db, Db::Pg(_))
    }

    /// The schema this binary was built with, for this store's database.
    pub(crate) fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        if self.is_shared() { &MIGRATOR_PG } else { &MIGRATOR }
    }

    /// The SQLite connection options, for a connection of its own.
    pub(crate) fn sqlite_options(&self) -> Result<&SqliteConnectOptions, StoreError> {
        self.sqlite.as_ref().ok_or_else(|| StoreError::Conflict("not a SQLite store".into()))
    }

    /// The SQLite pool, for the store's own unit tests.
    #[cfg(test)]
    pub(crate) fn sqlite_pool(&self) -> &sqlx::SqlitePool {
        match &self.db {
            Db::Sqlite(pool) => pool,
            Db::Pg(_) => panic!("a SQLite store"),
        }
    }

    pub async fn close(&self) {
        on_db!(&self.writes, |pool| pool.close().await);
        on_db!(&self.db, |pool| pool.close().await)
    }
}

/// The lease a store's claims and attempts get unless told otherwise (`[store] lease`).
const DEFAULT_LEASE_MS: i64 = 60_000;

/// What [`Store::identity`] fills in.
struct StoreIdentity {
    node: std::sync::Arc<str>,
    lease_ms: i64,
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

/// `text` as an SQL string literal, for the few values put in a statement's text rather than
/// bound (a node name inside a condition built once for several statements).
pub(crate) fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Pushes `(?, ?, …)` binding each of `items`: the one way the store writes an `IN` list. The
/// caller keeps a list well inside SQLite's limit on bound parameters (chunks of thousands).
pub(crate) fn push_in_list<'t, DB, T>(q: &mut sqlx::QueryBuilder<DB>, items: impl IntoIterator<Item = T>)
where
    DB: sqlx::Database,
    T: sqlx::Encode<'t, DB> + sqlx::Type<DB> + 't,
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
    use sqlx::{ConnectOptions, Row};

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
        sqlx::query("CREATE TABLE t (x)").execute(store.sqlite_pool()).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("s.db-wal")), 0o600);
        assert_eq!(mode(&dir.path().join("s.db-shm")), 0o600);
        store.close().await;
        assert!(Store::open_existing(&path).await.is_ok());
    }

    #[tokio::test]
    async fn a_new_database_is_wal_with_8k_pages_normal_sync_a_busy_timeout_and_foreign_keys_and_the_pool_leaves_checkpoints()
     {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
        let mut conn = store.sqlite_pool().acquire().await.unwrap();
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
        assert_eq!(
            pragma("wal_autocheckpoint").await,
            "8000",
            "the pool leaves checkpoints to the daemon's checkpointer"
        );
        drop(conn);
        // A connection of its own (an import's) checkpoints every 4 MiB of WAL itself.
        let mut own = store.sqlite_options().unwrap().connect().await.unwrap();
        let own_threshold: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint").fetch_one(&mut own).await.unwrap();
        assert_eq!(own_threshold, 500, "4 MiB of WAL");
    }
}
