//! The reads of one export: a read transaction on one connection, decoded into domain types.
//!
//! [`Store::export_reader`] begins a transaction and reads the campaign in it; in WAL mode that
//! first read fixes the snapshot every later read of the [`ExportReader`] sees, whatever the
//! daemon commits meanwhile. So the header (columns of the imports, `[analysis]` question sets)
//! and the rows that follow agree, and a recipient's attempt count, times and cost agree with
//! its rows in an `--attempts` export taken from the same snapshot.
//!
//! Rows leave as streams, never as vectors: a recipient's attempt aggregates (count, first and
//! last dial, cost, the last call, the last answered call's `analysis`, its `[analysis]`
//! answers) come from the same statement, grouped as the jobs are scanned in id order. The
//! statement is shaped so SQLite needs no temporary b-tree of its size (see
//! [`RECIPIENTS_SQL`]): memory stays flat for a million recipients. Only sent attempts count
//! (`state != 'not_sent'`, which is also what lets SQLite use the `(job_id, attempt_no)` index).

use super::backend::{Cols, Conn, Db, on_conn};
use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use serde_json::{Map, Value};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row, SqliteConnection};

use super::campaigns::{CAMPAIGN_COLUMNS, row_to_campaign};
use super::{
    AttemptState, CampaignRow, JobState, Outcome, Store, StoreError, ZoneSource, millis, stored_phone, stored_time,
    stored_zones,
};
use crate::phone::PhoneNumber;

/// One export's view of the database: an open read transaction on a connection of its own
/// (rolled back when finished or dropped; it never writes).
pub struct ExportReader {
    /// A connection of its own, inside `BEGIN`.
    conn: ReaderConn,
    campaign_id: String,
    zones: ZoneCache,
}

enum ReaderConn {
    Sqlite(SqliteConnection),
    /// A pool connection, inside a read-only repeatable-read transaction (one snapshot).
    Pg(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl ReaderConn {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            ReaderConn::Sqlite(c) => Conn::Sqlite(c),
            ReaderConn::Pg(c) => Conn::Pg(c),
        }
    }
}

/// One import's columns: the names of its jobs' variables in order, and where its phone column
/// was (unknown for imports made before migration 0004).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportColumns {
    pub import_id: i64,
    pub columns: Vec<String>,
    pub phone_column: Option<String>,
    /// The phone column's place among all the file's columns (0-based).
    pub phone_position: Option<usize>,
}

/// A recipient's columns other than the phone, as stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Variables {
    /// Values in the order of their import's [`ImportColumns::columns`].
    Values(Vec<String>),
    /// Name and value (a job stored with its names, not through an import).
    Named(Vec<(String, String)>),
}

/// One set of `[analysis]` answers: the questions asked (question, answer type) and the
/// answers, aligned with them (`null`: unanswerable).
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisAnswers {
    pub questions: Vec<(String, String)>,
    pub answers: Vec<Value>,
}

/// A recipient with what its calls came to.
#[derive(Debug, Clone)]
pub struct ExportRecipient {
    pub job_id: i64,
    pub import_id: Option<i64>,
    pub phone: PhoneNumber,
    pub variables: Variables,
    /// Its zones, the first one its own (local times are read there).
    pub timezones: Arc<[Tz]>,
    pub state: JobState,
    /// The last call's outcome.
    pub outcome: Option<Outcome>,
    /// Attempts sent (or being sent).
    pub attempts: i64,
    pub first_attempt: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    /// The sum of the attempts' prices, to the millionth of a dollar; `None` while none has
    /// a price.
    pub cost_usd: Option<f64>,
    /// The last attempt's.
    pub call_id: Option<String>,
    pub answered_by: Option<String>,
    /// To the millionth of a minute.
    pub call_length_min: Option<f64>,
    pub summary: Option<String>,
    /// The `analysis_schema` answers of the last call a person answered.
    pub analysis: Option<Map<String, Value>>,
    /// Its calls' finished `[analysis]` answers, oldest first (empty unless asked for).
    pub answers: Vec<AnalysisAnswers>,
    /// The regions (states, provinces) whose rules apply to it.
    pub regions: Vec<crate::compliance::Region>,
}

