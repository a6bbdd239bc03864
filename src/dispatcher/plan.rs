//! A running campaign as dialing decisions need it: its parsed spec and dialing window
//! ([`CampaignPlan`]), parsed once per change of the campaign's row ([`PlanCache`]), and the
//! zones a recipient must be inside their window in ([`recipient_zones`]). The dispatcher and the
//! outcome tracker each keep a cache; rows enter from the store, plans leave to
//! [`prepare`](super::prepare::prepare) and to the retry decision.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::{CampaignSpec, ZonePolicy};
use crate::window::DialWindow;

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
