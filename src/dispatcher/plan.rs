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
    /// The `[analysis]` questions each human-answered call is asked, if any.
    pub analysis: Option<std::sync::Arc<crate::analysis::QuestionSet>>,
}

/// How many calls of `worst_case_usd` each fit in `usd_left` without crossing it (`u32::MAX`
/// with no limit). A hair is kept back so that float rounding can never let one more through.
pub fn calls_within(usd_left: Option<f64>, worst_case_usd: f64) -> u32 {
    match usd_left {
        None => u32::MAX,
        Some(left) if !(left > 0.0) || !(worst_case_usd > 0.0) => 0,
        Some(left) => (left / worst_case_usd - 1e-9).floor().clamp(0.0, u32::MAX as f64) as u32,
    }
}

/// The zones a recipient must be inside their window in, by the campaign's policy, from the
/// job's stored `timezones` (effective) and `number_zones` (inferred from the number).
pub fn recipient_zones(policy: ZonePolicy, timezones: &[Tz], number_zones: Option<&[Tz]>) -> Vec<Tz> {
    let number = number_zones.unwrap_or_default();
    let mut zones: Vec<Tz> = match policy {
        ZonePolicy::Column => timezones.to_vec(),
        ZonePolicy::AreaCode if !number.is_empty() => number.to_vec(),
        ZonePolicy::AreaCode => timezones.to_vec(),
        ZonePolicy::Strictest => timezones.iter().chain(number).copied().collect(),
    };
    zones.sort_by_key(|z| z.name());
    zones.dedup();
    zones
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
        let analysis = spec.analysis.as_ref().and_then(crate::analysis::QuestionSet::of).map(std::sync::Arc::new);
        let plan = std::sync::Arc::new(CampaignPlan { spec, window, analysis });
        plans.insert(row.id.clone(), (row.updated_at, plan.clone()));
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::America::{Chicago, Los_Angeles, New_York};

    use super::*;

    #[test]
    fn each_policy_picks_its_zones_and_strictest_takes_every_plausible_one_once() {
        let column = [Los_Angeles];
        let number = [New_York, Chicago];
        let zones = |policy, number: Option<&[Tz]>| recipient_zones(policy, &column, number);
        assert_eq!(zones(ZonePolicy::Column, Some(&number)), [Los_Angeles]);
        assert_eq!(zones(ZonePolicy::AreaCode, Some(&number)), [Chicago, New_York]);
        assert_eq!(zones(ZonePolicy::AreaCode, None), [Los_Angeles], "no number zones: the column's");
        assert_eq!(zones(ZonePolicy::AreaCode, Some(&[])), [Los_Angeles]);
        assert_eq!(zones(ZonePolicy::Strictest, Some(&number)), [Chicago, Los_Angeles, New_York]);
        assert_eq!(recipient_zones(ZonePolicy::Strictest, &[New_York], Some(&[New_York])), [New_York]);
    }
}
