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
        let mut decide = Some(decide);
        let applied = self
            .apply_call_details_many(&[delivery], |_, ctx| (decide.take().expect("one delivery, decided once"))(ctx))
            .await?;
        Ok(applied[0])
    }

    /// [`apply_call_details`](Self::apply_call_details) for many deliveries, in order, in one
    /// transaction (one commit for all: at thousands of webhooks a second the commits are the
    /// cost). `decide` gets each delivery's index. All are applied or, on an error, none.
    ///
    /// Each statement is a round trip to the database, and at thousands of deliveries a second
    /// the round trips are most of the writer's time, so a batch is written in a few statements
    /// whatever its size: its attempts are read in one query at the start ([`Prefetched`]), and
    /// its first outcomes, the most frequent write, are written together ([`FirstOutcomes`]),
    /// before anything that could see or change what they write.
    pub async fn apply_call_details_many(
        &self,
        deliveries: &[Delivery<'_>],
        mut decide: impl FnMut(usize, &AttemptContext) -> Application,
    ) -> Result<Vec<Applied>, StoreError> {
        on_db!(&self.writes, |pool| {
            let mut tx = pool.begin_write("outcomes").await?;
            let mut prefetched = Prefetched::read(&mut tx, deliveries).await?;
            let mut firsts = FirstOutcomes::default();
            // Each delivery's attempt and what became of it (a first outcome's, once written).
            let mut applied: Vec<(Option<String>, Applied)> = Vec::with_capacity(deliveries.len());
            for (i, d) in deliveries.iter().enumerate() {
                let ctx = match prefetched.get(d) {
                    Some(ctx) => ctx,
                    None => {
                        // What is read now must see the first outcomes before it.
                        firsts.write(&mut tx, &mut applied).await?;
                        read_context(&mut tx, d).await?
                    }
                };
                let Some(ctx) = ctx else {
                    prefetched.wrote(d, None, false);
                    applied.push((d.attempt_id.map(str::to_string), Applied::Unmatched));
                    continue;
                };
                let (result, opted_out) = match decide(i, &ctx) {
                    Application::Record { record, job } => {
                        let opts_out = record.opt_out.is_some();
                        firsts.push(i, d, ctx.clone(), record, job);
                        // Until written; an opt-out makes every later delivery read again.
                        (Applied::Duplicate, opts_out)
                    }
                    Application::Duplicate { recheck_done: false } => (Applied::Duplicate, false),
                    // Any other write goes after the first outcomes before it, as they came.
                    Application::NotFinal { poll_at } => {
                        firsts.write(&mut tx, &mut applied).await?;
                        write_not_final(&mut tx, d, &ctx, poll_at).await?;
                        (Applied::NotFinal, false)
                    }
                    Application::Update { record, job } => {
                        firsts.write(&mut tx, &mut applied).await?;
                        write_correction(&mut tx, d, &ctx, &record, job.as_ref()).await?
                    }
                    Application::Duplicate { recheck_done: true } => {
                        firsts.write(&mut tx, &mut applied).await?;
                        end_recheck(&mut tx, &ctx).await?;
                        (Applied::Duplicate, false)
                    }
                };
                prefetched.wrote(d, Some(&ctx), opted_out);
                applied.push((Some(ctx.attempt_id), result));
            }
            firsts.write(&mut tx, &mut applied).await?;
            // The inbox rows go in together, in arrival order: nothing in the batch reads them.
            let inbox: Vec<_> = deliveries.iter().copied().zip(applied.iter().cloned()).collect();
            for chunk in inbox.chunks(1000) {
                insert_inbox(&mut tx, chunk).await?;
            }
            tx.commit().await?;
            Ok(applied.into_iter().map(|(_, a)| a).collect())
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
    fn wrote(&mut self, d: &Delivery<'_>, matched: Option<&AttemptContext>, opted_out: bool) {
        self.calls.insert(d.call_id.to_string());
        self.attempts.extend(d.attempt_id.map(str::to_string));
        if let Some(ctx) = matched {
            self.attempts.insert(ctx.attempt_id.clone());
            self.jobs.insert(ctx.job_id);
        }
        self.stale |= opted_out;
    }
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

/// The attempt `d` is about (by its attempt id, else its call id), read on its own.
async fn read_context(tx: impl Into<Conn<'_>>, d: &Delivery<'_>) -> Result<Option<AttemptContext>, StoreError> {
    on_conn!(tx.into(), |tx| {
        let mut q = QueryBuilder::new(CONTEXT_SELECT);
        q.push(" WHERE a.id = ").push_bind(d.attempt_id.unwrap_or("")).push(" OR a.call_id = ").push_bind(d.call_id);
        q.push(" LIMIT 1");
        q.build().fetch_optional(&mut *tx).await?.as_ref().map(context_of).transpose()
    })
}

/// A call not over yet: its id is known, it is in progress, and Bland is asked again at `poll_at`.
async fn write_not_final(
    tx: impl Into<Conn<'_>>,
    d: &Delivery<'_>,
    ctx: &AttemptContext,
    poll_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_conn!(tx.into(), |tx| {
        sqlx::query(
            "UPDATE attempts SET call_id = COALESCE(call_id, $2), poll_at = $3,
                state = CASE WHEN state = 'dialing' THEN 'in_call' ELSE state END
             WHERE id = $1 AND outcome IS NULL",
        )
        .bind(&ctx.attempt_id)
        .bind(d.call_id)
        .bind(millis(poll_at))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE jobs SET state = 'in_call', updated_at = $2 WHERE id = $1 AND state = 'dialing'")
            .bind(ctx.job_id)
            .bind(millis(d.now))
            .execute(&mut *tx)
            .await?;
        Ok(())
    })
}

/// A correction of an outcome recorded without `answered_by`: what became of it, and whether it
/// put a number on the do-not-call list.
async fn write_correction(
    tx: impl Into<Conn<'_>>,
    d: &Delivery<'_>,
    ctx: &AttemptContext,
    record: &OutcomeRecord,
    job: Option<&JobTarget>,
) -> Result<(Applied, bool), StoreError> {
    on_conn!(tx.into(), |tx| {
        let row = AttemptWrite { attempt_id: &ctx.attempt_id, call_id: d.call_id, record };
        if write_attempts(&mut *tx, &[row], WriteIf::NoAnsweredBy).await?.is_empty() {
            return Ok((Applied::Duplicate, false));
        }
        let now_ms = millis(d.now);
        follow_up_analysis(&mut *tx, ctx, d.call_id, record, d.now).await?;
        let opted_out = opt_out(&mut *tx, ctx, record, now_ms).await?;
        if let Some(job) = job {
            // `queued`: a retry released but not claimed yet is still on this attempt (claiming
            // commits the next one); `dialing` is not, as its call is about to be placed.
            let from = [JobState::Done, JobState::RetryWait, JobState::Failed, JobState::Queued];
            move_jobs(&mut *tx, &[JobMove { ctx, outcome: record.outcome, job, now_ms }], &from).await?;
        }
        Ok((Applied::Updated, opted_out))
    })
}

/// The last look at an outcome was taken: no more polls for it.
async fn end_recheck(tx: impl Into<Conn<'_>>, ctx: &AttemptContext) -> Result<(), StoreError> {
    on_conn!(tx.into(), |tx| {
        sqlx::query("UPDATE attempts SET poll_at = NULL WHERE id = $1 AND outcome IS NOT NULL")
            .bind(&ctx.attempt_id)
            .execute(&mut *tx)
            .await?;
        Ok(())
    })
}

/// First outcomes decided but not written yet, in arrival order: each for a different attempt
/// and job, none read after an opt-out (see [`Prefetched`]), so they can be written together.
#[derive(Default)]
struct FirstOutcomes {
    pending: Vec<FirstOutcome>,
}

struct FirstOutcome {
    /// The delivery's place in its batch.
    index: usize,
    call_id: String,
    now: DateTime<Utc>,
    ctx: AttemptContext,
    record: OutcomeRecord,
    job: JobTarget,
}

/// The states a first outcome moves a job from: its call was being placed or was in progress.
const FIRST_OUTCOME_FROM: [JobState; 2] = [JobState::Dialing, JobState::InCall];

impl FirstOutcomes {
    fn push(&mut self, index: usize, d: &Delivery<'_>, ctx: AttemptContext, record: OutcomeRecord, job: JobTarget) {
        self.pending.push(FirstOutcome { index, call_id: d.call_id.to_string(), now: d.now, ctx, record, job });
    }

    /// Writes the pending first outcomes, each only while its attempt has none, and moves the
    /// jobs of those written; sets `applied[index]` of each to what became of it. A few
    /// statements for the lot; then, one by one as they came, the analyses and opt-outs of those
    /// written.
    async fn write(
        &mut self,
        tx: impl Into<Conn<'_>>,
        applied: &mut [(Option<String>, Applied)],
    ) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return Ok(());
        }
        on_conn!(tx.into(), |tx| {
            let rows: Vec<AttemptWrite<'_>> = pending
                .iter()
                .map(|f| AttemptWrite { attempt_id: &f.ctx.attempt_id, call_id: &f.call_id, record: &f.record })
                .collect();
            let written = write_attempts(&mut *tx, &rows, WriteIf::NoOutcome).await?;
            let done: Vec<&FirstOutcome> = pending.iter().filter(|f| written.contains(&f.ctx.attempt_id)).collect();
            let moves: Vec<JobMove<'_>> = done
                .iter()
                .map(|f| JobMove { ctx: &f.ctx, outcome: f.record.outcome, job: &f.job, now_ms: millis(f.now) })
                .collect();
            move_jobs(&mut *tx, &moves, &FIRST_OUTCOME_FROM).await?;
            for f in &pending {
                let was_written = written.contains(&f.ctx.attempt_id);
                applied[f.index].1 = if was_written { Applied::Applied } else { Applied::Duplicate };
                if was_written {
                    follow_up_analysis(&mut *tx, &f.ctx, &f.call_id, &f.record, f.now).await?;
                    opt_out(&mut *tx, &f.ctx, &f.record, millis(f.now)).await?;
                }
            }
            Ok(())
        })
    }
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
            WriteIf::NoOutcome => "attempts.outcome IS NULL",
            WriteIf::NoAnsweredBy => "attempts.answered_by IS NULL",
        }
    }
}

