//! The dispatcher as the daemon sees it: [`Dispatcher`], its tuning ([`DispatcherConfig`]), what
//! a step and a reconcile pass report, and the state the jobs below share behind one lock.
//!
//! Lifecycle: `new` rebuilds the cap ledger from the attempts table; `run` alternates
//! [`Dispatcher::reconcile`] (`reconcile.rs`) and [`Dispatcher::step`] (`step.rs`: claim,
//! [`prepare`](super::prepare::prepare), commit, then `send.rs`: send and record) until the
//! shutdown signal, then finishes the step in progress (every send in flight is answered or
//! times out) and returns. Pacing and the account's 429 backoff live in `pacing.rs`. Nothing
//! holds a database transaction across an HTTP request: claim and commit, then call, then record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::watch;
use tracing::{info, warn};

use super::ledger::{Caps, Ledger};
use super::pacing::{Pacer, Slowdown};
use super::plan::PlanCache;
use crate::bland::Client;
use crate::clock::Clock;
use crate::config::DaemonConfig;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Tuning of the dispatcher; [`DispatcherConfig::from_daemon`] takes it from the daemon config
/// (`[account]`, `[compliance]`, `[http] public_url` and `[dispatcher]`).
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    pub account: Caps,
    pub compliance: crate::window::Compliance,
    /// The state rules in force (`[compliance.states]` over the built-in set).
    pub state_rules: Arc<crate::compliance::RuleSet>,
    pub max_calls_per_number_per_day: u32,
    /// `[account] max_spend_usd_per_day`: spend over the last 24 hours, all campaigns.
    pub max_spend_usd_per_day: Option<f64>,
    /// What a dial reserves against the spend limits until its price is known.
    pub pricing: crate::config::daemon::PricingSection,
    /// When a campaign pauses itself (`safety.rs`).
    pub safety: crate::config::daemon::SafetySection,
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
    /// The same, when Bland's application answered the send with a 5xx of its own.
    pub reconcile_answered_after: Duration,
    /// Backoff after a 429 without `Retry-After` (doubling up to `max_backoff`).
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Smooth each campaign's `calls_per_minute` with a token bucket inside the ledger's caps.
    pub pacing: bool,
    /// Sleep between steps when there is nothing to do.
    pub idle_tick: StdDuration,
    /// `[store] lease`: how long an attempt is this daemon's alone, renewed as its send starts.
    pub lease: Duration,
    /// `[bland] request_timeout`: the longest a send takes.
    pub send_timeout: Duration,
}

impl DispatcherConfig {
    /// How long after its lease was renewed a send may still start: it must be over, answered
    /// or timed out, with 5 seconds to spare before the lease is.
    pub fn send_window(&self) -> Duration {
        (self.lease - self.send_timeout - Duration::seconds(5)).max(Duration::zero())
    }
}

