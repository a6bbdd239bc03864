//! Outcome tracking: every dialled call ends in a recorded outcome, exactly once.
//!
//! Call details arrive two ways — Bland's signed webhook (`webhook.rs`, `POST /webhooks/bland`)
//! and the poller (`poller.rs`, `GET /v1/calls/{id}` for attempts no webhook settled in time) —
//! and both go through [`Outcomes::apply`] (`writer.rs`): match the attempt (by the attempt id in
//! `metadata`, else by call id), classify the details (`policy.rs`), decide what the delivery
//! does to the attempt and its job (`record.rs`, with the pure retry decision of `retry.rs`),
//! and in one group-committed transaction store the delivery, record the outcome once and move
//! the job on. A duplicate delivery changes nothing; a late `answered_by` corrects an outcome
//! recorded without it while the job is still on that attempt. The poller also marks campaigns
//! `completed` when no job can progress any more.
//!
//! From the dispatcher this module uses only its public face: the metadata contract and the
//! campaign plans (`crate::dispatcher::{AttemptMetadata, CampaignPlan, PlanCache}`).

pub mod policy;
mod poller;
mod record;
pub mod retry;
mod webhook;
mod writer;

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::Duration;

use crate::bland::Client;
use crate::clock::Clock;
use crate::dispatcher::PlanCache;
use crate::metrics::Metrics;
use crate::store::Store;

pub use poller::PollReport;
pub use webhook::{WEBHOOK_BODY_LIMIT, WebhookAuth, webhook_router};

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
    /// The state rules retries are scheduled under.
    pub state_rules: std::sync::Arc<crate::compliance::RuleSet>,
}

impl OutcomesConfig {
    /// From the daemon config's `[outcomes]` and `[compliance]`.
    pub fn from_daemon(config: &crate::config::DaemonConfig) -> Self {
        let knobs = &config.outcomes;
        Self {
            answered_by_grace: knobs.answered_by_grace,
            poll_interval: knobs.poll_interval,
            poll_batch: knobs.poll_batch,
            // Bounded at load (milliseconds to a minute), so it converts.
            tick: knobs.tick.to_std().unwrap_or_default(),
            compliance: config.compliance(),
            state_rules: config.compliance.rules.clone(),
        }
    }
}

pub struct Outcomes {
    store: Store,
    bland: Client,
    clock: Arc<dyn Clock>,
    cfg: OutcomesConfig,
    plans: PlanCache,
    metrics: Metrics,
    /// Deliveries waiting to be written, and the turn to write them (see [`Outcomes::apply`]).
    queue: Mutex<Vec<writer::Queued>>,
    writer: tokio::sync::Mutex<()>,
}

impl Outcomes {
    pub fn new(store: Store, bland: Client, clock: Arc<dyn Clock>, cfg: OutcomesConfig) -> Self {
        let plans = PlanCache::with_rules(cfg.compliance, cfg.state_rules.clone());
        let (queue, writer) = (Mutex::default(), tokio::sync::Mutex::new(()));
        Self { store, bland, clock, cfg, plans, metrics: Metrics::default(), queue, writer }
    }

    /// Counts outcomes, retries and webhooks in `metrics` (the daemon's registry) instead of a
    /// registry of its own.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }
}
