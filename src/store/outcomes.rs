//! Applying call outcomes: webhook deliveries and poll answers go through one transaction that
//! stores the delivery, records the attempt's outcome once, and moves the job on. Applying the
//! same details twice changes nothing; a late `answered_by` corrects an outcome recorded
//! without one, and moves the job only while it has not gone on to another attempt.

use std::collections::{HashMap, HashSet};

use super::backend::{Backend as _, Cols, Conn, on_conn, on_db};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::{QueryBuilder, Row};

use super::{
    Applied, AttemptState, JobState, Outcome, Store, StoreError, ZoneSource, millis, push_in_list, stored_zones,
};

/// What the store knows of an attempt when details about it arrive.
#[derive(Debug, Clone)]
pub struct AttemptContext {
    pub attempt_id: String,
    pub job_id: i64,
    pub campaign_id: String,
    pub attempt_no: i64,
    pub state: AttemptState,
    pub outcome: Option<Outcome>,
    pub answered_by: Option<String>,
    pub call_id: Option<String>,
    /// The number called (E.164).
    pub phone: String,
    pub job_state: JobState,
    pub job_attempts: i64,
    pub timezones: Vec<Tz>,
    pub zone_source: ZoneSource,
    pub number_zones: Option<Vec<Tz>>,
    /// The regions (states, provinces) whose rules apply.
    pub regions: Vec<crate::compliance::Region>,
}

/// The attempt joined with its job, as an [`AttemptContext`] is read ([`context_of`]).
const CONTEXT_SELECT: &str =
    "SELECT a.id, a.job_id, a.campaign_id, a.attempt_no, a.state, a.outcome, a.answered_by, a.call_id, a.phone,
        j.state AS job_state, j.attempts AS job_attempts, j.timezones, j.zone_source, j.number_zones, j.regions
     FROM attempts a JOIN jobs j ON j.id = a.job_id";

/// An [`AttemptContext`] from a row of [`CONTEXT_SELECT`].
fn context_of<R: Cols>(row: &R) -> Result<AttemptContext, StoreError> {
    Ok(AttemptContext {
        attempt_id: row.get("id")?,
        job_id: row.get("job_id")?,
        campaign_id: row.get("campaign_id")?,
        attempt_no: row.get("attempt_no")?,
        state: AttemptState::from_sql(row.get("state")?)?,
        outcome: row.get::<Option<&str>>("outcome")?.map(Outcome::from_sql).transpose()?,
        answered_by: row.get("answered_by")?,
        call_id: row.get("call_id")?,
        phone: row.get("phone")?,
        job_state: JobState::from_sql(row.get("job_state")?)?,
        job_attempts: row.get("job_attempts")?,
        timezones: stored_zones(row.get("timezones")?, "jobs.timezones")?,
        zone_source: ZoneSource::from_sql(row.get("zone_source")?)?,
        number_zones: row
            .get::<Option<&str>>("number_zones")?
            .map(|z| stored_zones(z, "jobs.number_zones"))
            .transpose()?,
        regions: super::stored_regions(row.get("regions")?)?,
    })
}

/// The attempt's fields, from the call details.
#[derive(Debug, Clone)]
pub struct OutcomeRecord {
    pub outcome: Outcome,
    pub answered_by: Option<String>,
    pub call_length: Option<f64>,
    pub price: Option<f64>,
    pub summary: Option<String>,
    pub call_ended_by: Option<String>,
    pub error_message: Option<String>,
    pub recording_url: Option<String>,
    pub transcript: Option<String>,
    pub analysis: Option<String>,
    pub details: String,
    pub ended_at: DateTime<Utc>,
    /// Ask Bland once more at this time (a late `answered_by`), or never.
    pub recheck_at: Option<DateTime<Utc>>,
    /// The campaign's `[analysis]` questions, if it asks any: a human outcome writes its
    /// pending analysis in the same transaction (see `store/analyses.rs`).
    pub analyse: Option<std::sync::Arc<crate::analysis::QuestionSet>>,
    /// The person asked not to be called again (the DNC list's reason): the number goes on the
    /// list in the same transaction as this outcome.
    pub opt_out: Option<String>,
}

/// Where the job goes.
#[derive(Debug, Clone, PartialEq)]
pub enum JobTarget {
    Done,
    Failed(String),
    Retry(DateTime<Utc>),
}

