//! Imports: one file's recipients land in one transaction, whole or not at all.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, Transaction};

use super::{Store, StoreError, from_millis};

/// A recipient ready to be stored.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub phone: String,
    pub source_line: u64,
    pub variables: String,
    pub timezones: String,
    pub zone_source: &'static str,
    pub number_zones: Option<String>,
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
/// reads — existing numbers, the DNC list — cannot change under it before it commits).
pub struct ImportTx {
    tx: Transaction<'static, Sqlite>,
    campaign_id: String,
    import_id: i64,
    /// Built insert statements not run yet, with their row counts.
    pending: Option<Vec<(QueryBuilder<Sqlite>, u64)>>,
}

/// The insert statements for `jobs`.
fn build_inserts(
    campaign_id: &str,
    import_id: i64,
    now_ms: i64,
    jobs: Vec<NewJob>,
) -> Vec<(QueryBuilder<Sqlite>, u64)> {
    // The values every row shares go in as literals, which halves what is bound per row. They
    // are safe to inline: a campaign id is a validated slug of [a-z0-9-], the others integers.
    debug_assert!(campaign_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let shared = format!("'{campaign_id}', {import_id}, {now_ms}");
    let mut statements = Vec::new();
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO jobs (campaign_id, import_id, updated_at, phone, source_line, variables, timezones,
                               zone_source, number_zones, state, reason) ",
        );
        // The strings move into the statement's arguments rather than being copied.
        let mut rows = 0;
        q.push_values(jobs.by_ref().take(ROWS_PER_STATEMENT), |mut b, j| {
            rows += 1;
            b.push(&shared)
                .push_bind(j.phone)
                .push_bind(j.source_line as i64)
                .push_bind(j.variables)
                .push_bind(j.timezones)
                .push_bind(j.zone_source)
                .push_bind(j.number_zones)
                .push(if j.suppressed.is_some() { "'suppressed'" } else { "'queued'" })
                .push_bind(j.suppressed);
        });
        statements.push((q, rows));
    }
    statements
}

async fn run_inserts(
    conn: &mut SqliteConnection,
    statements: Option<Vec<(QueryBuilder<Sqlite>, u64)>>,
) -> Result<(), StoreError> {
    for (mut q, rows) in statements.into_iter().flatten() {
        let done = q.build().execute(&mut *conn).await?;
        if done.rows_affected() != rows {
            return Err(StoreError::Conflict(format!(
                "stored {} of {rows} rows: the campaign changed during the import",
                done.rows_affected(),
            )));
        }
    }
    Ok(())
}

// 7 bound columns a row; SQLite allows 32766 parameters a statement.
const ROWS_PER_STATEMENT: usize = 4000;

impl Store {
    /// The most recent earlier import of a file with this content into the campaign.
    pub async fn previous_import(&self, campaign_id: &str, sha256: &str) -> Result<Option<ImportRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, file_name, accepted, created_at FROM imports
             WHERE campaign_id = ? AND file_sha256 = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(campaign_id)
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ImportRow {
                id: r.try_get("id")?,
                file_name: r.try_get("file_name")?,
                accepted: r.try_get("accepted")?,
                created_at: from_millis(r.try_get("created_at")?),
            })
        })
        .transpose()
    }

    /// Starts an import: takes the write lock and records the import row (counts filled in by
    /// [`ImportTx::commit`]).
    pub async fn begin_import(
        &self,
        campaign_id: &str,
        file_name: &str,
        sha256: &str,
        now_ms: i64,
    ) -> Result<ImportTx, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let import_id: i64 = sqlx::query_scalar(
            "INSERT INTO imports (campaign_id, file_name, file_sha256, rows_read, accepted, rejected,
                                  duplicates, suppressed, created_at)
             VALUES (?, ?, ?, 0, 0, 0, 0, 0, ?) RETURNING id",
        )
        .bind(campaign_id)
        .bind(file_name)
        .bind(sha256)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        Ok(ImportTx { tx, campaign_id: campaign_id.to_string(), import_id, pending: None })
    }
}

