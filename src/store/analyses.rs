//! The `[analysis]` queries: one `call_analyses` row per (attempt, question set), written
//! `pending` before Bland is asked, claimed by one worker at a time, and settled once.
//!
//! Rows enter three ways: in the very transaction that records a human outcome (see
//! `store/outcomes.rs`: the outcome and its pending analysis commit together, so a restart can
//! never forget one), in bulk for a campaign's ended human calls ([`Store::enqueue_analyses`]:
//! the daemon's catch-up at start, and `switchboard analyze`), and back from `failed` when an
//! operator re-runs a question set ([`Store::retry_failed_analyses`]). The unique key
//! `(attempt_id, question_set)` makes every way idempotent.
//!
//! A worker claims due rows with [`Store::claim_analyses`] — one `BEGIN IMMEDIATE` transaction
//! that reads the campaign's spend (the `analysis_spend` counter and the requests in flight),
//! lets the caller decide how many may go, and marks them with the worker's id and a lease — then
//! asks Bland with no transaction open, and records each answer or failure with
//! [`Store::record_analysis`], guarded by `state = 'pending'`: a row `done` is never written
//! again. Times enter and leave as `DateTime<Utc>`.

use super::backend::{Backend as _, Cols, Conn, on_conn, on_db};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;

use super::{AnalysisState, Store, StoreError, millis, stored_time};
use crate::analysis::QuestionSet;

/// One analysis as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisRecord {
    pub id: i64,
    pub attempt_id: String,
    pub campaign_id: String,
    pub call_id: String,
    /// The question set's key (hex SHA-256 of its canonical JSON).
    pub question_set: String,
    pub goal: String,
    pub questions: Vec<(String, String)>,
    pub state: AnalysisState,
    /// One per question, in order (`Null`: unanswerable); set when `done`.
    pub answers: Option<Vec<Value>>,
    /// What Bland charged for this row, in USD.
    pub price: Option<f64>,
    pub error: Option<String>,
    /// Claims so far (each one a request, or a request begun).
    pub tries: i64,
    pub next_try_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A pending analysis a worker has claimed: what to ask Bland about which call.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedAnalysis {
    pub id: i64,
    pub campaign_id: String,
    pub call_id: String,
    pub goal: String,
    pub questions: Vec<(String, String)>,
    /// Claims so far, this one included.
    pub tries: i64,
}

/// What a campaign's analyses have cost, and what is being asked right now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AnalysisSpend {
    /// The sum of the prices Bland returned, in USD.
    pub spent_usd: f64,
    /// Rows with a price (the mean of their prices estimates the next request).
    pub priced: i64,
    /// Rows claimed and not yet settled whose lease still runs: requests in flight.
    pub in_flight: i64,
}

/// What a claim may do, decided by the caller from the campaign's [`AnalysisSpend`].
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimDecision {
    /// Claim up to this many due rows.
    Claim(u32),
    /// Claim nothing now (requests in flight may leave room when they are priced).
    Wait,
    /// The campaign's spend limit is reached: every pending row not in flight becomes `failed`
    /// with this reason.
    Stop(String),
}

/// What [`Store::claim_analyses`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalysisClaim {
    pub rows: Vec<ClaimedAnalysis>,
    /// The spend the decision was made on.
    pub spend: AnalysisSpend,
    /// Rows failed because the spend limit was reached.
    pub stopped: u64,
}

/// Which rows a claim takes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnalysisScope<'a> {
    /// Every due row of the campaign (the daemon's worker).
    Campaign,
    /// Only this question set's (an `analyze` run).
    QuestionSet(&'a str),
}

impl AnalysisScope<'_> {
    fn key(self) -> Option<String> {
        match self {
            AnalysisScope::Campaign => None,
            AnalysisScope::QuestionSet(k) => Some(k.to_string()),
        }
    }
}

/// How a request for one claimed row ended.
#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisResult<'a> {
    /// Bland answered: the row is `done` (unless another worker's answer got there first).
    Answered { answers: &'a [Value], price: Option<f64> },
    /// Ask again at `at`; `count_try: false` gives the claim back (a 429, a shutdown).
    Retry { at: DateTime<Utc>, error: Option<&'a str>, count_try: bool },
    /// Given up for good.
    Failed { error: &'a str, price: Option<f64> },
}

/// What recording a result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The row moved as asked.
    Applied,
    /// The row was no longer pending (or no longer this worker's): nothing but the price, if
    /// any, was recorded.
    Settled,
}

/// A campaign's ended human calls against one question set, for `analyze` to say what it
/// would do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnalysisBacklog {
    /// Calls answered by a person (ended, with a call id).
    pub human_calls: i64,
    /// Of those, analysed with this question set.
    pub done: i64,
    pub pending: i64,
    pub failed: i64,
}

