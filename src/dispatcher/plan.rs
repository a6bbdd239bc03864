//! The dispatcher's decision for one claimed job, as a pure function of the job, its campaign,
//! what the store says about the number, and `now`: dial it, put it back until a later time,
//! suppress it, or fail it.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::config::{CampaignSpec, ZonePolicy};
use crate::store::ClaimedJob;
use crate::template::{Variables, fill_call};
use crate::window::DialWindow;

/// What to do with a claimed job now.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Dial with this (filled) `[call]` table and `request_data`.
    Dial {
        call: Map<String, Value>,
        request_data: Value,
    },
    Requeue(DateTime<Utc>),
    Suppress(String),
    Fail(String),
}

/// A running campaign as the dispatcher needs it.
#[derive(Debug, Clone)]
pub struct CampaignPlan {
    pub spec: CampaignSpec,
    pub window: DialWindow,
}

/// The zones a recipient must be inside their window in, by the campaign's policy.
/// The zones come from the job's stored `timezones` (effective) and `number_zones` (inferred
/// from the number).
pub fn recipient_zones(
    policy: ZonePolicy,
    timezones: &str,
    number_zones: Option<&str>,
    cache: &mut HashMap<String, Vec<Tz>>,
) -> Vec<Tz> {
    let parse = |s: &str| -> Vec<Tz> { s.split('|').filter_map(|z| z.parse().ok()).collect() };
    let key = format!("{}|{}#{}", policy.as_str(), timezones, number_zones.unwrap_or(""));
    cache
        .entry(key)
        .or_insert_with(|| {
            let effective = parse(timezones);
            let number = number_zones.map(parse).unwrap_or_default();
            let mut zones = match policy {
                ZonePolicy::Column => effective,
                ZonePolicy::AreaCode if !number.is_empty() => number,
                ZonePolicy::AreaCode => effective,
                ZonePolicy::Strictest => effective.into_iter().chain(number).collect(),
            };
            zones.sort_by_key(|z| z.name());
            zones.dedup();
            zones
        })
        .clone()
}

/// Everything the store knows about a job's number at claim time.
#[derive(Debug, Clone, Default)]
pub struct NumberFacts<'a> {
    pub dnc_reason: Option<&'a str>,
    /// Dials to this number in the last 24 hours (ms, oldest first), across campaigns.
    pub recent_dials: &'a [i64],
}

/// Decides for one claimed job.
pub fn decide(
    job: &ClaimedJob,
    plan: &CampaignPlan,
    zones: &[Tz],
    facts: &NumberFacts,
    max_calls_per_number_per_day: u32,
    now: DateTime<Utc>,
) -> Decision {
    if let Some(reason) = facts.dnc_reason {
        return Decision::Suppress(format!("do-not-call: {reason}"));
    }
    if !plan.window.is_open(zones, now) {
        return match plan.window.next_opening(zones, now) {
            Some(at) => Decision::Requeue(at),
            None => Decision::Fail("the campaign's schedule has no opening left for this recipient".into()),
        };
    }
    if facts.recent_dials.len() as u32 >= max_calls_per_number_per_day {
        let i = facts.recent_dials.len() - max_calls_per_number_per_day as usize;
        let oldest = DateTime::from_timestamp_millis(facts.recent_dials[i]).unwrap_or(now);
        return Decision::Requeue((oldest + Duration::days(1)).max(now + Duration::seconds(1)));
    }
    let vars = Variables::from_stored(&job.variables, job.variable_names.as_deref());
    let mut call = plan.spec.call.clone();
    let next_attempt = job.attempts as u32 + 1;
    if next_attempt >= plan.spec.retry.max_attempts
        && let Some(msg) = &plan.spec.retry.last_attempt_voicemail_message
    {
        call.insert("voicemail_message".into(), Value::String(msg.clone()));
    }
    match fill_call(&call, &vars) {
        Ok(call) => Decision::Dial { call, request_data: vars.to_request_data() },
        Err(e) => Decision::Fail(e.to_string()),
    }
}

type CachedPlan = (DateTime<Utc>, std::sync::Arc<CampaignPlan>);

/// Parsed campaign specs, re-read only when a campaign's row changed.
#[derive(Debug)]
pub struct PlanCache {
    compliance: crate::window::Compliance,
    /// Campaign id → (the row's `updated_at` the plan was read at, the plan).
    plans: std::sync::Mutex<HashMap<String, CachedPlan>>,
}

impl PlanCache {
    pub fn new(compliance: crate::window::Compliance) -> Self {
        Self { compliance, plans: Default::default() }
    }

    /// The plan of the campaign in `row`; `Err` is the spec's problem, for a log line.
    pub fn get(&self, row: &crate::store::CampaignRow) -> Result<std::sync::Arc<CampaignPlan>, String> {
        let mut plans = self.plans.lock().expect("plan cache poisoned");
        if let Some((updated, plan)) = plans.get(&row.id)
            && *updated == row.updated_at
        {
            return Ok(plan.clone());
        }
        let spec = CampaignSpec::parse(&format!("campaign `{}`", row.id), &row.spec_toml, &self.compliance)
            .map_err(|e| e.to_string())?;
        let window = spec.dial_window(self.compliance);
        let plan = std::sync::Arc::new(CampaignPlan { spec, window });
        plans.insert(row.id.clone(), (row.updated_at, plan.clone()));
        Ok(plan)
    }
}
