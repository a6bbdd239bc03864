//! Campaign specs: the operator's `campaign.toml`, parsed and validated once into a
//! [`CampaignSpec`]. Every check the spec can fail is made here, with the file, line, key and
//! what was expected; the daemon later re-parses the stored text with the same code.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value as Json;
use toml::Spanned;

use super::duration::parse_duration;
use super::located::{ConfigError, SourceFile, did_you_mean};
use crate::window::{Compliance, CronRuns, DialWindow, TimeRange, WeeklyHours, parse_weekdays};

/// A campaign's id: a slug of lowercase letters, digits and `-`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CampaignId(String);

impl CampaignId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(format!(
                "`{s}` is not a campaign id: use 1–64 lowercase letters, digits and '-' (e.g. spring-renewals)"
            ))
        }
    }

    /// The id a campaign gets when the spec names none: its name as a slug, so creating the same
    /// spec twice addresses the same campaign.
    pub fn from_name(name: &str) -> Option<Self> {
        let mut slug = String::new();
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-');
        let slug = &slug[..slug.len().min(64)];
        Self::parse(slug.trim_end_matches('-')).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The largest `call.max_duration`, in minutes (Bland's default is 30).
pub const MAX_CALL_MINUTES: f64 = 240.0;
/// The largest `limits.calls_per_minute` (hour and day caps scale from it).
pub const MAX_CALLS_PER_MINUTE: u32 = 100_000;
/// The largest `limits.max_concurrent`.
pub const MAX_CONCURRENT: u32 = 100_000;
/// The largest `retry.max_attempts`.
pub const MAX_ATTEMPTS: u32 = 20;
/// The largest `analysis.max_spend_usd`.
pub const MAX_ANALYSIS_SPEND_USD: f64 = 100_000.0;
/// Most `analysis.questions`.
pub const MAX_ANALYSIS_QUESTIONS: usize = 100;

/// The longest retry delay (past it a "retry" is a new campaign), and the longest cron run.
pub fn max_retry_delay() -> Duration {
    Duration::days(30)
}

pub use crate::store::Outcome;

/// Which zones decide whether a recipient may be called now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZonePolicy {
    /// The CSV column's zone when given, else the number's.
    Column,
    /// The number's zones (area code), else the column's.
    AreaCode,
    /// Open only when open in every plausible zone: the column's and the number's.
    Strictest,
}

impl ZonePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ZonePolicy::Column => "column",
            ZonePolicy::AreaCode => "area_code",
            ZonePolicy::Strictest => "strictest",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    /// Default zone for recipients whose zone cannot be known.
    pub timezone: Option<Tz>,
    pub zone_policy: ZonePolicy,
    pub hours: WeeklyHours,
    pub blackout_dates: BTreeSet<NaiveDate>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub cron: Option<CronRuns>,
}

/// Per-campaign caps; `None` leaves only the account's caps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub calls_per_minute: Option<u32>,
    pub calls_per_hour: Option<u32>,
    pub calls_per_day: Option<u32>,
    pub max_concurrent: Option<u32>,
    /// The campaign's whole spend on calls (USD): each dial reserves its worst case, so the
    /// limit is never crossed.
    pub max_spend_usd: Option<f64>,
}

/// What a campaign's calls are, in law: state telemarketing rules bind telemarketing only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Selling or soliciting (the default: the strict choice). Federal hours, the DNC list
    /// and the state rules apply.
    #[default]
    Telemarketing,
    /// Reminders, notices, service calls. Federal hours and the DNC list apply.
    Informational,
}

impl Purpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Purpose::Telemarketing => "telemarketing",
            Purpose::Informational => "informational",
        }
    }
}

/// A campaign's `[compliance]`: its purpose, its subject (the state frequency caps count calls
/// per number and subject, across campaigns) and how an opt-out is recognised.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ComplianceSpec {
    pub purpose: Purpose,
    /// Campaigns with the same subject share the rolling 24-hour frequency caps; without one, a
    /// campaign is its own subject.
    pub subject: Option<String>,
    /// An `analysis_schema` field whose `true` (or `yes`) answer means "do not call me again".
    pub opt_out_field: Option<String>,
    /// Phrases that, said by the person (lowercase, in the transcript's user lines), mean the
    /// same.
    pub opt_out_phrases: Vec<String>,
}

/// What people say when they ask not to be called again: the default `opt_out_phrases`.
pub const DEFAULT_OPT_OUT_PHRASES: &[&str] = &[
    "stop calling",
    "do not call",
    "don't call",
    "dont call",
    "take me off",
    "remove me from",
    "remove my number",
    "never call",
    "unsubscribe",
];
/// Most `opt_out_phrases`, and the longest one.
pub const MAX_OPT_OUT_PHRASES: usize = 100;
pub const MAX_OPT_OUT_PHRASE_CHARS: usize = 200;
/// The largest `limits.max_spend_usd`.
pub const MAX_CAMPAIGN_SPEND_USD: f64 = 10_000_000.0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySpec {
    pub max_attempts: u32,
    pub on: BTreeSet<Outcome>,
    /// Before attempt 2, before attempt 3, …; the last repeats.
    pub delays: Vec<Duration>,
    pub last_attempt_voicemail_message: Option<String>,
}