/// One attempt with the recipient facts an audit needs.
#[derive(Debug, Clone)]
pub struct ExportAttempt {
    pub id: String,
    pub job_id: i64,
    pub attempt_no: i64,
    pub phone: PhoneNumber,
    pub state: AttemptState,
    pub dialed_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
    pub answered_by: Option<String>,
    pub call_id: Option<String>,
    pub call_length_min: Option<f64>,
    pub price_usd: Option<f64>,
    pub error_message: Option<String>,
    /// The recipient's zones (`jobs.timezones`), where they came from, and the number's own.
    pub timezones: Arc<[Tz]>,
    pub zone_source: ZoneSource,
    pub number_zones: Option<Arc<[Tz]>>,
    /// The recipient's regions, and the rule set that allowed the call (its version, or
    /// `informational`; none for a call made before the compliance engine recorded it).
    pub regions: Vec<crate::compliance::Region>,
    pub rules_version: Option<String>,
}

/// Parsed zone lists, by their stored text: a million rows name a handful of sets.
#[derive(Default)]
struct ZoneCache(Vec<(String, Arc<[Tz]>)>);

impl ZoneCache {
    fn get(&mut self, text: &str, column: &str) -> Result<Arc<[Tz]>, StoreError> {
        if let Some((_, zones)) = self.0.iter().find(|(t, _)| t == text) {
            return Ok(zones.clone());
        }
        let zones: Arc<[Tz]> = stored_zones(text, column)?.into();
        if self.0.len() < 256 {
            self.0.push((text.to_string(), zones.clone()));
        }
        Ok(zones)
    }
}

/// Recipients a row of [`RECIPIENTS_SQL`] carries.
const BATCH: i64 = 1024;

/// The batches of [`RECIPIENTS_SQL`] (both databases): the campaign's job ids in runs of `BATCH`.
macro_rules! recipient_batches {
    () => {
        "
WITH RECURSIVE batch(lo) AS (
    SELECT min(id) - 1 FROM jobs WHERE campaign_id = $1
    UNION ALL
    SELECT lo + {BATCH} FROM batch WHERE lo + {BATCH} < (SELECT max(id) FROM jobs WHERE campaign_id = $1))
SELECT batch.lo,
"
    };
}

/// Each batch's recipients with their attempts' aggregates and their last and answered attempts
/// (both databases; `{plus}` is SQLite's `+` that keeps its planner off `jobs_due`).
macro_rules! recipient_groups {
    () => {
        "   FROM (SELECT j.id, j.import_id, j.phone, j.variables, j.timezones, j.state, j.outcome, j.regions,
                COUNT(a.attempt_no) AS n, MIN(a.dialed_at) AS first_at, MAX(a.dialed_at) AS last_at,
                SUM(a.price) AS cost, MAX(a.attempt_no) AS last_no,
                MAX(CASE WHEN a.outcome = 'human' THEN a.attempt_no END) AS answered_no
         FROM jobs j LEFT JOIN attempts a ON a.job_id = j.id AND a.state != 'not_sent'
         WHERE {plus}j.campaign_id = $1 AND j.id > batch.lo AND j.id <= batch.lo + {BATCH}
         GROUP BY j.id
         HAVING CAST($2 AS BIGINT) IS NULL OR MAX(a.dialed_at) >= CAST($2 AS BIGINT)
         ORDER BY j.id) g
   LEFT JOIN attempts l ON l.job_id = g.id AND l.attempt_no = g.last_no AND l.state != 'not_sent'
   LEFT JOIN attempts h ON h.job_id = g.id AND h.attempt_no = g.answered_no AND h.state != 'not_sent') AS recipients
FROM batch"
    };
}

