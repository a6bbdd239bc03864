//! Typed reads of whole jobs and attempts (and of the webhook inbox and the imports): what the
//! demo's self-check, the tests and the coming export read, decoded into domain types at the
//! boundary (states, outcomes, times, E.164 numbers, time zones). A value the code does not know
//! is [`StoreError::Corrupt`].

use super::backend::{Backend as _, Cols, on_db};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};
use sqlx::Row;

use super::{
    Applied, AttemptState, ImportRow, JobState, Outcome, Store, StoreError, ZoneSource, millis, stored_phone,
    stored_time, stored_zones,
};
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
    /// The rule set that allowed the call (its version, or `informational`).
    pub rules_version: Option<String>,
}

fn phone<R: Cols>(row: &R) -> Result<PhoneNumber, StoreError> {
    stored_phone(row.get("phone")?)
}

fn time<R: Cols>(row: &R, col: &str) -> Result<DateTime<Utc>, StoreError> {
    stored_time(row.get(col)?, col)
}

fn maybe_time<R: Cols>(row: &R, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.get::<Option<i64>>(col)?.map(|ms| stored_time(ms, col)).transpose()
}

fn outcome<R: Cols>(row: &R) -> Result<Option<Outcome>, StoreError> {
    row.get::<Option<&str>>("outcome")?.map(Outcome::from_sql).transpose()
}

fn job_record<R: Cols>(row: R) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        id: row.get("id")?,
        campaign_id: row.get("campaign_id")?,
        phone: phone(&row)?,
        source_line: row.get("source_line")?,
        state: JobState::from_sql(row.get("state")?)?,
        attempts: row.get("attempts")?,
        next_attempt_at: time(&row, "next_attempt_at")?,
        outcome: outcome(&row)?,
        reason: row.get("reason")?,
        updated_at: time(&row, "updated_at")?,
    })
}

fn attempt_record<R: Cols>(row: R) -> Result<AttemptRecord, StoreError> {
    Ok(AttemptRecord {
        id: row.get("id")?,
        job_id: row.get("job_id")?,
        campaign_id: row.get("campaign_id")?,
        phone: phone(&row)?,
        attempt_no: row.get("attempt_no")?,
        state: AttemptState::from_sql(row.get("state")?)?,
        call_id: row.get("call_id")?,
        dialed_at: time(&row, "dialed_at")?,
        sent_at: maybe_time(&row, "sent_at")?,
        ended_at: maybe_time(&row, "ended_at")?,
        outcome: outcome(&row)?,
        answered_by: row.get("answered_by")?,
        send_error: row.get("send_error")?,
        error_message: row.get("error_message")?,
        details: row.get("details")?,
        rules_version: row.get("rules_version")?,
    })
}

const JOB_COLUMNS: &str =
    "id, campaign_id, phone, source_line, state, attempts, next_attempt_at, outcome, reason, updated_at";
const ATTEMPT_COLUMNS: &str =
    "id, job_id, campaign_id, phone, attempt_no, state, call_id, dialed_at, sent_at, ended_at,
     outcome, answered_by, send_error, error_message, details, rules_version";

impl Store {
    /// Every job of the campaign, in import order (or every job of every campaign for `None`).
    pub async fn job_records(&self, campaign_id: Option<&str>) -> Result<Vec<JobRecord>, StoreError> {
        on_db!(&self.db, |pool| {
            let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE $1 IS NULL OR campaign_id = $1 ORDER BY id");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(campaign_id)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(job_record)
                .collect()
        })
    }

    /// Every attempt of the campaign (or of every campaign for `None`), in the order they were
    /// dialled, including sends proven never placed (`not_sent`).
    pub async fn attempt_records(&self, campaign_id: Option<&str>) -> Result<Vec<AttemptRecord>, StoreError> {
        on_db!(&self.db, |pool| {
            let sql = format!(
                "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE $1 IS NULL OR campaign_id = $1 ORDER BY dialed_at, {}",
                pool.insertion_order()
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(campaign_id)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(attempt_record)
                .collect()
        })
    }

    /// The attempt Bland knows as `call_id`, if any.
    pub async fn attempt_by_call(&self, call_id: &str) -> Result<Option<AttemptRecord>, StoreError> {
        on_db!(&self.db, |pool| {
            let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE call_id = $1");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(call_id)
                .fetch_optional(pool)
                .await?
                .map(attempt_record)
                .transpose()
        })
    }
}

/// A job with what the dispatcher reads to place its call: its zones and its variables. What
/// [`JobRecord`] leaves out because only the dispatcher and the tests need it.
#[derive(Debug, Clone)]
pub struct JobDetails {
    pub record: JobRecord,
    pub import_id: Option<i64>,
    /// The zones whose hours the call must respect.
    pub timezones: Vec<Tz>,
    pub zone_source: ZoneSource,
    /// The zones the number itself suggests, when it suggests any.
    pub number_zones: Option<Vec<Tz>>,
    /// Every non-phone column of the recipient, by its name in the file.
    pub variables: Map<String, Value>,
}

/// One call attempt with its slot, its poll and what Bland billed: what [`AttemptRecord`]
/// leaves out.
#[derive(Debug, Clone)]
pub struct AttemptDetails {
    pub record: AttemptRecord,
    /// Until when it holds a concurrency slot at most.
    pub expires_at: DateTime<Utc>,
    /// When the poller next asks Bland about it.
    pub poll_at: Option<DateTime<Utc>>,
    /// In minutes, as Bland reports it.
    pub call_length: Option<f64>,
    pub price: Option<f64>,
}

/// One webhook delivery, as the receiver stored it.
#[derive(Debug, Clone)]
pub struct InboxRecord {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub call_id: Option<String>,
    pub attempt_id: Option<String>,
    /// The body exactly as received.
    pub body: String,
    pub result: Applied,
    /// How many times the same body came again for the same call (stored once).
    pub repeats: i64,
}

/// A job's variables: a JSON array of values named by its import's columns, or (a job from
/// elsewhere) a JSON object. A count of values that is not the count of names is corrupt.
fn variables(values: &str, names: Option<&str>) -> Result<Map<String, Value>, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("jobs.variables `{values}`: {e}"));
    let Some(names) = names else { return serde_json::from_str(values).map_err(corrupt) };
    let names: Vec<String> =
        serde_json::from_str(names).map_err(|e| StoreError::Corrupt(format!("imports.columns `{names}`: {e}")))?;
    let values: Vec<Value> = serde_json::from_str(values).map_err(corrupt)?;
    if names.len() != values.len() {
        return Err(StoreError::Corrupt(format!(
            "a job has {} variables, its import {} columns",
            values.len(),
            names.len()
        )));
    }
    Ok(names.into_iter().zip(values).collect())
}

