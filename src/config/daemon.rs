//! The daemon config: built-in defaults (`config/switchboard.toml`, embedded) → the operator's
//! file → `SWITCHBOARD_<SECTION>__<KEY>` environment overrides, each layer overriding the one
//! before key by key. Secrets are read from `BLAND_API_KEY` / `BLAND_WEBHOOK_SECRET` or the files
//! the config names, and are held as [`Secret`]s.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveTime};
use serde::Deserialize;

use super::duration::{format_duration, parse_duration};
use super::located::{ConfigError, SourceFile};
use crate::compliance::{RuleSet, StateOverrides};
use crate::secret::Secret;
use crate::window::Compliance;

/// The commented default config, as shipped.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/switchboard.toml");

/// Where the config is read from when `--config` and `SWITCHBOARD_CONFIG` say nothing.
pub const SYSTEM_CONFIG_PATH: &str = "/etc/switchboard/switchboard.toml";

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub bland: BlandSection,
    pub account: AccountSection,
    pub pricing: PricingSection,
    pub safety: SafetySection,
    pub http: HttpSection,
    pub compliance: ComplianceSection,
    pub store: StoreSection,
    pub dispatcher: DispatcherSection,
    pub outcomes: OutcomesSection,
    pub analysis: AnalysisSection,
    pub log: LogSection,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSection {
    pub format: LogFormat,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event for people; colours only when stderr is a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("`{other}` is not a log format (expected text or json)")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BlandSection {
    pub base_url: String,
    pub api_key_file: Option<PathBuf>,
    pub webhook_secret_file: Option<PathBuf>,
    /// BYOT (own Twilio) accounts: the file holding `encrypted_key`.
    pub encrypted_key_file: Option<PathBuf>,
    pub requests_per_minute: u32,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct AccountSection {
    pub calls_per_minute: u32,
    pub calls_per_hour: u32,
    pub calls_per_day: u32,
    pub max_concurrent: u32,
    /// Spend on calls over the last 24 hours (USD), all campaigns; `None` is no limit.
    pub max_spend_usd_per_day: Option<f64>,
}

/// What a call costs, for the spend limits: a dial reserves `minimum_charge_usd` plus its
/// `max_duration` at `per_minute_usd` until Bland reports its price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PricingSection {
    pub per_minute_usd: f64,
    pub minimum_charge_usd: f64,
}

impl PricingSection {
    /// The most a call of at most `max_minutes` can cost.
    pub fn worst_case_usd(&self, max_minutes: f64) -> f64 {
        self.minimum_charge_usd + max_minutes.max(0.0) * self.per_minute_usd
    }
}

/// When a running campaign pauses itself (see `dispatcher/safety.rs`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SafetySection {
    /// The last calls (with an outcome) judged; fewer are not judged.
    pub window: u32,
    /// Over this share of failed calls among them stops the campaign.
    pub max_failure_share: f64,
    /// Under this share of calls answered by a person stops it (0 never).
    pub min_human_share: f64,
    /// Bland answering only 429 for this long stops every running campaign.
    pub max_throttled: Duration,
}

/// The largest `[account] max_spend_usd_per_day` and `[pricing]` amounts.
pub const MAX_DAILY_SPEND_USD: f64 = 10_000_000.0;
pub const MAX_PRICE_USD: f64 = 100.0;

