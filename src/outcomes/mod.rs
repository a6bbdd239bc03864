//! Outcome tracking: every dialled call ends in a recorded outcome, exactly once.
//!
//! Call details arrive two ways — Bland's signed webhook (`POST /webhooks/bland`) and the poller
//! (`GET /v1/calls/{id}` for attempts no webhook settled in time) — and both go through
//! [`Outcomes::apply`]: match the attempt (by the attempt id in `metadata`, else by call id),
//! classify the details, and in one transaction store the delivery, record the outcome once and
//! move the job on by the campaign's retry policy. A duplicate delivery changes nothing; a late
//! `answered_by` corrects an outcome recorded without it while the job is still on that attempt.
//! The poller also marks campaigns `completed` when no job can progress any more.

pub mod policy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tracing::{info, warn};

use crate::bland::{BlandError, CallDetails, Client, SIGNATURE_HEADER, parse_webhook, verify_signature};
use crate::clock::Clock;
use crate::config::Outcome;
use crate::dispatcher::metadata::ATTEMPT_KEY;
use crate::dispatcher::plan::{CampaignPlan, PlanCache, recipient_zones};
use crate::secret::Secret;
use crate::store::{Application, Applied, AttemptContext, Delivery, JobTarget, OutcomeRecord, Store, StoreError};
use policy::{Next, classify, next_step};

/// Most deliveries written in one transaction; the rest wait for the next turn (see
/// [`Outcomes::apply`]), so no writer holds its callers for long.
const WRITE_BATCH: usize = 256;

/// Largest webhook body accepted (Bland's call details with a long transcript fit easily).
pub const WEBHOOK_BODY_LIMIT: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct OutcomesConfig {
    /// How long after a call ends `answered_by` may still arrive (Bland: up to a minute).
    pub answered_by_grace: Duration,
    /// How often a call that is not over yet is asked about again.
    pub poll_interval: Duration,
    /// Most polls per round.
    pub poll_batch: u32,
    /// Sleep between poller rounds.
    pub tick: StdDuration,
    pub compliance: crate::window::Compliance,
}

impl OutcomesConfig {
    pub fn from_daemon(config: &crate::config::DaemonConfig) -> Self {
        Self {
            answered_by_grace: Duration::seconds(90),
            poll_interval: Duration::seconds(60),
            poll_batch: 50,
            tick: StdDuration::from_millis(500),
            compliance: config.compliance(),
        }
    }
}

/// What one poller round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    pub polled: u32,
    pub settled: u32,
    pub errors: u32,
    pub completed_campaigns: u32,
}

pub struct Outcomes {
    store: Store,
    bland: Client,
    clock: Arc<dyn Clock>,
    cfg: OutcomesConfig,
    plans: PlanCache,
    zones: Mutex<HashMap<String, Vec<Tz>>>,
    /// Deliveries waiting to be written, and the turn to write them (see [`Outcomes::apply`]).
    queue: Mutex<Vec<Queued>>,
    writer: tokio::sync::Mutex<()>,
}

/// A delivery waiting for the writer, with everything deciding its application needs.
struct Queued {
    details: CallDetails,
    inbox_body: Option<String>,
    plan: Option<Arc<CampaignPlan>>,
    now: DateTime<Utc>,
    reply: oneshot::Sender<Result<Applied, StoreError>>,
}