/// One row per [`BATCH`] job ids of the campaign (ids `lo+1 ..= lo+BATCH`, from its first job
/// to its last), each a JSON array of its recipients, built by SQLite.
///
/// Why batches of JSON rather than a row per recipient: the driver hands every row from
/// SQLite's thread to the reader's with a copy of each value and a thread wake-up, which cost
/// more than the query itself (a million rows: 5.7 s against 2.2 s for the SQL; BENCHMARKS.md).
/// It is still one statement, read as a stream, so the export's memory stays a few batches.
///
/// Per batch, the recipients in id order: each job, its sent attempts' aggregates (grouped
/// while the jobs are read in id order, through the `(job_id, attempt_no)` index, so no
/// temporary b-tree), then its last attempt and the last attempt a person answered, each found
/// by number. A person is reached at most once (`human` is never retried), so that call holds
/// the answers. `+j.campaign_id` keeps SQLite reading jobs by id rather than through
/// `jobs_due` (`{plus}`, replaced by the reader). `$2`: only recipients with an attempt at or after it (milliseconds), or NULL.
/// `{answers}` is an extra element ([`ANSWERS_SQL`]) or nothing.
///
/// Each recipient is written as JSON text by concatenation: `variables`, `analysis` and the
/// analyses' questions and answers are JSON the store wrote, put in as they are (parsing and
/// re-writing them cost a tenth of the export; a malformed one is a corrupt batch to the
/// reader), text is quoted with `json_quote`, and amounts and lengths travel as integer
/// millionths (SQLite's exact decimal rendering of a REAL cost as much as the rest of the row).
const RECIPIENTS_SQL: &str = concat!(
    recipient_batches!(),
    "  (SELECT '[' || group_concat(concat('[',
            g.id, ',', ifnull(g.import_id, 'null'), ',', json_quote(g.phone), ',', g.variables, ',',
            json_quote(g.timezones), ',', json_quote(g.state), ',', json_quote(g.outcome), ',',
            g.n, ',', ifnull(g.first_at, 'null'), ',', ifnull(g.last_at, 'null'), ',',
            ifnull(CAST(round(g.cost * 1000000) AS INTEGER), 'null'), ',',
            json_quote(l.call_id), ',', json_quote(l.answered_by), ',',
            ifnull(CAST(round(l.call_length * 1000000) AS INTEGER), 'null'), ',',
            json_quote(l.summary), ',', ifnull(h.analysis, 'null'), ',', json_quote(g.regions){answers}, ']'), ',') || ']'
",
    recipient_groups!()
);

/// The answered call's finished `[analysis]` answers: `[[id, questions, answers], …]`, put in
/// id order by the reader (an `ORDER BY` inside the aggregate would build a temporary b-tree
/// for every recipient).
const ANSWERS_SQL: &str = ", ',',
            ifnull((SELECT '[' || group_concat(concat('[', ca.id, ',', ca.questions, ',', ca.answers, ']'), ',') || ']'
                    FROM call_analyses ca
                    WHERE ca.attempt_id = h.id AND ca.state = 'done' AND ca.answers IS NOT NULL), 'null')";

/// [`RECIPIENTS_SQL`] in PostgreSQL's words (`string_agg`, `to_json`; `NULL` is `'null'`).
const RECIPIENTS_SQL_PG: &str = concat!(
    recipient_batches!(),
    "  (SELECT '[' || string_agg(concat('[',
            g.id, ',', COALESCE(g.import_id::text, 'null'), ',', to_json(g.phone)::text, ',', g.variables, ',',
            to_json(g.timezones)::text, ',', to_json(g.state)::text, ',', COALESCE(to_json(g.outcome)::text, 'null'), ',',
            g.n, ',', COALESCE(g.first_at::text, 'null'), ',', COALESCE(g.last_at::text, 'null'), ',',
            COALESCE(CAST(round(g.cost * 1000000) AS BIGINT)::text, 'null'), ',',
            COALESCE(to_json(l.call_id)::text, 'null'), ',', COALESCE(to_json(l.answered_by)::text, 'null'), ',',
            COALESCE(CAST(round(l.call_length * 1000000) AS BIGINT)::text, 'null'), ',',
            COALESCE(to_json(l.summary)::text, 'null'), ',', COALESCE(h.analysis, 'null'), ',',
            to_json(g.regions)::text{answers}, ']'), ',') || ']'
",
    recipient_groups!()
);

/// [`ANSWERS_SQL`] in PostgreSQL's words.
const ANSWERS_SQL_PG: &str = ", ',',
            COALESCE((SELECT '[' || string_agg(concat('[', ca.id, ',', ca.questions, ',', ca.answers, ']'), ',') || ']'
                      FROM call_analyses ca
                      WHERE ca.attempt_id = h.id AND ca.state = 'done' AND ca.answers IS NOT NULL), 'null')";

/// Sent attempts in the order they were dialled (the `(campaign_id, dialed_at)` index gives
/// that order), each with its recipient's zones. `?2`: dialled at or after it, or NULL.
const ATTEMPTS_SQL: &str = "
SELECT a.id, a.job_id, a.attempt_no, a.phone, a.state, a.dialed_at, a.ended_at, a.outcome, a.answered_by,
       a.call_id, a.call_length, a.price, a.error_message, a.rules_version, j.timezones, j.zone_source,
       j.number_zones, j.regions