#[derive(Debug, Clone)]
pub struct HttpSection {
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    pub allow_unsigned_webhooks: bool,
    /// A connection must deliver a request's whole header within this; it also ends a
    /// keep-alive connection that sends no next request.
    pub header_read_timeout: Duration,
    /// Reading a request's body and answering it.
    pub request_timeout: Duration,
    /// A connection on which no byte moves either way for this long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; further ones wait in the kernel's backlog.
    pub max_connections: u32,
    /// The file holding the control API's bearer token (`SWITCHBOARD_API_TOKEN` takes
    /// precedence). Required unless `listen` is a loopback address.
    pub api_token_file: Option<PathBuf>,
    /// The largest CSV the API's import upload accepts, in bytes.
    pub max_upload_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct ComplianceSection {
    pub earliest: NaiveTime,
    pub latest: NaiveTime,
    pub max_calls_per_number_per_day: u32,
    /// The operator widened the guard beyond the federal 08:00–21:00 on purpose.
    pub allow_outside_federal_hours: bool,
    /// The state rules in force: the built-in set narrowed by `[compliance.states]`.
    pub rules: std::sync::Arc<crate::compliance::RuleSet>,
}

#[derive(Debug, Clone)]
pub struct StoreSection {
    /// `[store] url`, else `[store] path`.
    pub url: crate::store::StoreUrl,
    /// How long a claim or a send's attempt is a daemon's alone (PostgreSQL).
    pub lease: Duration,
}

/// How the dispatcher works (not what it may do: that is `[account]` and each campaign's
/// `[limits]`). Operators rarely change these; tests set them to milliseconds.
#[derive(Debug, Clone)]
pub struct DispatcherSection {
    pub batch: u32,
    pub send_concurrency: u32,
    pub idle_tick: Duration,
    pub slot_margin: Duration,
    pub poll_margin: Duration,
    pub reconcile_after: Duration,
    pub reconcile_answered_after: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub pacing: bool,
}

/// How outcomes are followed up when no webhook brings them.
#[derive(Debug, Clone)]
pub struct OutcomesSection {
    pub poll_interval: Duration,
    pub poll_batch: u32,
    pub tick: Duration,
    pub answered_by_grace: Duration,
    /// Webhook deliveries older than this are pruned from the inbox.
    pub inbox_retention: Duration,
}

/// How the `[analysis]` worker works (what each campaign may spend is its own
/// `[analysis] max_spend_usd`).
#[derive(Debug, Clone)]
pub struct AnalysisSection {
    /// The part of `[bland] requests_per_minute` analysis may use; the rest is the dispatcher's.
    pub request_share: f64,
    pub batch: u32,
    pub tick: Duration,
    pub lease: Duration,
    pub max_tries: u32,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

/// The most of the account's request budget analysis may take: the dispatcher keeps at least
/// half.
pub const MAX_ANALYSIS_REQUEST_SHARE: f64 = 0.5;

// Every field optional, so each layer says only what it changes.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    bland: RawBland,
    #[serde(default)]
    account: RawAccount,
    #[serde(default)]
    pricing: RawPricing,
    #[serde(default)]
    safety: RawSafety,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    compliance: RawCompliance,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    dispatcher: RawDispatcher,
    #[serde(default)]
    outcomes: RawOutcomes,
    #[serde(default)]
    analysis: RawAnalysis,
    #[serde(default)]
    log: RawLog,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBland {
    base_url: Option<String>,
    api_key_file: Option<PathBuf>,
    webhook_secret_file: Option<PathBuf>,
    encrypted_key_file: Option<PathBuf>,
    requests_per_minute: Option<u32>,
    connect_timeout: Option<String>,
    request_timeout: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    calls_per_minute: Option<u32>,
    calls_per_hour: Option<u32>,
    calls_per_day: Option<u32>,
    max_concurrent: Option<u32>,
    max_spend_usd_per_day: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPricing {
    per_minute_usd: Option<f64>,
    minimum_charge_usd: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSafety {
    window: Option<u32>,
    max_failure_share: Option<f64>,
    min_human_share: Option<f64>,
    max_throttled: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<String>,
    public_url: Option<String>,
    allow_unsigned_webhooks: Option<bool>,
    header_read_timeout: Option<String>,
    request_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<u32>,
    api_token_file: Option<PathBuf>,
    max_upload_mb: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCompliance {
    earliest: Option<String>,
    latest: Option<String>,
    max_calls_per_number_per_day: Option<u32>,
    allow_outside_federal_hours: Option<bool>,
    /// `[compliance.states.XX]` overrides of the state rules (checked by `compliance`).
    states: Option<toml::Table>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<PathBuf>,
    url: Option<String>,
    lease: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDispatcher {
    batch: Option<u32>,
    send_concurrency: Option<u32>,
    idle_tick: Option<String>,
    slot_margin: Option<String>,
    poll_margin: Option<String>,
    reconcile_after: Option<String>,
    reconcile_answered_after: Option<String>,
    min_backoff: Option<String>,
    max_backoff: Option<String>,
    pacing: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOutcomes {
    poll_interval: Option<String>,
    poll_batch: Option<u32>,
    tick: Option<String>,
    answered_by_grace: Option<String>,
    inbox_retention: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAnalysis {
    request_share: Option<f64>,
    batch: Option<u32>,
    tick: Option<String>,
    lease: Option<String>,
    max_tries: Option<u32>,
    min_backoff: Option<String>,
    max_backoff: Option<String>,
}

macro_rules! overlay {
    ($base:expr, $top:expr; $($section:ident . $($field:ident),+);+ $(;)?) => {
        $( $( if $top.$section.$field.is_some() { $base.$section.$field = $top.$section.$field; } )+ )+
    };
}

impl Raw {
    fn overlay(&mut self, top: Raw) {
        overlay!(self, top;
            bland.base_url, api_key_file, webhook_secret_file, encrypted_key_file, requests_per_minute, connect_timeout,
                request_timeout;
            account.calls_per_minute, calls_per_hour, calls_per_day, max_concurrent, max_spend_usd_per_day;
            pricing.per_minute_usd, minimum_charge_usd;
            safety.window, max_failure_share, min_human_share, max_throttled;
            http.listen, public_url, allow_unsigned_webhooks, header_read_timeout, request_timeout, idle_timeout,
                max_connections, api_token_file, max_upload_mb;
            compliance.earliest, latest, max_calls_per_number_per_day, allow_outside_federal_hours, states;
            store.path, url, lease;
            dispatcher.batch, send_concurrency, idle_tick, slot_margin, poll_margin, reconcile_after,
                reconcile_answered_after, min_backoff,
                max_backoff, pacing;
            outcomes.poll_interval, poll_batch, tick, answered_by_grace, inbox_retention;
            analysis.request_share, batch, tick, lease, max_tries, min_backoff, max_backoff;
            log.format;
        );
    }
}

impl DaemonConfig {
    /// The built-in defaults alone.
    pub fn defaults() -> Self {
        Self::load_layers(None, std::iter::empty()).expect("the embedded default config is valid")
    }

    /// Defaults, then the file at `path` (when given), then `SWITCHBOARD_<SECTION>__<KEY>`
    /// variables from `env`.
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let file = match path {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
                    file: p.display().to_string(),
                    line: None,
                    key: None,
                    message: format!("cannot read the config file: {e}"),
                })?;
                Some((p.display().to_string(), text))
            }
        };
        Self::load_layers(file.as_ref().map(|(n, t)| (n.as_str(), t.as_str())), env)
    }

    fn load_layers(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let defaults = SourceFile::new("<built-in config>", DEFAULT_CONFIG);
        let mut raw: Raw = toml::from_str(DEFAULT_CONFIG).map_err(|e| defaults.toml_error(&e))?;
        let mut origin = "<built-in config>".to_string();
        if let Some((name, text)) = file {
            let src = SourceFile::new(name, text);
            raw.overlay(toml::from_str(text).map_err(|e| src.toml_error(&e))?);
            origin = name.to_string();
        }
        let env_toml = env_overrides(env);
        if !env_toml.is_empty() {
            let src = SourceFile::new("<SWITCHBOARD_* environment>", &env_toml);
            raw.overlay(toml::from_str(&env_toml).map_err(|e| src.toml_error(&e))?);
            origin.push_str(" + environment");
        }
        Self::validate(raw, &origin)
    }

    fn validate(raw: Raw, origin: &str) -> Result<Self, ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            file: origin.to_string(),
            line: None,
            key: Some(key.to_string()),
            message,
        };
        let required = |key: &str| err(key, "is required".into());
        let dur = |key: &str, v: Option<String>| -> Result<Duration, ConfigError> {
            let v = v.ok_or_else(|| required(key))?;
            parse_duration(&v).map_err(|m| err(key, m))
        };
        let time = |key: &str, v: Option<String>| -> Result<NaiveTime, ConfigError> {
            let v = v.ok_or_else(|| required(key))?;
            NaiveTime::parse_from_str(v.trim(), "%H:%M")
                .map_err(|_| err(key, format!("`{v}` is not a time of day (expected HH:MM)")))
        };
        let positive = |key: &str, v: Option<u32>| -> Result<u32, ConfigError> {
            match v {
                Some(n) if n > 0 => Ok(n),
                Some(_) => Err(err(key, "must be at least 1".into())),
                None => Err(required(key)),
            }
        };

        let base_url = raw.bland.base_url.ok_or_else(|| required("bland.base_url"))?;
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(err("bland.base_url", format!("`{base_url}` is not an http(s) URL")));
        }
        let listen_text = raw.http.listen.clone().ok_or_else(|| required("http.listen"))?;
        let listen = listen_text.parse().map_err(|_| {
            err("http.listen", format!("`{listen_text}` is not an address (expected e.g. 127.0.0.1:8080)"))
        })?;
        let public_url = raw.http.public_url.clone().filter(|u| !u.trim().is_empty());
        if let Some(u) = &public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(err("http.public_url", format!("`{u}` is not an http(s) URL")));
        }
        // Operating knobs: bounded so that a typo cannot spin a loop (a zero tick), flood Bland
        // (thousands of sends at once) or stall the daemon for hours.
        let in_range = |key: &str, v: Option<u32>, min: u32, max: u32| -> Result<u32, ConfigError> {
            match v {
                Some(n) if (min..=max).contains(&n) => Ok(n),
                Some(n) => Err(err(key, format!("{n} is out of range: must be from {min} to {max}"))),
                None => Err(required(key)),
            }
        };
        let dur_in = |key: &str, v: Option<String>, min: Duration, max: Duration| -> Result<Duration, ConfigError> {
            let d = dur(key, v)?;
            if d < min || d > max {
                return Err(err(
                    key,
                    format!(
                        "{} is out of range: must be from {} to {}",
                        format_duration(d),
                        format_duration(min),
                        format_duration(max)
                    ),
                ));
            }
            Ok(d)
        };
        let (ms, s, h) = (Duration::milliseconds, Duration::seconds, Duration::hours);
        let d = raw.dispatcher;
        let store = {
            let url = match (raw.store.url, raw.store.path) {
                (Some(url), _) => crate::store::StoreUrl::parse(&url).map_err(|e| err("store.url", e))?,
                (None, Some(path)) => crate::store::StoreUrl::Sqlite(path),
                (None, None) => return Err(required("store.path")),
            };
            let lease = dur_in("store.lease", raw.store.lease, Duration::seconds(10), Duration::minutes(10))?;
            // A send must be over (answered or timed out) well before its attempt's lease is, or
            // another daemon could settle an attempt whose call is still on its way to Bland.
            let send_timeout = dur("bland.request_timeout", raw.bland.request_timeout.clone())?;
            if lease < send_timeout + Duration::seconds(10) {
                return Err(err(
                    "store.lease",
                    format!(
                        "{} is too short: it must exceed bland.request_timeout ({}) by at least 10s",
                        format_duration(lease),
                        format_duration(send_timeout)
                    ),
                ));
            }
            StoreSection { url, lease }
        };
        let dispatcher = DispatcherSection {
            batch: in_range("dispatcher.batch", d.batch, 1, 10_000)?,
            send_concurrency: in_range("dispatcher.send_concurrency", d.send_concurrency, 1, 1_024)?,
            idle_tick: dur_in("dispatcher.idle_tick", d.idle_tick, ms(1), s(60))?,
            slot_margin: dur_in("dispatcher.slot_margin", d.slot_margin, Duration::zero(), h(24))?,
            poll_margin: dur_in("dispatcher.poll_margin", d.poll_margin, Duration::zero(), h(24))?,
            reconcile_after: dur_in("dispatcher.reconcile_after", d.reconcile_after, Duration::zero(), h(1))?,
            reconcile_answered_after: dur_in(
                "dispatcher.reconcile_answered_after",
                d.reconcile_answered_after,
                Duration::zero(),
                h(1),
            )?,
            min_backoff: dur_in("dispatcher.min_backoff", d.min_backoff, ms(1), h(1))?,
            max_backoff: dur_in("dispatcher.max_backoff", d.max_backoff, ms(1), h(1))?,
            pacing: d.pacing.ok_or_else(|| required("dispatcher.pacing"))?,
        };
        if dispatcher.reconcile_answered_after > dispatcher.reconcile_after {
            return Err(err(
                "dispatcher.reconcile_answered_after",
                "must be at most dispatcher.reconcile_after (an answered failure is the surer one)".into(),
            ));
        }
        if dispatcher.max_backoff < dispatcher.min_backoff {
            return Err(err("dispatcher.max_backoff", "must be at least dispatcher.min_backoff".into()));
        }
        let o = raw.outcomes;
        let outcomes = OutcomesSection {
            poll_interval: dur_in("outcomes.poll_interval", o.poll_interval, ms(1), h(1))?,
            poll_batch: in_range("outcomes.poll_batch", o.poll_batch, 1, 10_000)?,
            tick: dur_in("outcomes.tick", o.tick, ms(1), s(60))?,
            answered_by_grace: dur_in("outcomes.answered_by_grace", o.answered_by_grace, Duration::zero(), h(1))?,
            inbox_retention: dur_in("outcomes.inbox_retention", o.inbox_retention, h(24), h(24 * 3650))?,
        };
        let a = raw.analysis;
        let analysis = AnalysisSection {
            request_share: match a.request_share {
                Some(x) if x > 0.0 && x <= MAX_ANALYSIS_REQUEST_SHARE => x,
                Some(x) => {
                    return Err(err(
                        "analysis.request_share",
                        format!(
                            "{x} is out of range: must be above 0 and at most {MAX_ANALYSIS_REQUEST_SHARE} \
                             (the dispatcher keeps the rest of [bland] requests_per_minute)"
                        ),
                    ));
                }
                None => return Err(required("analysis.request_share")),
            },
            batch: in_range("analysis.batch", a.batch, 1, 1_000)?,
            tick: dur_in("analysis.tick", a.tick, ms(1), s(60))?,
            lease: dur_in("analysis.lease", a.lease, s(10), h(24))?,
            max_tries: in_range("analysis.max_tries", a.max_tries, 1, 100)?,
            min_backoff: dur_in("analysis.min_backoff", a.min_backoff, ms(1), h(24))?,
            max_backoff: dur_in("analysis.max_backoff", a.max_backoff, ms(1), h(24))?,
        };
        if analysis.max_backoff < analysis.min_backoff {
            return Err(err("analysis.max_backoff", "must be at least analysis.min_backoff".into()));
        }
        let earliest = time("compliance.earliest", raw.compliance.earliest)?;
        let latest = time("compliance.latest", raw.compliance.latest)?;
        if latest <= earliest {
            return Err(err("compliance.latest", "must be after compliance.earliest".into()));
        }
        // The guard is the last line between a campaign's typo and a call at 6 a.m.: widening
        // it beyond the federal hours must be a decision written down, not a slip.
        let allow_outside_federal_hours = raw.compliance.allow_outside_federal_hours.unwrap_or(false);
        if !allow_outside_federal_hours {
            let (first, last) = federal_hours();
            if earliest < first {
                return Err(err(
                    "compliance.earliest",
                    format!(
                        "{} is before 08:00, the US federal (TCPA) earliest hour; to widen the guard on purpose \
                         also set [compliance] allow_outside_federal_hours = true",
                        earliest.format("%H:%M")
                    ),
                ));
            }
            if latest > last {
                return Err(err(
                    "compliance.latest",
                    format!(
                        "{} is after 21:00, the US federal (TCPA) latest hour; to widen the guard on purpose \
                         also set [compliance] allow_outside_federal_hours = true",
                        latest.format("%H:%M")
                    ),
                ));
            }
        }
        // Amounts: bounded and finite, so no typo reads as "no limit" or breaks the arithmetic.
        let amount = |key: &str, v: Option<f64>, min_exclusive: bool, max: f64| -> Result<Option<f64>, ConfigError> {
            match v {
                None => Ok(None),
                Some(x) if x.is_finite() && (x > 0.0 || (!min_exclusive && x == 0.0)) && x <= max => Ok(Some(x)),
                Some(x) => Err(err(
                    key,
                    format!(
                        "{x} is out of range: must be {} and at most {max} (USD)",
                        if min_exclusive { "above 0" } else { "0 or more" }
                    ),
                )),
            }
        };
        let pricing = PricingSection {
            per_minute_usd: amount("pricing.per_minute_usd", raw.pricing.per_minute_usd, true, MAX_PRICE_USD)?
                .ok_or_else(|| required("pricing.per_minute_usd"))?,
            minimum_charge_usd: amount(
                "pricing.minimum_charge_usd",
                raw.pricing.minimum_charge_usd,
                false,
                MAX_PRICE_USD,
            )?
            .ok_or_else(|| required("pricing.minimum_charge_usd"))?,
        };
        let share = |key: &str, v: Option<f64>| -> Result<f64, ConfigError> {
            match v {
                Some(x) if (0.0..=1.0).contains(&x) => Ok(x),
                Some(x) => Err(err(key, format!("{x} is out of range: must be a share from 0 to 1"))),
                None => Err(required(key)),
            }
        };
        let safety = SafetySection {
            window: in_range("safety.window", raw.safety.window, 10, 10_000)?,
            max_failure_share: share("safety.max_failure_share", raw.safety.max_failure_share)?,
            min_human_share: share("safety.min_human_share", raw.safety.min_human_share)?,
            max_throttled: dur_in("safety.max_throttled", raw.safety.max_throttled, s(10), h(24))?,
        };
        let max_spend_usd_per_day =
            amount("account.max_spend_usd_per_day", raw.account.max_spend_usd_per_day, true, MAX_DAILY_SPEND_USD)?;
        let rules = state_rules(raw.compliance.states).map_err(|(key, message)| err(&key, message))?;
        let hx = raw.http;
        let http = HttpSection {
            listen,
            public_url,
            allow_unsigned_webhooks: hx.allow_unsigned_webhooks.unwrap_or(false),
            header_read_timeout: dur_in("http.header_read_timeout", hx.header_read_timeout, ms(100), s(300))?,
            request_timeout: dur_in("http.request_timeout", hx.request_timeout, ms(100), s(600))?,
            idle_timeout: dur_in("http.idle_timeout", hx.idle_timeout, ms(100), h(1))?,
            max_connections: in_range("http.max_connections", hx.max_connections, 1, 65_536)?,
            api_token_file: hx.api_token_file,
            max_upload_bytes: u64::from(in_range("http.max_upload_mb", hx.max_upload_mb, 1, 10_240)?) << 20,
        };
        // A request being answered moves no bytes: the idle timeout must not cut it short.
        if http.idle_timeout < http.request_timeout {
            return Err(err("http.idle_timeout", "must be at least http.request_timeout".into()));
        }
        // Unsigned webhooks are for a machine's own tests; on an address others can reach,
        // anyone could post call outcomes.
        if http.allow_unsigned_webhooks && !http.listen.ip().is_loopback() {
            return Err(err(
                "http.allow_unsigned_webhooks",
                format!(
                    "is allowed only when [http] listen is a loopback address (127.0.0.1, ::1), not {}: \
                     set BLAND_WEBHOOK_SECRET (or [bland] webhook_secret_file) instead",
                    http.listen
                ),
            ));
        }
        Ok(DaemonConfig {
            bland: BlandSection {
                base_url: base_url.trim_end_matches('/').to_string(),
                api_key_file: raw.bland.api_key_file,
                webhook_secret_file: raw.bland.webhook_secret_file,
                encrypted_key_file: raw.bland.encrypted_key_file,
                requests_per_minute: positive("bland.requests_per_minute", raw.bland.requests_per_minute)?,
                connect_timeout: dur("bland.connect_timeout", raw.bland.connect_timeout)?,
                request_timeout: dur("bland.request_timeout", raw.bland.request_timeout)?,
            },
            account: AccountSection {
                calls_per_minute: positive("account.calls_per_minute", raw.account.calls_per_minute)?,
                calls_per_hour: positive("account.calls_per_hour", raw.account.calls_per_hour)?,
                calls_per_day: positive("account.calls_per_day", raw.account.calls_per_day)?,
                max_concurrent: positive("account.max_concurrent", raw.account.max_concurrent)?,
                max_spend_usd_per_day,
            },
            pricing,
            safety,
            http,
            compliance: ComplianceSection {
                earliest,
                latest,
                // A number called more than a few times a day is harassment, whatever the caps.
                max_calls_per_number_per_day: in_range(
                    "compliance.max_calls_per_number_per_day",
                    raw.compliance.max_calls_per_number_per_day,
                    1,
                    10,
                )?,
                allow_outside_federal_hours,
                rules,
            },
            store,
            dispatcher,
            outcomes,
            analysis,
            log: LogSection {
                format: raw
                    .log
                    .format
                    .ok_or_else(|| required("log.format"))?
                    .parse()
                    .map_err(|e: String| err("log.format", e))?,
            },
        })
    }