impl Default for RetrySpec {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            on: [Outcome::Voicemail, Outcome::NoAnswer].into(),
            delays: vec![Duration::hours(2), Duration::days(1)],
            last_attempt_voicemail_message: None,
        }
    }
}

impl RetrySpec {
    /// The delay before attempt number `next` (2 for the first retry).
    pub fn delay_before(&self, next: u32) -> Duration {
        let i = (next.saturating_sub(2) as usize).min(self.delays.len().saturating_sub(1));
        self.delays.get(i).copied().unwrap_or_else(Duration::zero)
    }
}

/// `[analysis]`: what `POST /v1/calls/{id}/analyze` is asked about each human-answered call,
/// and what those requests may cost the campaign in all.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisSpec {
    pub goal: String,
    pub questions: Vec<(String, String)>,
    /// The most the campaign's analyses may cost, in USD (every question set together); `None`
    /// for no limit of its own.
    pub max_spend_usd: Option<f64>,
}

impl AnalysisSpec {
    /// A `--questions FILE` of `switchboard analyze`: `goal`, `questions` and optionally
    /// `max_spend_usd` at the top level, checked like `[analysis]` (errors name `file`, the
    /// line and the key). Unlike `[analysis]`, it must ask at least one question.
    pub fn parse_file(file: &str, text: &str) -> Result<Self, ConfigError> {
        let src = SourceFile::new(file, text);
        let raw: RawAnalysis = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        let spec = parse_analysis(&src, raw, "")?;
        if spec.questions.is_empty() {
            return Err(src.key(
                "questions",
                "must list at least one question, e.g. questions = [[\"Will they renew?\", \"boolean\"]]",
            ));
        }
        Ok(spec)
    }

    /// Whether there is anything to ask.
    pub fn asks(&self) -> bool {
        !self.questions.is_empty()
    }
}

/// A validated campaign.
#[derive(Debug, Clone)]
pub struct CampaignSpec {
    pub id: CampaignId,
    pub name: String,
    /// The `[call]` table as JSON, passed to `POST /v1/calls` after `{{placeholders}}` are filled.
    pub call: serde_json::Map<String, Json>,
    /// Every `{{placeholder}}` in `[call]`, lowercased and trimmed.
    pub placeholders: BTreeSet<String>,
    pub schedule: ScheduleSpec,
    pub limits: Limits,
    pub compliance: ComplianceSpec,
    pub retry: RetrySpec,
    pub analysis: Option<AnalysisSpec>,
}

/// Fields of Bland's send-call body that switchboard sets itself and a spec must not.
const MANAGED_CALL_FIELDS: &[(&str, &str)] = &[
    ("phone_number", "comes from each recipient's row"),
    ("metadata", "carries switchboard's attempt id; put recipient data in the CSV instead"),
    ("webhook", "is the daemon's [http] public_url + /webhooks/bland"),
    ("retry", "switchboard retries by itself so that retries respect windows and caps: use [retry]"),
    ("start_time", "switchboard decides when to dial: use [schedule]"),
    ("request_data", "is filled from the recipient's CSV columns"),
    // A campaign spec is stored in the database and shown by `campaign show`: no place for a
    // secret.
    (
        "encrypted_key",
        "is a secret (a BYOT Twilio key) and a campaign spec is stored in the database: \
         give it to the daemon as BLAND_ENCRYPTED_KEY or [bland] encrypted_key_file instead",
    ),
];