impl AnalysisBacklog {
    /// Calls still to be asked this question set: every human call but the answered ones.
    pub fn to_analyse(&self) -> i64 {
        (self.human_calls - self.done).max(0)
    }
}

/// A call's `analysis_schema` answers, as Bland sent them with the call's details.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaAnswers {
    pub attempt_id: String,
    pub call_id: String,
    /// `attempts.analysis`: `{field: answer}`, or `None` when the details had none.
    pub analysis: Option<Value>,
}

/// Inserts the pending analysis of one attempt, in the caller's transaction (the one recording
/// its human outcome). An existing row is left as it is, except that a pending one not yet
/// claimed is made due by `due` if that is sooner (a late `answered_by` confirmed the person).
pub(super) async fn enqueue_one(
    tx: impl Into<Conn<'_>>,
    attempt_id: &str,
    campaign_id: &str,
    call_id: &str,
    set: &QuestionSet,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_conn!(tx.into(), |tx| {
        sqlx::query(
        "INSERT INTO call_analyses
             (attempt_id, campaign_id, call_id, question_set, goal, questions, state, next_try_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $8)
         ON CONFLICT (attempt_id, question_set) DO UPDATE SET next_try_at = excluded.next_try_at
             WHERE call_analyses.state = 'pending' AND call_analyses.claimed_by IS NULL
               AND call_analyses.next_try_at > excluded.next_try_at",
    )
    .bind(attempt_id)
    .bind(campaign_id)
    .bind(call_id)
    .bind(set.key())
    .bind(set.goal())
    .bind(set.questions_json())
    .bind(millis(due))
    .bind(millis(now))
    .execute(&mut *tx)
    .await?;
        Ok(())
    })
}

/// In the caller's transaction: the attempt turned out not to be a person's (a late
/// `answered_by`), so its pending analyses fail with `reason` instead of costing a request.
pub(super) async fn drop_pending(
    tx: impl Into<Conn<'_>>,
    attempt_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_conn!(tx.into(), |tx| {
        sqlx::query(
            "UPDATE call_analyses SET state = 'failed', error = $2, claimed_by = NULL, updated_at = $3
         WHERE attempt_id = $1 AND state = 'pending'",
        )
        .bind(attempt_id)
        .bind(reason)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        Ok(())
    })
}

/// The human calls a question set applies to: ended, answered by a person, with a call id.
const HUMAN_CALLS: &str = "outcome = 'human' AND state = 'ended' AND call_id IS NOT NULL";

fn claimed<R: Cols>(row: R) -> Result<ClaimedAnalysis, StoreError> {
    Ok(ClaimedAnalysis {
        id: row.get("id")?,
        campaign_id: row.get("campaign_id")?,
        call_id: row.get("call_id")?,
        goal: row.get("goal")?,
        questions: stored_questions(row.get("questions")?)?,
        tries: row.get("tries")?,
    })
}

fn stored_questions(text: &str) -> Result<Vec<(String, String)>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("call_analyses.questions `{text}`: {e}")))
}

fn record<R: Cols>(row: R) -> Result<AnalysisRecord, StoreError> {
    let answers = row
        .get::<Option<&str>>("answers")?
        .map(|a| {
            serde_json::from_str::<Vec<Value>>(a)
                .map_err(|e| StoreError::Corrupt(format!("call_analyses.answers `{a}`: {e}")))
        })
        .transpose()?;
    Ok(AnalysisRecord {
        id: row.get("id")?,
        attempt_id: row.get("attempt_id")?,
        campaign_id: row.get("campaign_id")?,
        call_id: row.get("call_id")?,
        question_set: row.get("question_set")?,
        goal: row.get("goal")?,
        questions: stored_questions(row.get("questions")?)?,
        state: AnalysisState::from_sql(row.get("state")?)?,
        answers,
        price: row.get("price")?,
        error: row.get("error")?,
        tries: row.get("tries")?,
        next_try_at: stored_time(row.get("next_try_at")?, "call_analyses.next_try_at")?,
        created_at: stored_time(row.get("created_at")?, "call_analyses.created_at")?,
        updated_at: stored_time(row.get("updated_at")?, "call_analyses.updated_at")?,
    })
}