    /// The compliance guard as the window module applies it.
    pub fn compliance(&self) -> Compliance {
        Compliance { earliest: self.compliance.earliest, latest: self.compliance.latest }
    }

    /// The Bland API key: `BLAND_API_KEY`, else the file `bland.api_key_file`, else none.
    pub fn api_key(&self, env: impl Fn(&str) -> Option<String>) -> Result<Option<Secret>, ConfigError> {
        read_secret("BLAND_API_KEY", self.bland.api_key_file.as_deref(), "bland.api_key_file", env)
    }

    /// The BYOT `encrypted_key` (own Twilio account): `BLAND_ENCRYPTED_KEY`, else the file
    /// `bland.encrypted_key_file`, else none. Never in a campaign spec, where it would be stored.
    pub fn encrypted_key(&self, env: impl Fn(&str) -> Option<String>) -> Result<Option<Secret>, ConfigError> {
        read_secret("BLAND_ENCRYPTED_KEY", self.bland.encrypted_key_file.as_deref(), "bland.encrypted_key_file", env)
    }

    /// The control API's bearer token: `SWITCHBOARD_API_TOKEN`, else the file
    /// `http.api_token_file`, else none (the API is then open, which `serve` allows only on a
    /// loopback address).
    pub fn api_token(&self, env: impl Fn(&str) -> Option<String>) -> Result<Option<Secret>, ConfigError> {
        read_secret("SWITCHBOARD_API_TOKEN", self.http.api_token_file.as_deref(), "http.api_token_file", env)
    }

