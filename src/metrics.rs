//! What the daemon tells Prometheus: one registry of typed metric families ([`Metrics`]),
//! created once by the daemon and handed to the parts that count (the Bland client, the
//! dispatcher, the outcome writer and webhook receiver, the analysis worker), plus the gauges
//! read from the database when `/metrics` is scraped ([`db`]) and the HTTP side — `/metrics`,
//! `/healthz`, `/readyz` ([`http`]).
//!
//! Events enter as method calls ([`Metrics::call_placed`], [`Metrics::bland_request`], …) that
//! bump counters and histograms in memory; database state enters at scrape time as a
//! [`db::DbGauges`] snapshot. Everything leaves as Prometheus text (format 0.0.4) from
//! [`Metrics::render`]. Names follow Prometheus' conventions: the `switchboard_` prefix, `_total`
//! on counters, seconds and US dollars as units. Labels come from small fixed sets (states,
//! outcomes, error classes, endpoints) and campaign ids, which operators choose and which are
//! few; never a phone number, call id, attempt id or job id.
//!
//! Parts built without a daemon (the CLI, tests) take [`Metrics::default`]: a registry of their
//! own that nobody scrapes.

pub mod db;
pub mod http;

use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::store::Outcome;

pub use db::DbGauges;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Declares a fieldless enum of label values, each with its text.
macro_rules! label_values {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }
    };
}

label_values! {
    /// Why Bland did not place a call that was sent (`switchboard_send_errors_total`).
    pub enum SendError {
        RateLimited = "rate_limited",
        KeyRefused = "key_refused",
        Rejected = "rejected",
        Unreachable = "unreachable",
        Ambiguous = "ambiguous",
    }
}

label_values! {
    /// How reconciling an attempt left `dialing` ended.
    pub enum Reconciled {
        Found = "found",
        Requeued = "requeued",
        Left = "left",
    }
}

label_values! {
    /// How a webhook delivery ended: what applying it did, or why it was refused.
    pub enum WebhookResult {
        Applied = "applied",
        Updated = "updated",
        Duplicate = "duplicate",
        NotFinal = "not_final",
        Unmatched = "unmatched",
        BadSignature = "bad_signature",
        TooLarge = "too_large",
        Malformed = "malformed",
        /// Could not be stored (503: Bland delivers it again).
        Error = "error",
    }
}

impl From<crate::store::Applied> for WebhookResult {
    fn from(a: crate::store::Applied) -> Self {
        use crate::store::Applied;
        match a {
            Applied::Applied => Self::Applied,
            Applied::Updated => Self::Updated,
            Applied::Duplicate => Self::Duplicate,
            Applied::NotFinal => Self::NotFinal,
            Applied::Unmatched => Self::Unmatched,
        }
    }
}

label_values! {
    /// How an analysis request ended.
    pub enum AnalysisRequest {
        Answered = "answered",
        Retried = "retried",
        Failed = "failed",
    }
}

label_values! {
    /// The Bland endpoints switchboard calls: a fixed set, never a path with an id in it.
    pub enum Endpoint {
        SendCall = "send_call",
        CallDetails = "call_details",
        ListCalls = "list_calls",
        StopCall = "stop_call",
        StopActiveCalls = "stop_active_calls",
        AnalyzeCall = "analyze_call",
        AnalyzeBatch = "analyze_batch",
        Me = "me",
    }
}

