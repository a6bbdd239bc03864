//! The dashboard's figures: every campaign's [`summary`](super::summary) (progress by state and
//! outcome, the queue by zone, the forecast) and beside it what it does right now — dials in the
//! last minute, hour and day and calls in flight against each cap, what it has spent, its
//! latest failed sends and 429s — and the account's caps, which every campaign shares.
//!
//! One answer for the whole page (`GET /api/v1/dashboard`), read at one `now`, from the same
//! store queries and use-cases `campaign show`, the report and `/metrics` use: the page only
//! formats it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{CampaignError, CampaignSummary, RECENT, stored_spec, summary};
use crate::bland::RATE_LIMITED_MARK;
use crate::config::DaemonConfig;
use crate::dispatcher::DispatcherConfig;
use crate::dispatcher::ledger::{Cap, Caps};
use crate::store::{CapUsage, SendErrors, Store};

/// How many failed sends the dashboard lists per campaign.
const LATEST_ERRORS: u32 = 5;

/// Everything the dashboard shows, at one instant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Dashboard {
    /// The daemon's clock when this was read (the demo's runs fast).
    pub now: DateTime<Utc>,
    /// The `[account]` caps, shared by every campaign on the API key.
    pub account: Vec<CapUse>,
    /// Every campaign, oldest first.
    pub campaigns: Vec<CampaignBoard>,
}

/// One campaign on the dashboard.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignBoard {
    /// What `GET /api/v1/campaigns/{id}` answers.
    pub summary: CampaignSummary,
    pub live: Live,
}

/// What a campaign does right now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Live {
    /// Its `[limits]` caps, each with what it counts now (a cap not set has no `limit`).
    pub caps: Vec<CapUse>,
    pub spend: LiveSpend,
    /// Its failed sends in the last 15 minutes (as `summary.recent.failed_sends` counts them).
    pub errors: SendErrors,
}

/// One cap and what it counts now: dials in the last minute, hour or day (sliding, from the
/// attempts ledger, as the dispatcher counts them), or calls in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CapUse {
    /// `calls_per_minute`, `calls_per_hour`, `calls_per_day` or `max_concurrent`.
    pub cap: String,
    pub used: u32,
    /// The cap; absent when none is set.
    pub limit: Option<u32>,
}

/// What a campaign has cost, in US dollars as Bland priced it (the spend its limit counts,
/// reservations included, is the summary's `spend`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveSpend {
    pub calls_usd: f64,
    pub analysis_usd: f64,
    /// `[analysis] max_spend_usd`, if set.
    pub analysis_limit_usd: Option<f64>,
}

/// Every cap in `caps`, set or not, with what it counts in `usage`.
pub fn caps_in_use(caps: &Caps, usage: CapUsage) -> Vec<CapUse> {
    [
        (Cap::PerMinute, caps.per_minute, usage.minute),
        (Cap::PerHour, caps.per_hour, usage.hour),
        (Cap::PerDay, caps.per_day, usage.day),
        (Cap::Concurrent, caps.concurrent, usage.open),
    ]
    .into_iter()
    .map(|(cap, limit, used)| CapUse { cap: cap.as_str().to_string(), used, limit })
    .collect()
}

/// The dashboard at `now`.
pub async fn dashboard(store: &Store, config: &DaemonConfig, now: DateTime<Utc>) -> Result<Dashboard, CampaignError> {
    let account = DispatcherConfig::from_daemon(config).account;
    let mut campaigns = Vec::new();
    for row in store.campaigns().await? {
        let summary = summary(store, config, &row.id, now).await?;
        let live = live(store, config, &row.id, now).await?;
        campaigns.push(CampaignBoard { summary, live });
    }
    Ok(Dashboard { now, account: caps_in_use(&account, store.cap_usage(None, now).await?), campaigns })
}

/// What the campaign `id` does at `now`.
async fn live(store: &Store, config: &DaemonConfig, id: &str, now: DateTime<Utc>) -> Result<Live, CampaignError> {
    let spec = stored_spec(store, config, id).await?;
    let usage = store.cap_usage(Some(id), now).await?;
    Ok(Live {
        caps: caps_in_use(&Caps::from_limits(&spec.limits), usage),
        spend: LiveSpend {
            calls_usd: store.call_spend_usd(id).await?,
            analysis_usd: store.analysis_spend(id, now).await?.spent_usd,
            analysis_limit_usd: spec.analysis.as_ref().and_then(|a| a.max_spend_usd),
        },
        errors: store.send_errors(id, now - RECENT, LATEST_ERRORS, RATE_LIMITED_MARK).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cap_is_listed_with_its_count_and_only_the_set_ones_with_a_limit() {
        let caps = Caps { per_minute: Some(30), concurrent: Some(10), ..Caps::default() };
        let usage = CapUsage { minute: 12, hour: 300, day: 900, open: 4 };
        let listed: Vec<(String, u32, Option<u32>)> =
            caps_in_use(&caps, usage).into_iter().map(|c| (c.cap, c.used, c.limit)).collect();
        assert_eq!(
            listed,
            vec![
                ("calls_per_minute".to_string(), 12, Some(30)),
                ("calls_per_hour".to_string(), 300, None),
                ("calls_per_day".to_string(), 900, None),
                ("max_concurrent".to_string(), 4, Some(10)),
            ]
        );
    }
}
