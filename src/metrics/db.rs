//! The gauges read from the database when `/metrics` is scraped: jobs by campaign and state,
//! calls by campaign and outcome, calls in flight, the headroom under each cap that is set, and
//! what each campaign has spent. Most come from the counter tables the store's triggers keep
//! (a handful of rows per campaign); two are not that cheap — the caps' usage counts the dials
//! of the last day, and a campaign's call spend sums its calls' prices — so the HTTP side reads
//! them at most once per cache period, and the spend of a campaign that is over (finished, no
//! call in flight) is read once and kept.
//!
//! Data enters from the store (and the campaigns' specs, for their caps); it leaves as one
//! immutable [`DbGauges`] snapshot that the registry's collector encodes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};

use super::gauge_family;
use crate::dispatcher::PlanCache;
use crate::dispatcher::ledger::{Cap, Caps, Used};
use crate::store::{AttemptState, CampaignState, CapUsage, JobState, Store, StoreError};

/// The database's state at one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbGauges {
    /// (campaign, job state, jobs): every state of every campaign.
    pub jobs: Vec<(String, JobState, i64)>,
    /// (campaign, outcome or attempt state while there is none, calls).
    pub calls: Vec<(String, &'static str, i64)>,
    /// (campaign, calls dialing or in a call).
    pub in_flight: Vec<(String, i64)>,
    /// (campaign, cap, headroom) for running campaigns, each cap that is set.
    pub headroom: Vec<(String, Cap, u32)>,
    /// (cap, headroom) of the account's caps.
    pub account_headroom: Vec<(Cap, u32)>,
    /// (campaign, what was paid for, USD).
    pub spend: Vec<(String, Spend, f64)>,
}

/// What money went on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spend {
    Calls,
    Analysis,
}

impl Spend {
    pub const fn as_str(self) -> &'static str {
        match self {
            Spend::Calls => "calls",
            Spend::Analysis => "analysis",
        }
    }
}

/// What reading the gauges needs besides the store: the campaigns' specs (for their caps), the
/// account's caps, and the call spend of campaigns that are over.
#[derive(Debug)]
pub struct DbSource {
    pub store: Store,
    pub plans: PlanCache,
    pub account: Caps,
    /// Call spend of campaigns that are over (no call can be priced any more): read once.
    settled_spend: Mutex<HashMap<String, f64>>,
}

impl DbSource {
    pub fn new(store: Store, compliance: crate::window::Compliance, account: Caps) -> Self {
        Self { store, plans: PlanCache::new(compliance), account, settled_spend: Mutex::default() }
    }

    async fn call_spend(&self, campaign: &str, over: bool) -> Result<f64, StoreError> {
        if let Some(spent) = self.settled_spend.lock().expect("spend cache poisoned").get(campaign) {
            return Ok(*spent);
        }
        let spent = self.store.call_spend_usd(campaign).await?;
        if over {
            self.settled_spend.lock().expect("spend cache poisoned").insert(campaign.to_string(), spent);
        }
        Ok(spent)
    }
}

fn used(u: CapUsage) -> Used {
    Used { minute: u.minute, hour: u.hour, day: u.day }
}

impl DbGauges {
    /// Reads every gauge at `now`. A campaign whose spec cannot be read has no headroom
    /// gauges (the dispatcher pauses it and says why).
    pub async fn read(src: &DbSource, now: DateTime<Utc>) -> Result<DbGauges, StoreError> {
        let store = &src.store;
        let mut g = DbGauges::default();
        for c in store.campaigns().await? {
            for (state, n) in store.job_counts(&c.id).await?.iter() {
                g.jobs.push((c.id.clone(), state, n));
            }
            let calls = store.call_counts(&c.id).await?;
            for (name, n) in calls.by_name() {
                g.calls.push((c.id.clone(), name, n));
            }
            let open: i64 = [AttemptState::Dialing, AttemptState::InCall]
                .iter()
                .map(|s| calls.open.get(s).copied().unwrap_or(0))
                .sum();
            g.in_flight.push((c.id.clone(), open));
            if c.state == CampaignState::Running
                && let Ok(plan) = src.plans.get(&c)
            {
                let usage = store.cap_usage(Some(&c.id), now).await?;
                let caps = Caps::from_limits(&plan.spec.limits);
                g.headroom.extend(caps.headroom(used(usage), usage.open).map(|(cap, n)| (c.id.clone(), cap, n)));
            }
            let over = matches!(c.state, CampaignState::Completed | CampaignState::Cancelled) && open == 0;
            g.spend.push((c.id.clone(), Spend::Calls, src.call_spend(&c.id, over).await?));
            g.spend.push((c.id.clone(), Spend::Analysis, store.analysis_spend(&c.id, now).await?.spent_usd));
        }
        let account = store.cap_usage(None, now).await?;
        g.account_headroom = src.account.headroom(used(account), account.open).collect();
        Ok(g)
    }

    /// Writes every family (the registry's collector calls this at each render).
    pub(super) fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct JobLabels {
            campaign: String,
            state: &'static str,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct CallLabels {
            campaign: String,
            outcome: &'static str,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct CampaignLabels {
            campaign: String,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct CapLabels {
            campaign: String,
            cap: &'static str,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct AccountCapLabels {
            cap: &'static str,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct SpendLabels {
            campaign: String,
            kind: &'static str,
        }
        gauge_family::<_, i64, AtomicI64>(
            encoder,
            "jobs",
            "Jobs (recipients) by campaign and state: the queue's depth is state=\"queued\"",
            self.jobs.iter().map(|(c, s, n)| (JobLabels { campaign: c.clone(), state: s.as_str() }, *n)),
        )?;
        gauge_family::<_, i64, AtomicI64>(
            encoder,
            "attempts",
            "Calls that reached Bland by campaign and outcome (or state, while they have none), from the database",
            self.calls.iter().map(|(c, o, n)| (CallLabels { campaign: c.clone(), outcome: o }, *n)),
        )?;
        gauge_family::<_, i64, AtomicI64>(
            encoder,
            "calls_in_flight",
            "Calls dialing or in a call, by campaign",
            self.in_flight.iter().map(|(c, n)| (CampaignLabels { campaign: c.clone() }, *n)),
        )?;
        gauge_family::<_, i64, AtomicI64>(
            encoder,
            "cap_headroom",
            "Calls a running campaign may still place under each of its caps that is set (the cap less the calls \
             it counts now), by campaign and cap",
            self.headroom
                .iter()
                .map(|(c, cap, n)| (CapLabels { campaign: c.clone(), cap: cap.as_str() }, i64::from(*n))),
        )?;
        gauge_family::<_, i64, AtomicI64>(
            encoder,
            "account_cap_headroom",
            "Calls the account may still place under each of its caps ([account]), by cap",
            self.account_headroom.iter().map(|(cap, n)| (AccountCapLabels { cap: cap.as_str() }, i64::from(*n))),
        )?;
        gauge_family::<_, f64, AtomicU64>(
            encoder,
            "spend_usd",
            "Money spent by campaign, in US dollars, as Bland priced it: kind=\"calls\" sums the calls' prices, \
             kind=\"analysis\" the analysis requests'",
            self.spend.iter().map(|(c, k, usd)| (SpendLabels { campaign: c.clone(), kind: k.as_str() }, *usd)),
        )?;
        Ok(())
    }
}
