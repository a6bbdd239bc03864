//! The group-commit writer behind [`Outcomes::apply`]: every delivery (a webhook's or a poll's
//! call details) joins a queue, and whoever gets the writer's turn writes everything queued in
//! one transaction, each delivery answered through its own channel. Under load one commit
//! serves dozens of webhooks; alone, a delivery is written at once. Data enters as call details
//! (plus the raw webhook body for the inbox); it leaves as store transactions and, per
//! delivery, what applying it did ([`Applied`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::Outcomes;
use super::policy::classify;
use crate::bland::CallDetails;
use crate::config::Outcome;
use crate::dispatcher::{AttemptMetadata, CampaignPlan};
use crate::store::{Application, Applied, AttemptContext, Delivery, JobTarget, StoreError};

/// Most deliveries written in one transaction; the rest wait for the next turn (see
/// [`Outcomes::apply`]), so no writer holds its callers for long.
const WRITE_BATCH: usize = 256;

/// A delivery waiting for the writer, with everything deciding its application needs.
pub(super) struct Queued {
    details: CallDetails,
    inbox_body: Option<String>,
    plan: Option<Arc<CampaignPlan>>,
    now: DateTime<Utc>,
    reply: oneshot::Sender<Result<Applied, StoreError>>,
}

impl Queued {
    fn delivery(&self) -> Delivery<'_> {
        Delivery {
            attempt_id: AttemptMetadata::attempt_id_in(&self.details.metadata),
            call_id: &self.details.call_id,
            inbox_body: self.inbox_body.as_deref(),
            now: self.now,
        }
    }
}

impl Outcomes {
    /// Applies call details from a webhook (`inbox_body` = the raw body, stored) or a poll.
    pub async fn apply(&self, details: &CallDetails, inbox_body: Option<&str>) -> Result<Applied, StoreError> {
        let now = self.clock.now();
        // Retries are scheduled past the blackouts too (the dispatcher checks again at claim).
        self.plans.refresh_blackouts(&self.store, now).await?;
        let campaign_id = match AttemptMetadata::campaign_id_in(&details.metadata) {
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
        // everything queued in one transaction. Each delivery is still stored in the inbox and
        // applied in the same transaction, in arrival order.
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
            Err(_) => return Err(StoreError::NotWritten("the delivery was not written; deliver it again".into())),
        };
        match applied {
            Applied::Applied | Applied::Updated => {
                info!(
                    campaign_id = AttemptMetadata::campaign_id_in(&details.metadata).unwrap_or("-"),
                    attempt_id = AttemptMetadata::attempt_id_in(&details.metadata).unwrap_or("-"),
                    call_id = %details.call_id,
                    outcome = classify(details).map_or("none yet", Outcome::as_str),
                    result = applied.as_str(),
                    "outcome recorded"
                )
            }
            Applied::Unmatched => {
                warn!(call_id = %details.call_id, "call details match no attempt; kept in the inbox")
            }
            _ => {}
        }
        Ok(applied)
    }

    /// Writes queued deliveries in one transaction and answers each. If that transaction
    /// fails, each is written on its own, so one bad delivery cannot fail the others. What
    /// was decided is counted once it is committed.
    async fn write(&self, batch: Vec<Queued>) {
        if batch.is_empty() {
            return;
        }
        let deliveries: Vec<Delivery> = batch.iter().map(Queued::delivery).collect();
        let mut decided: Vec<Option<Decided>> = vec![None; batch.len()];
        let together = self
            .store
            .apply_call_details_many(&deliveries, |i, ctx| {
                let q = &batch[i];
                let application = self.decide(ctx, &q.details, q.plan.as_deref(), q.now, q.inbox_body.is_none());
                decided[i] = Some(Decided::of(ctx, &application));
                application
            })
            .await;
        drop(deliveries);
        match together {
            Ok(applied) => {
                for ((q, a), d) in batch.into_iter().zip(applied).zip(decided) {
                    self.count(d, a);
                    let _ = q.reply.send(Ok(a));
                }
            }
            Err(e) => {
                warn!(deliveries = batch.len(), error = %e, "writing call details together failed; writing them one by one");
                for q in batch {
                    let mut decided = None;
                    let one = self
                        .store
                        .apply_call_details(q.delivery(), |ctx| {
                            let application =
                                self.decide(ctx, &q.details, q.plan.as_deref(), q.now, q.inbox_body.is_none());
                            decided = Some(Decided::of(ctx, &application));
                            application
                        })
                        .await;
                    if let Ok(a) = &one {
                        self.count(decided, *a);
                    }
                    let _ = q.reply.send(one);
                }
            }
        }
    }

    /// Counts a committed delivery: a first outcome recorded, and a retry it scheduled.
    fn count(&self, decided: Option<Decided>, applied: Applied) {
        let Some(d) = decided else { return };
        if let (Applied::Applied, Some(outcome)) = (applied, d.outcome) {
            self.metrics.outcome_recorded(&d.campaign_id, outcome);
        }
        if d.retry && matches!(applied, Applied::Applied | Applied::Updated) {
            self.metrics.retry_scheduled(&d.campaign_id);
        }
    }
}

/// What the writer decided for one delivery, for the metrics once it is committed.
#[derive(Debug, Clone)]
struct Decided {
    campaign_id: String,
    /// The outcome of a first recording.
    outcome: Option<Outcome>,
    /// The job goes back in line for another attempt.
    retry: bool,
}

impl Decided {
    fn of(ctx: &AttemptContext, application: &Application) -> Self {
        let (outcome, job) = match application {
            Application::Record { record, job } => (Some(record.outcome), Some(job)),
            Application::Update { job, .. } => (None, job.as_ref()),
            Application::NotFinal { .. } | Application::Duplicate { .. } => (None, None),
        };
        Decided { campaign_id: ctx.campaign_id.clone(), outcome, retry: matches!(job, Some(JobTarget::Retry(_))) }
    }
}