/// Send-call fields Bland documents; a `[call]` key outside this list that looks like one of
/// them is a typo, anything else passes through untouched.
const KNOWN_CALL_FIELDS: &[&str] = &[
    "task",
    "pathway_id",
    "pathway_version",
    "start_node_id",
    "voice",
    "first_sentence",
    "wait_for_greeting",
    "model",
    "temperature",
    "language",
    "timezone",
    "voicemail_message",
    "voicemail_action",
    "max_duration",
    "record",
    "from",
    "webhook_events",
    "summary_prompt",
    "analysis_prompt",
    "analysis_schema",
    "answered_by_enabled",
    "keywords",
    "tools",
    "dynamic_data",
    "interruption_threshold",
    "transfer_phone_number",
    "transfer_list",
    "block_interruptions",
    "noise_cancellation",
    "background_track",
    "pronunciation_guide",
    "local_dialing",
    "ignore_button_press",
    "citation_schema_id",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    id: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    call: Option<Spanned<toml::Table>>,
    #[serde(default)]
    schedule: RawSchedule,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    compliance: RawCampaignCompliance,
    #[serde(default)]
    retry: RawRetry,
    analysis: Option<RawAnalysis>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    timezone: Option<Spanned<String>>,
    zone_policy: Option<Spanned<String>>,
    hours: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    blackout_dates: Option<Vec<Spanned<toml::Value>>>,
    start: Option<Spanned<toml::Value>>,
    end: Option<Spanned<toml::Value>>,
    cron: Option<Spanned<String>>,
    run_for: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    calls_per_minute: Option<Spanned<i64>>,
    calls_per_hour: Option<Spanned<i64>>,
    calls_per_day: Option<Spanned<i64>>,
    max_concurrent: Option<Spanned<i64>>,
    max_spend_usd: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCampaignCompliance {
    purpose: Option<Spanned<String>>,
    subject: Option<Spanned<String>>,
    opt_out_field: Option<Spanned<String>>,
    opt_out_phrases: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: Option<Spanned<i64>>,
    on: Option<Vec<Spanned<String>>>,
    delays: Option<Vec<Spanned<String>>>,
    last_attempt_voicemail_message: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnalysis {
    goal: Option<Spanned<String>>,
    #[serde(default)]
    questions: Vec<Spanned<Vec<String>>>,
    max_spend_usd: Option<Spanned<toml::Value>>,
}

impl CampaignSpec {
    /// Parses and validates a campaign spec. `file` names the file in error messages;
    /// `compliance` is the daemon's guard, which no campaign window may go outside.
    pub fn parse(file: &str, text: &str, compliance: &Compliance) -> Result<Self, ConfigError> {
        let src = SourceFile::new(file, text);
        let raw: RawSpec = toml::from_str(text).map_err(|e| src.toml_error(&e))?;

        let name = match &raw.name {
            Some(n) if !n.get_ref().trim().is_empty() => n.get_ref().trim().to_string(),
            Some(n) => return Err(src.at(n.span(), "name", "must not be empty")),
            None => {
                return Err(src.key("name", "is required: give the campaign a name (name = \"Spring renewals\")"));
            }
        };
        let id = match &raw.id {
            Some(id) => CampaignId::parse(id.get_ref()).map_err(|m| src.at(id.span(), "id", m))?,
            None => CampaignId::from_name(&name).ok_or_else(|| {
                src.key("id", "cannot be made from the name (it has no letters or digits): set id = \"…\"")
            })?,
        };

        let (call, placeholders) = parse_call(&src, raw.call)?;
        let schedule = parse_schedule(&src, raw.schedule, compliance)?;
        let limits = parse_limits(&src, raw.limits)?;
        let compliance_spec = parse_compliance(&src, raw.compliance)?;
        let retry = parse_retry(&src, raw.retry)?;
        let analysis = match raw.analysis {
            None => None,
            Some(a) => Some(parse_analysis(&src, a, "analysis.")?),
        };
        Ok(CampaignSpec {
            id,
            name,
            call,
            placeholders,
            schedule,
            limits,
            compliance: compliance_spec,
            retry,
            analysis,
        })
    }

    /// The subject the state frequency caps count this campaign's calls under: `[compliance]
    /// subject`, else the campaign's id (a campaign alone is its own subject).
    pub fn subject(&self) -> &str {
        self.compliance.subject.as_deref().unwrap_or(self.id.as_str())
    }

    /// The longest a call of this campaign can last (minutes): `[call] max_duration`, else
    /// Bland's default of 30. Bounded at parse (at most 240).
    pub fn max_call_minutes(&self) -> f64 {
        self.call.get("max_duration").and_then(Json::as_f64).unwrap_or(30.0)
    }

    /// The dialing window of this campaign under the daemon's compliance guard alone.
    pub fn dial_window(&self, compliance: Compliance) -> DialWindow {
        let mut window = DialWindow::new(self.schedule.hours.clone(), compliance);
        window.blackout_dates = self.schedule.blackout_dates.clone();
        window.start = self.schedule.start;
        window.end = self.schedule.end;
        window.cron = self.schedule.cron.clone();
        window
    }

    /// The whole dialing decision for this campaign: the guard, the campaign's schedule, the
    /// state rules (`rules`, for a telemarketing campaign only) and the operator's blackouts
    /// (for every campaign).
    pub fn dial_window_under(
        &self,
        compliance: Compliance,
        rules: Option<&std::sync::Arc<crate::compliance::RuleSet>>,
        blackouts: std::sync::Arc<[crate::window::Blackout]>,
    ) -> DialWindow {
        let mut window = self.dial_window(compliance);
        if self.compliance.purpose == Purpose::Telemarketing {
            window.state_rules = rules.cloned();
        }
        window.blackouts = blackouts;
        window
    }
}

fn parse_call(
    src: &SourceFile,
    call: Option<Spanned<toml::Table>>,
) -> Result<(serde_json::Map<String, Json>, BTreeSet<String>), ConfigError> {
    let Some(call) = call else {
        return Err(src.key("call", "is required: a [call] table with `task` (the prompt) or `pathway_id`"));
    };
    let span = call.span();
    let table = call.into_inner();
    for (key, why) in MANAGED_CALL_FIELDS {
        if table.contains_key(*key) {
            return Err(src.at(span.clone(), format!("call.{key}"), format!("must not be set: it {why}")));
        }
    }
    for key in table.keys() {
        if KNOWN_CALL_FIELDS.contains(&key.as_str()) {
            continue;
        }
        let candidates = KNOWN_CALL_FIELDS.iter().copied().chain(MANAGED_CALL_FIELDS.iter().map(|(k, _)| *k));
        if let Some(best) = did_you_mean(key, candidates) {
            return Err(src.at(
                span.clone(),
                format!("call.{key}"),
                format!("unknown Bland field; did you mean `{best}`? (unknown fields that look like no documented one are passed through as given)"),
            ));
        }
    }
    let non_empty_str = |k: &str| matches!(table.get(k), Some(toml::Value::String(s)) if !s.trim().is_empty());
    match (non_empty_str("task"), non_empty_str("pathway_id")) {
        (true, true) => {
            return Err(src.at(span, "call", "has both `task` and `pathway_id`: give exactly one"));
        }
        (false, false) => {
            return Err(src.at(
                span,
                "call",
                "needs `task` (the agent's prompt) or `pathway_id`, as a non-empty string",
            ));
        }
        _ => {}
    }
    if let Some(v) = table.get("max_duration") {
        // Bounded: the dispatcher holds a concurrency slot for up to this long, so an
        // unbounded value (1e300) would overflow its arithmetic or hold slots for ever.
        let minutes = match v {
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::Float(f) => Some(*f),
            _ => None,
        };
        if !minutes.is_some_and(|m| m > 0.0 && m <= MAX_CALL_MINUTES) {
            return Err(src.at(
                span,
                "call.max_duration",
                format!("must be a number of minutes above 0 and at most {MAX_CALL_MINUTES}"),
            ));
        }
    }
    if matches!(table.get("answered_by_enabled"), Some(toml::Value::Boolean(false))) {
        return Err(src.at(
            span,
            "call.answered_by_enabled",
            "cannot be false: voicemail detection drives the retry policy (remove the key)",
        ));
    }
    let json: serde_json::Map<String, Json> = table.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect();
    let mut placeholders = BTreeSet::new();
    for v in json.values() {
        collect_placeholders(v, &mut placeholders);
    }
    Ok((json, placeholders))
}

/// `{{ name }}` → `name` (lowercased, trimmed), for every string in the value.
pub fn collect_placeholders(v: &Json, out: &mut BTreeSet<String>) {
    match v {
        Json::String(s) => {
            let mut rest = s.as_str();
            while let Some(open) = rest.find("{{") {
                let after = &rest[open + 2..];
                let Some(close) = after.find("}}") else { break };
                let name = after[..close].trim().to_lowercase();
                if !name.is_empty() {
                    out.insert(name);
                }
                rest = &after[close + 2..];
            }
        }
        Json::Array(items) => items.iter().for_each(|i| collect_placeholders(i, out)),
        Json::Object(map) => map.values().for_each(|i| collect_placeholders(i, out)),
        _ => {}
    }
}

pub(crate) fn toml_to_json(v: toml::Value) -> Json {
    match v {
        toml::Value::String(s) => Json::String(s),
        toml::Value::Integer(i) => Json::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        toml::Value::Boolean(b) => Json::Bool(b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(a) => Json::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Json::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect()),
    }
}

/// An IANA zone name, with a suggestion when it is a near miss.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        let mut m = format!("`{name}` is not an IANA time zone (e.g. America/New_York)");
        if let Some(best) = did_you_mean(name.trim(), chrono_tz::TZ_VARIANTS.iter().map(|z| z.name())) {
            m.push_str(&format!("; did you mean `{best}`?"));
        }
        m
    })
}

