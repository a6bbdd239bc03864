//! The dispatcher's loop: one [`Dispatcher::step`] claims due jobs campaign by campaign,
//! decides for each (window, DNC, per-number cap, templates), commits the ones to dial as
//! `dialing` attempts, and only then sends them; then it records what Bland answered.
//! [`Dispatcher::reconcile`] settles attempts left `dialing` by a crash or an ambiguous send
//! failure by looking them up at Bland before anything is sent again.
//!
//! Lifecycle: `new` rebuilds the cap ledger from the attempts table; `run` alternates reconcile
//! and step until the shutdown signal, then finishes the step in progress (every send in flight
//! is answered or times out) and returns. Nothing holds a database transaction across an HTTP
//! request: claim and commit, then call, then record.

use futures_util::{StreamExt, stream};
use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use governor::{Quota, RateLimiter, clock::Clock as GovernorClock};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::ledger::{Caps, Ledger};
use super::plan::{CampaignPlan, Decision, NumberFacts, PlanCache, decide, recipient_zones};
use crate::bland::{BlandError, Client, ListCallsQuery, SendCallRequest};
use crate::clock::Clock;
use crate::config::DaemonConfig;
use crate::store::{
    CampaignAction, CampaignRow, CampaignState, ClaimedJob, Deferral, NewAttempt, PendingAttempt, Store, StoreError,
};
use crate::window::Compliance;

/// The metadata key that carries switchboard's attempt id through Bland and back.
pub const ATTEMPT_KEY: &str = "switchboard_attempt_id";

/// How often a batch in progress re-reads which campaigns still run (control takes effect
/// within a second).
const RECHECK_STATES: StdDuration = StdDuration::from_millis(200);

/// How long a count of the open calls is used (kept up to date with this daemon's dials).
const OPEN_RECOUNT: Duration = Duration::seconds(1);

/// Most placed calls recorded in one transaction.
const RECORD_BATCH: usize = 256;

/// Tuning of the dispatcher; [`DispatcherConfig::from_daemon`] takes it from the daemon config.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    pub account: Caps,
    pub compliance: Compliance,
    pub max_calls_per_number_per_day: u32,
    /// `[http] public_url` + `/webhooks/bland`, sent as each call's `webhook`.
    pub webhook_url: Option<String>,
    /// Most jobs claimed per campaign per step.
    pub batch: u32,
    /// Sends in flight at once.
    pub send_concurrency: usize,
    /// A call holds a concurrency slot until its outcome, or at most `max_duration` + this.
    pub slot_margin: Duration,
    /// Poll a call's outcome this long after `max_duration` if no webhook settled it.
    pub poll_margin: Duration,
    /// How long an ambiguous send rests before it is looked up at Bland.
    pub reconcile_after: Duration,
    /// Backoff after a 429 without `Retry-After` (doubling up to `max_backoff`).
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Smooth each campaign's `calls_per_minute` with a token bucket inside the ledger's caps.
    pub pacing: bool,
    /// Sleep between steps when there is nothing to do.
    pub idle_tick: StdDuration,
}

