//! What one delivery does, decided inside the writer's transaction from what the store knows
//! of the attempt ([`AttemptContext`]): record a final outcome and move the job on by the retry
//! decision, correct an outcome a late `answered_by` changes, ask again later while the call is
//! not over, or nothing (a duplicate). Data enters as call details, the attempt's context and the
//! campaign's plan; it leaves as the store's [`Application`].

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Outcomes;
use super::policy::classify;
use super::retry::{Next, next_step};
use crate::bland::CallDetails;
use crate::compliance::opt_out::opt_out_reason;
use crate::config::Outcome;
use crate::dispatcher::{CampaignPlan, recipient_zones};
use crate::store::{Application, AttemptContext, JobTarget, OutcomeRecord};

impl Outcomes {
    pub(super) fn decide(
        &self,
        ctx: &AttemptContext,
        details: &CallDetails,
        plan: Option<&CampaignPlan>,
        now: DateTime<Utc>,
        from_poll: bool,
    ) -> Application {
        let Some(outcome) = classify(details) else {
            return if ctx.outcome.is_none() {
                Application::NotFinal { poll_at: now + self.cfg.poll_interval }
            } else {
                Application::Duplicate { recheck_done: false }
            };
        };
        let transcript = transcript(details);
        let record = |recheck: bool| OutcomeRecord {
            outcome,
            answered_by: details.answered_by.as_ref().map(|a| a.as_str().to_string()),
            call_length: details.call_length_minutes,
            price: details.price,
            summary: details.summary.clone(),
            call_ended_by: details.call_ended_by.clone(),
            error_message: details.error_message.clone(),
            recording_url: details.recording_url.clone(),
            transcript: transcript.clone(),
            analysis: details.analysis.as_ref().map(Value::to_string),
            details: details.raw.to_string(),
            ended_at: now,
            recheck_at: recheck.then(|| now + self.cfg.answered_by_grace),
            analyse: plan.filter(|_| outcome == Outcome::Human).and_then(|p| p.analysis.clone()),
            opt_out: plan.filter(|_| outcome == Outcome::Human).and_then(|p| {
                opt_out_reason(&p.spec.compliance, &details.call_id, details.analysis.as_ref(), transcript.as_deref())
            }),
        };
        let target = || self.job_target(ctx, outcome, details, plan, now);
        match &ctx.outcome {
            None => Application::Record { record: record(details.answered_by.is_none()), job: target() },
            Some(previous) if ctx.answered_by.is_none() && details.answered_by.is_some() => {
                let still_on_attempt = ctx.job_attempts == ctx.attempt_no;
                let job = (*previous != outcome && still_on_attempt).then(target);
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
        let zones = recipient_zones(plan.spec.schedule.zone_policy, &ctx.timezones, ctx.number_zones.as_deref());
        let recipient = crate::window::Recipient { zones: &zones, regions: &ctx.regions };
        match next_step(&plan.spec.retry, outcome, ctx.attempt_no as u32, &plan.window, &recipient, now) {
            Next::Done => JobTarget::Done,
            Next::Failed => JobTarget::Failed(format!(
                "call failed{}",
                details.error_message.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            )),
            Next::Retry(at) => JobTarget::Retry(at),
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