fn parse_schedule(src: &SourceFile, raw: RawSchedule, compliance: &Compliance) -> Result<ScheduleSpec, ConfigError> {
    let timezone = match &raw.timezone {
        Some(z) => Some(parse_zone(z.get_ref()).map_err(|m| src.at(z.span(), "schedule.timezone", m))?),
        None => None,
    };
    let zone_policy = match &raw.zone_policy {
        None => ZonePolicy::Strictest,
        Some(p) => match p.get_ref().as_str() {
            "column" => ZonePolicy::Column,
            "area_code" => ZonePolicy::AreaCode,
            "strictest" => ZonePolicy::Strictest,
            other => {
                return Err(src.at(
                    p.span(),
                    "schedule.zone_policy",
                    format!("`{other}` is not a zone policy (expected column, area_code or strictest)"),
                ));
            }
        },
    };

    let hours = match &raw.hours {
        None => WeeklyHours::default(),
        Some(entries) => {
            for (days, ranges) in entries {
                let key = format!("schedule.hours.\"{}\"", days.get_ref());
                parse_weekdays(days.get_ref()).map_err(|e| src.at(days.span(), key.clone(), e.to_string()))?;
                for range in ranges.get_ref().split(',') {
                    range.trim().parse::<TimeRange>().map_err(|e| src.at(ranges.span(), key.clone(), e.to_string()))?;
                }
            }
            let first = entries.keys().next().map(|k| k.span()).unwrap_or(0..0);
            WeeklyHours::parse(entries.iter().map(|(k, v)| (k.get_ref().as_str(), v.get_ref().as_str())))
                .map_err(|e| src.at(first, "schedule.hours", e.to_string()))?
        }
    };
    // Only hours the spec wrote can be wrong; the default hours are cut by the guard anyway.
    if let Some(written) = &raw.hours
        && let Some((day, range)) = hours.outside(compliance.earliest, compliance.latest)
    {
        let span = written.keys().next().map(|k| k.span()).unwrap_or(0..0);
        return Err(src.at(
            span,
            "schedule.hours",
            format!(
                "{day} {range} goes outside the compliance hours {}-{} (recipient local time, daemon config [compliance]); no campaign may dial outside them",
                compliance.earliest.format("%H:%M"),
                compliance.latest.format("%H:%M"),
            ),
        ));
    }

    let mut blackout_dates = BTreeSet::new();
    for d in raw.blackout_dates.iter().flatten() {
        let text = match d.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Datetime(dt) => dt.to_string(),
            other => other.to_string(),
        };
        let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
            src.at(d.span(), "schedule.blackout_dates", format!("`{text}` is not a date (expected YYYY-MM-DD)"))
        })?;
        blackout_dates.insert(date);
    }

    let instant = |v: &Option<Spanned<toml::Value>>, key: &str| -> Result<Option<DateTime<Utc>>, ConfigError> {
        let Some(v) = v else { return Ok(None) };
        let text = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Datetime(dt) => dt.to_string(),
            other => other.to_string(),
        };
        DateTime::parse_from_rfc3339(text.trim()).map(|t| Some(t.to_utc())).map_err(|_| {
            src.at(
                v.span(),
                key,
                format!("`{text}` is not an instant with a UTC offset (expected e.g. 2026-12-01T09:00:00-05:00)"),
            )
        })
    };
    let start = instant(&raw.start, "schedule.start")?;
    let end = instant(&raw.end, "schedule.end")?;
    if let (Some(s), Some(e), Some(span)) = (start, end, raw.end.as_ref().map(|e| e.span()))
        && e <= s
    {
        return Err(src.at(span, "schedule.end", "must be after schedule.start"));
    }

    let cron = match (&raw.cron, &raw.run_for) {
        (None, None) => None,
        (None, Some(r)) => {
            return Err(src.at(r.span(), "schedule.run_for", "only means something with schedule.cron"));
        }
        (Some(c), None) => {
            return Err(src.at(
                c.span(),
                "schedule.cron",
                "needs schedule.run_for: how long each run lasts (e.g. \"8h\")",
            ));
        }
        (Some(c), Some(r)) => {
            let run_for = parse_duration(r.get_ref()).map_err(|m| src.at(r.span(), "schedule.run_for", m))?;
            if run_for <= Duration::zero() || run_for > max_retry_delay() {
                return Err(src.at(
                    r.span(),
                    "schedule.run_for",
                    format!("must be longer than zero and at most {}d", max_retry_delay().num_days()),
                ));
            }
            let Some(zone) = timezone else {
                return Err(src.at(
                    c.span(),
                    "schedule.cron",
                    "needs schedule.timezone: the zone the cron times are read in",
                ));
            };
            Some(
                CronRuns::parse(c.get_ref(), zone, run_for)
                    .map_err(|e| src.at(c.span(), "schedule.cron", e.to_string()))?,
            )
        }
    };

    Ok(ScheduleSpec { timezone, zone_policy, hours, blackout_dates, start, end, cron })
}

