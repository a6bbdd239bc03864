//! The campaign report's reads. For the whole campaign they read the report counters that the
//! transactions writing attempts, jobs and analyses keep (migrations/0009_report_counters.sql):
//! a few hundred rows, whatever the campaign's size. For a period (`--since/--until`) they are
//! grouped queries, each one pass over the campaign's attempts in it. Both give the same rows
//! for the same dials (tests/report.rs checks it); the arithmetic on them (rates, local hours,
//! distributions) is `crate::report`'s, a pure function of these rows.
//!
//! Every attempt read here reached Bland (`state != 'not_sent'`: a send proven never placed is
//! no dial), and was dialled inside the report's period.

use super::backend::{Cols, on_db};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::Row;

use super::{AttemptState, JobState, Outcome, Store, StoreError, millis, stored_time, stored_zones};

/// The dials a report counts: those made in `[since, until)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Period {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Period {
    /// The whole campaign: read the counters, not the attempts.
    fn is_all(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    fn bounds(&self) -> (i64, i64) {
        (self.since.map_or(i64::MIN, millis), self.until.map_or(i64::MAX, millis))
    }
}

/// Jobs of one state and last outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct JobGroup {
    pub state: JobState,
    pub outcome: Option<Outcome>,
    pub jobs: u64,
}

/// Dials with one attempt number, state, outcome and length bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct DialGroup {
    pub attempt_no: u32,
    pub state: AttemptState,
    /// `None` while the call is in progress.
    pub outcome: Option<Outcome>,
    pub bucket: LengthBucket,
    pub dials: u64,
    /// Sum of `call_length` (minutes) over the group.
    pub minutes: f64,
    /// Sum of `price` (USD) over the group.
    pub cost: f64,
}

/// Call length classes (minutes), as Bland's batch analysis groups `call_lengths`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LengthBucket {
    /// No length reported (in progress, never connected).
    Unknown,
    Zero,
    UnderHalf,
    HalfToOne,
    OneToTwo,
    TwoToFive,
    FiveToTen,
    TenOrMore,
}

impl LengthBucket {
    pub const ALL: [LengthBucket; 8] = [
        LengthBucket::Unknown,
        LengthBucket::Zero,
        LengthBucket::UnderHalf,
        LengthBucket::HalfToOne,
        LengthBucket::OneToTwo,
        LengthBucket::TwoToFive,
        LengthBucket::FiveToTen,
        LengthBucket::TenOrMore,
    ];

    pub fn label(self) -> &'static str {
        match self {
            LengthBucket::Unknown => "no length",
            LengthBucket::Zero => "0",
            LengthBucket::UnderHalf => "0-0.5 min",
            LengthBucket::HalfToOne => "0.5-1 min",
            LengthBucket::OneToTwo => "1-2 min",
            LengthBucket::TwoToFive => "2-5 min",
            LengthBucket::FiveToTen => "5-10 min",
            LengthBucket::TenOrMore => "10+ min",
        }
    }

    /// The bucket of a length in minutes (the SQL below is the same rule).
    pub fn of(minutes: Option<f64>) -> Self {
        match minutes {
            None => LengthBucket::Unknown,
            Some(m) if m <= 0.0 => LengthBucket::Zero,
            Some(m) if m < 0.5 => LengthBucket::UnderHalf,
            Some(m) if m < 1.0 => LengthBucket::HalfToOne,
            Some(m) if m < 2.0 => LengthBucket::OneToTwo,
            Some(m) if m < 5.0 => LengthBucket::TwoToFive,
            Some(m) if m < 10.0 => LengthBucket::FiveToTen,
            Some(_) => LengthBucket::TenOrMore,
        }
    }

    fn from_code(code: i64) -> Result<Self, StoreError> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
            .ok_or_else(|| StoreError::Corrupt(format!("length bucket {code}")))
    }
}

/// The SQL twin of [`LengthBucket::of`]: the bucket's index in [`LengthBucket::ALL`] (written
/// out again in migrations/0009_report_counters.sql's triggers; a test keeps them in step).
const BUCKET_SQL: &str = "CAST(CASE WHEN call_length IS NULL THEN 0 WHEN call_length <= 0 THEN 1 \
     WHEN call_length < 0.5 THEN 2 WHEN call_length < 1 THEN 3 WHEN call_length < 2 THEN 4 \
     WHEN call_length < 5 THEN 5 WHEN call_length < 10 THEN 6 ELSE 7 END AS BIGINT)";

