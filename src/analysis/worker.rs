//! The analysis worker: [`AnalysisWorker::step`] claims due rows (as many as the batch and each
//! campaign's spend limit allow), asks Bland about each with no transaction open, and records
//! every answer the moment it arrives; [`AnalysisWorker::run`] repeats steps until the daemon's
//! stop signal, like the poller. An `analyze` run drives the same step over one question set.
//!
//! Requests are paced twice: by this worker's share of the account's request budget (its own
//! token bucket, waited on before each request, so analysis can never take the dispatcher's
//! part) and, inside the Bland client, by the account's budget itself (the same limiter as
//! sends, so together they never exceed `requests_per_minute`).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::watch;
use tracing::{info, warn};

use super::QuestionSet;
use super::decide::{AfterFailure, RetrySchedule, after_failure, check_answers, claim_decision, give_up_or_retry};
use crate::bland::{AnalyzeRequest, Client};
use crate::clock::Clock;
use crate::config::DaemonConfig;
use crate::dispatcher::PlanCache;
use crate::metrics::{AnalysisRequest, Metrics};
use crate::store::{AnalysisResult, AnalysisScope, ClaimedAnalysis, Recorded, Store, StoreError};

/// How the worker works; [`AnalysisConfig::from_daemon`] takes it from the daemon config.
#[derive(Debug, Clone)]
pub struct AnalysisConfig {
    /// Most rows claimed (and asked at once) per step.
    pub batch: u32,
    /// Sleep between steps when nothing was due.
    pub tick: StdDuration,
    /// How long a claim keeps other workers off a row; a crashed worker's rows are due again
    /// after it.
    pub lease: Duration,
    pub retry: RetrySchedule,
    /// Requests per minute this worker may make; `None`: only the client's own limiter.
    pub requests_per_minute: Option<f64>,
    pub compliance: crate::window::Compliance,
}

impl AnalysisConfig {
    /// From `[analysis]` (the worker's share of `[bland] requests_per_minute`) and
    /// `[compliance]` (campaign specs are read under it).
    pub fn from_daemon(config: &DaemonConfig) -> Self {
        let knobs = &config.analysis;
        Self {
            batch: knobs.batch,
            // Bounded at load (milliseconds to a minute), so it converts.
            tick: knobs.tick.to_std().unwrap_or_default(),
            lease: knobs.lease,
            retry: RetrySchedule {
                max_tries: knobs.max_tries,
                min_backoff: knobs.min_backoff,
                max_backoff: knobs.max_backoff,
            },
            requests_per_minute: Some(f64::from(config.bland.requests_per_minute) * knobs.request_share),
            compliance: config.compliance(),
        }
    }
}

/// Which rows a worker works on.
#[derive(Debug, Clone)]
pub enum Work {
    /// Every campaign's due rows, each under its own `[analysis] max_spend_usd` (the daemon).
    Daemon,
    /// One campaign's rows of one question set, under `max_spend_usd` (an `analyze` run).
    Run { campaign_id: String, set: QuestionSet, max_spend_usd: Option<f64> },
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    pub claimed: u32,
    /// Answers stored.
    pub answered: u32,
    /// Requests that failed and will be asked again.
    pub retried: u32,
    /// Rows given up for good (by Bland's refusal, unmatched answers, or tries run out).
    pub failed: u32,
    /// Rows failed because the spend limit was reached.
    pub stopped: u32,
    /// Claims given back unasked (shutting down).
    pub released: u32,
}

/// One row's request, as it ended.
enum Asked {
    Answered,
    Retried,
    Failed,
    Released,
}

pub struct AnalysisWorker {
    store: Store,
    bland: Client,
    clock: Arc<dyn Clock>,
    cfg: AnalysisConfig,
    work: Work,
    /// This worker's id on the rows it claims.
    owner: String,
    plans: PlanCache,
    pace: Option<DefaultDirectRateLimiter>,
    shutdown: Mutex<Option<watch::Receiver<bool>>>,
    rotation: AtomicUsize,
    metrics: Metrics,
}

/// A token bucket for `per_minute` requests (fractions allowed: 0.5 is one every two minutes).
fn pacer(per_minute: f64) -> Option<DefaultDirectRateLimiter> {
    if !(per_minute.is_finite() && per_minute > 0.0) {
        return None;
    }
    let period = StdDuration::from_secs_f64((60.0 / per_minute).clamp(1e-6, 3600.0));
    Quota::with_period(period).map(|q| RateLimiter::direct(q.allow_burst(NonZeroU32::MIN)))
}

