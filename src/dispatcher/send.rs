//! Sending and recording: the committed attempts of a step go out to Bland in parallel
//! (bounded by `send_concurrency`), and each answer is recorded: placed calls together, while
//! the next step's sends go out ([`Unrecorded`]); a 429 slows the account down and gives the
//! attempt back unburned; a refused key pauses every campaign; a rejection fails the job; an
//! ambiguous failure leaves the attempt `dialing` for the reconciler. A send certainly not
//! placed is voided ([`Dispatcher::void`]) and its dial taken back from the ledger. Data enters
//! as [`Outgoing`] sends from the claim path; it leaves as Bland requests and store transitions.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::engine::{Dispatcher, StepReport};
use crate::bland::{BlandError, SendCallRequest};
use crate::metrics::SendError;
use crate::store::{CampaignState, StoreError};

/// How often a batch in progress re-reads which campaigns still run (control takes effect
/// within a second).
const RECHECK_STATES: StdDuration = StdDuration::from_millis(200);

/// Most placed calls recorded in one transaction (a step's batch is 500 by default: one commit
/// records a step's calls).
const RECORD_BATCH: usize = 1000;

/// Failures that repeat for every send while they last are logged at most this often, with
/// how many sends they hit since the last line.
const TROUBLE_LOG_EVERY: StdDuration = StdDuration::from_secs(60);

/// Send failures that would otherwise go unseen (a send not placed is requeued quietly) or
/// flood the log.
#[derive(Debug, Clone, Copy)]
enum Trouble {
    Unreachable = 0,
    RateLimited = 1,
    Rejected = 2,
}

#[derive(Clone, Copy)]
struct Throttle {
    last: Option<std::time::Instant>,
    sends: u64,
}

/// Process-wide (one daemon per process): the last line logged per [`Trouble`]. Wall-clock, not
/// the injected clock: it bounds how much the log says per real minute.
static TROUBLE_LOG: Mutex<[Throttle; 3]> = Mutex::new([Throttle { last: None, sends: 0 }; 3]);

/// Logs `err` as `kind` unless the same kind was logged within [`TROUBLE_LOG_EVERY`].
fn warn_throttled(kind: Trouble, err: &BlandError) {
    let sends = {
        let mut all = TROUBLE_LOG.lock().unwrap_or_else(PoisonError::into_inner);
        let t = &mut all[kind as usize];
        t.sends += 1;
        if t.last.is_some_and(|at| at.elapsed() < TROUBLE_LOG_EVERY) {
            return;
        }
        t.last = Some(std::time::Instant::now());
        std::mem::take(&mut t.sends)
    };
    match kind {
        Trouble::Unreachable => warn!(
            failed_sends = sends,
            error = %err,
            "cannot reach Bland: no call is being placed; each send is requeued with backoff (logged at most once a minute)"
        ),
        Trouble::RateLimited => warn!(
            failed_sends = sends,
            error = %err,
            "Bland is rate-limiting sends: the whole account slows down (logged at most once a minute)"
        ),
        Trouble::Rejected => warn!(
            failed_sends = sends,
            error = %err,
            "Bland is rejecting sends: those jobs fail (logged at most once a minute)"
        ),
    }
}

/// One send to make, its attempt already committed as `dialing`.
pub(super) struct Outgoing {
    pub(super) attempt_id: String,
    pub(super) campaign_id: String,
    pub(super) job_id: i64,
    /// The number for log lines ([`crate::phone::PhoneNumber::masked`]).
    pub(super) masked_phone: String,
    /// When its attempt was committed and counted in the ledger.
    pub(super) dialed_at: DateTime<Utc>,
    pub(super) request: SendCallRequest,
}

/// Attempts fenced for sending at once (`Store::start_sends`): a step's batch in one statement
/// (500 by default); those whose fence grows older than the send window are fenced again.
const FENCE_BATCH: usize = 1000;

/// The attempts last fenced, and when.
struct Fence {
    ids: HashSet<String>,
    at: Instant,
}

/// What became of one send.
enum SendResult {
    NotSent,
    Failed,
    Unknown,
}

/// Calls Bland accepted whose record (`in_call`, their call ids) is still to be written: a
/// step's placed calls are recorded while the next step's sends go out, so the database's
/// writer and the sends overlap instead of taking turns (see [`Dispatcher::send_all`]).
pub(super) struct Unrecorded {
    calls: Vec<(Outgoing, String)>,
    /// When Bland's answers were in: each call's `sent_at`.
    at: DateTime<Utc>,
}

impl Unrecorded {
    pub(super) fn contains(&self, attempt_id: &str) -> bool {
        self.calls.iter().any(|(s, _)| s.attempt_id == attempt_id)
    }
}

