//! The reconciler: settles attempts left `dialing` by a crash or an ambiguous send failure. Each
//! is looked up at Bland by number and matched on the attempt id in the call's metadata; a call
//! found is recorded as placed, and only an attempt proven absent is sent again, under the same
//! attempt id, after passing the same [`prepare`] as a first send. Before that, jobs claimed but
//! never given an attempt are put back in the queue. Data enters as the store's pending
//! attempts and Bland's call lists; it leaves as store transitions and, rarely, one resend.

use chrono::{DateTime, Duration, Utc};
use futures_util::{StreamExt, stream};
use tracing::{info, warn};

use super::engine::{Dispatcher, ReconcileReport};
use super::metadata::AttemptMetadata;
use super::prepare::{Deferral, Facts, Prepared, prepare};
use super::send::SendResult;
use crate::bland::{BlandError, ListCallsQuery};
use crate::store::{CampaignState, PendingAttempt, StoreError};

/// What Bland knows of an attempt.
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

impl Dispatcher {
    /// Settles attempts left `dialing` (a crash, an ambiguous send): each is looked up at Bland
    /// by number and date and matched on its attempt id; only one proven absent is sent again,
    /// under the same id. First, jobs claimed without an attempt are put back in the queue
    /// ([`Store::release_orphaned_claims`](crate::store::Store::release_orphaned_claims)): reconcile runs between steps, when no claim of this
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
        let found =
            calls.calls.iter().find(|c| AttemptMetadata::attempt_id_in(&c.metadata) == Some(attempt.id.as_str()));
        Ok(match found {
            Some(c) => Lookup::Found(c.call_id.clone()),
            None if calls.total_count.is_some_and(|t| t as usize > calls.calls.len()) || calls.skipped > 0 => {
                Lookup::Unsure
            }
            None => Lookup::Absent,
        })
    }

    /// Sends a proven-absent attempt again, if its campaign still runs and [`prepare`] says
    /// send; otherwise voids it (nothing was placed) and requeues the job, or fails it.
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
        let facts = Facts {
            zones: &zones,
            dnc_reason: dnc.get(&job.phone).map(String::as_str),
            recent_dials: &dials,
            max_calls_per_number_per_day: self.cfg.max_calls_per_number_per_day,
        };
        let request = match prepare(job, &plan, &facts, now) {
            Prepared::Send(ready) => {
                let metadata =
                    AttemptMetadata { attempt_id: &attempt.id, campaign_id: &job.campaign_id, job_id: job.id };
                ready.request(&job.phone, &metadata, self.cfg.webhook_url.as_deref())
            }
            Prepared::Defer(Deferral::Requeue { at, .. }) => {
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
            Prepared::Defer(Deferral::Suppress(reason) | Deferral::Fail(reason)) => Err(reason),
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