/// A whole number from 1 to `max`, if given.
fn bounded(src: &SourceFile, v: &Option<Spanned<i64>>, key: &str, max: u32) -> Result<Option<u32>, ConfigError> {
    match v {
        None => Ok(None),
        Some(n) => match u32::try_from(*n.get_ref()) {
            Ok(x) if (1..=max).contains(&x) => Ok(Some(x)),
            _ => Err(src.at(n.span(), key, format!("must be a whole number from 1 to {max}"))),
        },
    }
}

fn parse_limits(src: &SourceFile, raw: RawLimits) -> Result<Limits, ConfigError> {
    Ok(Limits {
        calls_per_minute: bounded(src, &raw.calls_per_minute, "limits.calls_per_minute", MAX_CALLS_PER_MINUTE)?,
        calls_per_hour: bounded(src, &raw.calls_per_hour, "limits.calls_per_hour", MAX_CALLS_PER_MINUTE * 60)?,
        calls_per_day: bounded(src, &raw.calls_per_day, "limits.calls_per_day", MAX_CALLS_PER_MINUTE * 60 * 24)?,
        max_concurrent: bounded(src, &raw.max_concurrent, "limits.max_concurrent", MAX_CONCURRENT)?,
        max_spend_usd: usd(src, raw.max_spend_usd.as_ref(), "limits.max_spend_usd", MAX_CAMPAIGN_SPEND_USD)?,
    })
}

/// An amount in USD above 0 and at most `max`, if given. Bounded like every other setting: a
/// typo (1e300, a negative) must not read as "no limit" or overflow the spend arithmetic.
fn usd(src: &SourceFile, v: Option<&Spanned<toml::Value>>, key: &str, max: f64) -> Result<Option<f64>, ConfigError> {
    let Some(v) = v else { return Ok(None) };
    let amount = match v.get_ref() {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    };
    match amount {
        Some(x) if x > 0.0 && x <= max => Ok(Some(x)),
        _ => Err(src.at(v.span(), key, format!("must be an amount in USD above 0 and at most {max}"))),
    }
}