    /// The webhook signing secret: `BLAND_WEBHOOK_SECRET`, else `bland.webhook_secret_file`.
    pub fn webhook_secret(&self, env: impl Fn(&str) -> Option<String>) -> Result<Option<Secret>, ConfigError> {
        read_secret("BLAND_WEBHOOK_SECRET", self.bland.webhook_secret_file.as_deref(), "bland.webhook_secret_file", env)
    }
}

/// The US federal (TCPA) calling hours, recipient local time: the guard's widest default.
pub fn federal_hours() -> (NaiveTime, NaiveTime) {
    (NaiveTime::from_hms_opt(8, 0, 0).expect("valid time"), NaiveTime::from_hms_opt(21, 0, 0).expect("valid time"))
}

fn read_secret(
    var: &str,
    file: Option<&Path>,
    key: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(v) = env(var).filter(|v| !v.trim().is_empty()) {
        return Ok(Some(Secret::new(v.trim())));
    }
    let Some(path) = file else { return Ok(None) };
    // The error names the file, never its content.
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: None,
        key: Some(key.to_string()),
        message: format!("cannot read the secret file: {}", e.kind()),
    })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(ConfigError {
            file: path.display().to_string(),
            line: None,
            key: Some(key.to_string()),
            message: "the secret file is empty".into(),
        });
    }
    Ok(Some(Secret::new(value)))
}

