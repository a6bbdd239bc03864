//! The reconciler: settles attempts left `dialing` by a crash or an ambiguous send failure. Each
//! is looked up at Bland by number and matched on the attempt id in the call's metadata; a call
//! found is recorded as placed, and an attempt proven absent is voided and its job put back in
//! the queue, due at once. It is then dialled again by the claim path like any other job: under
//! every cap and the pacing, after the same checks, and counted when it is actually sent (a
//! resend from here once slipped past the minute/hour/day caps). Before that, jobs claimed but
//! never given an attempt are put back in the queue. Data enters as the store's pending
//! attempts and Bland's call lists; it leaves as store transitions.

use chrono::{DateTime, Duration, Utc};
use futures_util::{StreamExt, stream};
use tracing::{info, warn};

use super::engine::{Dispatcher, ReconcileReport};
use super::metadata::AttemptMetadata;
use crate::bland::{BlandError, ListCallsQuery};
use crate::metrics::Reconciled;
use crate::store::{LostCall, PendingAttempt, StoreError};

/// Calls read from Bland's log a page at a time ([`Dispatcher::recover_lost_calls`]).
const PAGE: u32 = 1000;

/// Why [`Dispatcher::recover_lost_calls`] could not finish.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("cannot read Bland's call log: {0}")]
    Bland(BlandError),
    #[error(transparent)]
    Store(StoreError),
}

/// What Bland knows of an attempt.
enum Lookup {
    Found(String),
    Absent,
    Unsure,
}

/// What reconciling one attempt did.
enum Settled {
    Found,
    Requeued,
    Left,
}

impl Dispatcher {
    /// Settles attempts left `dialing` (a crash, an ambiguous send): each is looked up at Bland
    /// by number and matched on its attempt id; one proven absent is voided and its job queued
    /// again. First, jobs claimed without an attempt are put back in the queue
    /// ([`Store::release_orphaned_claims`](crate::store::Store::release_orphaned_claims)): reconcile runs between steps, when no claim of this
    /// dispatcher is outstanding.
    ///
    /// Attempts are settled concurrently (as many at once as sends), so a restart after a crash
    /// with hundreds of sends in flight is not a queue of lookups one by one; on shutdown, the
    /// ones not started yet are left for the next start.
    pub async fn reconcile(&self) -> Result<ReconcileReport, StoreError> {
        let now = self.clock.now();
        let released = self.store.release_orphaned_claims(now).await? as u32;
        if released > 0 {
            warn!(released, "jobs claimed but never dialled (a stop between claim and commit) are queued again");
        }
        let mut report = ReconcileReport { released, ..ReconcileReport::default() };
        // Several daemons: one of them (the lease's holder) settles the attempts of a daemon
        // that died or stalled past its lease. Each is taken over first, which fences its old
        // owner's writes off; one its owner never started sending is voided and its job queued
        // again (never sent: nothing to ask Bland); one it may have sent is looked up below with
        // this daemon's own, by its attempt id. Never resent on a timer.
        if self.store.is_shared() && self.store.is_leader().await? {
            for (attempt_id, maybe_sent) in self.store.take_over_expired().await? {
                if maybe_sent {
                    warn!(%attempt_id, "a daemon's lease expired while it was sending this attempt: looking it up at Bland");
                    continue;
                }
                let why = "not placed: its daemon's lease expired before it sent it; queued to be dialled again";
                if self.store.record_not_sent(&attempt_id, why, now, now).await? {
                    warn!(%attempt_id, "a daemon's lease expired before it sent this attempt: voided, its job queued again");
                    report.requeued += 1;
                }
            }
        }
        // A call placed whose record waits for the next step (`send.rs`) is not pending: Bland
        // took it, and its record is on the way.
        let mut pending = self.store.pending_attempts(now - self.cfg.reconcile_after, now).await?;
        pending.retain(|a| !self.unrecorded(&a.id));
        let settled: Vec<Result<Settled, StoreError>> = stream::iter(pending)
            .map(|attempt| self.reconcile_one(attempt, now))
            .buffer_unordered(self.cfg.send_concurrency.max(1))
            .collect()
            .await;
        for s in settled {
            match s? {
                Settled::Found => report.found += 1,
                Settled::Requeued => report.requeued += 1,
                Settled::Left => report.left += 1,
            }
        }
        self.metrics.reconciled(Reconciled::Found, report.found);
        self.metrics.reconciled(Reconciled::Requeued, report.requeued);
        self.metrics.reconciled(Reconciled::Left, report.left);
        Ok(report)
    }