/// The campaign's spend as of `now`, inside the caller's transaction or not.
async fn spend_of(
    conn: impl Into<Conn<'_>>,
    campaign_id: &str,
    now: DateTime<Utc>,
) -> Result<AnalysisSpend, StoreError> {
    on_conn!(conn.into(), |conn| {
        let row = sqlx::query(
        "SELECT COALESCE((SELECT spent_usd FROM analysis_spend WHERE campaign_id = $1), 0.0) AS spent_usd,
                COALESCE((SELECT priced FROM analysis_spend WHERE campaign_id = $1), 0) AS priced,
                (SELECT COUNT(*) FROM call_analyses
                 WHERE campaign_id = $1 AND state = 'pending' AND next_try_at > $2 AND claimed_by IS NOT NULL) AS in_flight",
    )
    .bind(campaign_id)
    .bind(millis(now))
    .fetch_one(&mut *conn)
    .await?;
        Ok(AnalysisSpend {
            spent_usd: row.try_get("spent_usd")?,
            priced: row.try_get("priced")?,
            in_flight: row.try_get("in_flight")?,
        })
    })
}

/// Adds a price Bland returned to the row and to its campaign's spend.
async fn add_price(
    tx: impl Into<Conn<'_>>,
    id: i64,
    campaign_id: &str,
    price: f64,
    first_price: bool,
) -> Result<(), StoreError> {
    on_conn!(tx.into(), |tx| {
        sqlx::query("UPDATE call_analyses SET price = COALESCE(price, 0) + $2 WHERE id = $1")
            .bind(id)
            .bind(price)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO analysis_spend (campaign_id, spent_usd, priced) VALUES ($1, $2, $3)
         ON CONFLICT (campaign_id) DO UPDATE SET spent_usd = analysis_spend.spent_usd + excluded.spent_usd,
                                                 priced = analysis_spend.priced + excluded.priced",
        )
        .bind(campaign_id)
        .bind(price)
        .bind(i64::from(first_price))
        .execute(&mut *tx)
        .await?;
        Ok(())
    })
}

