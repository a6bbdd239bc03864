//! The claim path: one [`Dispatcher::step`] takes the running campaigns from the store, works
//! out each one's room under the account's and the campaign's caps (a fair share of the
//! account's, paced), claims that many due jobs, asks [`prepare`] about each, and commits the
//! attempts to dial as `dialing` together with every deferral, before any of them is sent.
//! The sends then leave through `send.rs`. Data enters as claimed jobs and the facts about
//! their numbers (DNC, recent dials); it leaves as committed attempts and a list of sends.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use super::engine::{Dispatcher, OpenCalls, StepReport};
use super::ledger::Caps;
use super::metadata::AttemptMetadata;
use super::pacing::{Pacer, pacer, permitted};
use super::plan::{CampaignPlan, calls_within, recipient_zones};
use super::prepare::{Deferral, Facts, Prepared, dial_lists, number_held, prepare};
use super::send::Outgoing;
use crate::store::{
    self, Admission, AdmissionFacts, CampaignAction, CampaignRow, CampaignState, ClaimedJob, NewAttempt, Pace,
    StoreError,
};

/// With several daemons: what the commit judges the caps by (see `Store::commit_claims`) — the
/// room the caps leave given every daemon's usage, and the campaign's shared pacing.
type SharedCaps<'a> = (&'a (dyn Fn(&AdmissionFacts) -> u32 + Send + Sync), Option<Pace>);

/// Most jobs claimed for one campaign in one step, in batches: claims deferred (closed windows)
/// are claimed past, up to this many batches, before the step moves on.
const CLAIM_ROUNDS: u32 = 20;

/// How long a count of the open calls is used (kept up to date with this daemon's dials).
const OPEN_RECOUNT: Duration = Duration::seconds(1);

impl Dispatcher {
    /// One round: claim, decide, commit, send, record.
    pub async fn step(&self) -> Result<StepReport, StoreError> {
        let mut report = self.step_leaving_records().await?;
        report.sent += self.record_placed().await?;
        Ok(report)
    }