/// What the caller decided, given the [`AttemptContext`].
#[derive(Debug, Clone)]
pub enum Application {
    /// The call is not over: only make sure its id is known, and ask again at `poll_at`.
    NotFinal { poll_at: DateTime<Utc> },
    /// The first outcome of this attempt.
    Record { record: OutcomeRecord, job: JobTarget },
    /// A correction of an outcome recorded without `answered_by`.
    Update { record: OutcomeRecord, job: Option<JobTarget> },
    /// Nothing new.
    Duplicate { recheck_done: bool },
}

/// An attempt the poller should ask Bland about.
#[derive(Debug, Clone)]
pub struct PollDue {
    pub attempt_id: String,
    pub call_id: String,
}

impl Store {
    /// Applies call details to the attempt found by `attempt_id` (from metadata) or `call_id`,
    /// storing the delivery in the inbox when `inbox_body` is given — all in one transaction.
    pub async fn apply_call_details(
        &self,
        delivery: Delivery<'_>,
        decide: impl FnOnce(&AttemptContext) -> Application,
    ) -> Result<Applied, StoreError> {
        on_db!(&self.db, |pool| {
            let mut tx = pool.begin_write("outcomes").await?;
            let done = apply_delivery(&mut tx, &delivery, None, decide).await?;
            let applied = [(delivery, (done.attempt_id, done.applied))];
            insert_inbox(&mut tx, &applied).await?;
            tx.commit().await?;
            let [(_, (_, result))] = applied;
            Ok(result)
        })
    }

    /// [`apply_call_details`](Self::apply_call_details) for many deliveries, in order, in one
    /// transaction (one commit for all: at thousands of webhooks a second the commits are the
    /// cost). `decide` gets each delivery's index. All are applied or, on an error, none.
    ///
    /// The deliveries' attempts are read in one query at the start ([`Prefetched`]): each
    /// statement is a round trip to the database, and at thousands a second the round trips
    /// are most of the writer's time.
    pub async fn apply_call_details_many(
        &self,
        deliveries: &[Delivery<'_>],
        mut decide: impl FnMut(usize, &AttemptContext) -> Application,
    ) -> Result<Vec<Applied>, StoreError> {
        on_db!(&self.db, |pool| {
            let mut tx = pool.begin_write("outcomes").await?;
            let mut prefetched = Prefetched::read(&mut tx, deliveries).await?;
            let mut applied = Vec::with_capacity(deliveries.len());
            for (i, d) in deliveries.iter().enumerate() {
                let known = prefetched.get(d);
                let done = apply_delivery(&mut tx, d, known, |ctx| decide(i, ctx)).await?;
                prefetched.wrote(d, &done);
                applied.push((*d, (done.attempt_id, done.applied)));
            }
            // The inbox rows go in together, in arrival order: nothing in the batch reads them.
            for chunk in applied.chunks(1000) {
                insert_inbox(&mut tx, chunk).await?;
            }
            tx.commit().await?;
            Ok(applied.into_iter().map(|(_, (_, a))| a).collect())
        })
    }
}

/// The contexts of a batch's deliveries as they were when its transaction began, read in one
/// query. A delivery is answered from them only while nothing earlier in the batch can have
/// changed its answer: one whose attempt, job or call id an earlier delivery matched, and every
/// one after an opt-out (which suppresses jobs in any campaign), is read again on its own, so
/// each delivery sees what those before it wrote, as when every one was read on its own.
#[derive(Default)]
struct Prefetched {
    by_attempt: HashMap<String, AttemptContext>,
    /// A call id → the attempt that has it.
    by_call: HashMap<String, String>,
    attempts: HashSet<String>,
    jobs: HashSet<i64>,
    calls: HashSet<String>,
    stale: bool,
}

impl Prefetched {
    async fn read(tx: impl Into<Conn<'_>>, deliveries: &[Delivery<'_>]) -> Result<Self, StoreError> {
        let mut prefetched = Prefetched::default();
        on_conn!(tx.into(), |tx| {
            for chunk in deliveries.chunks(500) {
                let mut q = QueryBuilder::new(CONTEXT_SELECT);
                q.push(" WHERE a.call_id IN ");
                push_in_list(&mut q, chunk.iter().map(|d| d.call_id));
                let ids: Vec<&str> = chunk.iter().filter_map(|d| d.attempt_id).collect();
                if !ids.is_empty() {
                    q.push(" OR a.id IN ");
                    push_in_list(&mut q, ids);
                }
                for row in q.build().persistent(false).fetch_all(&mut *tx).await? {
                    let ctx = context_of(&row)?;
                    if let Some(call_id) = &ctx.call_id {
                        prefetched.by_call.insert(call_id.clone(), ctx.attempt_id.clone());
                    }
                    prefetched.by_attempt.insert(ctx.attempt_id.clone(), ctx);
                }
            }
            Ok(prefetched)
        })
    }

