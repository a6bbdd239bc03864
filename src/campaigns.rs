//! The campaign use-cases: create or update a campaign from its spec (a started one only in
//! its limits, hours and retry policy, audited: `update`), take an action on it (start, pause,
//! resume, cancel), read its summary and the dashboard's figures (`live`), end its calls in
//! progress.
//!
//! The command line, the control API, the demo and the tests all come through here, so what a
//! campaign may do and what its summary says are decided in one place. Inputs arrive as checked
//! types (a parsed spec, a [`CampaignAction`], `now`); errors leave as
//! [`CampaignError`], which says whether the operator's input was at fault. Nothing here parses
//! arguments or speaks HTTP.

mod live;
mod update;

pub use live::{CampaignBoard, CapUse, Dashboard, Live, LiveSpend, caps_in_use, dashboard};
pub use update::{Actor, KeyChange, Updated, changes, update};

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::bland::Client;
use crate::config::{CampaignSpec, ConfigError, DaemonConfig};
use crate::store::{
    CallCounts, CampaignAction, CampaignRow, CampaignState, JobCounts, JobState, Outcome, Saved, SendActivity, Store,
    StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("{path}: cannot read the campaign spec: {source}")]
    Read { path: String, source: std::io::Error },
    #[error(transparent)]
    Spec(#[from] ConfigError),
    #[error("{source_name}: the spec is valid but cannot be stored as JSON: {error}")]
    Json { source_name: String, error: String },
    /// The action is not allowed from the campaign's current state.
    #[error("campaign `{id}` is {state}: it can be {done} only when {from}")]
    NotAllowed { id: String, state: CampaignState, done: &'static str, from: String },
    /// An update of a started campaign changes keys that must stay as its calls were made.
    #[error(
        "campaign `{id}` is {state}: {} cannot change once it has started (only [limits], [retry], and [schedule] \
         hours, blackout_dates and end can); create a new campaign for the rest",
        keys.join(", ")
    )]
    Frozen { id: String, state: CampaignState, keys: Vec<String> },
    /// The spec given to update one campaign describes another.
    #[error("the spec is for campaign `{spec_id}`, not `{id}`: its id (or, without one, its name) must give `{id}`")]
    OtherCampaign { id: String, spec_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CampaignError {
    /// Whether the operator must change an input (exit 2) rather than retry (exit 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            CampaignError::Read { .. }
            | CampaignError::Spec(_)
            | CampaignError::NotAllowed { .. }
            | CampaignError::Frozen { .. }
            | CampaignError::OtherCampaign { .. } => true,
            CampaignError::Json { .. } => false,
            CampaignError::Store(e) => matches!(e, StoreError::NotFound(_) | StoreError::Conflict(_)),
        }
    }
}

/// A campaign just created or updated from its spec.
#[derive(Debug, Clone)]
pub struct SavedCampaign {
    pub spec: CampaignSpec,
    pub saved: Saved,
}

/// Creates the campaign `text` describes (`source` names it in errors), or updates it while it
/// is still a draft.
pub async fn save(
    store: &Store,
    config: &DaemonConfig,
    source: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<SavedCampaign, CampaignError> {
    let spec = CampaignSpec::parse(source, text, &config.compliance())?;
    // The spec parsed, so it is TOML; its JSON form is what the daemon reads.
    let json = toml::from_str::<serde_json::Value>(text)
        .map_err(|e| CampaignError::Json { source_name: source.to_string(), error: e.to_string() })?;
    let saved = store.save_campaign(&spec, text, &json.to_string(), now).await?;
    Ok(SavedCampaign { spec, saved })
}

/// [`save`] for a spec file.
pub async fn save_file(
    store: &Store,
    config: &DaemonConfig,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<SavedCampaign, CampaignError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| CampaignError::Read { path: path.display().to_string(), source })?;
    save(store, config, &path.display().to_string(), &text, now).await
}

/// The campaign's stored spec, parsed as the daemon reads it.
pub async fn stored_spec(store: &Store, config: &DaemonConfig, id: &str) -> Result<CampaignSpec, CampaignError> {
    let row = store.campaign(id).await?;
    Ok(CampaignSpec::parse(&format!("campaign `{id}` (stored spec)"), &row.spec_toml, &config.compliance())?)
}

/// Takes `action` on the campaign, or says why it cannot be taken from its current state.
pub async fn apply(
    store: &Store,
    id: &str,
    action: CampaignAction,
    now: DateTime<Utc>,
) -> Result<CampaignRow, CampaignError> {
    let changed = store.apply_campaign_action(id, action, None, now).await?;
    let row = store.campaign(id).await?;
    if changed {
        tracing::info!(campaign_id = id, state = %row.state, "campaign {}", action.done());
        return Ok(row);
    }
    let from: Vec<&str> = action.from_states().iter().map(|s| s.as_str()).collect();
    Err(CampaignError::NotAllowed {
        id: id.to_string(),
        state: row.state,
        done: action.done(),
        from: from.join(" or "),
    })
}