FROM attempts a JOIN jobs j ON j.id = a.job_id
WHERE a.campaign_id = $1 AND a.state != 'not_sent' AND a.dialed_at >= coalesce($2, -9223372036854775808)
ORDER BY a.dialed_at, {insertion}";

impl Store {
    /// Begins the read transaction of one export of campaign `id` and reads the campaign in
    /// it (which fixes the snapshot). A missing campaign is [`StoreError::NotFound`].
    ///
    /// The connection is its own, not the pool's: a scan of a million rows reads each page once,
    /// so it keeps SQLite's default 2 MiB page cache rather than the pool's 64 MiB, and it logs
    /// no "slow statement" (a streamed export is one statement for its whole length).
    pub async fn export_reader(&self, id: &str) -> Result<(ExportReader, CampaignRow), StoreError> {
        let mut conn = match &self.db {
            Db::Sqlite(_) => {
                let mut conn = self
                    .sqlite_options()?
                    .clone()
                    .pragma("cache_size", "-2000")
                    .disable_statement_logging()
                    .connect()
                    .await?;
                sqlx::query("BEGIN").execute(&mut conn).await?;
                ReaderConn::Sqlite(conn)
            }
            Db::Pg(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *conn).await?;
                ReaderConn::Pg(conn)
            }
        };
        let campaign = on_conn!(conn.conn(), |conn| {
            let row = sqlx::query(AssertSqlSafe(format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1")))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| StoreError::no_campaign(id))?;
            row_to_campaign(row)?
        });
        Ok((ExportReader { conn, campaign_id: id.to_string(), zones: ZoneCache::default() }, campaign))
    }
}

impl ExportReader {
    /// The campaign's imports, oldest first, with their columns.
    pub async fn imports(&mut self) -> Result<Vec<ImportColumns>, StoreError> {
        let campaign_id = self.campaign_id.as_str();
        on_conn!(self.conn.conn(), |conn| {
            let rows = sqlx::query(
                "SELECT id, columns, phone_column, phone_position FROM imports WHERE campaign_id = $1 ORDER BY id",
            )
            .bind(campaign_id)
            .fetch_all(&mut *conn)
            .await?;
            rows.into_iter()
                .map(|row| {
                    let columns: &str = row.try_get("columns")?;
                    let position: Option<i64> = row.try_get("phone_position")?;
                    Ok(ImportColumns {
                        import_id: row.try_get("id")?,
                        columns: serde_json::from_str(columns)
                            .map_err(|e| StoreError::Corrupt(format!("imports.columns `{columns}`: {e}")))?,
                        phone_column: row.try_get("phone_column")?,
                        phone_position: position.map(|p| usize::try_from(p).unwrap_or(usize::MAX)),
                    })
                })
                .collect()
        })
    }

    /// The variable names of the campaign's jobs stored with names rather than through an
    /// import, in the order first met (jobs by id). Usually none.
    pub async fn named_variables(&mut self) -> Result<Vec<String>, StoreError> {
        let campaign_id = self.campaign_id.as_str();
        on_conn!(self.conn.conn(), |conn| {
            let mut rows = sqlx::query(
            "SELECT id, variables FROM jobs WHERE campaign_id = $1 AND import_id IS NULL AND variables != '{}' ORDER BY id",
        )
        .bind(campaign_id)
        .fetch(&mut *conn);
            let mut names: Vec<String> = Vec::new();
            while let Some(row) = rows.next().await {
                let row = row?;
                if let Variables::Named(pairs) = variables(row.try_get("variables")?, Some(row.try_get("id")?))? {
                    for (name, _) in pairs {
                        if !names.contains(&name) {
                            names.push(name);
                        }
                    }
                }
            }
            Ok(names)
        })
    }

    /// Every set of `[analysis]` questions with a finished answer in the campaign, in the order
    /// first answered.
    pub async fn question_sets(&mut self) -> Result<Vec<Vec<(String, String)>>, StoreError> {
        let campaign_id = self.campaign_id.as_str();
        on_conn!(self.conn.conn(), |conn| {
            let rows = sqlx::query(
            "SELECT questions FROM call_analyses
             WHERE id IN (SELECT MIN(id) FROM call_analyses WHERE campaign_id = $1 AND state = 'done' GROUP BY question_set)
             ORDER BY id",
        )
        .bind(campaign_id)
        .fetch_all(&mut *conn)
        .await?;
            rows.into_iter()
                .map(|row| {
                    let text: &str = row.try_get("questions")?;
                    serde_json::from_str(text)
                        .map_err(|e| StoreError::Corrupt(format!("call_analyses.questions `{text}`: {e}")))
                })
                .collect()
        })
    }

