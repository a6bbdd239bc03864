//! Imports: one file's recipients land in one transaction, whole or not at all.

use super::backend::{Conn, Db, on_conn, on_db};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, AssertSqlSafe, ConnectOptions, Connection, Row, SqliteConnection};

use super::{JobState, Store, StoreError, ZoneSource, millis, stored_time};

/// A recipient ready to be stored.
///
/// Text is held as `Arc<str>`, which sqlx binds as it is (a `String` gets boxed in an `Arc` of
/// its own), and the zone names are shared, one per distinct set in a file: a million rows name
/// a handful of zones.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub phone: Arc<str>,
    pub source_line: u64,
    pub variables: Arc<str>,
    pub timezones: Arc<str>,
    pub zone_source: ZoneSource,
    pub number_zones: Option<Arc<str>>,
    /// The recipient's regions, `|`-separated two-letter codes (`FL|OK`); empty when none is
    /// known.
    pub regions: Arc<str>,
    /// `Some(reason)` when the number is on the do-not-call list.
    pub suppressed: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ImportRow {
    pub id: i64,
    pub file_name: String,
    pub accepted: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Summary counts of one import, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub suppressed: u64,
}

/// An import in progress: an open write transaction (`BEGIN IMMEDIATE`, so the snapshot it
/// reads — existing numbers, the DNC list — cannot change under it before it commits), on a
/// connection of its own that does not enforce foreign keys.
///
/// Checking `jobs.campaign_id` and `jobs.import_id` against their parents costs two b-tree
/// lookups a row (16 of the insert's 83 VDBE instructions; 5 % of an import's instructions,
/// BENCHMARKS.md). Both hold by construction: the import row is written in this transaction, and
/// the campaign is checked inside it, where no other writer can remove it. Dropping an
/// `ImportTx` without committing closes its connection, and SQLite rolls the transaction back.
///
/// On PostgreSQL the import's transaction holds the advisory lock DNC writes take (so the DNC
/// list it checks against cannot change before it commits; two imports into one campaign wait
/// for each other the same way), and its rows go in with `COPY`.
pub struct ImportTx {
    conn: ImportConn,
    target: InsertTarget,
    /// Insert statements built and not run yet (SQLite).
    pending: Vec<Insert>,
}

enum ImportConn {
    Sqlite(SqliteConnection),
    Pg(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl ImportConn {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            ImportConn::Sqlite(c) => Conn::Sqlite(c),
            ImportConn::Pg(c) => Conn::Pg(c),
        }
    }
}

/// The lock an import holds on PostgreSQL, with DNC writes ([`super::Backend::begin_write`]).
pub(super) const DNC_LOCK: &str = "dnc";

/// One multi-row insert into `jobs`: its SQL, its arguments and how many rows it holds.
struct Insert {
    sql: Arc<str>,
    args: SqliteArguments,
    rows: u64,
}

// At most 9 bound columns a row (a suppressed one); SQLite allows 32766 parameters a statement.
const ROWS_PER_STATEMENT: usize = 3600;

/// `INSERT INTO jobs … VALUES (…), …` for `rows` rows, queued or suppressed.
fn insert_sql(campaign_id: &str, import_id: i64, now_ms: i64, suppressed: bool, rows: usize) -> Arc<str> {
    // The values every row shares go in as literals, which halves what is bound per row. They
    // are safe to inline: a campaign id is a validated slug of [a-z0-9-], the others integers.
    // A queued job takes the columns' defaults for `state` and `reason`.
    debug_assert!(campaign_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let (columns, row) = if suppressed {
        (", state, reason", format!("('{campaign_id}', {import_id}, {now_ms}, ?, ?, ?, ?, ?, ?, ?, 'suppressed', ?)"))
    } else {
        ("", format!("('{campaign_id}', {import_id}, {now_ms}, ?, ?, ?, ?, ?, ?, ?)"))
    };
    let mut sql = String::with_capacity(200 + rows * (row.len() + 2));
    sql.push_str(&format!(
        "INSERT INTO jobs (campaign_id, import_id, updated_at, phone, source_line, variables, timezones,
                           zone_source, number_zones, regions{columns}) VALUES "
    ));
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    Arc::from(sql)
}

/// What the insert statements of one import share.
struct InsertTarget {
    campaign_id: String,
    import_id: i64,
    now_ms: i64,
    /// Jobs built so far by state, zones and regions: added to `job_counters` at the commit.
    built: FxHashMap<(JobState, Arc<str>, Arc<str>), u64>,
    /// The text of a full statement of queued jobs (the same every time; SQLite prepares it once).
    full_sql: Option<Arc<str>>,
}