    /// `Some` (the attempt, or none matching) when the batch's read answers for `d`; `None`
    /// when it must be read again.
    fn get(&self, d: &Delivery<'_>) -> Option<Option<AttemptContext>> {
        if self.stale || self.calls.contains(d.call_id) || d.attempt_id.is_some_and(|a| self.attempts.contains(a)) {
            return None;
        }
        let by_attempt = d.attempt_id.and_then(|a| self.by_attempt.get(a));
        let by_call = self.by_call.get(d.call_id).and_then(|a| self.by_attempt.get(a));
        let ctx = match (by_attempt, by_call) {
            // Two attempts match (an id and a call id that disagree): as the query on its own finds.
            (Some(a), Some(b)) if a.attempt_id != b.attempt_id => return None,
            (Some(ctx), _) | (None, Some(ctx)) => ctx,
            (None, None) => return Some(None),
        };
        if self.attempts.contains(&ctx.attempt_id) || self.jobs.contains(&ctx.job_id) {
            return None;
        }
        Some(Some(ctx.clone()))
    }

    /// What `d` may have written: its attempt, job and call id, and after an opt-out anything.
    fn wrote(&mut self, d: &Delivery<'_>, done: &DeliveryDone) {
        self.calls.insert(d.call_id.to_string());
        self.attempts.extend(d.attempt_id.map(str::to_string));
        self.attempts.extend(done.attempt_id.clone());
        self.jobs.extend(done.job_id);
        self.stale |= done.opted_out;
    }
}

/// What applying one delivery did.
struct DeliveryDone {
    /// The attempt it matched.
    attempt_id: Option<String>,
    job_id: Option<i64>,
    applied: Applied,
    /// It put a number on the do-not-call list.
    opted_out: bool,
}

/// One delivery of call details to apply.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The attempt id from the call's metadata, if it carried one.
    pub attempt_id: Option<&'a str>,
    pub call_id: &'a str,
    /// The webhook's raw body, stored in the inbox; `None` for a poll.
    pub inbox_body: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// Applies one delivery to its attempt (`known`: as a batch's read found it; `None`: read it
/// now); returns the attempt it matched (if any) and what became of it, for its inbox row,
/// which the caller writes.
async fn apply_delivery(
    tx: impl Into<Conn<'_>>,
    d: &Delivery<'_>,
    known: Option<Option<AttemptContext>>,
    decide: impl FnOnce(&AttemptContext) -> Application,
) -> Result<DeliveryDone, StoreError> {
    on_conn!(tx.into(), |tx| {
        let Delivery { attempt_id, call_id, now, .. } = *d;
        let now_ms = millis(now);
        let ctx = match known {
            Some(ctx) => ctx,
            None => {
                let mut q = QueryBuilder::new(CONTEXT_SELECT);
                q.push(" WHERE a.id = ")
                    .push_bind(attempt_id.unwrap_or(""))
                    .push(" OR a.call_id = ")
                    .push_bind(call_id);
                q.push(" LIMIT 1");
                q.build().fetch_optional(&mut *tx).await?.as_ref().map(context_of).transpose()?
            }
        };
        let Some(ctx) = ctx else {
            return Ok(DeliveryDone {
                attempt_id: attempt_id.map(str::to_string),
                job_id: None,
                applied: Applied::Unmatched,
                opted_out: false,
            });
        };
        let mut opted_out = false;
        let result = match decide(&ctx) {
            Application::NotFinal { poll_at } => {
                sqlx::query(
                    "UPDATE attempts SET call_id = COALESCE(call_id, $2), poll_at = $3,
                        state = CASE WHEN state = 'dialing' THEN 'in_call' ELSE state END
                 WHERE id = $1 AND outcome IS NULL",
                )
                .bind(&ctx.attempt_id)
                .bind(call_id)
                .bind(millis(poll_at))
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE jobs SET state = 'in_call', updated_at = $2 WHERE id = $1 AND state = 'dialing'")
                    .bind(ctx.job_id)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                Applied::NotFinal
            }
            Application::Record { record, job } => {
                let done = write_first_outcome(&mut *tx, &ctx, call_id, &record, &job, now_ms).await?;
                if done {
                    follow_up_analysis(&mut *tx, &ctx, call_id, &record, now).await?;
                    opted_out = opt_out(&mut *tx, &ctx, &record, now_ms).await?;
                    Applied::Applied
                } else {
                    Applied::Duplicate
                }
            }
            Application::Update { record, job } => {
                let done = write_attempt(&mut *tx, &ctx.attempt_id, call_id, &record, WriteIf::NoAnsweredBy).await?;
                if done {
                    follow_up_analysis(&mut *tx, &ctx, call_id, &record, now).await?;
                    opted_out = opt_out(&mut *tx, &ctx, &record, now_ms).await?;
                    if let Some(job) = job {
                        // `queued`: a retry released but not claimed yet is still on this
                        // attempt (claiming commits the next one); `dialing` is not, as its
                        // call is about to be placed.
                        let from = [JobState::Done, JobState::RetryWait, JobState::Failed, JobState::Queued];
                        move_job(&mut *tx, &ctx, record.outcome, &job, &from, now_ms).await?;
                    }
                    Applied::Updated
                } else {
                    Applied::Duplicate
                }
            }
            Application::Duplicate { recheck_done } => {
                if recheck_done {
                    sqlx::query("UPDATE attempts SET poll_at = NULL WHERE id = $1 AND outcome IS NOT NULL")
                        .bind(&ctx.attempt_id)
                        .execute(&mut *tx)
                        .await?;
                }
                Applied::Duplicate
            }
        };
        Ok(DeliveryDone { attempt_id: Some(ctx.attempt_id), job_id: Some(ctx.job_id), applied: result, opted_out })
    })
}