impl Dispatcher {
    /// Sends in parallel (bounded) and handles each answer; the calls placed are left for
    /// [`Self::record_placed`], which this runs for the previous step's calls while this
    /// step's sends go out. Nothing waits on it but the bookkeeping: the attempts are committed
    /// and counted before they are sent, and until they are recorded they are `dialing` (a
    /// webhook may settle them first; a crash leaves them to the reconciler, as between any
    /// send and its record), and every failure is handled as it comes, so a 429 or a refused
    /// key holds the next step back as before.
    pub(super) async fn send_all(&self, sends: Vec<Outgoing>, report: &mut StepReport) -> Result<(), StoreError> {
        if sends.is_empty() {
            report.sent += self.record_placed().await?;
            return Ok(());
        }
        let earlier = std::mem::take(&mut self.lock().unrecorded);
        // Each send goes out only under its attempt's lease, renewed just before (see
        // `Store::start_sends`): sends are fenced a few hundred at a time, and again for those
        // whose fence is older than the send window (a slow batch, or this process stalled).
        // The first fence goes before the record: both write.
        let ids: Vec<String> = sends.iter().map(|s| s.attempt_id.clone()).collect();
        let fence = self.fence(&ids).await?;
        let mut sending = StepReport::default();
        let (recorded, placed) =
            tokio::join!(self.record(earlier), self.send_and_answer(sends, &ids, fence, &mut sending));
        let placed = placed?;
        if !placed.is_empty() {
            self.lock().unrecorded.push(Unrecorded { calls: placed, at: self.clock.now() });
        }
        report.sent += recorded?;
        report.not_sent += sending.not_sent;
        report.failed += sending.failed;
        report.unknown += sending.unknown;
        Ok(())
    }

    /// Records the calls placed and not recorded yet (see [`Self::send_all`]); returns how many.
    pub(super) async fn record_placed(&self) -> Result<u32, StoreError> {
        let earlier = std::mem::take(&mut self.lock().unrecorded);
        self.record(earlier).await
    }

    /// Fences the first [`FENCE_BATCH`] of `ids` for sending (`Store::start_sends`).
    async fn fence(&self, ids: &[String]) -> Result<Fence, StoreError> {
        let next: Vec<&str> = ids.iter().take(FENCE_BATCH).map(String::as_str).collect();
        Ok(Fence { ids: self.store.start_sends(&next).await?.into_iter().collect(), at: Instant::now() })
    }