impl InsertTarget {
    /// The insert statements for `jobs`: queued ones, then suppressed ones (few, and never
    /// dialled, so their place in the table's order does not matter).
    fn build_inserts(&mut self, jobs: Vec<NewJob>) -> Result<Vec<Insert>, StoreError> {
        let (suppressed, queued): (Vec<NewJob>, Vec<NewJob>) = jobs.into_iter().partition(|j| j.suppressed.is_some());
        let mut inserts = Vec::new();
        self.push_inserts(&mut inserts, queued, false)?;
        self.push_inserts(&mut inserts, suppressed, true)?;
        Ok(inserts)
    }

    fn push_inserts(
        &mut self,
        inserts: &mut Vec<Insert>,
        jobs: Vec<NewJob>,
        suppressed: bool,
    ) -> Result<(), StoreError> {
        // Shared text values, bound without a copy per row (see `NewJob`).
        let zone_sources: Vec<Arc<str>> = ZoneSource::ALL.iter().map(|z| Arc::from(z.as_str())).collect();
        let bind_error = |e| StoreError::Db(sqlx::Error::Encode(e));
        let mut jobs = jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            let batch: Vec<NewJob> = jobs.by_ref().take(ROWS_PER_STATEMENT).collect();
            let sql = if batch.len() == ROWS_PER_STATEMENT && !suppressed {
                let (id, import, now_ms) = (&self.campaign_id, self.import_id, self.now_ms);
                self.full_sql.get_or_insert_with(|| insert_sql(id, import, now_ms, false, ROWS_PER_STATEMENT)).clone()
            } else {
                insert_sql(&self.campaign_id, self.import_id, self.now_ms, suppressed, batch.len())
            };
            let rows = batch.len() as u64;
            let state = if suppressed { JobState::Suppressed } else { JobState::Queued };
            for j in &batch {
                *self.built.entry((state, j.timezones.clone(), j.regions.clone())).or_default() += 1;
            }
            let mut args = SqliteArguments::default();
            args.reserve(batch.len() * 8, 0);
            for j in batch {
                // The strings move into the arguments rather than being copied.
                args.add(j.phone).map_err(bind_error)?;
                args.add(j.source_line as i64).map_err(bind_error)?;
                args.add(j.variables).map_err(bind_error)?;
                args.add(j.timezones).map_err(bind_error)?;
                args.add(zone_sources[j.zone_source as usize].clone()).map_err(bind_error)?;
                args.add(j.number_zones).map_err(bind_error)?;
                args.add(j.regions).map_err(bind_error)?;
                if suppressed {
                    args.add(j.suppressed).map_err(bind_error)?;
                }
            }
            inserts.push(Insert { sql, args, rows });
        }
        Ok(())
    }
}

async fn run_inserts(conn: &mut SqliteConnection, inserts: Vec<Insert>) -> Result<(), StoreError> {
    for Insert { sql, args, rows } in inserts {
        let done = sqlx::query_with(AssertSqlSafe(sql), args).execute(&mut *conn).await?;
        if done.rows_affected() != rows {
            return Err(StoreError::Conflict(format!(
                "stored {} of {rows} rows: the campaign changed during the import",
                done.rows_affected(),
            )));
        }
    }
    Ok(())
}

impl Store {
    /// The most recent earlier import of a file with this content into the campaign.
    pub async fn previous_import(&self, campaign_id: &str, sha256: &str) -> Result<Option<ImportRow>, StoreError> {
        on_db!(&self.db, |pool| {
            let row = sqlx::query(
                "SELECT id, file_name, accepted, created_at FROM imports
             WHERE campaign_id = $1 AND file_sha256 = $2 ORDER BY id DESC LIMIT 1",
            )
            .bind(campaign_id)
            .bind(sha256)
            .fetch_optional(pool)
            .await?;
            row.map(|r| {
                Ok(ImportRow {
                    id: r.try_get("id")?,
                    file_name: r.try_get("file_name")?,
                    accepted: r.try_get("accepted")?,
                    created_at: stored_time(r.try_get("created_at")?, "imports.created_at")?,
                })
            })
            .transpose()
        })
    }