    /// How many recipients the campaign has (for a progress bar).
    pub async fn count_recipients(&mut self) -> Result<u64, StoreError> {
        let campaign_id = self.campaign_id.as_str();
        on_conn!(self.conn.conn(), |conn| {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE campaign_id = $1")
                .bind(campaign_id)
                .fetch_one(&mut *conn)
                .await?;
            Ok(n as u64)
        })
    }

    /// How many attempts were sent (for a progress bar).
    pub async fn count_attempts(&mut self) -> Result<u64, StoreError> {
        let campaign_id = self.campaign_id.as_str();
        on_conn!(self.conn.conn(), |conn| {
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM attempts WHERE campaign_id = $1 AND state != 'not_sent'")
                    .bind(campaign_id)
                    .fetch_one(&mut *conn)
                    .await?;
            Ok(n as u64)
        })
    }

    /// Every recipient in id order (import order), or those with an attempt at or after
    /// `since`; with their `[analysis]` answers when `answers`.
    pub fn recipients(
        &mut self,
        since: Option<DateTime<Utc>>,
        answers: bool,
    ) -> impl Stream<Item = Result<ExportRecipient, StoreError>> + '_ {
        let pg = matches!(self.conn, ReaderConn::Pg(_));
        let (recipients, answers_sql) =
            if pg { (RECIPIENTS_SQL_PG, ANSWERS_SQL_PG) } else { (RECIPIENTS_SQL, ANSWERS_SQL) };
        let sql = recipients
            .replace("{answers}", if answers { answers_sql } else { "" })
            .replace("{plus}", if pg { "" } else { "+" })
            .replace("{BATCH}", &BATCH.to_string());
        let zones = &mut self.zones;
        let campaign_id = self.campaign_id.as_str();
        let rows: BoxStream<'_, Result<Option<String>, StoreError>> = on_conn!(self.conn.conn(), |conn| {
            sqlx::query(AssertSqlSafe(sql))
                .bind(campaign_id)
                .bind(since.map(millis))
                .fetch(conn)
                .map(|row| Ok(row?.try_get::<Option<String>, _>("recipients")?))
                .boxed()
        });
        rows.map(move |text| -> Result<Vec<ExportRecipient>, StoreError> {
            let Some(text) = text? else { return Ok(Vec::new()) };
            let mut batch: Vec<RecipientJson> = serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("a batch of recipients from {}: {e}", excerpt(&text))))?;
            if !batch.is_sorted_by_key(|r| r.0) {
                batch.sort_by_key(|r| r.0);
            }
            batch.into_iter().map(|r| r.decode(zones)).collect()
        })
        .flat_map(|batch| {
            futures_util::stream::iter(match batch {
                Ok(rs) => rs.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
        })
    }

    /// Every sent attempt in the order dialled, or those dialled at or after `since`.
    pub fn attempts(
        &mut self,
        since: Option<DateTime<Utc>>,
    ) -> impl Stream<Item = Result<ExportAttempt, StoreError>> + '_ {
        let zones = &mut self.zones;
        let campaign_id = self.campaign_id.as_str();
        // Ties in dial time in the order written: SQLite's rowid; on PostgreSQL the attempt id (a
        // UUIDv7, ordered by its millisecond).
        let insertion = if matches!(self.conn, ReaderConn::Pg(_)) { "a.id" } else { "a.rowid" };
        let rows: BoxStream<'_, Result<ExportAttempt, StoreError>> = on_conn!(self.conn.conn(), |conn| {
            sqlx::query(AssertSqlSafe(ATTEMPTS_SQL.replace("{insertion}", insertion)))
                .bind(campaign_id)
                .bind(since.map(millis))
                .fetch(conn)
                .map(move |row| attempt(row?, zones))
                .boxed()
        });
        rows
    }

    /// Ends the transaction (it wrote nothing) and closes the connection. Dropped instead, the
    /// connection closes and the database ends the transaction the same way.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        on_conn!(self.conn.conn(), |conn| {
            sqlx::query("ROLLBACK").execute(&mut *conn).await?;
        });
        if let ReaderConn::Sqlite(conn) = self.conn {
            conn.close().await?;
        }
        Ok(())
    }
}