    /// Calls Bland placed in the last `lookback` whose attempts the database does not have —
    /// after a failover to a PostgreSQL standby that had not received the last commits — are
    /// written back (see [`Store::adopt_lost_call`](crate::store::Store::adopt_lost_call)), so
    /// that their numbers are not dialled again; the daemon does this on start, before it dials.
    /// Bland's call log is read newest first, a page at a time, back to `lookback` ago.
    pub async fn recover_lost_calls(&self, lookback: Duration) -> Result<u32, RecoverError> {
        let now = self.clock.now();
        let since = now - lookback;
        let mut found: Vec<LostCall> = Vec::new();
        let mut from = 0u64;
        loop {
            let query = ListCallsQuery {
                start_date: Some(since.date_naive()),
                ascending: Some(false),
                limit: Some(PAGE),
                from: Some(from),
                ..ListCallsQuery::default()
            };
            let page = self.bland.list_calls(&query).await.map_err(RecoverError::Bland)?;
            let mut older = false;
            for c in &page.calls {
                let Some(created_at) = c.created_at else { continue };
                if created_at < since {
                    older = true;
                    continue;
                }
                let (Some(attempt_id), Some(job_id), Some(campaign_id)) = (
                    AttemptMetadata::attempt_id_in(&c.metadata),
                    AttemptMetadata::job_id_in(&c.metadata),
                    AttemptMetadata::campaign_id_in(&c.metadata),
                ) else {
                    continue;
                };
                found.push(LostCall {
                    attempt_id: attempt_id.to_string(),
                    job_id,
                    campaign_id: campaign_id.to_string(),
                    call_id: c.call_id.clone(),
                    created_at,
                });
            }
            if older || page.calls.len() < PAGE as usize {
                break;
            }
            from += u64::from(PAGE);
        }
        let ids: Vec<&str> = found.iter().map(|l| l.attempt_id.as_str()).collect();
        let known = self.store.known_attempts(&ids).await.map_err(RecoverError::Store)?;
        let mut adopted = 0;
        for lost in found.iter().filter(|l| !known.contains(&l.attempt_id)) {
            if self.store.adopt_lost_call(lost, now).await.map_err(RecoverError::Store)? {
                warn!(
                    attempt_id = %lost.attempt_id,
                    call_id = %lost.call_id,
                    job_id = lost.job_id,
                    "Bland placed a call the database had lost (a failover?): recorded, its number is not dialled again"
                );
                adopted += 1;
            }
        }
        Ok(adopted)
    }

    async fn reconcile_one(&self, attempt: PendingAttempt, now: DateTime<Utc>) -> Result<Settled, StoreError> {
        if self.stopping() {
            return Ok(Settled::Left);
        }
        Ok(match self.lookup(&attempt).await {
            Ok(Lookup::Found(call_id)) => {
                self.store.record_sent(&attempt.id, &call_id, now).await?;
                self.metrics.call_placed(&attempt.job.campaign_id);
                info!(attempt_id = %attempt.id, %call_id, "reconciled: the call exists");
                Settled::Found
            }
            Ok(Lookup::Unsure) => {
                warn!(attempt_id = %attempt.id, "cannot prove the attempt absent (the number has too many calls to list); not resending");
                Settled::Left
            }
            Ok(Lookup::Absent) => {
                let why = "not placed (Bland has no such call); queued to be dialled again";
                self.void_and_refund(&attempt.id, &attempt.job.campaign_id, attempt.dialed_at, why, now).await?;
                info!(attempt_id = %attempt.id, "reconciled: not at Bland; the job is queued again");
                Settled::Requeued
            }
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
            to_number: Some(attempt.job.phone.to_string()),
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
}