fn parse_compliance(src: &SourceFile, raw: RawCampaignCompliance) -> Result<ComplianceSpec, ConfigError> {
    let purpose = match &raw.purpose {
        None => Purpose::default(),
        Some(p) => match p.get_ref().trim() {
            "telemarketing" => Purpose::Telemarketing,
            "informational" => Purpose::Informational,
            other => {
                return Err(src.at(
                    p.span(),
                    "compliance.purpose",
                    format!("`{other}` is not a purpose (expected telemarketing or informational)"),
                ));
            }
        },
    };
    let text = |v: &Option<Spanned<String>>, key: &str| -> Result<Option<String>, ConfigError> {
        match v {
            None => Ok(None),
            Some(t) if t.get_ref().trim().is_empty() => Err(src.at(t.span(), key, "must not be empty")),
            Some(t) if t.get_ref().chars().count() > MAX_OPT_OUT_PHRASE_CHARS => {
                Err(src.at(t.span(), key, format!("must be at most {MAX_OPT_OUT_PHRASE_CHARS} characters")))
            }
            Some(t) => Ok(Some(t.get_ref().trim().to_string())),
        }
    };
    let subject = text(&raw.subject, "compliance.subject")?;
    let opt_out_field = text(&raw.opt_out_field, "compliance.opt_out_field")?;
    let opt_out_phrases = match &raw.opt_out_phrases {
        None => DEFAULT_OPT_OUT_PHRASES.iter().map(|p| p.to_string()).collect(),
        Some(list) => {
            let key = "compliance.opt_out_phrases";
            if list.get_ref().len() > MAX_OPT_OUT_PHRASES {
                return Err(src.at(list.span(), key, format!("lists more than {MAX_OPT_OUT_PHRASES} phrases")));
            }
            let mut phrases = Vec::new();
            for p in list.get_ref() {
                let p = crate::compliance::opt_out::normalise(p);
                if p.is_empty() || p.chars().count() > MAX_OPT_OUT_PHRASE_CHARS {
                    return Err(src.at(
                        list.span(),
                        key,
                        format!("each phrase must have 1 to {MAX_OPT_OUT_PHRASE_CHARS} characters"),
                    ));
                }
                phrases.push(p);
            }
            phrases
        }
    };
    Ok(ComplianceSpec { purpose, subject, opt_out_field, opt_out_phrases })
}

fn parse_retry(src: &SourceFile, raw: RawRetry) -> Result<RetrySpec, ConfigError> {
    let mut spec = RetrySpec::default();
    if let Some(n) = bounded(src, &raw.max_attempts, "retry.max_attempts", MAX_ATTEMPTS)? {
        spec.max_attempts = n;
    }
    if let Some(on) = raw.on {
        spec.on.clear();
        for o in on {
            let outcome: Outcome = o.get_ref().parse().map_err(|m| src.at(o.span(), "retry.on", m))?;
            if outcome == Outcome::Human {
                return Err(src.at(o.span(), "retry.on", "`human` cannot be retried: the person was reached"));
            }
            spec.on.insert(outcome);
        }
    }
    if let Some(delays) = raw.delays {
        if delays.is_empty() {
            return Err(src.key("retry.delays", "must list at least one delay (e.g. [\"2h\", \"1d\"])"));
        }
        spec.delays.clear();
        for d in delays {
            let delay = parse_duration(d.get_ref()).map_err(|m| src.at(d.span(), "retry.delays", m))?;
            if delay <= Duration::zero() || delay > max_retry_delay() {
                return Err(src.at(
                    d.span(),
                    "retry.delays",
                    format!("must be longer than zero and at most {}d", max_retry_delay().num_days()),
                ));
            }
            spec.delays.push(delay);
        }
    }
    spec.last_attempt_voicemail_message = raw.last_attempt_voicemail_message.filter(|m| !m.trim().is_empty());
    Ok(spec)
}