impl Store {
    /// Attempts whose poll time has come, oldest first.
    pub async fn polls_due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<PollDue>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(
                "SELECT id, call_id FROM attempts
             WHERE poll_at IS NOT NULL AND poll_at <= $1 AND call_id IS NOT NULL
             ORDER BY poll_at LIMIT $2",
            )
            .bind(millis(now))
            .bind(limit as i64)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| Ok(PollDue { attempt_id: r.try_get("id")?, call_id: r.try_get("call_id")? }))
            .collect()
        })
    }

    /// Postpones an attempt's next poll (Bland could not be asked now).
    pub async fn postpone_poll(&self, attempt_id: &str, poll_at: DateTime<Utc>) -> Result<(), StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query("UPDATE attempts SET poll_at = $1 WHERE id = $2")
                .bind(millis(poll_at))
                .bind(attempt_id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }
}

/// A person who asked not to be called again: their number onto the do-not-call list, and every
/// job still waiting to call it (any campaign) suppressed, with the outcome. True when it did.
async fn opt_out(
    tx: impl Into<Conn<'_>>,
    ctx: &AttemptContext,
    record: &OutcomeRecord,
    now_ms: i64,
) -> Result<bool, StoreError> {
    on_conn!(tx.into(), |tx| {
        let Some(reason) = &record.opt_out else { return Ok(false) };
        super::dnc::insert(&mut *tx, &[ctx.phone.as_str()], reason, now_ms).await?;
        Ok(true)
    })
}

/// A human outcome just written gets its pending analysis (asked once the grace for a late
/// `answered_by` has passed, when the outcome came without one); an outcome corrected away from
/// human fails the analysis it had, before it costs a request.
async fn follow_up_analysis(
    tx: impl Into<Conn<'_>>,
    ctx: &AttemptContext,
    call_id: &str,
    record: &OutcomeRecord,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_conn!(tx.into(), |tx| {
        if record.outcome != Outcome::Human {
            if ctx.outcome == Some(Outcome::Human) {
                let reason = format!("not analysed: the call was {} after all (late answered_by)", record.outcome);
                super::analyses::drop_pending(tx, &ctx.attempt_id, &reason, now).await?;
            }
            return Ok(());
        }
        if let Some(set) = &record.analyse {
            let call_id = ctx.call_id.as_deref().unwrap_or(call_id);
            let due = record.recheck_at.unwrap_or(now);
            super::analyses::enqueue_one(tx, &ctx.attempt_id, &ctx.campaign_id, call_id, set, due, now).await?;
        }
        Ok(())
    })
}