impl DispatcherConfig {
    pub fn from_daemon(config: &DaemonConfig) -> Self {
        let knobs = &config.dispatcher;
        Self {
            account: Caps {
                per_minute: Some(config.account.calls_per_minute),
                per_hour: Some(config.account.calls_per_hour),
                per_day: Some(config.account.calls_per_day),
                concurrent: Some(config.account.max_concurrent),
            },
            compliance: config.compliance(),
            state_rules: config.compliance.rules.clone(),
            max_calls_per_number_per_day: config.compliance.max_calls_per_number_per_day,
            max_spend_usd_per_day: config.account.max_spend_usd_per_day,
            pricing: config.pricing,
            safety: config.safety,
            webhook_url: config.http.public_url.as_ref().map(|u| format!("{}/webhooks/bland", u.trim_end_matches('/'))),
            batch: knobs.batch,
            send_concurrency: knobs.send_concurrency as usize,
            slot_margin: knobs.slot_margin,
            poll_margin: knobs.poll_margin,
            reconcile_after: knobs.reconcile_after,
            reconcile_answered_after: knobs.reconcile_answered_after,
            min_backoff: knobs.min_backoff,
            max_backoff: knobs.max_backoff,
            pacing: knobs.pacing,
            // Bounded at load (milliseconds to a minute), so it converts.
            idle_tick: knobs.idle_tick.to_std().unwrap_or_default(),
            lease: config.store.lease,
            send_timeout: config.bland.request_timeout,
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
    /// Proven absent: voided, the job queued again (to be dialled under the caps).
    pub requeued: u32,
    /// Still unknown (lookup failed, or the window closed meanwhile).
    pub left: u32,
    /// Jobs claimed but never given an attempt (a crash or a failed step between the two),
    /// put back in the queue: nothing was sent for them.
    pub released: u32,
}

/// What the dispatcher's jobs share; each takes the lock briefly and never across an await.
#[derive(Default)]
pub(super) struct State {
    pub(super) ledger: Ledger,
    pub(super) pacers: HashMap<(String, DateTime<Utc>), Option<Arc<Pacer>>>,
    /// The account's slowdown after 429s.
    pub(super) slowdown: Slowdown,
    pub(super) rotation: usize,
    /// The API key was refused; logged once, campaigns paused.
    pub(super) key_refused: bool,
    /// The daemon's shutdown signal, while [`Dispatcher::run`] runs.
    pub(super) shutdown: Option<watch::Receiver<bool>>,
    /// Calls holding a concurrency slot, per campaign, as last counted in the DB plus the
    /// attempts committed since.
    pub(super) open: Option<OpenCalls>,
    /// The account's spend over the last 24 hours as last counted in the DB (when, USD), plus
    /// the reservations of the dials committed since; counted like `open`.
    pub(super) spend: Option<(DateTime<Utc>, f64)>,
    /// When the safety rules last looked at the running campaigns.
    pub(super) safety_checked_at: Option<DateTime<Utc>>,
    /// Each campaign's shared pacing (several daemons), as the last step worked it out.
    pub(super) paces: HashMap<String, crate::store::Pace>,
    /// Campaigns as the run loop last saw them (`watch.rs`).
    pub(super) seen: Option<super::watch::Seen>,
    /// Calls placed whose record waits for the next step's sends (`send.rs`).
    pub(super) unrecorded: Vec<super::send::Unrecorded>,
}

/// Counting open calls scans every open attempt (a hundred thousand at a high rate), too much
/// for every step; so the count is redone at most every second (`OPEN_RECOUNT` in `step.rs`),
/// and only while a concurrency cap is near, and kept up to date in between with this daemon's
/// own dials. Calls that end meanwhile are still counted until the next recount: a slot is
/// reused up to a second late, never given twice.
pub(super) struct OpenCalls {
    pub(super) counted_at: DateTime<Utc>,
    pub(super) per_campaign: HashMap<String, u32>,
}

pub struct Dispatcher {
    pub(super) store: Store,
    pub(super) bland: Client,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) cfg: DispatcherConfig,
    pub(super) plans: Arc<PlanCache>,
    pub(super) metrics: Metrics,
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
        let ledger = Ledger::from_dials(store.dials_since(since).await?);
        let plans = Arc::new(PlanCache::with_rules(cfg.compliance, cfg.state_rules.clone()));
        let state = Mutex::new(State { ledger, ..State::default() });
        Ok(Self { store, bland, clock, cfg, plans, metrics: Metrics::default(), state })
    }

    /// Counts what the dispatcher does in `metrics` (the daemon's registry) instead of a
    /// registry of its own.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("dispatcher state poisoned")
    }

    /// Runs until `shutdown` turns true; the step in progress completes first.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        self.lock().shutdown = Some(shutdown.clone());
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.notice_campaign_changes().await {
                warn!(error = %e, "cannot read the campaigns; will try again");
            }
            if let Err(e) = self.reconcile().await {
                warn!(error = %e, "reconcile failed; will try again");
            }
            let report = match self.step_leaving_records().await {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, "dispatch step failed; will try again");
                    StepReport::default()
                }
            };
            if report.idle() {
                self.record_left_calls().await;
                tokio::select! {
                    _ = tokio::time::sleep(self.cfg.idle_tick) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        self.record_left_calls().await;
        info!("dispatcher stopped");
    }

    /// Records the calls the last step placed (see `send.rs`); one the store cannot record now
    /// stays `dialing` until the reconciler finds it at Bland, as after a crash.
    async fn record_left_calls(&self) {
        if let Err(e) = self.record_placed().await {
            warn!(error = %e, "cannot record the calls placed; the reconciler will look them up");
        }
    }

    /// Whether an attempt was placed and waits for its record (see `send.rs`): the reconciler
    /// leaves it alone.
    pub(super) fn unrecorded(&self, attempt_id: &str) -> bool {
        self.lock().unrecorded.iter().any(|u| u.contains(attempt_id))
    }

    /// Whether the daemon is shutting down (see [`Dispatcher::run`]).
    pub(super) fn stopping(&self) -> bool {
        self.lock().shutdown.as_ref().is_some_and(|s| *s.borrow())
    }
}