label_values! {
    /// What Bland last said of the API key (`switchboard_bland_key`, and `/readyz`).
    pub enum KeyState {
        /// No answer from Bland yet.
        Unchecked = "unchecked",
        Accepted = "accepted",
        /// A 401 or 403.
        Refused = "refused",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CampaignLabels {
    campaign: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    campaign: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StopLabels {
    campaign: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

/// Bland answers in milliseconds to tens of seconds (the request timeout): 5 ms … 41 s.
fn bland_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// A webhook is one group-committed transaction: 0.5 ms … 4 s.
fn webhook_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// The families, each registered once in `registry`.
struct Families {
    calls_dispatched: Family<CampaignLabels, Counter>,
    call_outcomes: Family<OutcomeLabels, Counter>,
    send_errors: Family<ClassLabels, Counter>,
    rate_limited: Family<EndpointLabels, Counter>,
    retries_scheduled: Family<CampaignLabels, Counter>,
    reconciliations: Family<ResultLabels, Counter>,
    webhooks: Family<ResultLabels, Counter>,
    analysis_requests: Family<ResultLabels, Counter>,
    safety_stops: Family<StopLabels, Counter>,
    webhook_duration: Histogram,
    bland_duration: Family<EndpointLabels, Histogram>,
}

struct Inner {
    registry: Registry,
    families: Families,
    key: Arc<AtomicU8>,
    db: Arc<DbCollector>,
}

/// The daemon's metrics: cheap to clone (one registry behind an `Arc`).
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let f = Families {
            calls_dispatched: Family::default(),
            call_outcomes: Family::default(),
            send_errors: Family::default(),
            rate_limited: Family::default(),
            retries_scheduled: Family::default(),
            reconciliations: Family::default(),
            webhooks: Family::default(),
            analysis_requests: Family::default(),
            safety_stops: Family::default(),
            webhook_duration: webhook_buckets(),
            bland_duration: Family::new_with_constructor(bland_buckets),
        };
        registry.register(
            "calls_dispatched",
            "Calls Bland accepted (placed), by campaign; a call whose send was ambiguous counts when the reconciler \
             finds it",
            f.calls_dispatched.clone(),
        );
        registry.register(
            "call_outcomes",
            "Outcomes recorded for placed calls (first recording only, not late corrections), by campaign and outcome",
            f.call_outcomes.clone(),
        );
        registry.register(
            "send_errors",
            "Sends Bland did not place, by class: rate_limited (429), key_refused (401/403), rejected (other 4xx), \
             unreachable (no connection), ambiguous (may have been placed; reconciled)",
            f.send_errors.clone(),
        );
        registry.register(
            "bland_rate_limited",
            "HTTP 429 answers from Bland, by endpoint, including those the client retried",
            f.rate_limited.clone(),
        );
        registry.register(
            "retries_scheduled",
            "Calls whose outcome scheduled another attempt by the campaign's retry policy, by campaign",
            f.retries_scheduled.clone(),
        );
        registry.register(
            "reconciliations",
            "Attempts left dialing (crash, ambiguous send) settled by the reconciler, by result: found (placed), \
             requeued (proven absent), left (still unknown, tried again)",
            f.reconciliations.clone(),
        );
        registry.register(
            "webhooks",
            "Webhook deliveries by result: applied, updated, duplicate, not_final, unmatched; refused as \
             bad_signature, too_large, malformed; error when they could not be stored",
            f.webhooks.clone(),
        );
        registry.register(
            "analysis_requests",
            "Analysis requests to Bland by result: answered, retried (asked again later), failed (given up)",
            f.analysis_requests.clone(),
        );
        registry.register(
            "safety_stops",
            "Campaigns paused by a safety stop ([safety]), by campaign and reason: calls (too many failures or too \
             few people answering over the last calls), throttled (429s for too long)",
            f.safety_stops.clone(),
        );
        registry.register_with_unit(
            "webhook_duration",
            "Time to handle a webhook delivery, from its body read to the answer",
            Unit::Seconds,
            f.webhook_duration.clone(),
        );
        registry.register_with_unit(
            "bland_request_duration",
            "Time of each HTTP request to Bland (retries counted one by one; the wait for the request budget \
             not included), by endpoint",
            Unit::Seconds,
            f.bland_duration.clone(),
        );
        let key = Arc::new(AtomicU8::new(KeyState::Unchecked as u8));
        let db = Arc::new(DbCollector { key: key.clone(), snapshot: Mutex::default() });
        registry.register_collector(Box::new(db.clone()));
        // Label sets from fixed lists start at zero, so a rate over them is defined before the
        // first event and an alert on them never sees a missing series.
        for c in SendError::ALL {
            let _ = f.send_errors.get_or_create(&ClassLabels { class: c.as_str() });
        }
        for e in Endpoint::ALL {
            let _ = f.rate_limited.get_or_create(&EndpointLabels { endpoint: e.as_str() });
        }
        for r in Reconciled::ALL {
            let _ = f.reconciliations.get_or_create(&ResultLabels { result: r.as_str() });
        }
        for r in WebhookResult::ALL {
            let _ = f.webhooks.get_or_create(&ResultLabels { result: r.as_str() });
        }
        for r in AnalysisRequest::ALL {
            let _ = f.analysis_requests.get_or_create(&ResultLabels { result: r.as_str() });
        }
        Self(Arc::new(Inner { registry, families: f, key, db }))
    }

    fn f(&self) -> &Families {
        &self.0.families
    }

    /// A call Bland accepted.
    pub fn call_placed(&self, campaign: &str) {
        self.f().calls_dispatched.get_or_create(&CampaignLabels { campaign: campaign.to_string() }).inc();
    }

    /// The first outcome recorded for a call.
    pub fn outcome_recorded(&self, campaign: &str, outcome: Outcome) {
        let labels = OutcomeLabels { campaign: campaign.to_string(), outcome: outcome.as_str() };
        self.f().call_outcomes.get_or_create(&labels).inc();
    }

    /// A send Bland did not place (or may not have).
    pub fn send_error(&self, class: SendError) {
        self.f().send_errors.get_or_create(&ClassLabels { class: class.as_str() }).inc();
    }

    /// A campaign paused by a safety stop (`reason`: `calls` or `throttled`).
    pub fn safety_stop(&self, campaign: &str, reason: &'static str) {
        self.f().safety_stops.get_or_create(&StopLabels { campaign: campaign.to_string(), reason }).inc();
    }

    /// An outcome that put its job back in line for another attempt.
    pub fn retry_scheduled(&self, campaign: &str) {
        self.f().retries_scheduled.get_or_create(&CampaignLabels { campaign: campaign.to_string() }).inc();
    }

    /// `n` attempts reconciled with `result`.
    pub fn reconciled(&self, result: Reconciled, n: u32) {
        self.f().reconciliations.get_or_create(&ResultLabels { result: result.as_str() }).inc_by(u64::from(n));
    }

    /// A webhook delivery handled in `took`.
    pub fn webhook(&self, result: WebhookResult, took: Duration) {
        self.f().webhooks.get_or_create(&ResultLabels { result: result.as_str() }).inc();
        self.f().webhook_duration.observe(took.as_secs_f64());
    }

    /// An analysis request that ended with `result`.
    pub fn analysis_request(&self, result: AnalysisRequest) {
        self.f().analysis_requests.get_or_create(&ResultLabels { result: result.as_str() }).inc();
    }

    /// One HTTP request to Bland's `endpoint` that took `took` and was answered with `status`
    /// (`None`: no answer). A 429 is counted; a 401 or 403 marks the key refused, a 2xx accepted.
    pub fn bland_request(&self, endpoint: Endpoint, took: Duration, status: Option<u16>) {
        let labels = EndpointLabels { endpoint: endpoint.as_str() };
        self.f().bland_duration.get_or_create(&labels).observe(took.as_secs_f64());
        match status {
            Some(429) => {
                self.f().rate_limited.get_or_create(&labels).inc();
            }
            Some(401 | 403) => self.0.key.store(KeyState::Refused as u8, Ordering::Relaxed),
            Some(200..300) => self.0.key.store(KeyState::Accepted as u8, Ordering::Relaxed),
            _ => {}
        }
    }

    /// What Bland last said of the API key.
    pub fn key_state(&self) -> KeyState {
        KeyState::ALL.get(usize::from(self.0.key.load(Ordering::Relaxed))).copied().unwrap_or(KeyState::Unchecked)
    }

    /// The database's state for the next renders (see [`db::DbGauges::read`]).
    pub fn set_db_gauges(&self, gauges: Arc<DbGauges>) {
        *self.0.db.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = Some(gauges);
    }

    /// Every metric, as Prometheus text (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.0.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Encodes the gauges known only at scrape time: the last [`DbGauges`] snapshot and the key's
/// state.
#[derive(Debug)]
struct DbCollector {
    key: Arc<AtomicU8>,
    snapshot: Mutex<Option<Arc<DbGauges>>>,
}

impl Collector for DbCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let key = self.key.load(Ordering::Relaxed);
        gauge_family::<_, i64, AtomicI64>(
            &mut encoder,
            "bland_key",
            "What Bland last answered about the API key: 1 for the current state (unchecked, accepted, refused), \
             0 for the others",
            KeyState::ALL.iter().map(|s| (StateLabel { state: s.as_str() }, i64::from(*s as u8 == key))),
        )?;
        let snapshot = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match snapshot {
            Some(db) => db.encode(&mut encoder),
            None => Ok(()),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// Encodes one gauge family of `rows` (nothing when there are none).
fn gauge_family<L, N, A>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, N)>,
) -> Result<(), std::fmt::Error>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    Gauge<N, A>: EncodeMetric + prometheus_client::metrics::TypedMetric + Default,
    A: prometheus_client::metrics::gauge::Atomic<N>,
{
    let family: Family<L, Gauge<N, A>> = Family::default();
    for (labels, value) in rows {
        family.get_or_create(&labels).set(value);
    }
    if family.is_empty() {
        return Ok(());
    }
    let help = format!("{help}.");
    let metric = encoder.encode_descriptor(name, &help, None, family.metric_type())?;
    family.encode(metric)
}

#[cfg(test)]
mod tests;
