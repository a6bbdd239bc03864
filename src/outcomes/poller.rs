//! The poller: the fallback when no webhook brings a call's details. Each round asks Bland
//! about the attempts whose poll time has come (`GET /v1/calls/{id}`), hands what it learns to
//! [`Outcomes::apply`] like a webhook, postpones the ones Bland could not answer, and then marks
//! campaigns `completed` when no job can progress any more. Data enters from the store's due
//! polls and Bland's call details; it leaves through `apply` and the store.

use chrono::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

use super::Outcomes;
use crate::bland::BlandError;
use crate::store::{Applied, StoreError};

/// What one poller round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    pub polled: u32,
    pub settled: u32,
    pub errors: u32,
    pub completed_campaigns: u32,
}

impl Outcomes {
    /// One poller round: ask Bland about attempts whose poll time has come, then complete
    /// campaigns that are finished.
    pub async fn poll_once(&self) -> Result<PollReport, StoreError> {
        self.poll_round(None).await
    }

    /// [`Outcomes::poll_once`], stopping between lookups once `stop` turns true: a round of
    /// slow lookups must not hold the daemon's shutdown (the calls not asked about stay due).
    async fn poll_round(&self, stop: Option<&watch::Receiver<bool>>) -> Result<PollReport, StoreError> {
        let now = self.clock.now();
        let mut report = PollReport::default();
        for due in self.store.polls_due(now, self.cfg.poll_batch).await? {
            if stop.is_some_and(|s| *s.borrow()) {
                return Ok(report);
            }
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
                    let next = now.checked_add_signed(wait).unwrap_or(now + self.cfg.poll_interval);
                    self.store.postpone_poll(&due.attempt_id, next).await?;
                }
            }
        }
        // One daemon completes campaigns and folds the counters (several on PostgreSQL): the leader.
        let completed = if self.store.is_leader().await? {
            self.store.fold_counters().await?;
            self.store.complete_finished_campaigns(now).await?
        } else {
            Vec::new()
        };
        for id in completed {
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
            let busy = match self.poll_round(Some(&shutdown)).await {
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