/// Calls with an outcome to recipients with one set of zones and regions in one quarter hour
/// (UTC), by outcome (calls in progress are left out of these breakdowns).
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneQuarter {
    /// The recipient's zones as stored (the first is the one local times are shown in).
    pub zones: Vec<Tz>,
    /// The recipient's regions (states, provinces) as stored.
    pub regions: Vec<crate::compliance::Region>,
    /// The start of the quarter hour the dials were made in: every zone's offset is a whole
    /// number of quarter hours, so each quarter falls in one local hour.
    pub quarter: DateTime<Utc>,
    pub outcome: Option<Outcome>,
    pub dials: u64,
}

/// Recipients dialled `dials` times in the period, and whether one of those calls reached a human.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientGroup {
    pub dials: u32,
    pub reached_human: bool,
    pub recipients: u64,
}

/// A failure's reason and how often it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct ReasonCount {
    pub reason: String,
    pub count: u64,
}

/// One value of one answer field, over the calls that reached a human: `kind` is SQLite's JSON
/// type (`true`, `false`, `null`, `integer`, `real`, `text`, `array`, `object`).
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerGroup {
    /// The field (an `analysis_schema` key, or an `[analysis]` question).
    pub field: String,
    pub kind: String,
    /// The value for text (the most frequent ones of each field), `None` for other kinds.
    pub text: Option<String>,
    pub count: u64,
    pub min: Option<f64>,
    pub sum: Option<f64>,
    pub max: Option<f64>,
}

/// Most frequent text values kept per answer field.
pub const TOP_TEXT: u32 = 10;