impl AnalysisWorker {
    /// `bland` should share the account's request budget with the dispatcher and not retry by
    /// itself: a failed row is asked again on this worker's schedule, through its pacing.
    pub fn new(store: Store, bland: Client, clock: Arc<dyn Clock>, cfg: AnalysisConfig, work: Work) -> Self {
        let pace = cfg.requests_per_minute.and_then(pacer);
        Self {
            store,
            bland,
            clock,
            plans: PlanCache::new(cfg.compliance),
            cfg,
            work,
            owner: format!("worker-{}", uuid::Uuid::new_v4()),
            pace,
            shutdown: Mutex::new(None),
            rotation: AtomicUsize::new(0),
            metrics: Metrics::default(),
        }
    }

    /// Counts the worker's requests in `metrics` (the daemon's registry) instead of a registry
    /// of its own.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The id this worker claims rows as.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Stops asking when `stop` turns true: claims not yet asked are given back (set by
    /// [`AnalysisWorker::run`]; an `analyze` run sets it itself).
    pub fn stop_on(&self, stop: watch::Receiver<bool>) {
        *self.shutdown.lock().expect("analysis worker lock poisoned") = Some(stop);
    }

    fn stop_signal(&self) -> Option<watch::Receiver<bool>> {
        self.shutdown.lock().expect("analysis worker lock poisoned").clone()
    }

    fn stopping(&self) -> bool {
        self.stop_signal().is_some_and(|s| *s.borrow())
    }

    /// The spend limit of `campaign_id`'s rows in this worker's work; `Err` when its spec
    /// cannot be read (the campaign is skipped, never asked without its limit).
    async fn limit_of(&self, campaign_id: &str) -> Result<Result<Option<f64>, String>, StoreError> {
        match &self.work {
            Work::Run { max_spend_usd, .. } => Ok(Ok(*max_spend_usd)),
            Work::Daemon => {
                let row = self.store.campaign(campaign_id).await?;
                Ok(self.plans.get(&row).map(|plan| plan.spec.analysis.as_ref().and_then(|a| a.max_spend_usd)))
            }
        }
    }

    /// Claims what is due (the spend limits allowing), asks Bland about each claimed row at the
    /// worker's pace, and records each answer or failure as it comes.
    pub async fn step(&self) -> Result<StepReport, StoreError> {
        let now = self.clock.now();
        let lease_until = now.checked_add_signed(self.cfg.lease).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let (mut campaigns, scope) = match &self.work {
            Work::Daemon => (self.store.campaigns_with_analyses_due(now).await?, AnalysisScope::Campaign),
            Work::Run { campaign_id, set, .. } => (vec![campaign_id.clone()], AnalysisScope::QuestionSet(set.key())),
        };
        // Campaigns take turns at the front, so a large backlog cannot starve a small one.
        if !campaigns.is_empty() {
            let turn = self.rotation.fetch_add(1, Ordering::Relaxed) % campaigns.len();
            campaigns.rotate_left(turn);
        }
        let mut report = StepReport::default();
        let mut claimed: Vec<ClaimedAnalysis> = Vec::new();
        let mut room = self.cfg.batch;
        for campaign_id in &campaigns {
            if room == 0 {
                break;
            }
            let limit = match self.limit_of(campaign_id).await? {
                Ok(limit) => limit,
                Err(why) => {
                    warn!(campaign_id = %campaign_id, error = %why, "cannot read the campaign's spec; its analyses wait");
                    continue;
                }
            };
            let want = room;
            let claim = self
                .store
                .claim_analyses(campaign_id, scope, &self.owner, now, lease_until, |spend| {
                    claim_decision(limit, spend, want)
                })
                .await?;
            if claim.stopped > 0 {
                warn!(
                    campaign_id = %campaign_id,
                    rows = claim.stopped,
                    spent_usd = claim.spend.spent_usd,
                    max_spend_usd = limit,
                    "analysis spend limit reached: the remaining analyses are failed, not asked"
                );
            }
            report.stopped += u32::try_from(claim.stopped).unwrap_or(u32::MAX);
            let n = u32::try_from(claim.rows.len()).unwrap_or(u32::MAX);
            room = room.saturating_sub(n);
            report.claimed += n;
            claimed.extend(claim.rows);
        }
        let concurrency = claimed.len().max(1);
        let mut asked = futures_util::stream::iter(claimed).map(|row| self.ask(row)).buffer_unordered(concurrency);
        while let Some(done) = asked.next().await {
            let (tally, result) = match done? {
                Asked::Answered => (&mut report.answered, Some(AnalysisRequest::Answered)),
                Asked::Retried => (&mut report.retried, Some(AnalysisRequest::Retried)),
                Asked::Failed => (&mut report.failed, Some(AnalysisRequest::Failed)),
                Asked::Released => (&mut report.released, None),
            };
            *tally += 1;
            if let Some(result) = result {
                self.metrics.analysis_request(result);
            }
        }
        Ok(report)
    }