    /// Starts an import: takes the write lock and records the import row (counts filled in by
    /// [`ImportTx::commit`]).
    pub async fn begin_import(
        &self,
        campaign_id: &str,
        file_name: &str,
        sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<ImportTx, StoreError> {
        let now_ms = millis(now);
        let mut conn = match &self.db {
            Db::Sqlite(_) => {
                let mut conn = self.sqlite_options()?.clone().foreign_keys(false).connect().await?;
                sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await?;
                ImportConn::Sqlite(conn)
            }
            Db::Pg(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("BEGIN").execute(&mut *conn).await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(DNC_LOCK)
                    .execute(&mut *conn)
                    .await?;
                ImportConn::Pg(conn)
            }
        };
        let import_id = on_conn!(conn.conn(), |conn| {
            let campaign: Option<i32> = sqlx::query_scalar("SELECT 1 FROM campaigns WHERE id = $1")
                .bind(campaign_id)
                .fetch_optional(&mut *conn)
                .await?;
            if campaign.is_none() {
                return Err(StoreError::no_campaign(campaign_id));
            }
            let import_id: i64 = sqlx::query_scalar(
                "INSERT INTO imports (campaign_id, file_name, file_sha256, rows_read, accepted, rejected,
                                      duplicates, suppressed, created_at)
                 VALUES ($1, $2, $3, 0, 0, 0, 0, 0, $4) RETURNING id",
            )
            .bind(campaign_id)
            .bind(file_name)
            .bind(sha256)
            .bind(now_ms)
            .fetch_one(&mut *conn)
            .await?;
            import_id
        });
        let target = InsertTarget {
            campaign_id: campaign_id.to_string(),
            import_id,
            now_ms,
            built: FxHashMap::default(),
            full_sql: None,
        };
        Ok(ImportTx { conn, target, pending: Vec::new() })
    }
}

/// What an import checks each row against: the numbers already in the campaign (E.164 digits)
/// and the do-not-call list (E.164 digits → reason).
#[derive(Debug, Default)]
pub struct ImportSnapshot {
    pub existing: FxHashSet<u64>,
    pub dnc: FxHashMap<u64, String>,
}

async fn load_snapshot(conn: Conn<'_>, campaign_id: &str) -> Result<ImportSnapshot, StoreError> {
    on_conn!(conn, |conn| {
        let mut snap = ImportSnapshot::default();
        let rows = sqlx::query("SELECT phone FROM jobs WHERE campaign_id = $1")
            .bind(campaign_id)
            .fetch_all(&mut *conn)
            .await?;
        snap.existing.reserve(rows.len());
        for r in rows {
            if let Some(k) = phone_key(r.try_get("phone")?) {
                snap.existing.insert(k);
            }
        }
        for r in sqlx::query("SELECT phone, reason FROM dnc").fetch_all(&mut *conn).await? {
            if let Some(k) = phone_key(r.try_get("phone")?) {
                snap.dnc.insert(k, r.try_get("reason")?);
            }
        }
        Ok(snap)
    })
}

impl Store {
    /// The snapshot a dry run checks against, read without taking the write lock.
    pub async fn import_snapshot(&self, campaign_id: &str) -> Result<ImportSnapshot, StoreError> {
        on_db!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let snap = load_snapshot((&mut tx).into(), campaign_id).await?;
            tx.rollback().await?;
            Ok(snap)
        })
    }
}

impl ImportTx {
    /// The snapshot this import checks against, read inside its write transaction.
    pub async fn snapshot(&mut self) -> Result<ImportSnapshot, StoreError> {
        load_snapshot(self.conn.conn(), &self.target.campaign_id).await
    }

    /// Stores jobs. The caller has removed duplicates against [`ImportTx::snapshot`], which
    /// nothing can change before this transaction commits.
    ///
    /// The statement for `jobs` is built while the previous call's statement runs on the
    /// connection's thread (building the arguments is a third of the work); it runs on the
    /// next call, or at [`ImportTx::commit`].
    pub async fn insert(&mut self, jobs: Vec<NewJob>) -> Result<(), StoreError> {
        let conn = match &mut self.conn {
            ImportConn::Sqlite(conn) => conn,
            ImportConn::Pg(conn) => return copy_jobs(conn, &mut self.target, jobs).await,
        };
        let previous = std::mem::take(&mut self.pending);
        let target = &mut self.target;
        let (ran, next) = tokio::join!(run_inserts(conn, previous), async { target.build_inserts(jobs) });
        ran?;
        self.pending = next?;
        Ok(())
    }