impl Store {
    /// The campaign's jobs by state and last outcome (now: a job's state has no period).
    pub async fn report_jobs(&self, campaign_id: &str) -> Result<Vec<JobGroup>, StoreError> {
        on_db!(&self.db, |pool| {
            // The job counters (migrations/0006_job_counters.sql), not a count of a million rows.
            sqlx::query(
                "SELECT state, NULLIF(outcome, '') AS outcome, CAST(SUM(n) AS BIGINT) AS n FROM job_counters
                 WHERE campaign_id = $1 GROUP BY state, outcome HAVING SUM(n) > 0",
            )
            .bind(campaign_id)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| {
                Ok(JobGroup {
                    state: JobState::from_sql(r.try_get("state")?)?,
                    outcome: outcome(&r)?,
                    jobs: count(&r, "n")?,
                })
            })
            .collect()
        })
    }

    /// Dials by attempt number, state, outcome and length bucket, with their minutes and cost.
    pub async fn report_dials(&self, campaign_id: &str, period: Period) -> Result<Vec<DialGroup>, StoreError> {
        on_db!(&self.db, |pool| {
            let rows = if period.is_all() {
                sqlx::query(
                    "SELECT attempt_no, state, NULLIF(outcome, '') AS outcome, bucket, CAST(SUM(n) AS BIGINT) AS n,
                        CAST(SUM(minutes) AS DOUBLE PRECISION) AS minutes, CAST(SUM(cost) AS DOUBLE PRECISION) AS cost
                 FROM dial_counters WHERE campaign_id = $1 AND state != 'not_sent'
                 GROUP BY attempt_no, state, outcome, bucket HAVING SUM(n) > 0",
                )
                .bind(campaign_id)
                .fetch_all(pool)
                .await?
            } else {
                let (since, until) = period.bounds();
                let sql = format!(
                    "SELECT attempt_no, state, outcome, {BUCKET_SQL} AS bucket, COUNT(*) AS n,
                        CAST(COALESCE(SUM(call_length), 0) AS DOUBLE PRECISION) AS minutes,
                        CAST(COALESCE(SUM(price), 0) AS DOUBLE PRECISION) AS cost
                 FROM attempts
                 WHERE campaign_id = $1 AND dialed_at >= $2 AND dialed_at < $3 AND state != 'not_sent'
                 GROUP BY attempt_no, state, outcome, bucket"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(campaign_id).bind(since).bind(until).fetch_all(pool).await?
            };
            rows.into_iter()
                .map(|r| {
                    Ok(DialGroup {
                        attempt_no: u32::try_from(r.try_get::<i64, _>("attempt_no")?)
                            .map_err(|_| StoreError::Corrupt("attempts.attempt_no out of range".into()))?,
                        state: AttemptState::from_sql(r.try_get("state")?)?,
                        outcome: outcome(&r)?,
                        bucket: LengthBucket::from_code(r.try_get("bucket")?)?,
                        dials: count(&r, "n")?,
                        minutes: r.try_get("minutes")?,
                        cost: r.try_get("cost")?,
                    })
                })
                .collect()
        })
    }

    /// Dials by the recipient's zones, quarter hour and outcome.
    pub async fn report_zone_quarters(
        &self,
        campaign_id: &str,
        period: Period,
    ) -> Result<Vec<ZoneQuarter>, StoreError> {
        on_db!(&self.db, |pool| {
            const QUARTER_MS: i64 = 15 * 60 * 1000;
            let rows = if period.is_all() {
                sqlx::query(
                    "SELECT timezones, regions, quarter, NULLIF(outcome, '') AS outcome, CAST(SUM(n) AS BIGINT) AS n
                 FROM dial_quarters WHERE campaign_id = $1
                 GROUP BY timezones, regions, quarter, outcome HAVING SUM(n) > 0",
                )
                .bind(campaign_id)
                .fetch_all(pool)
                .await?
            } else {
                let (since, until) = period.bounds();
                // The quarter is written once more in migrations/0009_report_counters.sql.
                sqlx::query(
                "SELECT j.timezones, j.regions, a.dialed_at - (a.dialed_at % $1) AS quarter, a.outcome, COUNT(*) AS n
                 FROM attempts a JOIN jobs j ON j.id = a.job_id
                 WHERE a.campaign_id = $2 AND a.dialed_at >= $3 AND a.dialed_at < $4 AND a.state != 'not_sent'
                   AND a.outcome IS NOT NULL
                 GROUP BY j.timezones, j.regions, quarter, a.outcome",
            )
            .bind(QUARTER_MS)
            .bind(campaign_id)
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await?
            };
            // A campaign has a handful of zone sets: parse each once.
            let mut parsed: Vec<(String, Vec<Tz>)> = Vec::new();
            rows.into_iter()
                .map(|r| {
                    let text: &str = r.try_get("timezones")?;
                    let zones = match parsed.iter().find(|(t, _)| t == text) {
                        Some((_, z)) => z.clone(),
                        None => {
                            let z = stored_zones(text, "jobs.timezones")?;
                            parsed.push((text.to_string(), z.clone()));
                            z
                        }
                    };
                    Ok(ZoneQuarter {
                        zones,
                        regions: super::stored_regions(r.try_get("regions")?)?,
                        quarter: stored_time(r.try_get("quarter")?, "attempts.dialed_at")?,
                        outcome: outcome(&r)?,
                        dials: count(&r, "n")?,
                    })
                })
                .collect()
        })
    }

    /// Recipients by how many times they were dialled in the period and whether a call reached
    /// a human; recipients not dialled in it are not counted.
    pub async fn report_recipients(
        &self,
        campaign_id: &str,
        period: Period,
    ) -> Result<Vec<RecipientGroup>, StoreError> {
        on_db!(&self.db, |pool| {
            let rows = if period.is_all() {
                sqlx::query(
                    "SELECT dials, human, CAST(SUM(n) AS BIGINT) AS n FROM recipient_counters WHERE campaign_id = $1
                     GROUP BY dials, human HAVING SUM(n) > 0",
                )
                .bind(campaign_id)
                .fetch_all(pool)
                .await?
            } else {
                let (since, until) = period.bounds();
                sqlx::query(
                "SELECT dials, human, COUNT(*) AS n FROM (
                     SELECT COUNT(*) AS dials, CAST(MAX(CASE WHEN outcome = 'human' THEN 1 ELSE 0 END) AS BIGINT) AS human
                     FROM attempts
                     WHERE campaign_id = $1 AND dialed_at >= $2 AND dialed_at < $3 AND state != 'not_sent'
                     GROUP BY job_id) AS per_recipient
                 GROUP BY dials, human",
            )
            .bind(campaign_id)
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await?
            };
            rows.into_iter()
                .map(|r| {
                    Ok(RecipientGroup {
                        dials: u32::try_from(r.try_get::<i64, _>("dials")?)
                            .map_err(|_| StoreError::Corrupt("dials per recipient out of range".into()))?,
                        reached_human: r.try_get::<i64, _>("human")? != 0,
                        recipients: count(&r, "n")?,
                    })
                })
                .collect()
        })
    }

    /// The most frequent reasons calls failed in the period (Bland's error message, or the send
    /// error when Bland refused the call), most frequent first; ties by reason.
    pub async fn report_failures(
        &self,
        campaign_id: &str,
        period: Period,
        limit: u32,
    ) -> Result<Vec<ReasonCount>, StoreError> {
        on_db!(&self.db, |pool| {
            let rows = if period.is_all() {
                sqlx::query(
                    "SELECT reason, CAST(SUM(n) AS BIGINT) AS n FROM failure_counters WHERE campaign_id = $1
                     GROUP BY reason HAVING SUM(n) > 0 ORDER BY n DESC, reason LIMIT $2",
                )
                .bind(campaign_id)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
            } else {
                let (since, until) = period.bounds();
                // The reason is written once more in migrations/0009_report_counters.sql.
                sqlx::query(
                "SELECT COALESCE(NULLIF(error_message, ''), NULLIF(send_error, ''), NULLIF(call_ended_by, ''), '(no reason given)')
                            AS reason, COUNT(*) AS n
                 FROM attempts
                 WHERE campaign_id = $1 AND dialed_at >= $2 AND dialed_at < $3 AND state != 'not_sent' AND outcome = 'failed'
                 GROUP BY reason ORDER BY n DESC, reason LIMIT $4",
            )
            .bind(campaign_id)
            .bind(since)
            .bind(until)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            };
            rows.into_iter().map(|r| Ok(ReasonCount { reason: r.try_get("reason")?, count: count(&r, "n")? })).collect()
        })
    }

    /// The answers Bland gave to the call's `analysis_schema` (`attempts.analysis`), over the
    /// period's calls that reached a human: grouped by field and JSON type, with numeric
    /// aggregates, and the [`TOP_TEXT`] most frequent text values of each field.
    pub async fn report_schema_answers(
        &self,
        campaign_id: &str,
        period: Period,
    ) -> Result<Vec<AnswerGroup>, StoreError> {
        if period.is_all() {
            return self.counted_answers(campaign_id, "schema").await;
        }
        let (since, until) = period.bounds();
        let source = if self.is_shared() {
            "SELECT je.key AS field, {PG_KIND} AS kind, {PG_VALUE} AS value, {PG_NUM} AS num
             FROM attempts a, jsonb_each(a.analysis::jsonb) je
             WHERE a.campaign_id = $1 AND a.dialed_at >= $2 AND a.dialed_at < $3 AND a.state != 'not_sent'
               AND a.outcome = 'human' AND a.analysis LIKE '{%' AND jsonb_typeof(a.analysis::jsonb) = 'object'"
        } else {
            "SELECT je.key AS field, je.type AS kind, je.value AS value, je.value AS num
             FROM attempts a, json_each(a.analysis) je
             WHERE a.campaign_id = $1 AND a.dialed_at >= $2 AND a.dialed_at < $3 AND a.state != 'not_sent'
               AND a.outcome = 'human' AND json_valid(a.analysis) AND json_type(a.analysis) = 'object'"
        };
        self.answer_groups(source, campaign_id, since, until).await
    }

    /// The answers to `[analysis]` questions (`call_analyses` done), as
    /// [`Store::report_schema_answers`] groups them; the field is the question's text.
    pub async fn report_question_answers(
        &self,
        campaign_id: &str,
        period: Period,
    ) -> Result<Vec<AnswerGroup>, StoreError> {
        if period.is_all() {
            return self.counted_answers(campaign_id, "question").await;
        }
        let (since, until) = period.bounds();
        let source = if self.is_shared() {
            "SELECT c.questions::jsonb -> (je.i - 1)::int ->> 0 AS field, {PG_KIND} AS kind, {PG_VALUE} AS value,
                    {PG_NUM} AS num
             FROM call_analyses c JOIN attempts a ON a.id = c.attempt_id,
                  jsonb_array_elements(CASE WHEN c.answers LIKE '[%' THEN c.answers::jsonb ELSE '[]'::jsonb END)
                      WITH ORDINALITY AS je(value, i)
             WHERE c.campaign_id = $1 AND c.state = 'done' AND a.dialed_at >= $2 AND a.dialed_at < $3"
        } else {
            "SELECT json_extract(c.questions, '$[' || je.key || '][0]') AS field, je.type AS kind,
                    je.value AS value, je.value AS num
             FROM call_analyses c JOIN attempts a ON a.id = c.attempt_id, json_each(c.answers) je
             WHERE c.campaign_id = $1 AND c.state = 'done' AND a.dialed_at >= $2 AND a.dialed_at < $3
               AND json_valid(c.answers) AND json_type(c.answers) = 'array'"
        };
        self.answer_groups(source, campaign_id, since, until).await
    }

    /// Groups `source`'s (field, kind, value) rows: every kind but text by (field, kind), text
    /// by value too, keeping each field's most frequent values.
    async fn answer_groups(
        &self,
        source: &str,
        campaign_id: &str,
        since: i64,
        until: i64,
    ) -> Result<Vec<AnswerGroup>, StoreError> {
        // On PostgreSQL, a JSON value's type and value as SQLite's json_each gives them (the
        // answers' counters, migrations_pg/, name them the same way).
        let source = source
            .replace(
                "{PG_KIND}",
                "CASE jsonb_typeof(je.value)
                     WHEN 'number' THEN CASE WHEN (je.value #>> '{}') ~ '^-?[0-9]+$' THEN 'integer' ELSE 'real' END
                     WHEN 'string' THEN 'text' WHEN 'boolean' THEN je.value #>> '{}' ELSE jsonb_typeof(je.value) END",
            )
            .replace(
                "{PG_VALUE}",
                "CASE WHEN jsonb_typeof(je.value) IN ('object', 'array') THEN je.value::text ELSE je.value #>> '{}' END",
            )
            .replace(
                "{PG_NUM}",
                "CASE WHEN jsonb_typeof(je.value) = 'number' THEN (je.value #>> '{}')::double precision END",
            );
        on_db!(&self.db, |pool| {
            let sql = format!(
            "WITH answers AS ({source}),
             plain AS (
                 SELECT field, kind, NULL AS text, COUNT(*) AS n,
                        MIN(CASE WHEN kind IN ('integer', 'real') THEN num END) AS lo,
                        CAST(COALESCE(SUM(CASE WHEN kind IN ('integer', 'real') THEN num END), 0) AS DOUBLE PRECISION) AS total,
                        MAX(CASE WHEN kind IN ('integer', 'real') THEN num END) AS hi
                 FROM answers WHERE kind != 'text' GROUP BY field, kind),
             texts AS (
                 SELECT field, value AS text, COUNT(*) AS n FROM answers WHERE kind = 'text' GROUP BY field, value),
             ranked AS (
                 SELECT field, text, n, ROW_NUMBER() OVER (PARTITION BY field ORDER BY n DESC, text) AS rank
                 FROM texts),
             text_totals AS (SELECT field, CAST(SUM(n) AS BIGINT) AS n FROM texts GROUP BY field)
             SELECT field, kind, text, n, lo, total, hi FROM plain
             UNION ALL
             SELECT field, 'text', text, n, NULL, NULL, NULL FROM ranked WHERE rank <= {TOP_TEXT}
             UNION ALL
             SELECT field, 'text', NULL, n, NULL, NULL, NULL FROM text_totals"
        );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(campaign_id)
                .bind(since)
                .bind(until)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| {
                    let numeric = r.try_get::<String, _>("kind").is_ok_and(|k| k == "integer" || k == "real");
                    Ok(AnswerGroup {
                        field: r.try_get::<Option<String>, _>("field")?.unwrap_or_default(),
                        kind: r.try_get("kind")?,
                        text: r.try_get("text")?,
                        count: count(&r, "n")?,
                        min: if numeric { r.try_get("lo")? } else { None },
                        sum: if numeric { r.try_get("total")? } else { None },
                        max: if numeric { r.try_get("hi")? } else { None },
                    })
                })
                .collect()
        })
    }
}