    /// [`Self::step`], leaving the calls it placed to be recorded while the next step's sends
    /// go out (see `send.rs`): the daemon's loop, which records them itself when it goes idle
    /// or stops.
    pub async fn step_leaving_records(&self) -> Result<StepReport, StoreError> {
        let now = self.clock.now();
        let mut report = StepReport::default();
        let mut campaigns = self.store.campaigns_in_state(CampaignState::Running).await?;
        if campaigns.is_empty() {
            return Ok(report);
        }
        // The safety stops are judged even while a 429 holds every send back: a storm (or a long
        // Retry-After) that lasts is one of the things they stop for.
        if self.safety_check(&campaigns, now).await? {
            campaigns = self.store.campaigns_in_state(CampaignState::Running).await?;
            if campaigns.is_empty() {
                return Ok(report);
            }
        }
        if self.slowed_down(now) {
            return Ok(report);
        }
        // Several daemons on one database: a 429 any of them met holds every one back, and the
        // caps are counted from every daemon's dials (then judged again at the commit).
        let shared = self.store.is_shared();
        if shared && self.store.shared_slowdown(now).await?.is_some() {
            return Ok(report);
        }
        self.plans.refresh_blackouts(&self.store, now).await?;
        // One daemon counts its open calls itself; several read every daemon's (`usage`).
        let open = if shared { HashMap::new() } else { self.open_calls(&campaigns, now).await? };
        let open_total: u32 = open.values().sum();
        let mut account_left = if shared {
            let u = self.store.usage(None, now).await?;
            self.cfg.account.allowance(u.into(), u.open)
        } else {
            let mut state = self.lock();
            let used = state.ledger.used(None, now);
            self.cfg.account.allowance(used, open_total)
        };
        // The account's spend limit, in USD: each dial below takes its worst case off it.
        let mut account_usd_left = match self.cfg.max_spend_usd_per_day {
            Some(limit) => Some(limit - self.account_spend(now).await?),
            None => None,
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
            self.store.release_due_retries(&row.id, now).await?;
            let fair_share = account_left.div_ceil((n - i) as u32);
            let caps = Caps::from_limits(&plan.spec.limits);
            let (used, open_here) = if shared {
                let u = self.store.usage(Some(&row.id), now).await?;
                (u.into(), u.open)
            } else {
                (self.lock().ledger.used(Some(&row.id), now), open.get(&row.id).copied().unwrap_or(0))
            };
            // Spend: every dial reserves its worst case until Bland reports its price, so neither
            // the campaign's limit nor the account's is ever crossed.
            let worst_case = self.cfg.pricing.worst_case_usd(plan.spec.max_call_minutes());
            let campaign_usd_left = match plan.spec.limits.max_spend_usd {
                Some(limit) => Some(limit - self.store.campaign_spend(&row.id).await?),
                None => None,
            };
            let usd_left = match (campaign_usd_left, account_usd_left) {
                (Some(c), Some(a)) => Some(c.min(a)),
                (c, a) => c.or(a),
            };
            let room = caps
                .allowance(used, open_here)
                .min(fair_share)
                .min(self.cfg.batch)
                .min(calls_within(usd_left, worst_case));
            // Pacing tokens pay for calls, not claims: a claimed job that is not dialled now (its
            // window closed, its number capped or on the DNC list) hands its token to the next
            // due job, so recipients who may not be called cost none of the allowance. Once the
            // queue runs dry the tokens left are spent: nothing was due to use them.
            //
            // Several daemons share the pacing instead, in the database (judged at the commit).
            let pacer = if shared { None } else { pacer };
            let admission_room = |f: &AdmissionFacts| -> u32 {
                caps.allowance(f.campaign.into(), f.campaign.open)
                    .min(self.cfg.account.allowance(f.account.into(), f.account.open))
                    .min(calls_within(plan.spec.limits.max_spend_usd.map(|l| l - f.campaign_spend), worst_case))
                    .min(calls_within(self.cfg.max_spend_usd_per_day.map(|l| l - f.account_spend), worst_case))
            };
            let pace = plan.spec.limits.calls_per_minute.filter(|_| self.cfg.pacing).map(|per_minute| Pace {
                interval_ms: (60_000 / i64::from(per_minute.max(1))).max(1),
                burst: (per_minute / 10).max(1),
            });
            if shared && let Some(pace) = pace {
                self.lock().paces.insert(row.id.clone(), pace);
            }
            let shared_caps: Option<SharedCaps<'_>> = shared.then_some((&admission_room, pace));
            let mut budget = permitted(pacer.as_deref(), room);
            let mut claimed_here = 0;
            while budget > 0 && claimed_here < self.cfg.batch.saturating_mul(CLAIM_ROUNDS) {
                let claimed = self.store.claim_due(&row.id, now, budget).await?;
                let got = claimed.len() as u32;
                report.claimed += got;
                claimed_here += got;
                let (campaign_sends, trimmed) =
                    self.decide_claims(&plan, claimed, worst_case, now, &mut report, shared_caps).await?;
                let sent = campaign_sends.len() as u32;
                if let Some(left) = &mut account_usd_left {
                    *left -= f64::from(sent) * worst_case;
                }
                budget = budget.saturating_sub(sent);
                account_left = account_left.saturating_sub(sent);
                sends.extend(campaign_sends);
                // The commit found the room used (another daemon's dials): none left this step.
                if trimmed || got < budget.saturating_add(sent) {
                    break;
                }
            }
        }
        self.send_all(sends, &mut report).await?;
        Ok(report)
    }

    /// The plan of a running campaign (re-read when its spec changed) and its pacer.
    pub(super) fn plan_for(&self, row: &CampaignRow) -> Result<(Arc<CampaignPlan>, Option<Arc<Pacer>>), String> {
        let plan = self.plans.get(row)?;
        let mut state = self.lock();
        let key = (row.id.clone(), row.updated_at);
        if let Some(p) = state.pacers.get(&key) {
            return Ok((plan, p.clone()));
        }
        let pacer = pacer(self.cfg.pacing, plan.spec.limits.calls_per_minute, self.clock.clone());
        state.pacers.retain(|(id, _), _| id != &row.id);
        state.pacers.insert(key, pacer.clone());
        Ok((plan, pacer))
    }

