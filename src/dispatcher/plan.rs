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

impl CampaignPlan {
    /// The state frequency cap on calls to a recipient in `regions` about this campaign's
    /// subject (the strictest of theirs), for a telemarketing campaign; `None` otherwise.
    pub fn frequency_cap(&self, regions: &[crate::compliance::Region]) -> Option<crate::compliance::FrequencyCap> {
        self.window.state_rules.as_ref().and_then(|rules| rules.frequency_cap(regions))
    }

    /// The longest window a frequency cap of this campaign looks back over (at least a day,
    /// the per-number cap's).
    pub fn frequency_lookback(&self) -> chrono::Duration {
        let longest = self.window.state_rules.as_ref().and_then(|rules| {
            rules.states().iter().filter_map(|s| s.frequency_cap.as_ref().map(|c| c.cap.window())).max()
        });
        longest.map_or(chrono::Duration::days(1), |w| w.max(chrono::Duration::days(1)))
    }

    /// Its subject: `[compliance] subject`, else the campaign id.
    pub fn subject(&self) -> &str {
        self.spec.subject()
    }

    /// What every attempt records as the rules that allowed it: the state rule set's version
    /// for a telemarketing campaign, `informational` otherwise.
    pub fn rules_version(&self) -> &str {
        self.window.state_rules.as_ref().map_or("informational", |r| r.version())
    }
}

/// How many calls of `worst_case_usd` each fit in `usd_left` without crossing it (`u32::MAX`
/// with no limit). A hair is kept back so that float rounding can never let one more through.
pub fn calls_within(usd_left: Option<f64>, worst_case_usd: f64) -> u32 {
    match usd_left {
        None => u32::MAX,
        // NaN, zero or less: nothing fits.
        Some(left) if left.is_nan() || left <= 0.0 || worst_case_usd.is_nan() || worst_case_usd <= 0.0 => 0,
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

/// How often the blackouts are read again: a new one stops dialling within this.
pub const BLACKOUTS_REREAD: chrono::Duration = chrono::Duration::seconds(1);

/// Parsed campaign specs, re-read only when a campaign's row changed (or the blackouts did).
#[derive(Debug)]
pub struct PlanCache {
    compliance: crate::window::Compliance,
    /// The state rules windows are cut by (telemarketing campaigns); `None` for a cache whose
    /// windows decide nothing (analysis, metrics).
    state_rules: Option<std::sync::Arc<crate::compliance::RuleSet>>,
    /// The blackouts in force or ahead, as last set.
    blackouts: std::sync::Mutex<std::sync::Arc<[crate::window::Blackout]>>,
    /// When [`PlanCache::refresh_blackouts`] last read them.
    blackouts_read_at: std::sync::Mutex<Option<DateTime<Utc>>>,
    /// Campaign id → (the row's `updated_at` the plan was read at, the plan).
    plans: std::sync::Mutex<HashMap<String, CachedPlan>>,
}

impl PlanCache {
    /// Plans under the guard alone (for readers whose windows decide nothing).
    pub fn new(compliance: crate::window::Compliance) -> Self {
        Self {
            compliance,
            state_rules: None,
            blackouts: std::sync::Mutex::new(std::sync::Arc::from([])),
            blackouts_read_at: std::sync::Mutex::new(None),
            plans: Default::default(),
        }
    }

    /// Plans whose windows are the whole dialing decision: the guard, the campaign's
    /// schedule, the state rules and the blackouts (see [`PlanCache::set_blackouts`]).
    pub fn with_rules(
        compliance: crate::window::Compliance,
        rules: std::sync::Arc<crate::compliance::RuleSet>,
    ) -> Self {
        Self { state_rules: Some(rules), ..Self::new(compliance) }
    }

    /// Reads the blackouts from the store when the last read is [`BLACKOUTS_REREAD`] old (an
    /// operator's blackout stops dialling within that), then [`PlanCache::set_blackouts`].
    pub async fn refresh_blackouts(
        &self,
        store: &crate::store::Store,
        now: DateTime<Utc>,
    ) -> Result<(), crate::store::StoreError> {
        {
            let read_at = self.blackouts_read_at.lock().expect("plan cache poisoned");
            if read_at.is_some_and(|t| t <= now && now - t < BLACKOUTS_REREAD) {
                return Ok(());
            }
        }
        let current = store.active_blackouts(now).await?;
        *self.blackouts_read_at.lock().expect("plan cache poisoned") = Some(now);
        self.set_blackouts(current);
        Ok(())
    }

    /// The blackouts in force or ahead; when they changed, every plan is rebuilt with them.
    pub fn set_blackouts(&self, blackouts: Vec<crate::window::Blackout>) {
        let mut current = self.blackouts.lock().expect("plan cache poisoned");
        if current.as_ref() != blackouts.as_slice() {
            *current = std::sync::Arc::from(blackouts);
            self.plans.lock().expect("plan cache poisoned").clear();
        }
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
        let blackouts = self.blackouts.lock().expect("plan cache poisoned").clone();
        let window = spec.dial_window_under(self.compliance, self.state_rules.as_ref(), blackouts);
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