impl Store {
    /// [`Store::answer_groups`]' rows from `answer_counters` (one row per field, type and
    /// value): each field's non-text answers by type with their numeric aggregates, its
    /// [`TOP_TEXT`] most frequent texts and its text total, in that order, fields in name order.
    async fn counted_answers(&self, campaign_id: &str, source: &str) -> Result<Vec<AnswerGroup>, StoreError> {
        on_db!(&self.db, |pool| {
            let rows = sqlx::query(
                "SELECT field, kind, value, CAST(SUM(n) AS BIGINT) AS n FROM answer_counters
             WHERE campaign_id = $1 AND source = $2
             GROUP BY field, kind, value HAVING SUM(n) > 0 ORDER BY field, kind, value",
            )
            .bind(campaign_id)
            .bind(source)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::new();
            let mut texts: Vec<(String, u64)> = Vec::new();
            let mut field_of_texts = String::new();
            let flush_texts = |field: &str, texts: &mut Vec<(String, u64)>, out: &mut Vec<AnswerGroup>| {
                if texts.is_empty() {
                    return;
                }
                let total = texts.iter().map(|(_, n)| n).sum();
                texts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                let top = texts.drain(..).take(TOP_TEXT as usize);
                let group = |text, count| AnswerGroup {
                    field: field.to_string(),
                    kind: "text".into(),
                    text,
                    count,
                    min: None,
                    sum: None,
                    max: None,
                };
                out.extend(top.map(|(t, n)| group(Some(t), n)));
                out.push(group(None, total));
            };
            for r in rows {
                let field: String = r.try_get("field")?;
                let kind: String = r.try_get("kind")?;
                let n = count(&r, "n")?;
                if field != field_of_texts {
                    flush_texts(&field_of_texts, &mut texts, &mut out);
                    field_of_texts.clone_from(&field);
                }
                match kind.as_str() {
                    "text" => texts.push((r.try_get("value")?, n)),
                    "integer" | "real" => {
                        // A number on SQLite; its text on PostgreSQL (migrations_pg/: one column type).
                        let value: f64 = match r.try_get::<f64, _>("value") {
                            Ok(v) => v,
                            Err(_) => {
                                let text: String = r.try_get("value")?;
                                text.parse().map_err(|_| {
                                    StoreError::Corrupt(format!("answer_counters.value `{text}` is not a number"))
                                })?
                            }
                        };
                        match out.last_mut() {
                            Some(g) if g.field == field && g.kind == kind => {
                                g.count += n;
                                g.min = g.min.map(|m| m.min(value));
                                g.max = g.max.map(|m| m.max(value));
                                g.sum = g.sum.map(|s| s + value * n as f64);
                            }
                            _ => out.push(AnswerGroup {
                                field,
                                kind,
                                text: None,
                                count: n,
                                min: Some(value),
                                sum: Some(value * n as f64),
                                max: Some(value),
                            }),
                        }
                    }
                    _ => match out.last_mut() {
                        Some(g) if g.field == field && g.kind == kind => g.count += n,
                        _ => {
                            out.push(AnswerGroup { field, kind, text: None, count: n, min: None, sum: None, max: None })
                        }
                    },
                }
            }
            flush_texts(&field_of_texts, &mut texts, &mut out);
            Ok(out)
        })
    }
}

fn outcome<R: Cols>(row: &R) -> Result<Option<Outcome>, StoreError> {
    row.get::<Option<&str>>("outcome")?.map(Outcome::from_sql).transpose()
}

fn count<R: Cols>(row: &R, col: &str) -> Result<u64, StoreError> {
    u64::try_from(row.get::<i64>(col)?).map_err(|_| StoreError::Corrupt(format!("negative count in {col}")))
}