/// A campaign's state and progress: what `campaign show` prints and the API returns.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignSummary {
    pub id: String,
    pub name: String,
    /// draft, running, paused, completed or cancelled.
    #[schema(value_type = String)]
    pub state: CampaignState,
    pub paused_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Jobs by state.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub counts: JobCounts,
    pub total_jobs: i64,
    /// Jobs by their last call's outcome.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub outcomes: BTreeMap<Outcome, i64>,
    /// Every call placed, by outcome (or state, while it has none).
    #[schema(value_type = BTreeMap<String, i64>)]
    pub calls: CallCounts,
    pub answer_rate: f64,
    pub voicemail_rate: f64,
    /// The earliest due time of a waiting job.
    pub next_due: Option<DateTime<Utc>>,
    /// Sends in the last [`RECENT`]: the last call placed, and sends Bland did not take.
    #[schema(value_type = Object)]
    pub recent: SendActivity,
    /// Why a running campaign with recipients left is not dialling now, if it is not.
    pub waiting: Option<String>,
    /// A running campaign's recipients still to call, by why they are or are not being called
    /// now (see [`crate::waiting`]): dialable now, waiting for their window (by zone), for the
    /// start, to retry; the cap holding them back; the forecast finish.
    #[schema(value_type = Option<Object>)]
    pub queue: Option<crate::waiting::Queue>,
    /// Spend against the campaign's and the account's limits.
    pub spend: Spend,
}

/// Spend as the limits count it (USD): the prices Bland reported, and for calls without one
/// yet the worst case they reserved.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Spend {
    pub spent_usd: f64,
    /// `[limits] max_spend_usd`.
    pub limit_usd: Option<f64>,
    /// All campaigns over the last 24 hours; counted only when the account has a limit.
    pub account_spent_usd_24h: Option<f64>,
    /// `[account] max_spend_usd_per_day`.
    pub account_limit_usd_per_day: Option<f64>,
}

/// How far back `campaign show` looks for failing sends.
pub const RECENT: chrono::Duration = chrono::Duration::minutes(15);

/// The campaign's state and progress at `now`.
pub async fn summary(
    store: &Store,
    config: &DaemonConfig,
    id: &str,
    now: DateTime<Utc>,
) -> Result<CampaignSummary, CampaignError> {
    let row = store.campaign(id).await?;
    let counts = store.job_counts(id).await?;
    let calls = store.call_counts(id).await?;
    // A due time already past (0 is "as soon as the window allows") is due now.
    let next_due = store.next_due(id).await?.map(|t| t.max(now));
    let recent = store.send_activity(id, now - RECENT).await?;
    // A running campaign's spec must read (the queue is worked out from it); an ended one's
    // only gives its spend limit, and a spec the current config no longer admits must not stop
    // `show` from answering about it.
    let running = row.state == CampaignState::Running && counts.open() > 0;
    let spec = match stored_spec(store, config, id).await {
        Ok(spec) => Some(spec),
        Err(e) if running => return Err(e),
        Err(_) => None,
    };
    let spend = Spend {
        spent_usd: store.campaign_spend(id).await?,
        limit_usd: spec.as_ref().and_then(|s| s.limits.max_spend_usd),
        account_spent_usd_24h: match config.account.max_spend_usd_per_day {
            Some(_) => Some(store.spend_since(now - chrono::Duration::days(1)).await?),
            None => None,
        },
        account_limit_usd_per_day: config.account.max_spend_usd_per_day,
    };
    let (waiting, queue) = match spec.as_ref().filter(|_| running) {
        Some(spec) => {
            let mut queue = queue(store, config, spec, now).await?;
            if queue.held_by_cap.is_none() {
                queue.held_by_cap = spend_held(config, spec, &spend);
            }
            (why_waiting(spec, &counts, next_due, &recent, now), Some(queue))
        }
        None => (None, None),
    };
    Ok(CampaignSummary {
        total_jobs: counts.total(),
        answer_rate: calls.rate(Outcome::Human),
        voicemail_rate: calls.rate(Outcome::Voicemail),
        outcomes: store.outcome_counts(id).await?,
        next_due,
        recent,
        waiting,
        queue,
        counts,
        calls,
        id: row.id,
        name: row.name,
        state: row.state,
        paused_reason: row.paused_reason,
        created_at: row.created_at,
        updated_at: row.updated_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        spend,
    })
}