/// What an import checks each row against: the numbers already in the campaign (E.164 digits →
/// source line) and the do-not-call list (E.164 digits → reason).
#[derive(Debug, Default)]
pub struct ImportSnapshot {
    pub existing: HashMap<u64, u64>,
    pub dnc: HashMap<u64, String>,
}

async fn load_snapshot(conn: &mut SqliteConnection, campaign_id: &str) -> Result<ImportSnapshot, StoreError> {
    let mut snap = ImportSnapshot::default();
    let rows = sqlx::query("SELECT phone, source_line FROM jobs WHERE campaign_id = ?")
        .bind(campaign_id)
        .fetch_all(&mut *conn)
        .await?;
    snap.existing.reserve(rows.len());
    for r in rows {
        if let Some(k) = phone_key(r.try_get("phone")?) {
            snap.existing.insert(k, r.try_get::<Option<i64>, _>("source_line")?.unwrap_or(0) as u64);
        }
    }
    for r in sqlx::query("SELECT phone, reason FROM dnc").fetch_all(&mut *conn).await? {
        if let Some(k) = phone_key(r.try_get("phone")?) {
            snap.dnc.insert(k, r.try_get("reason")?);
        }
    }
    Ok(snap)
}

impl Store {
    /// The snapshot a dry run checks against, read without taking the write lock.
    pub async fn import_snapshot(&self, campaign_id: &str) -> Result<ImportSnapshot, StoreError> {
        let mut tx = self.pool.begin().await?;
        let snap = load_snapshot(&mut tx, campaign_id).await?;
        tx.rollback().await?;
        Ok(snap)
    }
}

impl ImportTx {
    /// The snapshot this import checks against, read inside its write transaction.
    pub async fn snapshot(&mut self) -> Result<ImportSnapshot, StoreError> {
        load_snapshot(&mut self.tx, &self.campaign_id).await
    }

    /// Stores jobs. The caller has removed duplicates against [`ImportTx::snapshot`], which
    /// nothing can change before this transaction commits.
    ///
    /// The statement for `jobs` is built while the previous call's statement runs on the
    /// connection's thread (building the arguments is a third of the work); it runs on the
    /// next call, or at [`ImportTx::commit`].
    pub async fn insert(&mut self, jobs: Vec<NewJob>, now_ms: i64) -> Result<(), StoreError> {
        let previous = self.pending.take();
        let (ran, next) = tokio::join!(run_inserts(&mut self.tx, previous), async {
            build_inserts(&self.campaign_id, self.import_id, now_ms, jobs)
        });
        ran?;
        self.pending = Some(next);
        Ok(())
    }

    /// Records the counts and commits: the import lands whole.
    /// `columns` names the stored jobs' variables (their values are arrays in this order).
    pub async fn commit(mut self, counts: ImportCounts, columns: &[String]) -> Result<i64, StoreError> {
        run_inserts(&mut self.tx, self.pending.take()).await?;
        sqlx::query(
            "UPDATE imports SET rows_read = ?, accepted = ?, rejected = ?, duplicates = ?, suppressed = ?,
                                columns = ?
             WHERE id = ?",
        )
        .bind(counts.rows_read as i64)
        .bind(counts.accepted as i64)
        .bind(counts.rejected as i64)
        .bind(counts.duplicates as i64)
        .bind(counts.suppressed as i64)
        .bind(serde_json::to_string(columns).expect("strings serialise"))
        .bind(self.import_id)
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(self.import_id)
    }

    /// Drops everything this import wrote.
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// E.164 `+14155552671` → 14155552671: a compact key for duplicate and DNC lookups.
pub fn phone_key(e164: &str) -> Option<u64> {
    e164.strip_prefix('+')?.parse().ok()
}