fn maybe_time<R: Cols>(row: &R, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.get::<Option<i64>>(col)?.map(|ms| stored_time(ms, col)).transpose()
}

fn outcome<R: Cols>(row: &R) -> Result<Option<Outcome>, StoreError> {
    row.get::<Option<&str>>("outcome")?.map(Outcome::from_sql).transpose()
}

/// `jobs.variables` of job `job_id` (if known).
fn variables(text: &str, job_id: Option<i64>) -> Result<Variables, StoreError> {
    serde_json::from_str(text).map_err(|e| {
        let job = job_id.map_or(String::new(), |id| format!(" of job {id}"));
        StoreError::Corrupt(format!("jobs.variables{job} `{}`: {e}", excerpt(text)))
    })
}

/// A text quoted in a message: its first 80 characters.
fn excerpt(text: &str) -> String {
    let cut: String = text.chars().take(80).collect();
    if cut.len() < text.len() { format!("{cut}…") } else { cut }
}

/// One set of `[analysis]` answers as [`ANSWERS_SQL`] builds it: `[id, questions, answers]`.
type AnswersJson = (i64, Vec<(String, String)>, Option<Vec<Value>>);

/// One recipient as [`RECIPIENTS_SQL`] builds it: `[id, import_id, phone, variables,
/// timezones, state, outcome, attempts, first_at, last_at, cost (millionths of a dollar),
/// call_id, answered_by, call_length (millionths of a minute), summary, analysis, regions,
/// answers?]`.
#[derive(serde::Deserialize)]
struct RecipientJson<'a>(
    i64,
    Option<i64>,
    String,
    Variables,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<Value>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(default)] Option<Vec<AnswersJson>>,
);

impl RecipientJson<'_> {
    fn decode(self, zones: &mut ZoneCache) -> Result<ExportRecipient, StoreError> {
        let RecipientJson(
            job_id,
            import_id,
            phone,
            variables,
            timezones,
            state,
            outcome,
            attempts,
            first_at,
            last_at,
            cost_micros,
            call_id,
            answered_by,
            length_micros,
            summary,
            analysis,
            regions,
            answers,
        ) = self;
        let millionths = |n: Option<i64>| n.map(|n| n as f64 / 1e6);
        let time = |ms: Option<i64>, col| ms.map(|ms| stored_time(ms, col)).transpose();
        let mut answers = answers.unwrap_or_default();
        answers.sort_by_key(|(id, _, _)| *id);
        Ok(ExportRecipient {
            job_id,
            import_id,
            phone: stored_phone(phone)?,
            variables,
            timezones: zones.get(&timezones, "jobs.timezones")?,
            state: JobState::from_sql(&state)?,
            outcome: outcome.as_deref().map(Outcome::from_sql).transpose()?,
            attempts,
            first_attempt: time(first_at, "attempts.dialed_at")?,
            last_attempt: time(last_at, "attempts.dialed_at")?,
            cost_usd: millionths(cost_micros),
            call_id,
            answered_by,
            call_length_min: millionths(length_micros),
            summary,
            // Bland answered with something other than an object: no field to fill.
            analysis: match analysis {
                Some(Value::Object(map)) => Some(map),
                _ => None,
            },
            answers: answers
                .into_iter()
                .map(|(_, questions, answers)| AnalysisAnswers { questions, answers: answers.unwrap_or_default() })
                .collect(),
            regions: super::stored_regions(&regions)?,
        })
    }
}

/// `jobs.variables` as JSON: an array of values (an imported job's, named by its import's
/// columns), or an object of names and values. A value that is not a string is kept as its
/// JSON text (`null` as nothing).
impl<'de> serde::Deserialize<'de> for Variables {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Variables;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array or an object of values")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Variables, A::Error> {
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(8));
                while let Some(v) = seq.next_element::<Cell>()? {
                    values.push(v.0);
                }
                Ok(Variables::Values(values))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Variables, A::Error> {
                let mut pairs = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Cell>()? {
                    pairs.push((k, v.0));
                }
                Ok(Variables::Named(pairs))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A JSON value as a cell's text.
struct Cell(String);

impl<'de> serde::Deserialize<'de> for Cell {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Cell(s),
            Value::Null => Cell(String::new()),
            other => Cell(other.to_string()),
        })
    }
}