    /// Records the counts and commits: the import lands whole.
    /// `columns` names the stored jobs' variables (their values are arrays in this order);
    /// `phone` is the phone column's name in the file and its place among all the file's columns.
    pub async fn commit(
        mut self,
        counts: ImportCounts,
        columns: &[String],
        phone: (&str, usize),
    ) -> Result<i64, StoreError> {
        if let ImportConn::Sqlite(conn) = &mut self.conn {
            run_inserts(conn, std::mem::take(&mut self.pending)).await?;
        }
        let target = &mut self.target;
        // SQLite keeps one counter row per key; PostgreSQL's counters are deltas, summed by
        // their readers (migrations_pg/0003_counter_deltas.sql).
        let add_to_key = match self.conn {
            ImportConn::Sqlite(_) => {
                "ON CONFLICT (campaign_id, state, outcome, timezones, regions) DO UPDATE SET n = job_counters.n + excluded.n"
            }
            ImportConn::Pg(_) => "",
        };
        on_conn!(self.conn.conn(), |conn| {
            sqlx::query(
                "UPDATE imports SET rows_read = $1, accepted = $2, rejected = $3, duplicates = $4, suppressed = $5,
                                    columns = $6, phone_column = $7, phone_position = $8
                 WHERE id = $9",
            )
            .bind(counts.rows_read as i64)
            .bind(counts.accepted as i64)
            .bind(counts.rejected as i64)
            .bind(counts.duplicates as i64)
            .bind(counts.suppressed as i64)
            .bind(serde_json::to_string(columns).expect("strings serialise"))
            .bind(phone.0)
            .bind(phone.1 as i64)
            .bind(target.import_id)
            .execute(&mut *conn)
            .await?;
            // The new jobs, counted once for the file (see migrations/0006_job_counters.sql, keyed
            // by regions too since 0010).
            for ((state, zones, regions), n) in std::mem::take(&mut target.built) {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO job_counters (campaign_id, state, outcome, timezones, regions, n)
                     VALUES ($1, $2, '', $3, $4, $5) {add_to_key}"
                )))
                .bind(&target.campaign_id)
                .bind(state.as_str())
                .bind(zones)
                .bind(regions)
                .bind(n as i64)
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query("COMMIT").execute(&mut *conn).await?;
        });
        if let ImportConn::Sqlite(conn) = self.conn {
            conn.close().await?;
        }
        Ok(self.target.import_id)
    }

    /// Drops everything this import wrote.
    pub async fn rollback(mut self) -> Result<(), StoreError> {
        on_conn!(self.conn.conn(), |conn| {
            sqlx::query("ROLLBACK").execute(&mut *conn).await?;
        });
        if let ImportConn::Sqlite(conn) = self.conn {
            conn.close().await?;
        }
        Ok(())
    }
}

/// The columns of `jobs` an import writes, in the order [`copy_jobs`] sends them.
const COPY_JOBS: &str = "COPY jobs (campaign_id, import_id, updated_at, phone, source_line, variables, timezones,
                                   zone_source, number_zones, regions, state, reason) FROM STDIN (FORMAT csv)";

/// Stores jobs on PostgreSQL with one `COPY` (CSV: every text quoted, NULL as an unquoted empty
/// field), in the import's transaction.
async fn copy_jobs(
    conn: &mut sqlx::PgConnection,
    target: &mut InsertTarget,
    jobs: Vec<NewJob>,
) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut buf = String::with_capacity(jobs.len() * 160);
    let quoted = |buf: &mut String, text: &str| {
        buf.push('"');
        for c in text.chars() {
            if c == '"' {
                buf.push('"');
            }
            buf.push(c);
        }
        buf.push('"');
    };
    let rows = jobs.len() as u64;
    for j in jobs {
        let state = if j.suppressed.is_some() { JobState::Suppressed } else { JobState::Queued };
        *target.built.entry((state, j.timezones.clone(), j.regions.clone())).or_default() += 1;
        quoted(&mut buf, &target.campaign_id);
        buf.push_str(&format!(",{},{},", target.import_id, target.now_ms));
        quoted(&mut buf, &j.phone);
        buf.push_str(&format!(",{},", j.source_line));
        quoted(&mut buf, &j.variables);
        buf.push(',');
        quoted(&mut buf, &j.timezones);
        buf.push(',');
        quoted(&mut buf, j.zone_source.as_str());
        buf.push(',');
        if let Some(z) = &j.number_zones {
            quoted(&mut buf, z);
        }
        buf.push(',');
        quoted(&mut buf, &j.regions);
        buf.push(',');
        quoted(&mut buf, state.as_str());
        buf.push(',');
        if let Some(reason) = &j.suppressed {
            quoted(&mut buf, reason);
        }
        buf.push('\n');
    }
    let mut copy = conn.copy_in_raw(COPY_JOBS).await?;
    copy.send(buf.into_bytes()).await?;
    let stored = copy.finish().await?;
    if stored != rows {
        return Err(StoreError::Conflict(format!(
            "stored {stored} of {rows} rows: the campaign changed during the import"
        )));
    }
    Ok(())
}

/// E.164 `+14155552671` → 14155552671: a compact key for duplicate and DNC lookups.
pub fn phone_key(e164: &str) -> Option<u64> {
    e164.strip_prefix('+')?.parse().ok()
}