/// `SWITCHBOARD_ACCOUNT__CALLS_PER_HOUR=5000` → `[account]\ncalls_per_hour = 5000`. A value that
/// is not a TOML literal (a bare path, an address) is taken as a string, and so is one TOML would
/// read as a date or time: `09:00` is a time of day to switchboard, written as a string.
/// The built-in state rules narrowed by the config's `[compliance.states]`; on error the key
/// and the message.
fn state_rules(states: Option<toml::Table>) -> Result<std::sync::Arc<RuleSet>, (String, String)> {
    let builtin = RuleSet::builtin();
    let Some(table) = states else {
        return Ok(std::sync::Arc::new(builtin.clone()));
    };
    let overrides: StateOverrides = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| ("compliance.states".to_owned(), e.message().trim().to_owned()))?;
    builtin.with_overrides(&overrides).map(std::sync::Arc::new).map_err(|e| (e.key, e.message))
}

fn env_overrides(env: impl IntoIterator<Item = (String, String)>) -> String {
    let mut sections: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("SWITCHBOARD_") else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        let literal = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
            Ok(t) if !matches!(t.get("v"), Some(toml::Value::Datetime(_))) => value,
            _ => toml::Value::String(value).to_string(),
        };
        sections.entry(section.to_ascii_lowercase()).or_default().push((key.to_ascii_lowercase(), literal));
    }
    let mut out = String::new();
    for (section, keys) in sections {
        out.push_str(&format!("[{section}]\n"));
        for (k, v) in keys {
            out.push_str(&format!("{k} = {v}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_log_format_is_text_by_default_json_on_request_and_nothing_else() {
        assert_eq!(DaemonConfig::defaults().log.format, LogFormat::Text);
        let json = DaemonConfig::load(None, env(&[("SWITCHBOARD_LOG__FORMAT", "json")])).unwrap();
        assert_eq!(json.log.format, LogFormat::Json);
        let bad = DaemonConfig::load(None, env(&[("SWITCHBOARD_LOG__FORMAT", "xml")])).unwrap_err().to_string();
        assert!(bad.contains("log.format") && bad.contains("text or json"), "{bad}");
    }

    #[test]
    fn the_embedded_default_parses_to_the_documented_values() {
        let c = DaemonConfig::defaults();
        assert_eq!(c.bland.base_url, "https://api.bland.ai");
        assert_eq!(c.bland.requests_per_minute, 100);
        assert_eq!(c.account.calls_per_hour, 20000);
        assert_eq!(c.account.max_concurrent, 10);
        assert_eq!(c.compliance.earliest, NaiveTime::from_hms_opt(8, 0, 0).unwrap());
        assert_eq!(c.compliance.latest, NaiveTime::from_hms_opt(21, 0, 0).unwrap());
        assert_eq!(c.store.url, crate::store::StoreUrl::Sqlite(PathBuf::from("switchboard.db")));
        assert!(c.http.public_url.is_none());
    }

    #[test]
    fn a_file_overrides_only_the_keys_it_names_and_env_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[account]\ncalls_per_hour = 500\n[store]\npath = \"/tmp/x.db\"\n").unwrap();
        let c = DaemonConfig::load(
            Some(&path),
            env(&[("SWITCHBOARD_ACCOUNT__CALLS_PER_HOUR", "300"), ("SWITCHBOARD_HTTP__LISTEN", "127.0.0.1:9999")]),
        )
        .unwrap();
        assert_eq!(c.account.calls_per_hour, 300);
        assert_eq!(c.account.calls_per_day, 100000);
        assert_eq!(c.store.url, crate::store::StoreUrl::Sqlite(PathBuf::from("/tmp/x.db")));
        assert_eq!(c.http.listen.port(), 9999);
    }

    #[test]
    fn an_unknown_key_names_file_line_and_the_likely_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[account]\ncalls_per_hour = 5\ncals_per_day = 9\n").unwrap();
        let e = DaemonConfig::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(e.contains("c.toml:3:1"), "{e}");
        assert!(e.contains("did you mean `calls_per_day`"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = DaemonConfig::load(None, env(&[("SWITCHBOARD_COMPLIANCE__LATEST", "25:00")])).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("compliance.latest"));
        assert!(e.message.contains("`25:00` is not a time of day"), "{e}");
    }

    #[test]
    fn the_operating_knobs_default_to_the_values_the_daemon_always_used() {
        let c = DaemonConfig::defaults();
        let d = &c.dispatcher;
        assert_eq!((d.batch, d.send_concurrency, d.pacing), (500, 64, true));
        assert_eq!(d.idle_tick, Duration::milliseconds(200));
        assert_eq!(d.slot_margin, Duration::minutes(5));
        assert_eq!(d.poll_margin, Duration::minutes(2));
        assert_eq!(d.reconcile_after, Duration::seconds(30));
        assert_eq!((d.min_backoff, d.max_backoff), (Duration::seconds(1), Duration::seconds(60)));
        let o = &c.outcomes;
        assert_eq!(o.poll_interval, Duration::seconds(60));
        assert_eq!(o.poll_batch, 50);
        assert_eq!(o.tick, Duration::milliseconds(500));
        assert_eq!(o.answered_by_grace, Duration::seconds(90));
    }

    #[test]
    fn an_operating_knob_out_of_range_is_refused_naming_the_key() {
        let e = DaemonConfig::load(None, env(&[("SWITCHBOARD_DISPATCHER__BATCH", "0")])).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("dispatcher.batch"));
        assert!(e.message.contains("out of range"), "{e}");
        let e = DaemonConfig::load(None, env(&[("SWITCHBOARD_DISPATCHER__SEND_CONCURRENCY", "100000")])).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("dispatcher.send_concurrency"));
        let e = DaemonConfig::load(None, env(&[("SWITCHBOARD_OUTCOMES__TICK", "0s")])).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("outcomes.tick"));
        assert!(e.to_string().contains("outcomes.tick"), "{e}");
        let e = DaemonConfig::load(None, env(&[("SWITCHBOARD_DISPATCHER__MAX_BACKOFF", "10ms")])).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("dispatcher.max_backoff"));
        let ok = DaemonConfig::load(None, env(&[("SWITCHBOARD_OUTCOMES__POLL_INTERVAL", "250ms")])).unwrap();
        assert_eq!(ok.outcomes.poll_interval, Duration::milliseconds(250));
    }

    #[test]
    fn the_analysis_knobs_have_bounded_defaults_and_analysis_never_takes_most_of_the_request_budget() {
        let a = DaemonConfig::defaults().analysis;
        assert_eq!((a.request_share, a.batch, a.max_tries), (0.25, 20, 5));
        assert_eq!((a.tick, a.lease), (Duration::seconds(1), Duration::minutes(10)));
        assert_eq!((a.min_backoff, a.max_backoff), (Duration::seconds(30), Duration::hours(1)));
        for (key, value) in [
            ("REQUEST_SHARE", "0.6"),
            ("REQUEST_SHARE", "0"),
            ("REQUEST_SHARE", "nan"),
            ("BATCH", "0"),
            ("BATCH", "1001"),
            ("TICK", "0s"),
            ("LEASE", "1s"),
            ("LEASE", "99999999999d"),
            ("MAX_TRIES", "0"),
            ("MIN_BACKOFF", "2d"),
        ] {
            let e = DaemonConfig::load(None, env(&[(&format!("SWITCHBOARD_ANALYSIS__{key}"), value)])).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(format!("analysis.{}", key.to_ascii_lowercase()).as_str()), "{e}");
        }
        let e = DaemonConfig::load(None, env(&[("SWITCHBOARD_ANALYSIS__MAX_BACKOFF", "1s")])).unwrap_err();
        assert!(e.message.contains("at least analysis.min_backoff"), "{e}");
        let ok = DaemonConfig::load(None, env(&[("SWITCHBOARD_ANALYSIS__REQUEST_SHARE", "0.5")])).unwrap();
        assert_eq!(ok.analysis.request_share, 0.5);
    }

    #[test]
    fn compliance_hours_outside_the_federal_guard_are_refused_unless_allowed_explicitly() {
        let e = DaemonConfig::load(None, env(&[("SWITCHBOARD_COMPLIANCE__EARLIEST", "07:00")])).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("compliance.earliest"));
        assert!(e.message.contains("allow_outside_federal_hours"), "{e}");
        let e = DaemonConfig::load(None, env(&[("SWITCHBOARD_COMPLIANCE__LATEST", "\"21:30\"")])).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("compliance.latest"));
        let c = DaemonConfig::load(
            None,
            env(&[
                ("SWITCHBOARD_COMPLIANCE__EARLIEST", "07:00"),
                ("SWITCHBOARD_COMPLIANCE__ALLOW_OUTSIDE_FEDERAL_HOURS", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(c.compliance.earliest, NaiveTime::from_hms_opt(7, 0, 0).unwrap());
        assert!(c.compliance.allow_outside_federal_hours);
        assert!(!DaemonConfig::defaults().compliance.allow_outside_federal_hours);
    }

    #[test]
    fn state_rule_overrides_narrow_the_built_in_rules_and_widening_ones_are_refused() {
        assert_eq!(DaemonConfig::defaults().compliance.rules.version(), "2026-12-01");
        let file = |text: &str| DaemonConfig::load_layers(Some(("site.toml", text)), std::iter::empty());
        let c = file("[compliance.states.FL]\nhours = { \"mon-fri\" = \"09:00-17:00\" }\n").unwrap();
        assert!(c.compliance.rules.version().starts_with("2026-12-01+config."));
        let fl = crate::compliance::Region::parse("FL").unwrap();
        assert!(c.compliance.rules.state(fl).unwrap().hours.as_ref().unwrap().narrowed);
        let e = file("[compliance.states.FL]\nfrequency_cap = \"none\"\n").unwrap_err();
        assert_eq!(e.file, "site.toml");
        assert_eq!(e.key.as_deref(), Some("compliance.states.FL.frequency_cap"));
        assert!(e.to_string().contains("overrides may only narrow the state rules"), "{e}");
        let e = file("[compliance.states.FL]\nhourz = {}\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("compliance.states"));
        assert!(e.message.contains("unknown field `hourz`"), "{e}");
    }

    #[test]
    fn an_unquoted_time_of_day_in_the_environment_is_read_as_documented() {
        let c = DaemonConfig::load(None, env(&[("SWITCHBOARD_COMPLIANCE__EARLIEST", "09:00")])).unwrap();
        assert_eq!(c.compliance.earliest, NaiveTime::from_hms_opt(9, 0, 0).unwrap());
    }

    #[test]
    fn calls_per_number_per_day_is_bounded() {
        for bad in ["0", "11", "1000"] {
            let e = DaemonConfig::load(None, env(&[("SWITCHBOARD_COMPLIANCE__MAX_CALLS_PER_NUMBER_PER_DAY", bad)]))
                .unwrap_err();
            assert_eq!(e.key.as_deref(), Some("compliance.max_calls_per_number_per_day"), "{bad}: {e}");
        }
        let ok = DaemonConfig::load(None, env(&[("SWITCHBOARD_COMPLIANCE__MAX_CALLS_PER_NUMBER_PER_DAY", "10")]));
        assert_eq!(ok.unwrap().compliance.max_calls_per_number_per_day, 10);
    }

    #[test]
    fn unsigned_webhooks_are_refused_on_an_address_others_can_reach() {
        let e = DaemonConfig::load(
            None,
            env(&[("SWITCHBOARD_HTTP__ALLOW_UNSIGNED_WEBHOOKS", "true"), ("SWITCHBOARD_HTTP__LISTEN", "0.0.0.0:8080")]),
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("http.allow_unsigned_webhooks"));
        assert!(e.message.contains("loopback"), "{e}");
        for listen in ["127.0.0.1:8080", "[::1]:8080"] {
            let c = DaemonConfig::load(
                None,
                env(&[("SWITCHBOARD_HTTP__ALLOW_UNSIGNED_WEBHOOKS", "true"), ("SWITCHBOARD_HTTP__LISTEN", listen)]),
            )
            .unwrap();
            assert!(c.http.allow_unsigned_webhooks);
        }
    }

    #[test]
    fn the_http_limits_and_inbox_retention_have_bounded_defaults() {
        let c = DaemonConfig::defaults();
        assert_eq!(c.http.header_read_timeout, Duration::seconds(10));
        assert_eq!(c.http.request_timeout, Duration::seconds(30));
        assert_eq!(c.http.idle_timeout, Duration::seconds(60));
        assert_eq!(c.http.max_connections, 512);
        assert_eq!(c.outcomes.inbox_retention, Duration::days(30));
        for (var, value, key) in [
            ("SWITCHBOARD_HTTP__HEADER_READ_TIMEOUT", "0s", "http.header_read_timeout"),
            ("SWITCHBOARD_HTTP__REQUEST_TIMEOUT", "1d", "http.request_timeout"),
            ("SWITCHBOARD_HTTP__IDLE_TIMEOUT", "2h", "http.idle_timeout"),
            ("SWITCHBOARD_HTTP__MAX_CONNECTIONS", "0", "http.max_connections"),
            ("SWITCHBOARD_HTTP__MAX_CONNECTIONS", "1000000", "http.max_connections"),
            ("SWITCHBOARD_OUTCOMES__INBOX_RETENTION", "1h", "outcomes.inbox_retention"),
            ("SWITCHBOARD_OUTCOMES__INBOX_RETENTION", "5000d", "outcomes.inbox_retention"),
        ] {
            let e = DaemonConfig::load(None, env(&[(var, value)])).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{var}={value}: {e}");
        }
    }

    #[test]
    fn the_api_token_comes_from_its_variable_or_file_and_uploads_are_bounded() {
        let c = DaemonConfig::defaults();
        assert!(c.api_token(|_| None).unwrap().is_none(), "no token by default");
        assert_eq!(c.http.max_upload_bytes, 100 << 20);
        let t = c.api_token(|v| (v == "SWITCHBOARD_API_TOKEN").then(|| " tok \n".to_string())).unwrap();
        assert_eq!(t.unwrap().expose(), "tok");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("api_token");
        std::fs::write(&file, "from-file\n").unwrap();
        let c = DaemonConfig::load(
            None,
            env(&[
                ("SWITCHBOARD_HTTP__API_TOKEN_FILE", file.to_str().unwrap()),
                ("SWITCHBOARD_HTTP__MAX_UPLOAD_MB", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.api_token(|_| None).unwrap().unwrap().expose(), "from-file");
        assert_eq!(c.http.max_upload_bytes, 1 << 20);
        std::fs::write(&file, "\n").unwrap();
        let e = c.api_token(|_| None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("http.api_token_file"));
        for bad in ["0", "10241"] {
            let e = DaemonConfig::load(None, env(&[("SWITCHBOARD_HTTP__MAX_UPLOAD_MB", bad)])).unwrap_err();
            assert_eq!(e.key.as_deref(), Some("http.max_upload_mb"), "{bad}");
        }
    }

    #[test]
    fn secrets_come_from_env_first_then_file_and_errors_never_show_them() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        std::fs::write(&key_file, "file-secret\n").unwrap();
        let mut c = DaemonConfig::defaults();
        c.bland.api_key_file = Some(key_file);
        let from_env = c.api_key(|v| (v == "BLAND_API_KEY").then(|| "env-secret".to_string())).unwrap();
        assert_eq!(from_env.unwrap().expose(), "env-secret");
        let from_file = c.api_key(|_| None).unwrap().unwrap();
        assert_eq!(from_file.expose(), "file-secret");
        assert_eq!(format!("{from_file:?}"), "[redacted]");
        c.bland.webhook_secret_file = Some(dir.path().join("missing"));
        let e = c.webhook_secret(|_| None).unwrap_err().to_string();
        assert!(e.contains("missing") && e.contains("cannot read"), "{e}");
        // The BYOT key is read the same way, and only there.
        assert!(c.encrypted_key(|_| None).unwrap().is_none());
        let byot = c.encrypted_key(|v| (v == "BLAND_ENCRYPTED_KEY").then(|| "enc-env".to_string())).unwrap();
        assert_eq!(byot.unwrap().expose(), "enc-env");
        c.bland.encrypted_key_file = Some(dir.path().join("key"));
        assert_eq!(c.encrypted_key(|_| None).unwrap().unwrap().expose(), "file-secret");
    }
}