    /// Sends (bounded by `send_concurrency`) and handles each failure; returns the calls placed.
    async fn send_and_answer(
        &self,
        sends: Vec<Outgoing>,
        ids: &[String],
        mut fence: Fence,
        report: &mut StepReport,
    ) -> Result<Vec<(Outgoing, String)>, StoreError> {
        let permits = Arc::new(Semaphore::new(self.cfg.send_concurrency));
        let mut tasks = JoinSet::new();
        // A batch can take seconds to send. An operator's pause or cancel, or a shutdown, must
        // stop the calls not placed yet within a second, so the campaigns' states are re-read
        // while the batch goes out; a send no longer wanted is voided (nothing was placed).
        let mut running: Option<HashSet<String>> = None;
        let mut checked = Instant::now();
        let window = self.cfg.send_window().to_std().unwrap_or_default();
        for (i, send) in sends.into_iter().enumerate() {
            let permit = permits.clone().acquire_owned().await.expect("semaphore open");
            if !fence.ids.contains(&send.attempt_id) || fence.at.elapsed() >= window {
                fence = self.fence(&ids[i..]).await?;
            }
            if !fence.ids.contains(&send.attempt_id) {
                // Its lease ran out before it could be sent (this daemon stalled): never sent,
                // and no longer this daemon's to send. Voided if it still is (SQLite); on
                // PostgreSQL whoever took it over voids it.
                let now = self.clock.now();
                let why = "not placed: its lease ran out before it was sent";
                self.void(&send.attempt_id, &send.campaign_id, send.dialed_at, why, now).await?;
                report.not_sent += 1;
                continue;
            }
            if checked.elapsed() >= RECHECK_STATES {
                running = Some(
                    self.store.campaigns_in_state(CampaignState::Running).await?.into_iter().map(|c| c.id).collect(),
                );
                checked = Instant::now();
            }
            let stopping = self.stopping();
            let stopped = running.as_ref().is_some_and(|r| !r.contains(&send.campaign_id));
            if stopping || stopped {
                let why = if stopping { "the daemon is shutting down" } else { "the campaign stopped running" };
                let now = self.clock.now();
                self.void(&send.attempt_id, &send.campaign_id, send.dialed_at, &format!("not placed: {why}"), now)
                    .await?;
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
        let mut placed: Vec<(Outgoing, String)> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (send, result) = joined.expect("send task panicked");
            match result {
                Ok(resp) => {
                    self.reset_backoff();
                    placed.push((send, resp.call_id));
                }
                Err(e) => match self.record_failure(&send, e).await? {
                    SendResult::NotSent => report.not_sent += 1,
                    SendResult::Failed => report.failed += 1,
                    SendResult::Unknown => report.unknown += 1,
                },
            }
        }
        Ok(placed)
    }

    /// Records calls Bland accepted, in one transaction per [`RECORD_BATCH`]; returns how many.
    async fn record(&self, unrecorded: Vec<Unrecorded>) -> Result<u32, StoreError> {
        let mut recorded = 0;
        for batch in unrecorded {
            for calls in batch.calls.chunks(RECORD_BATCH) {
                let ids: Vec<(&str, &str)> =
                    calls.iter().map(|(s, call_id)| (s.attempt_id.as_str(), call_id.as_str())).collect();
                self.store.record_sent_many(&ids, batch.at).await?;
                for (send, call_id) in calls {
                    self.metrics.call_placed(&send.campaign_id);
                    info!(
                        campaign_id = %send.campaign_id,
                        job_id = send.job_id,
                        attempt_id = %send.attempt_id,
                        phone = %send.masked_phone,
                        %call_id,
                        "call placed"
                    );
                    recorded += 1;
                }
            }
        }
        Ok(recorded)
    }

    /// A send Bland certainly did not act on: the attempt is void, its job back in the queue
    /// until `retry_at`, and its dial taken back from the ledger, so the caps count only calls
    /// placed (and a later send is counted when it is actually made).
    pub(super) async fn void(
        &self,
        attempt_id: &str,
        campaign_id: &str,
        dialed_at: DateTime<Utc>,
        why: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if self.store.record_not_sent(attempt_id, why, retry_at, self.clock.now()).await? {
            self.lock().ledger.forget(campaign_id, dialed_at);
        }
        Ok(())
    }

    /// [`Self::void`], and the send's pacing token given back (see `Pacer`): for a send Bland
    /// never got (a refused connection, an ambiguous send proven absent), not for one it
    /// turned away with a 429 — there the lost token is what keeps the probing during a storm
    /// slow (refunded, every 429 round would send a whole burst again).
    pub(super) async fn void_and_refund(
        &self,
        attempt_id: &str,
        campaign_id: &str,
        dialed_at: DateTime<Utc>,
        why: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.void(attempt_id, campaign_id, dialed_at, why, retry_at).await?;
        let shared_pace = self.lock().paces.get(campaign_id).copied();
        if let Some(pace) = shared_pace {
            return self.store.refund_pace(campaign_id, pace).await;
        }
        let state = self.lock();
        let pacer = state.pacers.iter().find(|((id, _), _)| id == campaign_id).and_then(|(_, p)| p.as_ref());
        if let Some(pacer) = pacer {
            pacer.refund();
        }
        Ok(())
    }

    /// Records a send that failed.
    async fn record_failure(&self, send: &Outgoing, err: BlandError) -> Result<SendResult, StoreError> {
        let now = self.clock.now();
        let (attempt_id, campaign_id) = (send.attempt_id.as_str(), send.campaign_id.as_str());
        let why = err.to_string();
        let void = |retry_at| self.void(attempt_id, campaign_id, send.dialed_at, &why, retry_at);
        match &err {
            BlandError::RateLimited { retry_after, .. } => {
                self.metrics.send_error(SendError::RateLimited);
                warn_throttled(Trouble::RateLimited, &err);
                let resume = self.slow_down(*retry_after, now);
                if self.store.is_shared() {
                    // Every daemon on the account holds back, not just this one.
                    self.store.share_slowdown(resume).await?;
                }
                void(resume).await?;
                Ok(SendResult::NotSent)
            }
            BlandError::Permanent { status: 401 | 403, .. } => {
                self.metrics.send_error(SendError::KeyRefused);
                let first = {
                    let mut state = self.lock();
                    !std::mem::replace(&mut state.key_refused, true)
                };
                let reason = format!("Bland refused the API key: {err}");
                let paused = self.store.pause_all_running(&reason, now).await?;
                if first || paused > 0 {
                    tracing::error!(campaigns_paused = paused, "{reason}; every campaign on this key is paused");
                }
                void(now).await?;
                Ok(SendResult::NotSent)
            }
            BlandError::Permanent { .. } => {
                self.metrics.send_error(SendError::Rejected);
                warn_throttled(Trouble::Rejected, &err);
                info!(%campaign_id, %attempt_id, error = %err, "Bland rejected the call");
                self.store.record_rejected(attempt_id, &why, now).await?;
                Ok(SendResult::Failed)
            }
            e if e.certainly_not_acted_on() => {
                self.metrics.send_error(SendError::Unreachable);
                warn_throttled(Trouble::Unreachable, &err);
                self.void_and_refund(attempt_id, campaign_id, send.dialed_at, &why, now + self.backoff(1)).await?;
                Ok(SendResult::NotSent)
            }
            _ => {
                self.metrics.send_error(SendError::Ambiguous);
                warn!(%campaign_id, %attempt_id, error = %err, "send failed ambiguously; the call is looked up before the number is dialled again");
                // Looked up soon when Bland's application answered, later when the send may
                // still be running somewhere (see `BlandError::answered_by_application`).
                let wait = if err.answered_by_application() {
                    self.cfg.reconcile_answered_after
                } else {
                    self.cfg.reconcile_after
                };
                self.store.record_send_unknown(attempt_id, &why, now.checked_add_signed(wait).unwrap_or(now)).await?;
                Ok(SendResult::Unknown)
            }
        }
    }
}
