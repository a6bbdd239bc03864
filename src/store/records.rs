//! Typed reads of whole jobs and attempts: what the demo's self-check, the tests and the coming
//! export read, decoded into domain types at the boundary (states, outcomes, times, E.164
//! numbers). A value the code does not know is [`StoreError::Corrupt`].

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{AttemptState, JobState, Outcome, Store, StoreError, stored_time};
use crate::phone::PhoneNumber;

/// One recipient of a campaign, as stored.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub id: i64,
    pub campaign_id: String,
    pub phone: PhoneNumber,
    pub source_line: Option<i64>,
    pub state: JobState,
    /// Attempts counted so far (a send proven never placed is not counted).
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    /// The last attempt's outcome.
    pub outcome: Option<Outcome>,
    /// Why it was suppressed or failed.
    pub reason: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// One call attempt, as stored.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub id: String,
    pub job_id: i64,
    pub campaign_id: String,
    pub phone: PhoneNumber,
    pub attempt_no: i64,
    pub state: AttemptState,
    pub call_id: Option<String>,
    pub dialed_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
    pub answered_by: Option<String>,
    pub send_error: Option<String>,
    pub error_message: Option<String>,
    /// The raw call details Bland last gave, as JSON text.
    pub details: Option<String>,
}

/// Only E.164 text is ever stored (import and DNC parse it first); anything else is corrupt.
fn phone(row: &SqliteRow) -> Result<PhoneNumber, StoreError> {
    let text: String = row.try_get("phone")?;
    let digits = text.strip_prefix('+').unwrap_or_default();
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::Corrupt(format!("stored number `{text}` is not E.164")));
    }
    Ok(PhoneNumber::from_stored(text))
}

fn time(row: &SqliteRow, col: &str) -> Result<DateTime<Utc>, StoreError> {
    stored_time(row.try_get(col)?, col)
}

fn maybe_time(row: &SqliteRow, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.try_get::<Option<i64>, _>(col)?.map(|ms| stored_time(ms, col)).transpose()
}

fn outcome(row: &SqliteRow) -> Result<Option<Outcome>, StoreError> {
    row.try_get::<Option<&str>, _>("outcome")?.map(Outcome::from_sql).transpose()
}

fn job_record(row: SqliteRow) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        id: row.try_get("id")?,
        campaign_id: row.try_get("campaign_id")?,
        phone: phone(&row)?,
        source_line: row.try_get("source_line")?,
        state: JobState::from_sql(row.try_get("state")?)?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: time(&row, "next_attempt_at")?,
        outcome: outcome(&row)?,
        reason: row.try_get("reason")?,
        updated_at: time(&row, "updated_at")?,
    })
}

fn attempt_record(row: SqliteRow) -> Result<AttemptRecord, StoreError> {
    Ok(AttemptRecord {
        id: row.try_get("id")?,
        job_id: row.try_get("job_id")?,
        campaign_id: row.try_get("campaign_id")?,
        phone: phone(&row)?,
        attempt_no: row.try_get("attempt_no")?,
        state: AttemptState::from_sql(row.try_get("state")?)?,
        call_id: row.try_get("call_id")?,
        dialed_at: time(&row, "dialed_at")?,
        sent_at: maybe_time(&row, "sent_at")?,
        ended_at: maybe_time(&row, "ended_at")?,
        outcome: outcome(&row)?,
        answered_by: row.try_get("answered_by")?,
        send_error: row.try_get("send_error")?,
        error_message: row.try_get("error_message")?,
        details: row.try_get("details")?,
    })
}

const JOB_COLUMNS: &str =
    "id, campaign_id, phone, source_line, state, attempts, next_attempt_at, outcome, reason, updated_at";
const ATTEMPT_COLUMNS: &str =
    "id, job_id, campaign_id, phone, attempt_no, state, call_id, dialed_at, sent_at, ended_at,
     outcome, answered_by, send_error, error_message, details";

impl Store {
    /// Every job of the campaign, in import order (or every job of every campaign for `None`).
    pub async fn job_records(&self, campaign_id: Option<&str>) -> Result<Vec<JobRecord>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE ?1 IS NULL OR campaign_id = ?1 ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(campaign_id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(job_record)
            .collect()
    }

    /// Every attempt of the campaign (or of every campaign for `None`), in the order they were
    /// dialled, including sends proven never placed (`not_sent`).
    pub async fn attempt_records(&self, campaign_id: Option<&str>) -> Result<Vec<AttemptRecord>, StoreError> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE ?1 IS NULL OR campaign_id = ?1 ORDER BY dialed_at, rowid"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(campaign_id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(attempt_record)
            .collect()
    }

    /// The attempt Bland knows as `call_id`, if any.
    pub async fn attempt_by_call(&self, call_id: &str) -> Result<Option<AttemptRecord>, StoreError> {
        let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE call_id = ?");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(call_id)
            .fetch_optional(&self.pool)
            .await?
            .map(attempt_record)
            .transpose()
    }
}