    /// Calls holding a concurrency slot now, per campaign (see [`OpenCalls`]): the last count
    /// plus this daemon's dials since. That only ever overstates (calls that ended since are
    /// still in it: every attempt is this daemon's), so it is recounted only when it could hold
    /// a step back — older than `OPEN_RECOUNT`, and a concurrency cap with less room than a
    /// batch — not every second of a campaign far from its caps, where the count (every open
    /// call) was the step's slowest read.
    async fn open_calls(
        &self,
        campaigns: &[CampaignRow],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, u32>, StoreError> {
        if let Some(open) = &self.lock().open
            && open.counted_at <= now
            && (now - open.counted_at < OPEN_RECOUNT || !self.short_of_slots(campaigns, &open.per_campaign))
        {
            return Ok(open.per_campaign.clone());
        }
        let per_campaign = self.store.open_calls(now).await?;
        self.lock().open = Some(OpenCalls { counted_at: now, per_campaign: per_campaign.clone() });
        Ok(per_campaign)
    }

    /// Whether a concurrency cap (the account's or a running campaign's) has less room than a
    /// batch given `open` calls (a campaign whose spec cannot be read counts as short).
    fn short_of_slots(&self, campaigns: &[CampaignRow], open: &HashMap<String, u32>) -> bool {
        let short = |cap: Option<u32>, n: u32| cap.is_some_and(|cap| cap.saturating_sub(n) < self.cfg.batch);
        short(self.cfg.account.concurrent, open.values().sum())
            || campaigns.iter().any(|row| match self.plans.get(row) {
                Ok(plan) => short(plan.spec.limits.max_concurrent, open.get(&row.id).copied().unwrap_or(0)),
                Err(_) => true,
            })
    }

    /// The account's spend over the last 24 hours (USD), recounted in the DB every
    /// `OPEN_RECOUNT` and kept up to date in between with this daemon's own reservations.
    async fn account_spend(&self, now: DateTime<Utc>) -> Result<f64, StoreError> {
        if let Some((counted_at, usd)) = self.lock().spend
            && counted_at <= now
            && now - counted_at < OPEN_RECOUNT
        {
            return Ok(usd);
        }
        let usd = self.store.spend_since(now - Duration::days(1)).await?;
        self.lock().spend = Some((now, usd));
        Ok(usd)
    }

    /// Decides for a campaign's claimed jobs and commits the outcome; returns the sends. Each
    /// attempt reserves `worst_case_usd` against the spend limits.
    async fn decide_claims(
        &self,
        plan: &CampaignPlan,
        claimed: Vec<ClaimedJob>,
        worst_case_usd: f64,
        now: DateTime<Utc>,
        report: &mut StepReport,
        shared_caps: Option<SharedCaps<'_>>,
    ) -> Result<(Vec<Outgoing>, bool), StoreError> {
        if claimed.is_empty() {
            return Ok((Vec::new(), false));
        }
        let phones: Vec<&str> = claimed.iter().map(|j| j.phone.as_str()).collect();
        let dnc = self.store.dnc_reasons(&phones).await?;
        let recent = self.store.recent_dials_by_number(&phones, now - plan.frequency_lookback()).await?;
        let max_minutes = plan.spec.max_call_minutes();
        // Bounded at parse (≤ 240 min) and the margins at load; checked all the same, so no
        // value can wrap a slot's expiry into the past and free it early.
        let call_length = Duration::milliseconds((max_minutes * 60_000.0) as i64);
        let after_call = |margin: Duration| {
            now.checked_add_signed(call_length)
                .and_then(|t| t.checked_add_signed(margin))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        let expires_at = after_call(self.cfg.slot_margin);
        let poll_at = after_call(self.cfg.poll_margin);

        let mut attempts = Vec::new();
        let mut deferrals = Vec::new();
        let mut sends = Vec::new();
        // Two jobs of one claim may share a number only across campaigns; count this claim's
        // own dials too so the per-number and frequency caps hold within a step.
        let mut dialled_now: HashMap<&str, u32> = HashMap::new();
        let subject = plan.subject();
        for job in &claimed {
            let zones = recipient_zones(plan.spec.schedule.zone_policy, &job.timezones, job.number_zones.as_deref());
            let earlier = recent.get(job.phone.as_str()).map(Vec::as_slice).unwrap_or_default();
            let this_step = dialled_now.get(job.phone.as_str()).copied().unwrap_or(0) as usize;
            let (dials, subject_dials) = dial_lists(earlier, this_step, subject, now);
            let facts = Facts {
                zones: &zones,
                regions: &job.regions,
                dnc_reason: dnc.get(job.phone.as_str()).map(String::as_str),
                recent_dials: &dials,
                subject_dials: &subject_dials,
                max_calls_per_number_per_day: self.cfg.max_calls_per_number_per_day,
            };
            let ready = match prepare(job, plan, &facts, now) {
                Prepared::Send(ready) => ready,
                Prepared::Defer(Deferral::Requeue { at, .. }) => {
                    report.deferred += 1;
                    deferrals.push(store::Deferral::Requeue { job_id: job.id, at });
                    continue;
                }
                Prepared::Defer(Deferral::Suppress(reason)) => {
                    report.deferred += 1;
                    deferrals.push(store::Deferral::Suppress { job_id: job.id, reason });
                    continue;
                }
                Prepared::Defer(Deferral::Fail(reason)) => {
                    report.failed += 1;
                    info!(campaign_id = %job.campaign_id, job_id = job.id, %reason, "job failed before dialing");
                    deferrals.push(store::Deferral::Fail { job_id: job.id, reason });
                    continue;
                }
            };
            // A job whose last attempt was certainly never placed sends this one under that
            // attempt's id (it replaces the voided row). Otherwise a new id, time-ordered (v7):
            // attempts are inserted at the end of their primary key's index instead of all over it.
            let attempt_id = job.resend_attempt_id.clone().unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            let metadata = AttemptMetadata { attempt_id: &attempt_id, campaign_id: &job.campaign_id, job_id: job.id };
            match ready.request(job.phone.as_str(), &metadata, self.cfg.webhook_url.as_deref()) {
                Ok(request) => {
                    attempts.push(NewAttempt {
                        id: attempt_id.clone(),
                        job_id: job.id,
                        campaign_id: job.campaign_id.clone(),
                        phone: job.phone.clone(),
                        attempt_no: job.attempts + 1,
                        expires_at,
                        poll_at,
                        reserved_usd: worst_case_usd,
                        rules_version: plan.rules_version().to_string(),
                    });
                    *dialled_now.entry(job.phone.as_str()).or_default() += 1;
                    sends.push(Outgoing {
                        attempt_id,
                        campaign_id: job.campaign_id.clone(),
                        job_id: job.id,
                        masked_phone: job.phone.masked(),
                        dialed_at: now,
                        request,
                    });
                }
                Err(reason) => {
                    report.failed += 1;
                    deferrals.push(store::Deferral::Fail { job_id: job.id, reason });
                }
            }
        }
        // The attempts are durable before any of them is sent; only those committed are sent.
        // With several daemons, the commit judges the caps and each number's caps again on every
        // daemon's dials, and may find them used by another.
        let by_job: HashMap<i64, &ClaimedJob> = claimed.iter().map(|j| (j.id, j)).collect();
        let number_allows = |job_id: i64, dials: &[store::RecentDial]| -> bool {
            let Some(job) = by_job.get(&job_id) else { return false };
            let (recent_dials, subject_dials) = dial_lists(dials, 0, subject, now);
            let facts = Facts {
                zones: &[],
                regions: &job.regions,
                dnc_reason: None,
                recent_dials: &recent_dials,
                subject_dials: &subject_dials,
                max_calls_per_number_per_day: self.cfg.max_calls_per_number_per_day,
            };
            number_held(plan, &facts, now).is_none()
        };
        let admission = shared_caps.map(|(room, pace)| Admission {
            room,
            pace,
            lookback: plan.frequency_lookback(),
            subject,
            number_allows: &number_allows,
        });
        let committed: std::collections::HashSet<String> =
            self.store.commit_claims(&attempts, &deferrals, now, admission.as_ref()).await?.into_iter().collect();
        let trimmed = committed.len() < attempts.len();
        if trimmed {
            report.deferred += (attempts.len() - committed.len()) as u32;
            attempts.retain(|a| committed.contains(&a.id));
            sends.retain(|s| committed.contains(&s.attempt_id));
        }
        let mut state = self.lock();
        if let Some((_, usd)) = &mut state.spend {
            *usd += attempts.len() as f64 * worst_case_usd;
        }
        for a in &attempts {
            state.ledger.record(&a.campaign_id, now);
            if let Some(open) = &mut state.open {
                *open.per_campaign.entry(a.campaign_id.clone()).or_default() += 1;
            }
        }
        Ok((sends, trimmed))
    }
}