/// An attempt's fields to write from an [`OutcomeRecord`].
struct AttemptWrite<'a> {
    attempt_id: &'a str,
    call_id: &'a str,
    record: &'a OutcomeRecord,
}

/// Most rows one statement writes (well inside both databases' limits on bound parameters).
const ROWS_PER_STATEMENT: usize = 500;

/// Writes each attempt's fields, only while `guard` holds for it; returns the ids of those
/// written. One statement for all (the rows are joined as a `VALUES` list), whose text varies
/// with their number: only a single row's is kept prepared.
async fn write_attempts(
    tx: impl Into<Conn<'_>>,
    rows: &[AttemptWrite<'_>],
    guard: WriteIf,
) -> Result<HashSet<String>, StoreError> {
    let mut written = HashSet::with_capacity(rows.len());
    on_conn!(tx.into(), |tx| {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::new(
                "WITH w (id, call_id, outcome, answered_by, call_length, price, summary, call_ended_by, error_message,
                         recording_url, transcript, analysis, details, ended_at, poll_at) AS (",
            );
            q.push_values(chunk, |mut v, w| {
                let r = w.record;
                v.push_bind(w.attempt_id)
                    .push_bind(w.call_id)
                    .push_bind(r.outcome.as_str())
                    .push_bind(r.answered_by.as_deref())
                    .push_bind(r.call_length)
                    .push_bind(r.price)
                    .push_bind(r.summary.as_deref())
                    .push_bind(r.call_ended_by.as_deref())
                    .push_bind(r.error_message.as_deref())
                    .push_bind(r.recording_url.as_deref())
                    .push_bind(r.transcript.as_deref())
                    .push_bind(r.analysis.as_deref())
                    .push_bind(r.details.as_str())
                    .push_bind(millis(r.ended_at))
                    .push_bind(r.recheck_at.map(millis));
            });
            q.push(
                ") UPDATE attempts SET state = 'ended', call_id = COALESCE(attempts.call_id, w.call_id),
                    outcome = w.outcome, answered_by = w.answered_by, call_length = w.call_length, price = w.price,
                    summary = w.summary, call_ended_by = w.call_ended_by, error_message = w.error_message,
                    recording_url = w.recording_url, transcript = w.transcript, analysis = w.analysis,
                    details = w.details, ended_at = w.ended_at, poll_at = w.poll_at
                 FROM w WHERE attempts.id = w.id AND ",
            )
            .push(guard.sql())
            .push(" RETURNING attempts.id");
            for row in q.build().persistent(chunk.len() == 1).fetch_all(&mut *tx).await? {
                written.insert(row.try_get::<String, _>(0)?);
            }
        }
        Ok(written)
    })
}