/// The spend limit that keeps the next call back, if one does (the dispatcher's rule: a call
/// goes only when its worst case still fits under every limit).
fn spend_held(config: &DaemonConfig, spec: &CampaignSpec, spend: &Spend) -> Option<String> {
    let worst = config.pricing.worst_case_usd(spec.max_call_minutes());
    let fits = |left: f64| crate::dispatcher::plan::calls_within(Some(left), worst) > 0;
    if let Some(limit) = spend.limit_usd
        && !fits(limit - spend.spent_usd)
    {
        return Some(format!("campaign max_spend_usd (${:.2} of ${limit:.2})", spend.spent_usd));
    }
    match (spend.account_limit_usd_per_day, spend.account_spent_usd_24h) {
        (Some(limit), Some(spent)) if !fits(limit - spent) => {
            Some(format!("account max_spend_usd_per_day (${spent:.2} of ${limit:.2})"))
        }
        _ => None,
    }
}

/// The campaign's queue split by why each recipient is or is not being called now.
async fn queue(
    store: &Store,
    config: &DaemonConfig,
    spec: &CampaignSpec,
    now: DateTime<Utc>,
) -> Result<crate::waiting::Queue, CampaignError> {
    use crate::dispatcher::ledger::{Caps, Used};
    let id = spec.id.as_str();
    let rows = store.waiting_by_zone(id).await?;
    let (mine, all) = (store.cap_usage(Some(id), now).await?, store.cap_usage(None, now).await?);
    let used = |u: crate::store::CapUsage| Used { minute: u.minute, hour: u.hour, day: u.day };
    let usage = crate::waiting::Usage {
        campaign: used(mine),
        campaign_open: mine.open,
        account: used(all),
        account_open: all.open,
    };
    let account = crate::dispatcher::DispatcherConfig::from_daemon(config).account;
    // The dispatcher's decision: the guard, the schedule, the state rules and the blackouts.
    let blackouts = store.active_blackouts(now).await?;
    let window = spec.dial_window_under(config.compliance(), Some(&config.compliance.rules), blackouts.into());
    Ok(crate::waiting::queue(&window, &rows, &Caps::from_limits(&spec.limits), &account, &usage, now))
}

/// Why a running campaign with recipients left dials nothing now, as far as the database can
/// tell (the daemon's own pacing is not visible here): its start is ahead, no job is due yet
/// (windows closed, retries waiting), or its sends are failing. `None` when it should be dialling.
fn why_waiting(
    spec: &CampaignSpec,
    counts: &JobCounts,
    next_due: Option<DateTime<Utc>>,
    recent: &SendActivity,
    now: DateTime<Utc>,
) -> Option<String> {
    let when = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    if let Some(start) = spec.schedule.start.filter(|s| *s > now) {
        return Some(format!("the campaign's start is {}", when(start)));
    }
    if let Some(end) = spec.schedule.end.filter(|e| *e <= now) {
        return Some(format!("the campaign's end passed at {}", when(end)));
    }
    let dialling = counts.get(JobState::Dialing) + counts.get(JobState::InCall);
    if recent.failed_sends > 0 && recent.last_dial.is_none_or(|t| t < now - RECENT) {
        return Some(format!(
            "sends are failing: {} in the last {} minutes, the last: {}",
            recent.failed_sends,
            RECENT.num_minutes(),
            recent.last_error.as_deref().unwrap_or("(no reason recorded)")
        ));
    }
    match next_due {
        Some(t) if t > now && dialling == 0 => {
            Some(format!("no recipient is due before {} (their windows are closed, or they wait to retry)", when(t)))
        }
        _ => None,
    }
}

/// One line of `campaign list`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignListing {
    pub id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub state: CampaignState,
    /// Jobs by state.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub counts: JobCounts,
}

pub async fn list(store: &Store) -> Result<Vec<CampaignListing>, CampaignError> {
    let mut out = Vec::new();
    for c in store.campaigns().await? {
        let counts = store.job_counts(&c.id).await?;
        out.push(CampaignListing { id: c.id, name: c.name, state: c.state, counts });
    }
    Ok(out)
}

/// What asking Bland to end a campaign's calls did.
#[derive(Debug, Clone, Default)]
pub struct StopReport {
    pub asked: usize,
    pub stopped: usize,
    /// Calls Bland could not be asked to end, with why.
    pub failed: Vec<(String, String)>,
}

/// Asks Bland to end every call of the campaign that may still be in progress.
pub async fn stop_active_calls(store: &Store, bland: &Client, id: &str) -> Result<StopReport, CampaignError> {
    let calls = store.active_call_ids(id).await?;
    let mut report = StopReport { asked: calls.len(), ..StopReport::default() };
    for call_id in calls {
        match bland.stop_call(&call_id).await {
            Ok(_) => report.stopped += 1,
            Err(e) => report.failed.push((call_id, e.to_string())),
        }
    }
    Ok(report)
}