/// Which attempts an outcome may be written over.
#[derive(Debug, Clone, Copy)]
enum WriteIf {
    /// The first outcome: only while the attempt has none.
    NoOutcome,
    /// A correction: only while the outcome was recorded without `answered_by`.
    NoAnsweredBy,
}

impl WriteIf {
    fn sql(self) -> &'static str {
        match self {
            WriteIf::NoOutcome => "outcome IS NULL",
            WriteIf::NoAnsweredBy => "answered_by IS NULL",
        }
    }
}

/// Pushes the `UPDATE` that writes an attempt's fields from an [`OutcomeRecord`], only while
/// `guard` (SQL) holds, onto a query builder of either database.
macro_rules! push_write_attempt {
    ($q:expr, $attempt_id:expr, $call_id:expr, $r:expr, $guard:expr) => {{
        let r: &OutcomeRecord = $r;
        $q.push("UPDATE attempts SET state = 'ended', call_id = COALESCE(call_id, ")
            .push_bind($call_id)
            .push("), outcome = ")
            .push_bind(r.outcome.as_str())
            .push(", answered_by = ")
            .push_bind(r.answered_by.as_deref())
            .push(", call_length = ")
            .push_bind(r.call_length)
            .push(", price = ")
            .push_bind(r.price)
            .push(", summary = ")
            .push_bind(r.summary.as_deref())
            .push(", call_ended_by = ")
            .push_bind(r.call_ended_by.as_deref())
            .push(", error_message = ")
            .push_bind(r.error_message.as_deref())
            .push(", recording_url = ")
            .push_bind(r.recording_url.as_deref())
            .push(", transcript = ")
            .push_bind(r.transcript.as_deref())
            .push(", analysis = ")
            .push_bind(r.analysis.as_deref())
            .push(", details = ")
            .push_bind(r.details.as_str())
            .push(", ended_at = ")
            .push_bind(millis(r.ended_at))
            .push(", poll_at = ")
            .push_bind(r.recheck_at.map(millis))
            .push(" WHERE id = ")
            .push_bind($attempt_id)
            .push(" AND ")
            .push($guard);
    }};
}

/// Pushes the `UPDATE` that moves a job (where [`job_move`] says) while it is still on this
/// attempt and in one of `from`, onto a query builder of either database.
macro_rules! push_move_job {
    ($q:expr, $ctx:expr, $outcome:expr, $job:expr, $from:expr, $now_ms:expr) => {{
        let (state, next_at, reason) = job_move($job);
        $q.push("UPDATE jobs SET state = ")
            .push_bind(state.as_str())
            .push(", outcome = ")
            .push_bind($outcome.as_str())
            .push(", next_attempt_at = COALESCE(")
            .push_bind(next_at)
            .push(", next_attempt_at), reason = ")
            .push_bind(reason)
            .push(", updated_at = ")
            .push_bind($now_ms)
            .push(" WHERE id = ")
            .push_bind($ctx.job_id)
            .push(" AND attempts = ")
            .push_bind($ctx.attempt_no)
            .push(" AND state IN ");
        push_in_list(&mut $q, $from.iter().map(|s: &JobState| s.as_str()));
    }};
}

/// The states a first outcome moves a job from: its call was being placed or was in progress.
const FIRST_OUTCOME_FROM: [JobState; 2] = [JobState::Dialing, JobState::InCall];

/// Writes a first outcome (only while the attempt has none) and, when it was written, moves the
/// job ([`move_job`]). Each statement is a round trip to the database, and this is the webhook
/// writer's most frequent write: on SQLite the two `UPDATE`s go as one query, the job's run
/// only when the attempt's changed its row (`changes()`: that statement's rows, not its
/// triggers'); PostgreSQL, which prepares one statement at a time, takes two.
async fn write_first_outcome(
    tx: impl Into<Conn<'_>>,
    ctx: &AttemptContext,
    call_id: &str,
    r: &OutcomeRecord,
    job: &JobTarget,
    now_ms: i64,
) -> Result<bool, StoreError> {
    match tx.into() {
        Conn::Sqlite(tx) => {
            let mut q = QueryBuilder::new("");
            push_write_attempt!(q, ctx.attempt_id.as_str(), call_id, r, WriteIf::NoOutcome.sql());
            q.push(";\n");
            push_move_job!(q, ctx, r.outcome, job, FIRST_OUTCOME_FROM, now_ms);
            q.push(" AND changes() = 1");
            // The attempt's row and, only with it, the job's: nothing at all when the guard failed.
            let done = q.build().execute(&mut *tx).await?.rows_affected() >= 1;
            if done {
                cancel_retry_if_campaign_cancelled(&mut *tx, ctx, job, now_ms).await?;
            }
            Ok(done)
        }
        Conn::Pg(tx) => {
            let done = write_attempt(&mut *tx, &ctx.attempt_id, call_id, r, WriteIf::NoOutcome).await?;
            if done {
                move_job(&mut *tx, ctx, r.outcome, job, &FIRST_OUTCOME_FROM, now_ms).await?;
            }
            Ok(done)
        }
    }
}