impl Store {
    /// Writes a pending analysis with `set` for every ended human call of the campaign that
    /// has none with it yet; returns how many were written.
    pub async fn enqueue_analyses(
        &self,
        campaign_id: &str,
        set: &QuestionSet,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        on_db!(&self.db, |pool| {
            let sql = format!(
            "INSERT INTO call_analyses
                 (attempt_id, campaign_id, call_id, question_set, goal, questions, state, next_try_at, created_at, updated_at)
             SELECT id, campaign_id, call_id, $2, $3, $4, 'pending', $5, $5, $5
             FROM attempts WHERE campaign_id = $1 AND {HUMAN_CALLS}
             ON CONFLICT (attempt_id, question_set) DO NOTHING"
        );
            let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(campaign_id)
                .bind(set.key())
                .bind(set.goal())
                .bind(set.questions_json())
                .bind(millis(now))
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Puts the campaign's `failed` analyses with this question set back to `pending` (an
    /// operator's re-run: the spend limit or the tries may allow them now). Rows of calls that
    /// turned out not to be a person's stay failed; `done` rows are never asked again.
    pub async fn retry_failed_analyses(
        &self,
        campaign_id: &str,
        set_key: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        on_db!(&self.db, |pool| {
            let sql = format!(
                "UPDATE call_analyses SET state = 'pending', tries = 0, error = NULL, claimed_by = NULL,
                    next_try_at = $3, updated_at = $3
             WHERE campaign_id = $1 AND question_set = $2 AND state = 'failed'
               AND attempt_id IN (SELECT id FROM attempts WHERE campaign_id = $1 AND {HUMAN_CALLS})"
            );
            let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(campaign_id)
                .bind(set_key)
                .bind(millis(now))
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Campaigns with an analysis due at `now` (pending, its retry time or lease passed).
    pub async fn campaigns_with_analyses_due(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        on_db!(&self.db, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT id FROM campaigns WHERE EXISTS (
                 SELECT 1 FROM call_analyses
                 WHERE call_analyses.campaign_id = campaigns.id AND state = 'pending' AND next_try_at <= $1)
             ORDER BY id",
            )
            .bind(millis(now))
            .fetch_all(pool)
            .await?)
        })
    }

    /// When the next pending analysis of the campaign (in `scope`) is due, if any is pending.
    pub async fn next_analysis_due(
        &self,
        campaign_id: &str,
        scope: AnalysisScope<'_>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_db!(&self.db, |pool| {
            let ms: Option<i64> = sqlx::query_scalar(
                "SELECT MIN(next_try_at) FROM call_analyses
             WHERE campaign_id = $1 AND state = 'pending' AND ($2 IS NULL OR question_set = $2)",
            )
            .bind(campaign_id)
            .bind(scope.key())
            .fetch_one(pool)
            .await?;
            ms.map(|ms| stored_time(ms, "call_analyses.next_try_at")).transpose()
        })
    }

    /// Claims up to what `decide` allows of the campaign's due analyses (in `scope`) for
    /// `owner` until `lease_until`, in one transaction with the read of the campaign's spend
    /// that `decide` is given — so two workers (the daemon and an `analyze` run) never both
    /// spend the last of a limit. [`ClaimDecision::Stop`] fails every pending row in scope that
    /// is not in flight.
    pub async fn claim_analyses(
        &self,
        campaign_id: &str,
        scope: AnalysisScope<'_>,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        decide: impl FnOnce(&AnalysisSpend) -> ClaimDecision,
    ) -> Result<AnalysisClaim, StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            let mut tx = pool.begin_write("analyses").await?;
            let spend = spend_of(&mut tx, campaign_id, now).await?;
            let mut claim = AnalysisClaim { spend, ..AnalysisClaim::default() };
            match decide(&spend) {
                ClaimDecision::Claim(0) | ClaimDecision::Wait => {}
                ClaimDecision::Claim(n) => {
                    claim.rows = sqlx::query(
                        "UPDATE call_analyses SET claimed_by = $3, next_try_at = $4, tries = tries + 1, updated_at = $2
                     WHERE id IN (
                         SELECT id FROM call_analyses
                         WHERE campaign_id = $1 AND state = 'pending' AND next_try_at <= $2
                           AND ($5 IS NULL OR question_set = $5)
                         ORDER BY next_try_at, id LIMIT $6)
                     RETURNING id, campaign_id, call_id, goal, questions, tries",
                    )
                    .bind(campaign_id)
                    .bind(now_ms)
                    .bind(owner)
                    .bind(millis(lease_until))
                    .bind(scope.key())
                    .bind(i64::from(n))
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(claimed)
                    .collect::<Result<Vec<_>, _>>()?;
                    claim.rows.sort_by_key(|r| r.id);
                }
                ClaimDecision::Stop(reason) => {
                    claim.stopped = sqlx::query(
                        "UPDATE call_analyses SET state = 'failed', error = $3, claimed_by = NULL, updated_at = $2
                     WHERE campaign_id = $1 AND state = 'pending' AND ($4 IS NULL OR question_set = $4)
                       AND NOT (claimed_by IS NOT NULL AND next_try_at > $2)",
                    )
                    .bind(campaign_id)
                    .bind(now_ms)
                    .bind(reason)
                    .bind(scope.key())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
            }
            tx.commit().await?;
            Ok(claim)
        })
    }

    /// Records how the request for a claimed row ended. An answer is written only while the
    /// row is still pending — a `done` row is never written again — but its price always is:
    /// Bland charged it, and the spend limit counts what was spent. A retry or a failure is
    /// written only while `owner` still holds the claim.
    pub async fn record_analysis(
        &self,
        id: i64,
        owner: &str,
        result: AnalysisResult<'_>,
        now: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            let mut tx = pool.begin_write("analyses").await?;
            let row = sqlx::query("SELECT campaign_id, CASE WHEN price IS NULL THEN 1 ELSE 0 END AS unpriced FROM call_analyses WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound(format!("no analysis #{id}")));
            };
            let campaign_id: String = row.try_get("campaign_id")?;
            let unpriced = row.try_get::<i32, _>("unpriced")? != 0;
            let (moved, price) = match result {
                AnalysisResult::Answered { answers, price } => {
                    let answers = serde_json::to_string(answers).expect("JSON values always serialise");
                    let moved = sqlx::query(
                        "UPDATE call_analyses SET state = 'done', answers = $2, error = NULL, claimed_by = NULL,
                            updated_at = $3
                     WHERE id = $1 AND state = 'pending'",
                    )
                    .bind(id)
                    .bind(answers)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    (moved, price)
                }
                AnalysisResult::Retry { at, error, count_try } => {
                    let moved = sqlx::query(
                        "UPDATE call_analyses SET claimed_by = NULL, next_try_at = $3, error = COALESCE($4, error),
                            tries = tries - $5, updated_at = $6
                     WHERE id = $1 AND state = 'pending' AND claimed_by = $2",
                    )
                    .bind(id)
                    .bind(owner)
                    .bind(millis(at))
                    .bind(error)
                    .bind(i64::from(!count_try))
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    (moved, None)
                }
                AnalysisResult::Failed { error, price } => {
                    let moved = sqlx::query(
                        "UPDATE call_analyses SET state = 'failed', error = $3, claimed_by = NULL, updated_at = $4
                     WHERE id = $1 AND state = 'pending' AND claimed_by = $2",
                    )
                    .bind(id)
                    .bind(owner)
                    .bind(error)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    (moved, price)
                }
            };
            if let Some(p) = price.filter(|p| p.is_finite() && *p >= 0.0) {
                add_price(&mut tx, id, &campaign_id, p, unpriced).await?;
            }
            tx.commit().await?;
            Ok(if moved == 1 { Recorded::Applied } else { Recorded::Settled })
        })
    }

    /// What the campaign's analyses have cost so far, and the requests in flight at `now`.
    pub async fn analysis_spend(&self, campaign_id: &str, now: DateTime<Utc>) -> Result<AnalysisSpend, StoreError> {
        on_db!(&self.db, |pool| {
            let mut conn = pool.acquire().await?;
            spend_of(&mut conn, campaign_id, now).await
        })
    }

    /// The campaign's human calls and where they are with the question set `set_key`.
    pub async fn analysis_backlog(&self, campaign_id: &str, set_key: &str) -> Result<AnalysisBacklog, StoreError> {
        on_db!(&self.db, |pool| {
            let sql = format!("SELECT COUNT(*) FROM attempts WHERE campaign_id = $1 AND {HUMAN_CALLS}");
            let human_calls: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(campaign_id).fetch_one(pool).await?;
            let sql = format!(
                "SELECT c.state, COUNT(*) AS n FROM call_analyses c
             WHERE c.campaign_id = $1 AND c.question_set = $2
               AND c.attempt_id IN (SELECT id FROM attempts WHERE campaign_id = $1 AND {HUMAN_CALLS})
             GROUP BY c.state"
            );
            let mut backlog = AnalysisBacklog { human_calls, ..AnalysisBacklog::default() };
            for row in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(campaign_id).bind(set_key).fetch_all(pool).await? {
                let n: i64 = row.try_get("n")?;
                match AnalysisState::from_sql(row.try_get("state")?)? {
                    AnalysisState::Pending => backlog.pending = n,
                    AnalysisState::Done => backlog.done = n,
                    AnalysisState::Failed => backlog.failed = n,
                }
            }
            Ok(backlog)
        })
    }

    /// Every analysis of the campaign, oldest first.
    pub async fn analyses(&self, campaign_id: &str) -> Result<Vec<AnalysisRecord>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(
            "SELECT id, attempt_id, campaign_id, call_id, question_set, goal, questions, state, answers, price, error,
                    tries, next_try_at, created_at, updated_at
             FROM call_analyses WHERE campaign_id = $1 ORDER BY id",
        )
        .bind(campaign_id)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(record)
        .collect()
        })
    }

    /// The `analysis_schema` answers stored with each of the campaign's ended calls.
    pub async fn schema_answers(&self, campaign_id: &str) -> Result<Vec<SchemaAnswers>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id, call_id, analysis FROM attempts
             WHERE campaign_id = $1 AND state = 'ended' AND call_id IS NOT NULL ORDER BY dialed_at, {}",
                pool.insertion_order()
            )))
            .bind(campaign_id)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| {
                let analysis = row
                    .try_get::<Option<&str>, _>("analysis")?
                    .map(|a| {
                        serde_json::from_str::<Value>(a)
                            .map_err(|e| StoreError::Corrupt(format!("attempts.analysis `{a}`: {e}")))
                    })
                    .transpose()?;
                Ok(SchemaAnswers { attempt_id: row.try_get("id")?, call_id: row.try_get("call_id")?, analysis })
            })
            .collect()
        })
    }
}