impl Outcomes {
    pub fn new(store: Store, bland: Client, clock: Arc<dyn Clock>, cfg: OutcomesConfig) -> Self {
        let plans = PlanCache::new(cfg.compliance);
        Self {
            store,
            bland,
            clock,
            cfg,
            plans,
            zones: Mutex::default(),
            queue: Mutex::default(),
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// Applies call details from a webhook (`inbox_body` = the raw body, stored) or a poll.
    pub async fn apply(&self, details: &CallDetails, inbox_body: Option<&str>) -> Result<Applied, StoreError> {
        let now = self.clock.now();
        let campaign_id = match details.metadata.get("switchboard_campaign_id").and_then(Value::as_str) {
            Some(c) => Some(c.to_string()),
            None => self.store.campaign_of_call(&details.call_id).await?,
        };
        let plan = match &campaign_id {
            Some(id) => match self.store.campaign(id).await {
                Ok(row) => self.plans.get(&row).ok(),
                Err(StoreError::NotFound(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        // Group commit: the delivery joins the queue, and whoever gets the writer's turn writes
        // everything queued in one transaction. Under load one commit serves dozens of
        // webhooks; alone, a delivery is written at once. Each delivery is still stored in the
        // inbox and applied in the same transaction, in arrival order.
        let (reply, mut result) = oneshot::channel();
        let queued = Queued { details: details.clone(), inbox_body: inbox_body.map(str::to_string), plan, now, reply };
        self.queue.lock().expect("outcome queue poisoned").push(queued);
        let turn = self.writer.lock().await;
        let written = loop {
            match result.try_recv() {
                // Still queued (behind up to WRITE_BATCH others): write the queue's head.
                Err(oneshot::error::TryRecvError::Empty) => {
                    let batch: Vec<Queued> = {
                        let mut queue = self.queue.lock().expect("outcome queue poisoned");
                        let n = queue.len().min(WRITE_BATCH);
                        queue.drain(..n).collect()
                    };
                    self.write(batch).await;
                }
                done => break done,
            }
        };
        drop(turn);
        let applied = match written {
            Ok(applied) => applied?,
            // The writer holding it was cancelled before its commit: nothing of it was stored.
            Err(_) => return Err(StoreError::Conflict("the delivery was not written; deliver it again".into())),
        };
        match applied {
            Applied::Applied | Applied::Updated => {
                info!(call_id = %details.call_id, outcome = ?classify(details).map(Outcome::as_str), result = applied.as_str(), "outcome recorded")
            }
            Applied::Unmatched => {
                warn!(call_id = %details.call_id, "call details match no attempt; kept in the inbox")
            }
            _ => {}
        }
        Ok(applied)
    }

    /// Writes queued deliveries in one transaction and answers each. If that transaction
    /// fails, each is written on its own, so one bad delivery cannot fail the others.
    async fn write(&self, batch: Vec<Queued>) {
        if batch.is_empty() {
            return;
        }
        let deliveries: Vec<Delivery> = batch.iter().map(Queued::delivery).collect();
        let together = self
            .store
            .apply_call_details_many(&deliveries, |i, ctx| {
                let q = &batch[i];
                self.decide(ctx, &q.details, q.plan.as_deref(), q.now, q.inbox_body.is_none())
            })
            .await;
        drop(deliveries);
        match together {
            Ok(applied) => {
                for (q, a) in batch.into_iter().zip(applied) {
                    let _ = q.reply.send(Ok(a));
                }
            }
            Err(e) => {
                warn!(deliveries = batch.len(), error = %e, "writing call details together failed; writing them one by one");
                for q in batch {
                    let one = self
                        .store
                        .apply_call_details(q.delivery(), |ctx| {
                            self.decide(ctx, &q.details, q.plan.as_deref(), q.now, q.inbox_body.is_none())
                        })
                        .await;
                    let _ = q.reply.send(one);
                }
            }
        }
    }

    fn decide(
        &self,
        ctx: &AttemptContext,
        details: &CallDetails,
        plan: Option<&CampaignPlan>,
        now: DateTime<Utc>,
        from_poll: bool,
    ) -> Application {
        let now_ms = now.timestamp_millis();
        let Some(outcome) = classify(details) else {
            return if ctx.outcome.is_none() {
                Application::NotFinal { poll_at: (now + self.cfg.poll_interval).timestamp_millis() }
            } else {
                Application::Duplicate { recheck_done: false }
            };
        };
        let record = |recheck: bool| OutcomeRecord {
            outcome: outcome.as_str().to_string(),
            answered_by: details.answered_by.as_ref().map(|a| a.as_str().to_string()),
            call_length: details.call_length_minutes,
            price: details.price,
            summary: details.summary.clone(),
            call_ended_by: details.call_ended_by.clone(),
            error_message: details.error_message.clone(),
            recording_url: details.recording_url.clone(),
            transcript: transcript(details),
            analysis: details.analysis.as_ref().map(Value::to_string),
            details: details.raw.to_string(),
            ended_at: now_ms,
            recheck_at: recheck.then(|| (now + self.cfg.answered_by_grace).timestamp_millis()),
        };
        let target = || self.job_target(ctx, outcome, details, plan, now);
        match &ctx.outcome {
            None => Application::Record { record: record(details.answered_by.is_none()), job: target() },
            Some(previous) if ctx.answered_by.is_none() && details.answered_by.is_some() => {
                let still_on_attempt = ctx.job_attempts == ctx.attempt_no;
                let job = (previous != outcome.as_str() && still_on_attempt).then(target);
                Application::Update { record: record(false), job }
            }
            Some(_) => Application::Duplicate { recheck_done: from_poll },
        }
    }

    fn job_target(
        &self,
        ctx: &AttemptContext,
        outcome: Outcome,
        details: &CallDetails,
        plan: Option<&CampaignPlan>,
        now: DateTime<Utc>,
    ) -> JobTarget {
        let Some(plan) = plan else {
            return JobTarget::Done;
        };
        let zones = {
            let mut cache = self.zones.lock().expect("zone cache poisoned");
            recipient_zones(plan.spec.schedule.zone_policy, &ctx.timezones, ctx.number_zones.as_deref(), &mut cache)
        };
        match next_step(&plan.spec.retry, outcome, ctx.attempt_no as u32, &plan.window, &zones, now) {
            Next::Done => JobTarget::Done,
            Next::Failed => JobTarget::Failed(format!(
                "call failed{}",
                details.error_message.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            )),
            Next::Retry(at) => JobTarget::Retry(at.timestamp_millis()),
        }
    }

    /// One poller round: ask Bland about attempts whose poll time has come, then complete
    /// campaigns that are finished.
    pub async fn poll_once(&self) -> Result<PollReport, StoreError> {
        let now = self.clock.now();
        let mut report = PollReport::default();
        for due in self.store.polls_due(now.timestamp_millis(), self.cfg.poll_batch).await? {
            report.polled += 1;
            match self.bland.call_details(&due.call_id).await {
                Ok(details) => {
                    if matches!(self.apply(&details, None).await?, Applied::Applied | Applied::Updated) {
                        report.settled += 1;
                    }
                }
                Err(e) => {
                    report.errors += 1;
                    let wait = match &e {
                        BlandError::RateLimited { retry_after: Some(d), .. } => {
                            Duration::from_std(*d).unwrap_or(self.cfg.poll_interval)
                        }
                        _ => self.cfg.poll_interval,
                    };
                    warn!(call_id = %due.call_id, error = %e, "cannot poll the call now");
                    self.store.postpone_poll(&due.attempt_id, (now + wait).timestamp_millis()).await?;
                }
            }
        }
        for id in self.store.complete_finished_campaigns(now.timestamp_millis()).await? {
            info!(campaign_id = %id, "campaign completed: no job can progress any more");
            report.completed_campaigns += 1;
        }
        Ok(report)
    }

    /// Polls until `shutdown` turns true.
    pub async fn run_poller(&self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let busy = match self.poll_once().await {
                Ok(r) => r.polled > 0,
                Err(e) => {
                    warn!(error = %e, "poll round failed; will try again");
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
    }
}

fn transcript(details: &CallDetails) -> Option<String> {
    if let Some(t) = details.concatenated_transcript.as_ref().filter(|t| !t.trim().is_empty()) {
        return Some(t.clone());
    }
    if details.transcripts.is_empty() {
        return None;
    }
    Some(details.transcripts.iter().map(|t| format!("{}: {}", t.user, t.text)).collect::<Vec<_>>().join("\n"))
}

/// How the webhook receiver checks signatures.
#[derive(Clone)]
pub enum WebhookAuth {
    Secret(Secret),
    /// Only when the operator allowed unsigned webhooks explicitly.
    Unsigned,
}

#[derive(Clone)]
struct WebhookState {
    outcomes: Arc<Outcomes>,
    auth: WebhookAuth,
}

impl Queued {
    fn delivery(&self) -> Delivery<'_> {
        Delivery {
            attempt_id: self.details.metadata.get(ATTEMPT_KEY).and_then(Value::as_str),
            call_id: &self.details.call_id,
            inbox_body: self.inbox_body.as_deref(),
            now_ms: self.now.timestamp_millis(),
        }
    }
}

/// `POST /webhooks/bland`.
pub fn webhook_router(outcomes: Arc<Outcomes>, auth: WebhookAuth) -> Router {
    Router::new()
        .route("/webhooks/bland", post(receive_webhook))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
        .with_state(WebhookState { outcomes, auth })
}

async fn receive_webhook(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    if let WebhookAuth::Secret(secret) = &state.auth {
        let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
        let valid = signature.is_some_and(|s| verify_signature(secret, &body, s));
        if !valid {
            // Never log the body: it is unauthenticated and may hold personal data.
            warn!(signed = signature.is_some(), bytes = body.len(), "webhook refused: missing or wrong signature");
            return (StatusCode::UNAUTHORIZED, "invalid signature\n");
        }
    }
    let details = match parse_webhook(&body) {
        Ok(d) => d,
        Err(e) => {
            warn!(error = %e, "webhook refused: unreadable body");
            return (StatusCode::BAD_REQUEST, "malformed call details\n");
        }
    };
    let text = String::from_utf8_lossy(&body);
    match state.outcomes.apply(&details, Some(&text)).await {
        Ok(_) => (StatusCode::OK, "ok\n"),
        Err(e) => {
            warn!(call_id = %details.call_id, error = %e, "cannot store a webhook; Bland will deliver it again");
            (StatusCode::SERVICE_UNAVAILABLE, "try again\n")
        }
    }
}