/// `[analysis]` (key names prefixed with `prefix`), or a `--questions` file (no prefix).
fn parse_analysis(src: &SourceFile, raw: RawAnalysis, prefix: &str) -> Result<AnalysisSpec, ConfigError> {
    let goal = match raw.goal {
        Some(g) if !g.get_ref().trim().is_empty() => g.into_inner(),
        Some(g) => return Err(src.at(g.span(), format!("{prefix}goal"), "must not be empty")),
        None => {
            return Err(src.key(format!("{prefix}goal"), "is required: what the analysis should find out"));
        }
    };
    if raw.questions.len() > MAX_ANALYSIS_QUESTIONS {
        return Err(src.at(
            raw.questions[MAX_ANALYSIS_QUESTIONS].span(),
            format!("{prefix}questions"),
            format!("has {} questions; at most {MAX_ANALYSIS_QUESTIONS} are asked of one call", raw.questions.len()),
        ));
    }
    let mut questions = Vec::new();
    for q in raw.questions {
        match q.get_ref().as_slice() {
            [question, kind] if !question.trim().is_empty() && !kind.trim().is_empty() => {
                questions.push((question.clone(), kind.clone()));
            }
            _ => {
                return Err(src.at(
                    q.span(),
                    format!("{prefix}questions"),
                    "each question is [\"the question\", \"answer type\"], e.g. [\"Will they renew?\", \"boolean\"]",
                ));
            }
        }
    }
    let key = format!("{prefix}max_spend_usd");
    let max_spend_usd = usd(src, raw.max_spend_usd.as_ref(), &key, MAX_ANALYSIS_SPEND_USD)?;
    Ok(AnalysisSpec { goal, questions, max_spend_usd })
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveTime, Weekday};

    use super::*;

    fn compliance() -> Compliance {
        Compliance {
            earliest: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
            latest: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
        }
    }

    fn parse(text: &str) -> Result<CampaignSpec, ConfigError> {
        CampaignSpec::parse("c.toml", text, &compliance())
    }

    #[test]
    fn the_example_campaign_parses_into_every_section() {
        let spec = parse(include_str!("../../config/campaign.example.toml")).unwrap();
        assert_eq!(spec.id.as_str(), "spring-renewals");
        assert_eq!(spec.placeholders, ["first_name", "policy"].map(String::from).into());
        assert_eq!(spec.schedule.timezone, Some(chrono_tz::America::New_York));
        assert_eq!(spec.schedule.zone_policy, ZonePolicy::Strictest);
        let sat = spec.schedule.hours.ranges(Weekday::Sat);
        assert_eq!(sat.len(), 1);
        assert_eq!(sat[0].start, NaiveTime::from_hms_opt(10, 0, 0).unwrap());
        assert!(spec.schedule.hours.ranges(Weekday::Sun).is_empty());
        assert_eq!(spec.schedule.blackout_dates.len(), 2);
        assert_eq!(spec.schedule.start.unwrap().to_rfc3339(), "2026-12-01T14:00:00+00:00");
        assert_eq!(spec.limits.calls_per_hour, Some(1000));
        assert_eq!(spec.retry.max_attempts, 3);
        assert!(spec.retry.on.contains(&Outcome::Busy));
        assert_eq!(spec.call["analysis_schema"]["wants_renewal"], "boolean");
        assert_eq!(spec.analysis.unwrap().questions.len(), 2);
    }

    #[test]
    fn defaults_fill_what_a_minimal_spec_leaves_out() {
        let spec = parse("name = \"Hello World\"\n[call]\npathway_id = \"pw-1\"\n").unwrap();
        assert_eq!(spec.id.as_str(), "hello-world");
        assert_eq!(spec.retry, RetrySpec::default());
        assert_eq!(spec.limits, Limits::default());
        assert!(spec.schedule.cron.is_none());
        assert!(spec.placeholders.is_empty());
    }

    #[test]
    fn every_duration_and_count_has_an_upper_bound_named_in_the_error() {
        let base = "name = \"T\"\n[call]\ntask = \"x\"\n";
        let refused = |extra: &str, key: &str, says: &str| {
            let e = parse(&format!("{base}{extra}")).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{extra}: {e}");
            assert!(e.message.contains(says), "{extra}: {e}");
        };
        refused("encrypted_key = \"enc-123\"\n", "call.encrypted_key", "daemon");
        refused("encrypted_key = \"enc-123\"\n", "call.encrypted_key", "stored in the database");
        refused("max_duration = 1e300\n", "call.max_duration", "at most 240");
        refused("max_duration = 241\n", "call.max_duration", "at most 240");
        refused("max_duration = -1\n", "call.max_duration", "above 0");
        refused("max_duration = nan\n", "call.max_duration", "above 0");
        refused("[retry]\ndelays = [\"99999999999d\"]\n", "retry.delays", "at most 30d");
        refused("[retry]\ndelays = [\"31d\"]\n", "retry.delays", "at most 30d");
        refused("[retry]\nmax_attempts = 21\n", "retry.max_attempts", "from 1 to 20");
        refused(
            "[schedule]\ntimezone = \"America/New_York\"\ncron = \"0 9 * * 1-5\"\nrun_for = \"99999999999d\"\n",
            "schedule.run_for",
            "at most 30d",
        );
        refused("[limits]\nmax_concurrent = 4294967295\n", "limits.max_concurrent", "from 1 to 100000");
        refused("[limits]\ncalls_per_minute = 100001\n", "limits.calls_per_minute", "from 1 to 100000");
        refused("[limits]\ncalls_per_day = 0\n", "limits.calls_per_day", "from 1 to 144000000");
        // The bounds themselves are accepted.
        let spec = parse(&format!(
            "{base}max_duration = 240\n[retry]\ndelays = [\"30d\"]\nmax_attempts = 20\n[limits]\nmax_concurrent = 100000\n"
        ))
        .unwrap();
        assert_eq!(spec.retry.delays, [Duration::days(30)]);
        assert_eq!(spec.limits.max_concurrent, Some(100_000));
    }

    #[test]
    fn analysis_spend_is_bounded_and_its_errors_name_the_key_and_line() {
        let base = "name = \"T\"\n[call]\ntask = \"x\"\n[analysis]\ngoal = \"g\"\nquestions = [[\"q\", \"boolean\"]]\n";
        let spend = |v: &str| parse(&format!("{base}max_spend_usd = {v}\n"));
        for bad in ["0", "-1", "1e300", "100001", "nan", "inf", "\"20\""] {
            let e = spend(bad).unwrap_err();
            assert_eq!(e.key.as_deref(), Some("analysis.max_spend_usd"), "{bad}: {e}");
            assert!(e.message.contains("above 0 and at most 100000"), "{bad}: {e}");
            assert_eq!(e.line.map(|(l, _)| l), Some(7), "{bad}: {e}");
        }
        assert_eq!(spend("20").unwrap().analysis.unwrap().max_spend_usd, Some(20.0));
        assert_eq!(spend("0.5").unwrap().analysis.unwrap().max_spend_usd, Some(0.5));
        assert_eq!(spend("100000").unwrap().analysis.unwrap().max_spend_usd, Some(100_000.0));
        assert_eq!(parse(base).unwrap().analysis.unwrap().max_spend_usd, None, "absent: no limit of its own");
        let e = parse("name = \"T\"\n[call]\ntask = \"x\"\n[analysis]\ngoal = \"g\"\nmax_spend_us = 5\n").unwrap_err();
        assert!(e.message.contains("did you mean `max_spend_usd`?"), "{e}");
    }

    #[test]
    fn a_questions_file_is_checked_like_the_analysis_table_and_must_ask_something() {
        let spec =
            AnalysisSpec::parse_file("q.toml", "goal = \"g\"\nquestions = [[\"Renew?\", \"boolean\"]]\n").unwrap();
        assert_eq!(spec.questions, [("Renew?".to_string(), "boolean".to_string())]);
        assert_eq!(spec.max_spend_usd, None);
        let e = AnalysisSpec::parse_file(
            "q.toml",
            "goal = \"g\"\nquestions = [\n  [\"ok\", \"boolean\"],\n  [\"no type\"],\n]\n",
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.key.as_deref(), e.line.map(|(l, _)| l)), ("q.toml", Some("questions"), Some(4)));
        let e = AnalysisSpec::parse_file("q.toml", "goal = \"g\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("questions"), "{e}");
        let e = AnalysisSpec::parse_file("q.toml", "questions = [[\"q\", \"boolean\"]]\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("goal"), "{e}");
        let e =
            AnalysisSpec::parse_file("q.toml", "goal = \"g\"\nquestions = [[\"q\", \"boolean\"]]\nmax_spend_usd = 0\n")
                .unwrap_err();
        assert_eq!((e.key.as_deref(), e.line.map(|(l, _)| l)), (Some("max_spend_usd"), Some(3)), "{e}");
        let many: Vec<String> = (0..=MAX_ANALYSIS_QUESTIONS).map(|i| format!("[\"q{i}\", \"string\"]")).collect();
        let e = AnalysisSpec::parse_file("q.toml", &format!("goal = \"g\"\nquestions = [{}]\n", many.join(", ")))
            .unwrap_err();
        assert!(e.message.contains("at most 100"), "{e}");
    }

    #[test]
    fn retry_delays_repeat_the_last_one() {
        let r = RetrySpec::default();
        assert_eq!(r.delay_before(2), Duration::hours(2));
        assert_eq!(r.delay_before(3), Duration::days(1));
        assert_eq!(r.delay_before(7), Duration::days(1));
    }

    #[test]
    fn unknown_bland_fields_pass_through_but_near_misses_are_typos() {
        let spec = parse("name = \"T\"\n[call]\ntask = \"x\"\nbrand_new_bland_option = 7\n").unwrap();
        assert_eq!(spec.call["brand_new_bland_option"], 7);
        let e = parse("name = \"T\"\n[call]\ntask = \"x\"\nfirst_sentance = \"hi\"\n").unwrap_err();
        assert!(e.to_string().contains("did you mean `first_sentence`?"), "{e}");
    }

    #[test]
    fn hours_errors_point_at_the_line_of_the_bad_entry() {
        let e = parse("name = \"T\"\n[call]\ntask = \"x\"\n[schedule]\nhours = { sat = \"10:00-14:00\",\n  sun = \"12:00-11:00\" }\n")
            .unwrap_err();
        assert_eq!(e.line.map(|(l, _)| l), Some(6), "{e}");
        assert_eq!(e.key.as_deref(), Some("schedule.hours.\"sun\""));
    }

    #[test]
    fn a_window_may_not_start_before_or_end_after_the_compliance_hours() {
        let base = "name = \"T\"\n[call]\ntask = \"x\"\n[schedule]\n";
        assert!(parse(&format!("{base}hours = {{ \"mon-fri\" = \"08:00-21:00\" }}\n")).is_ok());
        let e = parse(&format!("{base}hours = {{ \"mon-fri\" = \"08:00-21:30\" }}\n")).unwrap_err();
        assert!(e.message.contains("outside the compliance hours 08:00-21:00"), "{e}");
    }

    #[test]
    fn start_and_end_need_offsets_and_order() {
        let base = "name = \"T\"\n[call]\ntask = \"x\"\n[schedule]\n";
        let e = parse(&format!("{base}start = \"2026-12-01T09:00:00\"\n")).unwrap_err();
        assert!(e.message.contains("UTC offset"), "{e}");
        let e = parse(&format!("{base}start = 2026-12-02T09:00:00-05:00\nend = \"2026-12-01T09:00:00-05:00\"\n"))
            .unwrap_err();
        assert!(e.message.contains("must be after schedule.start"), "{e}");
    }

    #[test]
    fn placeholders_are_found_in_nested_strings_trimmed_and_lowercased() {
        let mut out = BTreeSet::new();
        collect_placeholders(
            &serde_json::json!({"a": "Hi {{ First_Name }}, {{policy}}", "b": ["{{x}}"], "c": "{{unclosed"}),
            &mut out,
        );
        assert_eq!(out, ["first_name", "policy", "x"].map(String::from).into());
    }

    #[test]
    fn campaign_ids_are_slugs() {
        assert!(CampaignId::parse("spring-2027").is_ok());
        assert!(CampaignId::parse("Spring").is_err());
        assert!(CampaignId::parse("-x").is_err());
        assert_eq!(CampaignId::from_name("  Ünïcode & Co. ").unwrap().as_str(), "n-code-co");
        assert!(CampaignId::from_name("!!!").is_none());
    }
}