impl DispatcherConfig {
    pub fn from_daemon(config: &DaemonConfig) -> Self {
        Self {
            account: Caps {
                per_minute: Some(config.account.calls_per_minute),
                per_hour: Some(config.account.calls_per_hour),
                per_day: Some(config.account.calls_per_day),
                concurrent: Some(config.account.max_concurrent),
            },
            compliance: config.compliance(),
            max_calls_per_number_per_day: config.compliance.max_calls_per_number_per_day,
            webhook_url: config.http.public_url.as_ref().map(|u| format!("{}/webhooks/bland", u.trim_end_matches('/'))),
            batch: 500,
            send_concurrency: 64,
            slot_margin: Duration::minutes(5),
            poll_margin: Duration::minutes(2),
            reconcile_after: Duration::seconds(30),
            min_backoff: Duration::seconds(1),
            max_backoff: Duration::seconds(60),
            pacing: true,
            idle_tick: StdDuration::from_millis(200),
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    pub claimed: u32,
    pub sent: u32,
    pub deferred: u32,
    pub failed: u32,
    /// Sends Bland did not take (429, 401, connection refused): nothing burned.
    pub not_sent: u32,
    /// Sends whose fate is unknown until reconciled.
    pub unknown: u32,
}

impl StepReport {
    pub fn idle(&self) -> bool {
        self.claimed == 0 && self.not_sent == 0 && self.unknown == 0
    }
}

/// What one reconcile pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Found at Bland: the call exists, its id is now recorded.
    pub found: u32,
    /// Proven absent and sent again under the same attempt id.
    pub resent: u32,
    /// Still unknown (lookup failed, or the window closed meanwhile).
    pub left: u32,
    /// Jobs claimed but never given an attempt (a crash or a failed step between the two),
    /// put back in the queue: nothing was sent for them.
    pub released: u32,
}

/// Adapts the injected clock for governor, so pacing follows the same time as everything else.
#[derive(Clone)]
struct PacingClock(Arc<dyn Clock>);

impl GovernorClock for PacingClock {
    type Instant = StdDuration;
    fn now(&self) -> StdDuration {
        let ms = self.0.now().timestamp_millis().max(0) as u64;
        StdDuration::from_millis(ms)
    }
}

type Pacer = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    PacingClock,
    governor::middleware::NoOpMiddleware<StdDuration>,
>;

#[derive(Default)]
struct State {
    ledger: Ledger,
    pacers: HashMap<(String, DateTime<Utc>), Option<Arc<Pacer>>>,
    zones: HashMap<String, Vec<Tz>>,
    /// No sends before this (a 429 slowed the whole account down).
    not_before: Option<DateTime<Utc>>,
    consecutive_429: u32,
    rotation: usize,
    /// The API key was refused; logged once, campaigns paused.
    key_refused: bool,
    /// The daemon's shutdown signal, while [`Dispatcher::run`] runs.
    shutdown: Option<watch::Receiver<bool>>,
    /// Calls holding a concurrency slot, per campaign, as last counted in the DB plus the
    /// attempts committed since.
    open: Option<OpenCalls>,
}

/// Counting open calls scans every open attempt (a hundred thousand at a high rate), too much
/// for every step; so the count is redone every [`OPEN_RECOUNT`] and kept up to date in between
/// with this daemon's own dials. Calls that end meanwhile are still counted until the next
/// recount: a slot is reused up to a second late, never given twice.
struct OpenCalls {
    counted_at: DateTime<Utc>,
    per_campaign: HashMap<String, u32>,
}

/// One send to make.
struct Send {
    attempt_id: String,
    campaign_id: String,
    request: SendCallRequest,
}

enum SendResult {
    Sent,
    NotSent,
    Failed,
    Unknown,
}

pub struct Dispatcher {
    store: Store,
    bland: Client,
    clock: Arc<dyn Clock>,
    cfg: DispatcherConfig,
    plans: Arc<PlanCache>,
    state: Mutex<State>,
}

impl Dispatcher {
    /// `bland` should not retry sends on its own: a 429 must slow the whole account down, which
    /// the dispatcher does.
    pub async fn new(
        store: Store,
        bland: Client,
        clock: Arc<dyn Clock>,
        cfg: DispatcherConfig,
    ) -> Result<Self, StoreError> {
        let since = clock.now() - Duration::days(1);
        let ledger = Ledger::from_dials(store.dials_since(since.timestamp_millis()).await?);
        let plans = Arc::new(PlanCache::new(cfg.compliance));
        Ok(Self { store, bland, clock, cfg, plans, state: Mutex::new(State { ledger, ..State::default() }) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("dispatcher state poisoned")
    }

    /// Runs until `shutdown` turns true; the step in progress completes first.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        self.lock().shutdown = Some(shutdown.clone());
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.reconcile().await {
                warn!(error = %e, "reconcile failed; will try again");
            }
            let report = match self.step().await {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, "dispatch step failed; will try again");
                    StepReport::default()
                }
            };
            if report.idle() {
                tokio::select! {
                    _ = tokio::time::sleep(self.cfg.idle_tick) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        info!("dispatcher stopped");
    }

    /// The plan of a running campaign (re-read when its spec changed) and its pacer.
    fn plan_for(&self, row: &CampaignRow) -> Result<(Arc<CampaignPlan>, Option<Arc<Pacer>>), String> {
        let plan = self.plans.get(row)?;
        let mut state = self.lock();
        let key = (row.id.clone(), row.updated_at);
        if let Some(p) = state.pacers.get(&key) {
            return Ok((plan, p.clone()));
        }
        let pacer = match (self.cfg.pacing, plan.spec.limits.calls_per_minute) {
            (true, Some(per_minute)) => {
                let per_minute = NonZeroU32::new(per_minute).expect("limits are positive");
                // A burst of a tenth of a minute's calls: smooth, but not one at a time.
                let burst = NonZeroU32::new((per_minute.get() / 10).max(1)).expect("at least one");
                let quota = Quota::per_minute(per_minute).allow_burst(burst);
                Some(Arc::new(RateLimiter::direct_with_clock(quota, PacingClock(self.clock.clone()))))
            }
            _ => None,
        };
        state.pacers.retain(|(id, _), _| id != &row.id);
        state.pacers.insert(key, pacer.clone());
        Ok((plan, pacer))
    }

    /// Calls holding a concurrency slot now, per campaign (see [`OpenCalls`]).
    async fn open_calls(&self, now: DateTime<Utc>) -> Result<HashMap<String, u32>, StoreError> {
        if let Some(open) = &self.lock().open
            && open.counted_at <= now
            && now - open.counted_at < OPEN_RECOUNT
        {
            return Ok(open.per_campaign.clone());
        }
        let per_campaign = self.store.open_calls(now.timestamp_millis()).await?;
        self.lock().open = Some(OpenCalls { counted_at: now, per_campaign: per_campaign.clone() });
        Ok(per_campaign)
    }

    /// One round: claim, decide, commit, send, record.
    pub async fn step(&self) -> Result<StepReport, StoreError> {
        let now = self.clock.now();
        let now_ms = now.timestamp_millis();
        let mut report = StepReport::default();
        if self.lock().not_before.is_some_and(|t| t > now) {
            return Ok(report);
        }
        let campaigns = self.store.campaigns_in_state(CampaignState::Running).await?;
        if campaigns.is_empty() {
            return Ok(report);
        }
        let open = self.open_calls(now).await?;
        let open_total: u32 = open.values().sum();
        let mut account_left = {
            let mut state = self.lock();
            let used = state.ledger.used(None, now_ms);
            self.cfg.account.allowance(used, open_total)
        };

        // Rotate the starting campaign each step, and give each at most a fair share of the
        // account's room, so a huge campaign cannot starve a small one.
        let n = campaigns.len();
        let start = {
            let mut state = self.lock();
            state.rotation = state.rotation.wrapping_add(1);
            state.rotation % n
        };
        let mut sends = Vec::new();
        for (i, row) in campaigns.iter().cycle().skip(start).take(n).enumerate() {
            if account_left == 0 {
                break;
            }
            let (plan, pacer) = match self.plan_for(row) {
                Ok(p) => p,
                Err(e) => {
                    warn!(campaign_id = %row.id, error = %e, "cannot read the campaign's spec; pausing it");
                    self.store
                        .apply_campaign_action(
                            &row.id,
                            CampaignAction::Pause,
                            Some(&format!("cannot read the spec: {e}")),
                            now,
                        )
                        .await?;
                    continue;
                }
            };
            self.store.release_due_retries(&row.id, now_ms).await?;
            let fair_share = account_left.div_ceil((n - i) as u32);
            let caps = Caps {
                per_minute: plan.spec.limits.calls_per_minute,
                per_hour: plan.spec.limits.calls_per_hour,
                per_day: plan.spec.limits.calls_per_day,
                concurrent: plan.spec.limits.max_concurrent,
            };
            let used = self.lock().ledger.used(Some(&row.id), now_ms);
            let mut room =
                caps.allowance(used, open.get(&row.id).copied().unwrap_or(0)).min(fair_share).min(self.cfg.batch);
            if let Some(pacer) = &pacer {
                let mut permitted = 0;
                while permitted < room && pacer.check().is_ok() {
                    permitted += 1;
                }
                room = permitted;
            }
            if room == 0 {
                continue;
            }
            let claimed = self.store.claim_due(&row.id, now_ms, room).await?;
            report.claimed += claimed.len() as u32;
            let campaign_sends = self.decide_claims(&plan, claimed, now, &mut report).await?;
            account_left = account_left.saturating_sub(campaign_sends.len() as u32);
            sends.extend(campaign_sends);
        }
        self.send_all(sends, &mut report).await?;
        Ok(report)
    }

    /// Decides for a campaign's claimed jobs and commits the outcome; returns the sends.
    async fn decide_claims(
        &self,
        plan: &CampaignPlan,
        claimed: Vec<ClaimedJob>,
        now: DateTime<Utc>,
        report: &mut StepReport,
    ) -> Result<Vec<Send>, StoreError> {
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let now_ms = now.timestamp_millis();
        let phones: Vec<&str> = claimed.iter().map(|j| j.phone.as_str()).collect();
        let dnc = self.store.dnc_reasons(&phones).await?;
        let recent = self.store.recent_dials_by_number(&phones, (now - Duration::days(1)).timestamp_millis()).await?;
        let max_minutes = plan.spec.call.get("max_duration").and_then(Value::as_f64).unwrap_or(30.0);
        let max_ms = (max_minutes * 60_000.0) as i64;
        let expires_at = now_ms + max_ms + self.cfg.slot_margin.num_milliseconds();
        let poll_at = now_ms + max_ms + self.cfg.poll_margin.num_milliseconds();

        let mut attempts = Vec::new();
        let mut deferrals = Vec::new();
        let mut sends = Vec::new();
        // Two jobs of one claim may share a number only across campaigns; count this claim's
        // own dials too so the per-number cap holds within a step.
        let mut dialled_now: HashMap<&str, Vec<i64>> = HashMap::new();
        for job in &claimed {
            let zones = self.zones(plan, &job.timezones, job.number_zones.as_deref());
            let mut dials = recent.get(&job.phone).cloned().unwrap_or_default();
            dials.extend(dialled_now.get(job.phone.as_str()).into_iter().flatten());
            let facts = NumberFacts { dnc_reason: dnc.get(&job.phone).map(String::as_str), recent_dials: &dials };
            match decide(job, plan, &zones, &facts, self.cfg.max_calls_per_number_per_day, now) {
                Decision::Dial { call, request_data } => {
                    // Time-ordered (v7): attempts are inserted at the end of their primary key's
                    // index instead of all over it.
                    let attempt_id = uuid::Uuid::now_v7().to_string();
                    let metadata = attempt_metadata(&attempt_id, &job.campaign_id, job.id);
                    match build_request(call, request_data, &job.phone, metadata, self.cfg.webhook_url.clone()) {
                        Ok(request) => {
                            attempts.push(NewAttempt {
                                id: attempt_id.clone(),
                                job_id: job.id,
                                campaign_id: job.campaign_id.clone(),
                                phone: job.phone.clone(),
                                attempt_no: job.attempts + 1,
                                expires_at,
                                poll_at,
                            });
                            dialled_now.entry(job.phone.as_str()).or_default().push(now_ms);
                            sends.push(Send { attempt_id, campaign_id: job.campaign_id.clone(), request });
                        }
                        Err(reason) => {
                            report.failed += 1;
                            deferrals.push(Deferral::Fail { job_id: job.id, reason });
                        }
                    }
                }
                Decision::Requeue(at) => {
                    report.deferred += 1;
                    deferrals.push(Deferral::Requeue { job_id: job.id, at: at.timestamp_millis() });
                }
                Decision::Suppress(reason) => {
                    report.deferred += 1;
                    deferrals.push(Deferral::Suppress { job_id: job.id, reason });
                }
                Decision::Fail(reason) => {
                    report.failed += 1;
                    info!(campaign_id = %job.campaign_id, job_id = job.id, %reason, "job failed before dialing");
                    deferrals.push(Deferral::Fail { job_id: job.id, reason });
                }
            }
        }
        // The attempts are durable before any of them is sent.
        self.store.commit_claims(&attempts, &deferrals, now_ms).await?;
        let mut state = self.lock();
        for a in &attempts {
            state.ledger.record(&a.campaign_id, now_ms);
            if let Some(open) = &mut state.open {
                *open.per_campaign.entry(a.campaign_id.clone()).or_default() += 1;
            }
        }
        Ok(sends)
    }

    /// Sends in parallel (bounded) and records each answer.
    async fn send_all(&self, sends: Vec<Send>, report: &mut StepReport) -> Result<(), StoreError> {
        if sends.is_empty() {
            return Ok(());
        }
        let permits = Arc::new(Semaphore::new(self.cfg.send_concurrency));
        let mut tasks = JoinSet::new();
        // A batch can take seconds to send. An operator's pause or cancel, or a shutdown, must
        // stop the calls not placed yet within a second, so the campaigns' states are re-read
        // while the batch goes out; a send no longer wanted is voided (nothing was placed).
        let mut running: Option<HashSet<String>> = None;
        let mut checked = std::time::Instant::now();
        for send in sends {
            let permit = permits.clone().acquire_owned().await.expect("semaphore open");
            if checked.elapsed() >= RECHECK_STATES {
                running = Some(
                    self.store.campaigns_in_state(CampaignState::Running).await?.into_iter().map(|c| c.id).collect(),
                );
                checked = std::time::Instant::now();
            }
            let stopping = self.stopping();
            let stopped = running.as_ref().is_some_and(|r| !r.contains(&send.campaign_id));
            if stopping || stopped {
                let why = if stopping { "the daemon is shutting down" } else { "the campaign stopped running" };
                let now_ms = self.clock.now().timestamp_millis();
                self.store.record_not_sent(&send.attempt_id, &format!("not placed: {why}"), now_ms, now_ms).await?;
                report.not_sent += 1;
                continue;
            }
            let bland = self.bland.clone();
            tasks.spawn(async move {
                let result = bland.send_call(&send.request).await;
                drop(permit);
                (send, result)
            });
        }
        // Placed calls are recorded together, in one transaction per batch of answers at hand;
        // the rare failures one by one.
        let mut placed: Vec<(Send, String)> = Vec::new();
        loop {
            let joined = match tasks.try_join_next() {
                Some(j) => j,
                None => {
                    self.record_placed(&mut placed, report).await?;
                    match tasks.join_next().await {
                        Some(j) => j,
                        None => break,
                    }
                }
            };
            let (send, result) = joined.expect("send task panicked");
            match result {
                Ok(resp) => placed.push((send, resp.call_id)),
                Err(e) => match self.record_send(&send.attempt_id, &send.campaign_id, Err(e)).await? {
                    SendResult::Sent => report.sent += 1,
                    SendResult::NotSent => report.not_sent += 1,
                    SendResult::Failed => report.failed += 1,
                    SendResult::Unknown => report.unknown += 1,
                },
            }
            if placed.len() >= RECORD_BATCH {
                self.record_placed(&mut placed, report).await?;
            }
        }
        Ok(())
    }

    /// Records calls Bland accepted (and empties `placed`).
    async fn record_placed(&self, placed: &mut Vec<(Send, String)>, report: &mut StepReport) -> Result<(), StoreError> {
        if placed.is_empty() {
            return Ok(());
        }
        self.lock().consecutive_429 = 0;
        let ids: Vec<(&str, &str)> =
            placed.iter().map(|(s, call_id)| (s.attempt_id.as_str(), call_id.as_str())).collect();
        self.store.record_sent_many(&ids, self.clock.now().timestamp_millis()).await?;
        for (send, call_id) in placed.drain(..) {
            info!(campaign_id = %send.campaign_id, attempt_id = %send.attempt_id, %call_id, "call placed");
            report.sent += 1;
        }
        Ok(())
    }

    /// Records Bland's answer to one send.
    async fn record_send(
        &self,
        attempt_id: &str,
        campaign_id: &str,
        result: Result<crate::bland::SendCallResponse, BlandError>,
    ) -> Result<SendResult, StoreError> {
        let now = self.clock.now();
        let now_ms = now.timestamp_millis();
        let err = match result {
            Ok(resp) => {
                self.lock().consecutive_429 = 0;
                self.store.record_sent(attempt_id, &resp.call_id, now_ms).await?;
                info!(%campaign_id, %attempt_id, call_id = %resp.call_id, "call placed");
                return Ok(SendResult::Sent);
            }
            Err(e) => e,
        };
        match &err {
            BlandError::RateLimited { retry_after, .. } => {
                let resume = {
                    let mut state = self.lock();
                    state.consecutive_429 += 1;
                    let wait = retry_after
                        .and_then(|d| Duration::from_std(d).ok())
                        .unwrap_or_else(|| self.backoff(state.consecutive_429));
                    let resume = now + wait;
                    // One slowdown for the whole account, however many sends saw the 429.
                    if state.not_before.is_none_or(|t| t < resume) {
                        state.not_before = Some(resume);
                        warn!(wait_ms = wait.num_milliseconds(), "Bland answered 429: the account slows down");
                    }
                    state.not_before.unwrap_or(resume)
                };
                self.store.record_not_sent(attempt_id, &err.to_string(), resume.timestamp_millis(), now_ms).await?;
                Ok(SendResult::NotSent)
            }
            BlandError::Permanent { status: 401 | 403, .. } => {
                let first = {
                    let mut state = self.lock();
                    !std::mem::replace(&mut state.key_refused, true)
                };
                let reason = format!("Bland refused the API key: {err}");
                let paused = self.store.pause_all_running(&reason, now).await?;
                if first || paused > 0 {
                    tracing::error!(campaigns_paused = paused, "{reason}; every campaign on this key is paused");
                }
                self.store.record_not_sent(attempt_id, &err.to_string(), now_ms, now_ms).await?;
                Ok(SendResult::NotSent)
            }
            BlandError::Permanent { .. } => {
                info!(%campaign_id, %attempt_id, error = %err, "Bland rejected the call");
                self.store.record_rejected(attempt_id, &err.to_string(), now_ms).await?;
                Ok(SendResult::Failed)
            }
            e if e.certainly_not_acted_on() => {
                let wait = self.backoff(1);
                self.store
                    .record_not_sent(attempt_id, &err.to_string(), (now + wait).timestamp_millis(), now_ms)
                    .await?;
                Ok(SendResult::NotSent)
            }
            _ => {
                warn!(%campaign_id, %attempt_id, error = %err, "send failed ambiguously; will look the call up before any resend");
                self.store.record_send_unknown(attempt_id, &err.to_string()).await?;
                Ok(SendResult::Unknown)
            }
        }
    }

    /// The recipient's zones under the campaign's policy (cached by their text).
    fn zones(&self, plan: &CampaignPlan, timezones: &str, number_zones: Option<&str>) -> Vec<Tz> {
        let mut state = self.lock();
        recipient_zones(plan.spec.schedule.zone_policy, timezones, number_zones, &mut state.zones)
    }

    fn backoff(&self, consecutive: u32) -> Duration {
        let exp = self.cfg.min_backoff * 2i32.saturating_pow(consecutive.saturating_sub(1).min(16));
        let capped = exp.min(self.cfg.max_backoff);
        // Full jitter on the upper half, so many daemons (or restarts) do not retry in lockstep.
        let half = capped.num_milliseconds() / 2;
        let jitter = if half > 0 { rand::random_range(0..=half) } else { 0 };
        Duration::milliseconds(half + jitter)
    }

    /// Settles attempts left `dialing` (a crash, an ambiguous send): each is looked up at Bland
    /// by number and date and matched on its attempt id; only one proven absent is sent again,
    /// under the same id. First, jobs claimed without an attempt are put back in the queue
    /// ([`Store::release_orphaned_claims`]): reconcile runs between steps, when no claim of this
    /// dispatcher is outstanding.
    ///
    /// Attempts are settled concurrently (as many at once as sends), so a restart after a crash
    /// with hundreds of sends in flight is not a queue of lookups one by one; on shutdown, the
    /// ones not started yet are left for the next start.
    pub async fn reconcile(&self) -> Result<ReconcileReport, StoreError> {
        let now = self.clock.now();
        let released = self.store.release_orphaned_claims(now.timestamp_millis()).await? as u32;
        if released > 0 {
            warn!(released, "jobs claimed but never dialled (a stop between claim and commit) are queued again");
        }
        let pending = self.store.pending_attempts((now - self.cfg.reconcile_after).timestamp_millis()).await?;
        let settled: Vec<Result<Settled, StoreError>> = stream::iter(pending)
            .map(|attempt| self.reconcile_one(attempt, now))
            .buffer_unordered(self.cfg.send_concurrency.max(1))
            .collect()
            .await;
        let mut report = ReconcileReport { released, ..ReconcileReport::default() };
        for s in settled {
            match s? {
                Settled::Found => report.found += 1,
                Settled::Resent => report.resent += 1,
                Settled::Left => report.left += 1,
            }
        }
        Ok(report)
    }

    async fn reconcile_one(&self, attempt: PendingAttempt, now: DateTime<Utc>) -> Result<Settled, StoreError> {
        if self.stopping() {
            return Ok(Settled::Left);
        }
        Ok(match self.lookup(&attempt).await {
            Ok(Lookup::Found(call_id)) => {
                self.store.record_sent(&attempt.id, &call_id, now.timestamp_millis()).await?;
                info!(attempt_id = %attempt.id, %call_id, "reconciled: the call exists");
                Settled::Found
            }
            Ok(Lookup::Unsure) => {
                warn!(attempt_id = %attempt.id, "cannot prove the attempt absent (the number has too many calls to list); not resending");
                Settled::Left
            }
            Ok(Lookup::Absent) if self.resend(&attempt, now).await? => Settled::Resent,
            Ok(Lookup::Absent) => Settled::Left,
            Err(e) => {
                warn!(attempt_id = %attempt.id, error = %e, "cannot look the attempt up yet");
                Settled::Left
            }
        })
    }

    /// Whether the daemon is shutting down (see [`Dispatcher::run`]).
    fn stopping(&self) -> bool {
        self.lock().shutdown.as_ref().is_some_and(|s| *s.borrow())
    }

    /// What Bland knows of the attempt: `Found(call_id)`, `Absent` only when the number's whole
    /// call list was seen without it. No date filter: Bland's clock and ours may disagree, and
    /// one number has few calls.
    async fn lookup(&self, attempt: &PendingAttempt) -> Result<Lookup, BlandError> {
        let query = ListCallsQuery {
            to_number: Some(attempt.job.phone.clone()),
            limit: Some(1000),
            ascending: Some(false),
            ..ListCallsQuery::default()
        };
        let calls = self.bland.list_calls(&query).await?;
        let found = calls
            .calls
            .iter()
            .find(|c| c.metadata.get(ATTEMPT_KEY).and_then(Value::as_str) == Some(attempt.id.as_str()));
        Ok(match found {
            Some(c) => Lookup::Found(c.call_id.clone()),
            None if calls.total_count.is_some_and(|t| t as usize > calls.calls.len()) || calls.skipped > 0 => {
                Lookup::Unsure
            }
            None => Lookup::Absent,
        })
    }

    /// Sends a proven-absent attempt again, if its campaign still runs and its window is open;
    /// otherwise voids it (nothing was placed) and requeues the job.
    async fn resend(&self, attempt: &PendingAttempt, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let now_ms = now.timestamp_millis();
        let job = &attempt.job;
        let row = self.store.campaign(&job.campaign_id).await?;
        let plan = match (row.state, self.plan_for(&row)) {
            (CampaignState::Running, Ok((plan, _))) => plan,
            _ => {
                self.store
                    .record_not_sent(&attempt.id, "not placed; campaign no longer running", now_ms, now_ms)
                    .await?;
                return Ok(false);
            }
        };
        // The same checks as a first send: the window may have closed, the number may have
        // joined the DNC list. The attempt itself is one of the number's recent dials; it is not
        // counted against itself.
        let zones = self.zones(&plan, &job.timezones, job.number_zones.as_deref());
        let phones = [job.phone.as_str()];
        let dnc = self.store.dnc_reasons(&phones).await?;
        let mut dials = self
            .store
            .recent_dials_by_number(&phones, (now - Duration::days(1)).timestamp_millis())
            .await?
            .remove(&job.phone)
            .unwrap_or_default();
        if let Some(i) = dials.iter().position(|t| *t == attempt.dialed_at) {
            dials.remove(i);
        }
        let facts = NumberFacts { dnc_reason: dnc.get(&job.phone).map(String::as_str), recent_dials: &dials };
        let request = match decide(job, &plan, &zones, &facts, self.cfg.max_calls_per_number_per_day, now) {
            Decision::Dial { call, request_data } => {
                let metadata = attempt_metadata(&attempt.id, &job.campaign_id, job.id);
                build_request(call, request_data, &job.phone, metadata, self.cfg.webhook_url.clone())
            }
            Decision::Requeue(at) => {
                self.store
                    .record_not_sent(
                        &attempt.id,
                        "not placed; not dialable now, re-sent later",
                        at.timestamp_millis(),
                        now_ms,
                    )
                    .await?;
                return Ok(false);
            }
            Decision::Suppress(reason) | Decision::Fail(reason) => Err(reason),
        };
        let request = match request {
            Ok(r) => r,
            Err(reason) => {
                self.store.record_rejected(&attempt.id, &reason, now_ms).await?;
                return Ok(false);
            }
        };
        info!(attempt_id = %attempt.id, "reconciled: not at Bland; sending again under the same attempt id");
        let result = self.bland.send_call(&request).await;
        let outcome = self.record_send(&attempt.id, &job.campaign_id, result).await?;
        Ok(matches!(outcome, SendResult::Sent))
    }
}

enum Lookup {
    Found(String),
    Absent,
    Unsure,
}

/// What reconciling one attempt did.
enum Settled {
    Found,
    Resent,
    Left,
}

/// What travels in the call's `metadata` and comes back in webhooks and call lists.
fn attempt_metadata(attempt_id: &str, campaign_id: &str, job_id: i64) -> Value {
    json!({
        ATTEMPT_KEY: attempt_id,
        "switchboard_campaign_id": campaign_id,
        "switchboard_job_id": job_id,
    })
}

/// The send-call body for one attempt.
fn build_request(
    call: serde_json::Map<String, Value>,
    request_data: Value,
    phone: &str,
    metadata: Value,
    webhook: Option<String>,
) -> Result<SendCallRequest, String> {
    let mut req = SendCallRequest::from_call_table(call, phone, metadata, webhook).map_err(|e| e.to_string())?;
    if let Value::Object(data) = request_data {
        req = req.with_request_data(data);
    }
    // Voicemail retries depend on Bland telling voicemail from people.
    req.answered_by_enabled = Some(true);
    Ok(req)
}