/// A job to move after its attempt's outcome.
struct JobMove<'a> {
    ctx: &'a AttemptContext,
    outcome: Outcome,
    job: &'a JobTarget,
    now_ms: i64,
}

/// Where a job goes, as `jobs` columns: its state, the next attempt's time and the reason.
fn job_move(job: &JobTarget) -> (JobState, Option<i64>, Option<&str>) {
    match job {
        JobTarget::Done => (JobState::Done, None, None),
        JobTarget::Failed(reason) => (JobState::Failed, None, Some(reason.as_str())),
        JobTarget::Retry(at) => (JobState::RetryWait, Some(millis(*at)), None),
    }
}

/// Moves each job where [`job_move`] says, but only while it is still on its attempt and in one
/// of `from` (one statement for all, as [`write_attempts`]); then a job moved to a retry whose
/// campaign was cancelled is cancelled, not left waiting (stamped with the latest of the moves'
/// times: one statement for all of them too).
async fn move_jobs(tx: impl Into<Conn<'_>>, moves: &[JobMove<'_>], from: &[JobState]) -> Result<(), StoreError> {
    on_conn!(tx.into(), |tx| {
        for chunk in moves.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::new("WITH m (id, attempt_no, state, outcome, next_at, reason, now) AS (");
            q.push_values(chunk, |mut v, m| {
                let (state, next_at, reason) = job_move(m.job);
                v.push_bind(m.ctx.job_id)
                    .push_bind(m.ctx.attempt_no)
                    .push_bind(state.as_str())
                    .push_bind(m.outcome.as_str())
                    .push_bind(next_at)
                    .push_bind(reason)
                    .push_bind(m.now_ms);
            });
            q.push(
                ") UPDATE jobs SET state = m.state, outcome = m.outcome,
                    next_attempt_at = COALESCE(m.next_at, jobs.next_attempt_at), reason = m.reason, updated_at = m.now
                 FROM m WHERE jobs.id = m.id AND jobs.attempts = m.attempt_no AND jobs.state IN ",
            );
            push_in_list(&mut q, from.iter().map(|s| s.as_str()));
            q.build().persistent(chunk.len() == 1).execute(&mut *tx).await?;

            // A call that ends after its campaign was cancelled must not leave a retry waiting.
            let retries: Vec<&JobMove<'_>> = chunk.iter().filter(|m| matches!(m.job, JobTarget::Retry(_))).collect();
            let Some(latest) = retries.iter().map(|m| m.now_ms).max() else { continue };
            let mut q = super::dispatch::cancel_if_campaign_cancelled(latest);
            q.push("id IN ");
            push_in_list(&mut q, retries.iter().map(|m| m.ctx.job_id));
            q.build().persistent(retries.len() == 1).execute(&mut *tx).await?;
        }
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