fn attempt<R: Cols>(row: R, zones: &mut ZoneCache) -> Result<ExportAttempt, StoreError> {
    let number_zones: Option<&str> = row.get("number_zones")?;
    Ok(ExportAttempt {
        id: row.get("id")?,
        job_id: row.get("job_id")?,
        attempt_no: row.get("attempt_no")?,
        phone: stored_phone(row.get("phone")?)?,
        state: AttemptState::from_sql(row.get("state")?)?,
        dialed_at: stored_time(row.get("dialed_at")?, "dialed_at")?,
        ended_at: maybe_time(&row, "ended_at")?,
        outcome: outcome(&row)?,
        answered_by: row.get("answered_by")?,
        call_id: row.get("call_id")?,
        call_length_min: row.get("call_length")?,
        price_usd: row.get("price")?,
        error_message: row.get("error_message")?,
        timezones: zones.get(row.get("timezones")?, "jobs.timezones")?,
        zone_source: ZoneSource::from_sql(row.get("zone_source")?)?,
        number_zones: number_zones.map(|z| zones.get(z, "jobs.number_zones")).transpose()?,
        regions: super::stored_regions(row.get("regions")?)?,
        rules_version: row.get("rules_version")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_variables_decode_as_values_or_names_in_order_and_anything_else_is_corrupt() {
        assert_eq!(
            variables(r#"["Ada","a \"q\", b",""]"#, Some(1)).unwrap(),
            Variables::Values(vec!["Ada".into(), "a \"q\", b".into(), String::new()])
        );
        assert_eq!(
            variables(r#"["Ada",3,null,true]"#, Some(1)).unwrap(),
            Variables::Values(vec!["Ada".into(), "3".into(), String::new(), "true".into()])
        );
        assert_eq!(
            variables(r#"{"name":"Ada","n":2}"#, None).unwrap(),
            Variables::Named(vec![("name".into(), "Ada".into()), ("n".into(), "2".into())])
        );
        let e = variables("[\"Ada\"", Some(7)).unwrap_err();
        assert!(matches!(&e, StoreError::Corrupt(m) if m.contains("job 7")), "{e}");
    }

    #[test]
    fn a_recipient_decodes_from_its_json_with_answers_oldest_first() {
        let text = r#"[7,2,"+12125550100",["Ada"],"America/New_York|America/Chicago","done","human",2,
            1780318800000,1780405200000,300000,"c-2","human",2500000,"Spoke.",{"wants_renewal":true},"NY|NJ",
            [[9,[["Renew?","boolean"],["When?","string"]],null],[4,[["Renew?","boolean"]],[true]]]]"#;
        let r: RecipientJson = serde_json::from_str(text).unwrap();
        let r = r.decode(&mut ZoneCache::default()).unwrap();
        assert_eq!((r.job_id, r.import_id, r.phone.as_str(), r.attempts), (7, Some(2), "+12125550100", 2));
        assert_eq!(r.timezones.len(), 2);
        assert_eq!((r.state, r.outcome), (JobState::Done, Some(Outcome::Human)));
        assert_eq!(r.regions.iter().map(|g| g.code()).collect::<Vec<_>>(), ["NY", "NJ"]);
        assert_eq!(r.first_attempt.unwrap().to_rfc3339(), "2026-06-01T13:00:00+00:00");
        assert_eq!((r.cost_usd, r.call_length_min), (Some(0.3), Some(2.5)));
        assert_eq!(r.analysis.unwrap()["wants_renewal"], Value::Bool(true));
        assert_eq!(r.answers.len(), 2);
        assert_eq!(r.answers[0].answers, vec![Value::Bool(true)], "the older set first");
        assert!(r.answers[1].answers.is_empty());
        // Without the answers element (no question was answered in the campaign).
        let text = r#"[7,null,"+12125550100",[],"America/New_York","queued",null,0,null,null,null,null,null,null,null,null,""]"#;
        let r = serde_json::from_str::<RecipientJson>(text).unwrap().decode(&mut ZoneCache::default()).unwrap();
        assert!(r.answers.is_empty() && r.first_attempt.is_none() && r.outcome.is_none());
        let bad = r#"[7,null,"14155550100",[],"America/New_York","queued",null,0,null,null,null,null,null,null,null,null,""]"#;
        let e = serde_json::from_str::<RecipientJson>(bad).unwrap().decode(&mut ZoneCache::default()).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
    }
}