async fn write_attempt(
    tx: impl Into<Conn<'_>>,
    attempt_id: &str,
    call_id: &str,
    r: &OutcomeRecord,
    guard: WriteIf,
) -> Result<bool, StoreError> {
    on_conn!(tx.into(), |tx| {
        // One text per guard: each is prepared once and cached.
        let mut q = QueryBuilder::new("");
        push_write_attempt!(q, attempt_id, call_id, r, guard.sql());
        Ok(q.build().execute(&mut *tx).await?.rows_affected() == 1)
    })
}

/// Where a job goes, as `jobs` columns: its state, the next attempt's time and the reason.
fn job_move(job: &JobTarget) -> (JobState, Option<i64>, Option<&str>) {
    match job {
        JobTarget::Done => (JobState::Done, None, None),
        JobTarget::Failed(reason) => (JobState::Failed, None, Some(reason.as_str())),
        JobTarget::Retry(at) => (JobState::RetryWait, Some(millis(*at)), None),
    }
}

/// Moves the job, but only while it is still on this attempt and in one of `from`.
async fn move_job(
    tx: impl Into<Conn<'_>>,
    ctx: &AttemptContext,
    outcome: Outcome,
    job: &JobTarget,
    from: &[JobState],
    now_ms: i64,
) -> Result<(), StoreError> {
    on_conn!(tx.into(), |tx| {
        let mut q = QueryBuilder::new("");
        push_move_job!(q, ctx, outcome, job, from, now_ms);
        q.build().execute(&mut *tx).await?;
        cancel_retry_if_campaign_cancelled(&mut *tx, ctx, job, now_ms).await
    })
}

/// A call that ends after its campaign was cancelled must not leave a retry waiting: after a
/// move to a retry, the job is cancelled if its campaign is.
async fn cancel_retry_if_campaign_cancelled(
    tx: impl Into<Conn<'_>>,
    ctx: &AttemptContext,
    job: &JobTarget,
    now_ms: i64,
) -> Result<(), StoreError> {
    if !matches!(job, JobTarget::Retry(_)) {
        return Ok(());
    }
    on_conn!(tx.into(), |tx| {
        let mut q = super::dispatch::cancel_if_campaign_cancelled(now_ms);
        q.push("id = ").push_bind(ctx.job_id);
        q.build().execute(&mut *tx).await?;
        Ok(())
    })
}

/// Stores the deliveries that came as webhooks (those with an inbox body) in the inbox, with the
/// attempt each matched and what became of it ([`super::inbox`]: a replayed body is not stored
/// again).
async fn insert_inbox(
    tx: impl Into<Conn<'_>>,
    applied: &[(Delivery<'_>, (Option<String>, Applied))],
) -> Result<(), StoreError> {
    on_conn!(tx.into(), |tx| {
        let rows: Vec<super::inbox::InboxRow<'_>> = applied
            .iter()
            .filter_map(|(d, (attempt, result))| {
                Some(super::inbox::InboxRow {
                    received_at: millis(d.now),
                    call_id: d.call_id,
                    attempt_id: attempt.as_deref(),
                    body: d.inbox_body?,
                    result: result.as_str(),
                })
            })
            .collect();
        super::inbox::store_deliveries(&mut *tx, &rows).await
    })
}

impl Store {
    /// The campaign an attempt with this call id belongs to.
    pub async fn campaign_of_call(&self, call_id: &str) -> Result<Option<String>, StoreError> {
        on_db!(&self.db, |pool| {
            Ok(sqlx::query_scalar("SELECT campaign_id FROM attempts WHERE call_id = $1")
                .bind(call_id)
                .fetch_optional(pool)
                .await?)
        })
    }
}