    /// Asks Bland about one claimed row and records how it went.
    ///
    /// The crash window: the row is `pending` and claimed while Bland works on it. Should the
    /// process die after Bland answered but before the answer's commit, the answer is lost with
    /// it; once the lease passes, the next worker (the restarted daemon, or an `analyze` run)
    /// asks once more and stores that answer. So a call is answered-and-stored once, but may be
    /// *billed* twice in that window (Bland's analyze endpoint has no idempotency key and keeps
    /// no per-call answers to look up). Outside that window a row is never asked again: a
    /// `done` row is never claimed, a claimed row is nobody else's until its lease passes, and
    /// the answer is committed the moment it arrives, before the next request of the batch.
    async fn ask(&self, row: ClaimedAnalysis) -> Result<Asked, StoreError> {
        if !self.wait_for_turn().await {
            let now = self.clock.now();
            let back = AnalysisResult::Retry { at: now, error: None, count_try: false };
            self.store.record_analysis(row.id, &self.owner, back, now).await?;
            return Ok(Asked::Released);
        }
        let request = AnalyzeRequest { goal: row.goal.clone(), questions: row.questions.clone() };
        // A request must end well inside the lease, or another worker could claim the row and
        // ask it too while this one still waits.
        let deadline = self.cfg.lease.to_std().unwrap_or_default() / 2;
        let answer = tokio::time::timeout(deadline, self.bland.analyze_call(&row.call_id, &request)).await;
        let now = self.clock.now();
        let error_text = match &answer {
            Ok(Ok(_)) => String::new(),
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("analyze call: no answer within {}s", deadline.as_secs()),
        };
        let settle = match &answer {
            Ok(Ok(resp)) => match check_answers(resp, row.questions.len()) {
                Ok(()) => {
                    let answered = AnalysisResult::Answered { answers: &resp.answers, price: resp.price };
                    if self.store.record_analysis(row.id, &self.owner, answered, now).await? == Recorded::Settled {
                        warn!(
                            call_id = %row.call_id,
                            analysis = row.id,
                            "the call was already analysed by another worker: this answer's price is recorded, \
                             its answers are not"
                        );
                    } else {
                        info!(campaign_id = %row.campaign_id, call_id = %row.call_id, price = resp.price, "call analysed");
                    }
                    return Ok(Asked::Answered);
                }
                Err(why) => (AfterFailure::Fail(why), resp.price),
            },
            Ok(Err(err)) => (after_failure(err, row.tries, &self.cfg.retry, now), None),
            Err(_) => (give_up_or_retry(&error_text, row.tries, &self.cfg.retry, now), None),
        };
        let (result, asked) = match &settle {
            (AfterFailure::Retry { at, count_try }, _) => {
                (AnalysisResult::Retry { at: *at, error: Some(&error_text), count_try: *count_try }, Asked::Retried)
            }
            (AfterFailure::Fail(reason), price) => {
                (AnalysisResult::Failed { error: reason, price: *price }, Asked::Failed)
            }
        };
        match &result {
            AnalysisResult::Failed { error, .. } => {
                warn!(campaign_id = %row.campaign_id, call_id = %row.call_id, error, "call not analysed; given up")
            }
            _ => {
                warn!(campaign_id = %row.campaign_id, call_id = %row.call_id, error = %error_text, "analysis failed; will ask again")
            }
        }
        self.store.record_analysis(row.id, &self.owner, result, now).await?;
        Ok(asked)
    }

    /// Waits for this worker's share of the request budget; `false` when the daemon is
    /// stopping instead (nothing is asked after the stop signal).
    async fn wait_for_turn(&self) -> bool {
        let Some(pace) = &self.pace else { return !self.stopping() };
        match self.stop_signal() {
            None => {
                pace.until_ready().await;
                true
            }
            Some(mut stop) => {
                if *stop.borrow() {
                    return false;
                }
                let ready = tokio::select! {
                    _ = pace.until_ready() => true,
                    _ = stop.wait_for(|s| *s) => false,
                };
                ready && !self.stopping()
            }
        }
    }

    /// Steps until `shutdown` turns true; the step in progress finishes (requests already sent
    /// are answered and recorded, claims not yet asked are given back).
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        self.stop_on(shutdown.clone());
        loop {
            if *shutdown.borrow() {
                break;
            }
            let busy = match self.step().await {
                Ok(r) => r.claimed > 0,
                Err(e) => {
                    warn!(error = %e, "analysis step failed; will try again");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(self.cfg.tick) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        info!("analysis worker stopped");
    }
}