impl Store {
    /// Every job of the campaign (or of every campaign for `None`) with its zones and
    /// variables, in import order.
    pub async fn job_details(&self, campaign_id: Option<&str>) -> Result<Vec<JobDetails>, StoreError> {
        on_db!(&self.db, |pool| {
            let sql = format!(
                "SELECT {JOB_COLUMNS}, import_id, timezones, zone_source, number_zones, variables,
                    (SELECT columns FROM imports WHERE imports.id = jobs.import_id) AS variable_names
             FROM jobs WHERE $1 IS NULL OR campaign_id = $1 ORDER BY id"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(campaign_id).fetch_all(pool).await?;
            rows.into_iter()
                .map(|row| {
                    let number_zones: Option<String> = row.try_get("number_zones")?;
                    Ok(JobDetails {
                        import_id: row.try_get("import_id")?,
                        timezones: stored_zones(row.try_get("timezones")?, "jobs.timezones")?,
                        zone_source: ZoneSource::from_sql(row.try_get("zone_source")?)?,
                        number_zones: number_zones.map(|z| stored_zones(&z, "jobs.number_zones")).transpose()?,
                        variables: variables(row.try_get("variables")?, row.try_get("variable_names")?)?,
                        record: job_record(row)?,
                    })
                })
                .collect()
        })
    }

    /// Every attempt of the campaign (or of every campaign for `None`) with its slot, poll and
    /// billing, in the order of [`Store::attempt_records`].
    pub async fn attempt_details(&self, campaign_id: Option<&str>) -> Result<Vec<AttemptDetails>, StoreError> {
        on_db!(&self.db, |pool| {
            let sql = format!(
                "SELECT {ATTEMPT_COLUMNS}, expires_at, poll_at, call_length, price
             FROM attempts WHERE $1 IS NULL OR campaign_id = $1 ORDER BY dialed_at, {}",
                pool.insertion_order()
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(campaign_id).fetch_all(pool).await?;
            rows.into_iter()
                .map(|row| {
                    Ok(AttemptDetails {
                        expires_at: time(&row, "expires_at")?,
                        poll_at: maybe_time(&row, "poll_at")?,
                        call_length: row.try_get("call_length")?,
                        price: row.try_get("price")?,
                        record: attempt_record(row)?,
                    })
                })
                .collect()
        })
    }

    /// The webhook deliveries stored after the one numbered `after_id` (0: all), in the order
    /// they arrived.
    pub async fn inbox_records(&self, after_id: i64) -> Result<Vec<InboxRecord>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(
            "SELECT id, received_at, call_id, attempt_id, body, result, repeats FROM webhook_inbox WHERE id > $1 ORDER BY id",
        )
        .bind(after_id)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|row| {
            Ok(InboxRecord {
                id: row.try_get("id")?,
                received_at: time(&row, "received_at")?,
                call_id: row.try_get("call_id")?,
                attempt_id: row.try_get("attempt_id")?,
                body: row.try_get("body")?,
                result: Applied::from_sql(row.try_get("result")?)?,
                repeats: row.try_get("repeats")?,
            })
        })
        .collect()
        })
    }

    /// The imports of the campaign (or of every campaign for `None`), oldest first.
    pub async fn import_records(&self, campaign_id: Option<&str>) -> Result<Vec<ImportRow>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(
            "SELECT id, file_name, accepted, created_at FROM imports WHERE $1 IS NULL OR campaign_id = $1 ORDER BY id",
        )
        .bind(campaign_id)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|row| {
            Ok(ImportRow {
                id: row.try_get("id")?,
                file_name: row.try_get("file_name")?,
                accepted: row.try_get("accepted")?,
                created_at: time(&row, "created_at")?,
            })
        })
        .collect()
        })
    }

    /// Test support: puts a number on the do-not-call list *without* suppressing the jobs
    /// waiting to call it, as when `dnc add` commits between a dispatcher's claim and its send.
    /// [`Store::dnc_add`] is the only way the product adds a number.
    #[doc(hidden)]
    pub async fn dnc_insert_unsuppressed(
        &self,
        phone: &PhoneNumber,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            sqlx::query("INSERT INTO dnc (phone, reason, added_at) VALUES ($1, $2, $3)")
                .bind(phone.as_str())
                .bind(reason)
                .bind(now_ms)
                .execute(pool)
                .await?;
            Ok(())
        })
    }
}
