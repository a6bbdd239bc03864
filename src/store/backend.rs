//! The two databases the store runs on: SQLite (one file, one daemon; the embedded default) and
//! PostgreSQL (one server, several daemons). The store's queries are written once, with `$n`
//! placeholders both drivers bind, and run on either through [`on_db!`]; where the two dialects
//! differ, the query asks the [`Backend`] for its words (or the store has one query for each).

use std::fmt;
use std::path::{Path, PathBuf};

use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Decode, Postgres, Row, Sqlite, Transaction, Type};

/// A pool of connections to one of the two databases.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever database it is: the body is
/// compiled once for each, so the same query text and the same decoding serve both.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::backend::Db::Sqlite($pool) => $body,
            $crate::store::backend::Db::Pg($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// A connection (or an open transaction's) of either database, for the helpers that run a few
/// statements inside their caller's transaction: `helper((&mut *tx).into(), …)`.
pub(crate) enum Conn<'a> {
    Sqlite(&'a mut sqlx::SqliteConnection),
    Pg(&'a mut sqlx::PgConnection),
}

impl<'a> From<&'a mut sqlx::SqliteConnection> for Conn<'a> {
    fn from(c: &'a mut sqlx::SqliteConnection) -> Self {
        Conn::Sqlite(c)
    }
}

impl<'a> From<&'a mut sqlx::PgConnection> for Conn<'a> {
    fn from(c: &'a mut sqlx::PgConnection) -> Self {
        Conn::Pg(c)
    }
}

impl<'a, 't> From<&'a mut Transaction<'t, Sqlite>> for Conn<'a> {
    fn from(c: &'a mut Transaction<'t, Sqlite>) -> Self {
        Conn::Sqlite(c)
    }
}

impl<'a, 't> From<&'a mut Transaction<'t, Postgres>> for Conn<'a> {
    fn from(c: &'a mut Transaction<'t, Postgres>) -> Self {
        Conn::Pg(c)
    }
}

impl<'a> From<&'a mut sqlx::pool::PoolConnection<Sqlite>> for Conn<'a> {
    fn from(c: &'a mut sqlx::pool::PoolConnection<Sqlite>) -> Self {
        Conn::Sqlite(c)
    }
}

impl<'a> From<&'a mut sqlx::pool::PoolConnection<Postgres>> for Conn<'a> {
    fn from(c: &'a mut sqlx::pool::PoolConnection<Postgres>) -> Self {
        Conn::Pg(c)
    }
}

/// [`on_db!`] for a [`Conn`]: `$conn` is bound to the `&mut` connection of either database.
macro_rules! on_conn {
    ($c:expr, |$conn:ident| $body:expr) => {
        match $c {
            $crate::store::backend::Conn::Sqlite($conn) => $body,
            $crate::store::backend::Conn::Pg($conn) => $body,
        }
    };
}
pub(crate) use on_conn;

/// What differs between the two databases, asked of the pool inside [`on_db!`].
pub(crate) trait Backend {
    type Db: sqlx::Database;
    /// True on PostgreSQL.
    const PG: bool;

    /// The larger of two values: SQLite's two-argument `MAX`, PostgreSQL's `GREATEST`.
    fn greatest(&self) -> &'static str {
        if Self::PG { "GREATEST" } else { "MAX" }
    }

    /// The column that orders a table's rows as they were written, after their time: SQLite's
    /// `rowid`; on PostgreSQL the row's `id` (attempts' ids are UUIDv7s, ordered by their
    /// millisecond).
    fn insertion_order(&self) -> &'static str {
        if Self::PG { "id" } else { "rowid" }
    }

    /// The database's clock, in milliseconds since the Unix epoch, as SQL: what leases are
    /// measured on, so that no daemon's own clock decides whether another's lease has expired.
    /// One reading per statement, as SQLite's `'now'` is: the attempts one commit writes share
    /// one lease (`clock_timestamp()`, read per row, spread them over a millisecond boundary,
    /// and a takeover between the two took part of a commit's attempts — `multinode`'s stall
    /// test, intermittently).
    fn db_now(&self) -> &'static str {
        if Self::PG {
            "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000 AS BIGINT)"
        } else {
            "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
        }
    }

    /// SQLite's unary `+` before a column, which keeps its planner off that column's index;
    /// PostgreSQL has no such hint (and no `+` for text).
    fn no_index(&self) -> &'static str {
        if Self::PG { "" } else { "+" }
    }

    /// SQLite's `CROSS JOIN … ON`, which fixes the join order; a plain join on PostgreSQL.
    fn cross_join(&self) -> &'static str {
        if Self::PG { "JOIN" } else { "CROSS JOIN" }
    }

    /// A write transaction serialized with every other one given the same `key`: SQLite has one
    /// writer at a time anyway (`BEGIN IMMEDIATE` takes its write lock first, so a read in the
    /// transaction cannot be overtaken); PostgreSQL takes a transaction-level advisory lock on
    /// `key` first, so that read-then-write transactions on one thing never interleave.
    fn begin_write(
        &self,
        key: &str,
    ) -> impl std::future::Future<Output = Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl Backend for SqlitePool {
    type Db = Sqlite;
    const PG: bool = false;

    async fn begin_write(&self, _key: &str) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl Backend for PgPool {
    type Db = Postgres;
    const PG: bool = true;

    async fn begin_write(&self, key: &str) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(key).execute(&mut *tx).await?;
        Ok(tx)
    }
}

