//! `switchboard analyze`: asking a question set (the campaign's `[analysis]`, or a
//! `--questions` file's) of a campaign's finished human-answered calls, later.
//!
//! [`plan`] says what a run would do before anything is spent: how many calls are still to be
//! asked this set, the estimated cost (the mean price of the campaign's recorded analyses, or
//! [`super::decide::DEFAULT_PRICE_ESTIMATE_USD`] before any), and the spend so far against the limit. [`run`]
//! then writes the pending rows and drives the daemon's worker step over them until none is
//! left — the same store functions and the same claims, so a call answered with this set is
//! never asked again (by this run, another, or the daemon), and the spend limit holds.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::decide::estimate;
use super::{AnalysisConfig, AnalysisWorker, QuestionSet, StepReport, Work};
use crate::bland::Client;
use crate::clock::Clock;
use crate::store::{AnalysisBacklog, AnalysisScope, AnalysisSpend, Store, StoreError};

/// Where a run's spend limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// `max_spend_usd` in the `--questions` file.
    QuestionsFile,
    /// The campaign's `[analysis] max_spend_usd`.
    Campaign,
    /// Neither sets one.
    None,
}

/// What a run would do, said before anything is spent.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    pub campaign_id: String,
    pub set: QuestionSet,
    pub backlog: AnalysisBacklog,
    pub spend: AnalysisSpend,
    /// Expected price of one call's analysis, in USD.
    pub estimate_usd: f64,
    pub max_spend_usd: Option<f64>,
    pub limit_source: LimitSource,
}

impl RunPlan {
    /// Calls to be asked.
    pub fn to_analyse(&self) -> i64 {
        self.backlog.to_analyse()
    }

    /// The estimate comes from this campaign's recorded prices (else Bland's documented rate).
    pub fn estimate_is_measured(&self) -> bool {
        self.spend.priced > 0 && self.spend.spent_usd > 0.0
    }

    /// What asking every call to be asked would cost, by the estimate.
    pub fn estimated_cost_usd(&self) -> f64 {
        self.to_analyse() as f64 * self.estimate_usd
    }

    /// How many calls the limit leaves room for, if there is a limit.
    pub fn affordable(&self) -> Option<i64> {
        let limit = self.max_spend_usd?;
        let left = (limit - self.spend.spent_usd).max(0.0);
        Some((left / self.estimate_usd + 1e-9).floor().min(i64::MAX as f64) as i64)
    }
}

/// What a run would do for `set` on the campaign, with `max_spend_usd` from `limit_source`.
pub async fn plan(
    store: &Store,
    campaign_id: &str,
    set: QuestionSet,
    max_spend_usd: Option<f64>,
    limit_source: LimitSource,
    now: DateTime<Utc>,
) -> Result<RunPlan, StoreError> {
    let backlog = store.analysis_backlog(campaign_id, set.key()).await?;
    let spend = store.analysis_spend(campaign_id, now).await?;
    Ok(RunPlan {
        campaign_id: campaign_id.to_string(),
        set,
        backlog,
        estimate_usd: estimate(&spend),
        spend,
        max_spend_usd,
        limit_source,
    })
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunOutcome {
    pub steps: StepReport,
    /// The set's rows at the end.
    pub backlog: AnalysisBacklog,
    /// The campaign's analysis spend at the end, and what it was at the start.
    pub spent_usd: f64,
    pub spent_before_usd: f64,
}

/// Writes the pending rows of `plan` (failed ones are asked again; answered ones never) and
/// asks them, until none is pending or `stop` turns true. `progress` gets the running totals
/// after each step.
pub async fn run(
    store: &Store,
    bland: Client,
    clock: Arc<dyn Clock>,
    cfg: AnalysisConfig,
    plan: &RunPlan,
    stop: watch::Receiver<bool>,
    mut progress: impl FnMut(&StepReport),
) -> Result<RunOutcome, StoreError> {
    let now = clock.now();
    let campaign_id = plan.campaign_id.as_str();
    store.enqueue_analyses(campaign_id, &plan.set, now).await?;
    store.retry_failed_analyses(campaign_id, plan.set.key(), now).await?;
    let tick = cfg.tick.max(StdDuration::from_millis(10));
    let work =
        Work::Run { campaign_id: campaign_id.to_string(), set: plan.set.clone(), max_spend_usd: plan.max_spend_usd };
    let worker = AnalysisWorker::new(store.clone(), bland, clock.clone(), cfg, work);
    worker.stop_on(stop.clone());
    let mut totals = StepReport::default();
    while !*stop.borrow() {
        let r = worker.step().await?;
        totals.claimed += r.claimed;
        totals.answered += r.answered;
        totals.retried += r.retried;
        totals.failed += r.failed;
        totals.stopped += r.stopped;
        totals.released += r.released;
        progress(&totals);
        if r.claimed > 0 {
            continue;
        }
        // Nothing due now: done when nothing is pending; else wait for the next retry time
        // (or for another worker's claim to be settled), a tick at a time.
        let Some(due) = store.next_analysis_due(campaign_id, AnalysisScope::QuestionSet(plan.set.key())).await? else {
            break;
        };
        let wait = (due - clock.now()).to_std().unwrap_or_default().clamp(StdDuration::from_millis(1), tick);
        let mut stop = stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
    Ok(RunOutcome {
        steps: totals,
        backlog: store.analysis_backlog(campaign_id, plan.set.key()).await?,
        spent_usd: store.analysis_spend(campaign_id, clock.now()).await?.spent_usd,
        spent_before_usd: plan.spend.spent_usd,
    })
}

/// Writes the pending analyses of every ended human call that lacks one with its campaign's
/// `[analysis]` questions (calls recorded before analysis existed, or while the spec could not
/// be read); the daemon runs it at start. Returns how many were written.
pub async fn catch_up(
    store: &Store,
    compliance: crate::window::Compliance,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut queued = 0;
    for row in store.campaigns().await? {
        if row.state == crate::store::CampaignState::Draft {
            continue;
        }
        let spec = match crate::config::CampaignSpec::parse(
            &format!("campaign `{}`", row.id),
            &row.spec_toml,
            &compliance,
        ) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::warn!(campaign_id = %row.id, error = %e, "cannot read the campaign's spec; its analyses wait");
                continue;
            }
        };
        if let Some(set) = spec.analysis.as_ref().and_then(QuestionSet::of) {
            queued += store.enqueue_analyses(&row.id, &set, now).await?;
        }
    }
    Ok(queued)
}
