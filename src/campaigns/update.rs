//! `campaign update`: a new spec for an existing campaign. While it is a draft anything may
//! change; once started only what governs *how fast, when and how often* may — `[limits]`,
//! `[retry]`, and `[schedule]` `hours`, `blackout_dates` and `end` — because recipients may
//! already have been called under the rest (what the agent says, who is in which zone, which
//! questions are asked of the answers). The new spec is parsed and validated exactly as a new
//! one is; the difference to the stored one is worked out key by key, refused if it touches a
//! frozen key, and written with who made it into `campaign_changes` in the transaction that
//! stores the spec. The daemon re-reads a campaign's plan when its row changes, so its next step
//! (within a second) dials under the new limits, hours and retry policy.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::CampaignError;
use crate::config::{CampaignSpec, DaemonConfig};
use crate::store::{CampaignState, RetryChange, SpecChange, Store, StoreError};

/// Who changed a campaign, as the record keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// The operator at the command line: `$USER@host`, or `cli` when the user is unknown.
    pub fn cli(env: impl Fn(&str) -> Option<String>) -> Self {
        let user = env("USER").or_else(|| env("LOGNAME")).filter(|u| !u.trim().is_empty());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .or_else(|| env("HOSTNAME"))
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty());
        match (user, host) {
            (Some(u), Some(h)) => Self(format!("{}@{h}", u.trim())),
            (Some(u), None) => Self(u.trim().to_string()),
            (None, _) => Self("cli".into()),
        }
    }

    /// A client of the control API, named by the token it presented (never the token itself).
    pub fn api(label: &str) -> Self {
        Self(format!("api ({label})"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One key whose value changed: `null` stands for a key the spec does not set.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KeyChange {
    /// The dotted key (`limits.calls_per_minute`, `schedule.hours`).
    pub key: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

/// What an update did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Updated {
    pub id: String,
    /// The campaign's state when it was changed.
    #[schema(value_type = String)]
    pub state: CampaignState,
    /// Every key whose value changed; empty when the new spec equals the stored one (then
    /// nothing is written or recorded).
    pub changes: Vec<KeyChange>,
    /// Jobs finished because the new `[retry]` policy allows them no further attempt.
    pub jobs_finished: u64,
    /// Queued jobs made due at once, to be checked against the new hours.
    pub jobs_requeued: u64,
    #[serde(skip)]
    pub spec: CampaignSpec,
}

/// Keys a started campaign may change; a key under one of them, or equal to one.
const CHANGEABLE: &[&str] = &["limits", "retry", "schedule.hours", "schedule.blackout_dates", "schedule.end"];

/// Tables compared as one value (their keys are read together: `mon-fri` and `sat`).
const WHOLE: &[&str] = &["schedule.hours"];

fn changeable(key: &str) -> bool {
    CHANGEABLE.iter().any(|c| key == *c || key.strip_prefix(c).is_some_and(|rest| rest.starts_with('.')))
}

/// Replaces the spec of campaign `id` with `text` (`source` names it in errors), recorded as
/// made by `actor`.
pub async fn update(
    store: &Store,
    config: &DaemonConfig,
    id: &str,
    source: &str,
    text: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Updated, CampaignError> {
    let row = store.campaign(id).await?;
    let spec = CampaignSpec::parse(source, text, &config.compliance())?;
    if spec.id.as_str() != id {
        return Err(CampaignError::OtherCampaign { id: id.to_string(), spec_id: spec.id.to_string() });
    }
    let from_states: &[CampaignState] = match row.state {
        CampaignState::Draft => &[CampaignState::Draft],
        CampaignState::Running | CampaignState::Paused => &[CampaignState::Running, CampaignState::Paused],
        state @ (CampaignState::Completed | CampaignState::Cancelled) => {
            return Err(CampaignError::NotAllowed {
                id: id.to_string(),
                state,
                done: "updated",
                from: "draft, running or paused".into(),
            });
        }
    };
    let stored = CampaignSpec::parse(&format!("campaign `{id}` (stored spec)"), &row.spec_toml, &config.compliance())?;
    let new_table = table(source, text)?;
    let old_table = table(&format!("campaign `{id}` (stored spec)"), &row.spec_toml)?;
    let changes = diff(&old_table, &new_table);
    if row.state != CampaignState::Draft {
        let frozen: Vec<String> = changes
            .iter()
            .filter(|c| !changeable(&c.key) && !same_meaning(&c.key, &stored, &spec))
            .map(|c| c.key.clone())
            .collect();
        if !frozen.is_empty() {
            return Err(CampaignError::Frozen { id: id.to_string(), state: row.state, keys: frozen });
        }
    }
    let mut updated =
        Updated { id: id.to_string(), state: row.state, changes, jobs_finished: 0, jobs_requeued: 0, spec };
    if updated.changes.is_empty() {
        return Ok(updated);
    }
    let json = toml::from_str::<serde_json::Value>(text)
        .map_err(|e| CampaignError::Json { source_name: source.to_string(), error: e.to_string() })?;
    let changes_json = serde_json::to_string(&updated.changes)
        .map_err(|e| CampaignError::Json { source_name: source.to_string(), error: e.to_string() })?;
    let touched = |prefix: &str| updated.changes.iter().any(|c| c.key.starts_with(prefix));
    let retry = (touched("retry.") && updated.spec.retry != stored.retry).then(|| RetryChange {
        max_attempts: updated.spec.retry.max_attempts,
        on: updated.spec.retry.on.iter().copied().collect(),
    });
    let change = SpecChange {
        id,
        expected_toml: &row.spec_toml,
        name: &updated.spec.name,
        spec_toml: text,
        spec_json: &json.to_string(),
        subject: updated.spec.subject(),
        from_states,
        actor: actor.as_str(),
        changes_json: &changes_json,
        retry,
        reopen_queue: row.state != CampaignState::Draft && touched("schedule."),
    };
    let done = store.update_campaign_spec(&change, now).await?;
    updated.jobs_finished = done.jobs_finished;
    updated.jobs_requeued = done.jobs_requeued;
    let keys: Vec<&str> = updated.changes.iter().map(|c| c.key.as_str()).collect();
    tracing::info!(
        campaign_id = id,
        state = %row.state,
        actor = actor.as_str(),
        keys = %keys.join(","),
        jobs_finished = done.jobs_finished,
        jobs_requeued = done.jobs_requeued,
        "campaign spec updated"
    );
    Ok(updated)
}

/// The recorded changes of campaign `id`, oldest first.
pub async fn changes(store: &Store, id: &str) -> Result<Vec<crate::store::CampaignChange>, CampaignError> {
    store.campaign(id).await?;
    Ok(store.campaign_changes(id).await?)
}

/// The spec as a TOML table (it has parsed as a spec, so this only fails on a stored spec that
/// something else wrote).
fn table(source: &str, text: &str) -> Result<toml::Table, CampaignError> {
    toml::from_str(text).map_err(|e| CampaignError::Store(StoreError::Corrupt(format!("{source}: {e}"))))
}

/// Every key whose value differs between the two specs, in key order.
fn diff(old: &toml::Table, new: &toml::Table) -> Vec<KeyChange> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", old, &mut a);
    flatten("", new, &mut b);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| KeyChange { key: k.clone(), old: json(a.get(k)), new: json(b.get(k)) })
        .collect()
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, toml::Value>) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(t) if !WHOLE.contains(&key.as_str()) => flatten(&key, t, out),
            _ => {
                out.insert(key, v.clone());
            }
        }
    }
}