/// A value either database decodes (for [`Cols::get`]).
pub(crate) trait Decodes<'r>: Decode<'r, Sqlite> + Type<Sqlite> + Decode<'r, Postgres> + Type<Postgres> {}
impl<'r, T> Decodes<'r> for T where T: Decode<'r, Sqlite> + Type<Sqlite> + Decode<'r, Postgres> + Type<Postgres> {}

/// Reading a row's columns the same way from either database, for the helpers that turn rows
/// into records (written once, for both).
pub(crate) trait Cols {
    fn get<'r, T: Decodes<'r>>(&'r self, col: &str) -> Result<T, sqlx::Error>;
}

impl Cols for SqliteRow {
    fn get<'r, T: Decodes<'r>>(&'r self, col: &str) -> Result<T, sqlx::Error> {
        Row::try_get(self, col)
    }
}

impl Cols for PgRow {
    fn get<'r, T: Decodes<'r>>(&'r self, col: &str) -> Result<T, sqlx::Error> {
        Row::try_get(self, col)
    }
}

/// Where the store is: `[store] url` / `--db`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A SQLite file (a plain path, or `sqlite://PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://` or `postgresql://`). Its password is never in the
    /// URL (which is shown in errors and may be on a command line): it comes from `PGPASSWORD`
    /// or `~/.pgpass`, as for `psql`.
    Postgres(String),
}

impl StoreUrl {
    /// Reads `[store] url` / `--db`. A PostgreSQL URL that carries a password is refused.
    pub fn parse(text: &str) -> Result<StoreUrl, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the database is empty: give a SQLite path or a postgres:// URL".into());
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            let rest = &text[text.find("://").map_or(0, |i| i + 3)..];
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            if let Some((userinfo, _)) = authority.rsplit_once('@')
                && userinfo.contains(':')
            {
                return Err("the PostgreSQL URL carries a password: leave it out of the URL (which is shown in \
                            errors and process lists) and give it in PGPASSWORD or ~/.pgpass"
                    .into());
            }
            if lower.contains("password=") {
                return Err("the PostgreSQL URL carries a password (`password=`): give it in PGPASSWORD or \
                            ~/.pgpass instead"
                    .into());
            }
            return Ok(StoreUrl::Postgres(text.to_string()));
        }
        if let Some(path) = text.strip_prefix("sqlite://") {
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if lower.contains("://") {
            return Err(format!("`{text}` is neither a SQLite path nor a postgres:// URL"));
        }
        Ok(StoreUrl::Sqlite(PathBuf::from(text)))
    }

    /// The SQLite file, when it is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            StoreUrl::Sqlite(p) => Some(p),
            StoreUrl::Postgres(_) => None,
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(p) => write!(f, "{}", p.display()),
            StoreUrl::Postgres(u) => f.write_str(u),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StoreUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_sqlite_and_a_postgres_url_without_a_password_is_postgres() {
        assert_eq!(StoreUrl::parse("switchboard.db").unwrap(), StoreUrl::Sqlite("switchboard.db".into()));
        assert_eq!(StoreUrl::parse("sqlite:///var/lib/s.db").unwrap(), StoreUrl::Sqlite("/var/lib/s.db".into()));
        assert_eq!(
            StoreUrl::parse("postgres://sb@db.internal:5432/switchboard").unwrap(),
            StoreUrl::Postgres("postgres://sb@db.internal:5432/switchboard".into())
        );
        assert!(matches!(StoreUrl::parse("postgresql://db/x?sslmode=require").unwrap(), StoreUrl::Postgres(_)));
        assert!(StoreUrl::parse("mysql://x/y").unwrap_err().contains("neither"));
        assert!(StoreUrl::parse("  ").is_err());
    }

    #[test]
    fn a_postgres_url_with_a_password_is_refused_without_echoing_it() {
        for url in ["postgres://sb:hunter2@db/x", "postgres://db/x?password=hunter2", "postgresql://a:hunter2@h/d"] {
            let e = StoreUrl::parse(url).unwrap_err();
            assert!(e.contains("PGPASSWORD"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