/// A TOML value as JSON: dates and times as their TOML text.
fn json(v: Option<&toml::Value>) -> serde_json::Value {
    v.cloned().map_or(serde_json::Value::Null, crate::config::campaign::toml_to_json)
}

/// Whether a frozen key that was written differently still means the same (a default written
/// out, a zone spelled the same way, a reordered table): then the change is only in the text.
fn same_meaning(key: &str, old: &CampaignSpec, new: &CampaignSpec) -> bool {
    let section = key.split('.').next().unwrap_or(key);
    match (section, key) {
        ("id", _) => old.id == new.id,
        ("name", _) => old.name == new.name,
        ("call", _) => old.call == new.call,
        ("analysis", _) => old.analysis == new.analysis,
        ("compliance", _) => old.compliance == new.compliance,
        (_, "schedule.timezone") => old.schedule.timezone == new.schedule.timezone,
        (_, "schedule.zone_policy") => old.schedule.zone_policy == new.schedule.zone_policy,
        (_, "schedule.start") => old.schedule.start == new.schedule.start,
        (_, "schedule.cron" | "schedule.run_for") => old.schedule.cron == new.schedule.cron,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
id = "c"
name = "C"
[call]
task = "Hello {{first_name}}"
[schedule]
timezone = "America/New_York"
hours = { "mon-fri" = "09:00-17:00" }
[limits]
calls_per_minute = 30
"#;

    fn changes(old: &str, new: &str) -> Vec<KeyChange> {
        diff(&toml::from_str(old).unwrap(), &toml::from_str(new).unwrap())
    }

    #[test]
    fn a_diff_names_each_changed_key_with_its_old_and_new_value() {
        let new = BASE.replace("calls_per_minute = 30", "calls_per_minute = 10\ncalls_per_day = 500");
        let c = changes(BASE, &new);
        assert_eq!(
            c,
            vec![
                KeyChange { key: "limits.calls_per_day".into(), old: serde_json::Value::Null, new: 500.into() },
                KeyChange { key: "limits.calls_per_minute".into(), old: 30.into(), new: 10.into() },
            ]
        );
        assert!(changes(BASE, BASE).is_empty());
    }

    #[test]
    fn hours_are_compared_as_one_value_and_call_keys_one_by_one() {
        let new = BASE.replace(r#""mon-fri" = "09:00-17:00""#, r#""mon-thu" = "09:00-17:00", fri = "09:00-12:00""#);
        let c = changes(BASE, &new);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].key, "schedule.hours");
        assert_eq!(c[0].new, serde_json::json!({"mon-thu": "09:00-17:00", "fri": "09:00-12:00"}));
        let c = changes(BASE, &BASE.replace("Hello", "Hi"));
        assert_eq!(c[0].key, "call.task");
    }

    #[test]
    fn only_limits_retry_hours_blackouts_and_end_are_changeable() {
        for key in
            ["limits.calls_per_minute", "retry.delays", "schedule.hours", "schedule.blackout_dates", "schedule.end"]
        {
            assert!(changeable(key), "{key}");
        }
        for key in ["call.task", "id", "name", "schedule.timezone", "schedule.zone_policy", "schedule.start", "limitsx"]
        {
            assert!(!changeable(key), "{key}");
        }
    }

    #[test]
    fn a_frozen_key_written_out_with_its_default_means_the_same() {
        let compliance = crate::window::Compliance::default();
        let old = CampaignSpec::parse("a", BASE, &compliance).unwrap();
        let explicit = BASE.replace("[schedule]", "[schedule]\nzone_policy = \"strictest\"");
        let new = CampaignSpec::parse("b", &explicit, &compliance).unwrap();
        assert!(same_meaning("schedule.zone_policy", &old, &new));
        let column = BASE.replace("[schedule]", "[schedule]\nzone_policy = \"column\"");
        let new = CampaignSpec::parse("b", &column, &compliance).unwrap();
        assert!(!same_meaning("schedule.zone_policy", &old, &new));
    }

    #[test]
    fn the_cli_actor_is_user_at_host_or_cli() {
        let a = Actor::cli(|v| (v == "USER").then(|| "alice".to_string()));
        assert!(a.as_str().starts_with("alice"), "{a:?}");
        assert_eq!(Actor::cli(|_| None).as_str(), "cli");
        assert_eq!(Actor::api("token sha256:abcd").as_str(), "api (token sha256:abcd)");
    }
}
