//! The HTTP client: one method per Bland endpoint switchboard uses, with timeouts, the shared
//! request-rate budget and retries.
//!
//! Typed requests enter, are serialised once and sent with the API key (and the BYOT
//! `encrypted_key`) as headers marked sensitive; answers leave as the types of
//! [`super::types`] or as a classified [`BlandError`]. Retries use `backon` (exponential, optional
//! jitter, capped, `Retry-After` honoured up to a bound). Reads, stops and analyses retry on any
//! transient failure or 429; `send_call` retries only when the call was certainly not placed (429,
//! connection refused), because re-sending after a timeout or 5xx could ring a person twice.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use governor::DefaultDirectRateLimiter;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};
use serde_json::Value;

use super::errors::{BlandError, TransientKind, classify_response};
use super::types::{
    Account, AnalyzeRequest, AnalyzeResponse, BatchAnalyzeResponse, CallDetails, ListCallsQuery, ListCallsResponse,
    SendCallRequest, SendCallResponse, StopResponse,
};
use crate::metrics::{Endpoint, Metrics};
use crate::secret::Secret;

/// How failed requests are tried again. Tests set the delays to milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the first retry; doubles each time.
    pub min_delay: Duration,
    /// Cap on one delay (jitter included).
    pub max_delay: Duration,
    /// Attempts in total, the first included; 1 disables retries.
    pub max_attempts: u32,
    /// Cap on the sum of the delays; `None` for no cap.
    pub max_elapsed: Option<Duration>,
    /// Spread delays randomly (up to ×2, still capped) so many workers do not retry in step.
    pub jitter: bool,
    /// A 429 whose `Retry-After` is longer than this is returned at once instead of slept on, so
    /// the caller can slow the whole account down rather than block one request.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_attempts: 5,
            max_elapsed: Some(Duration::from_secs(120)),
            jitter: true,
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    fn backoff(&self) -> ExponentialBuilder {
        let builder = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_total_delay(self.max_elapsed);
        if self.jitter { builder.with_jitter() } else { builder }
    }

    /// The wait before the next attempt: backon's delay capped at `max_delay`, stretched to a
    /// 429's `Retry-After`; `None` (give up) when backon is exhausted or `Retry-After` is longer
    /// than `max_retry_after`.
    fn next_delay(&self, err: &BlandError, backoff: Option<Duration>) -> Option<Duration> {
        let delay = backoff?.min(self.max_delay);
        match err.retry_after() {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait.max(delay)),
            None => Some(delay),
        }
    }
}

/// Everything the client needs; secrets stay redacted in `Debug`.
#[derive(Clone)]
pub struct BlandClientConfig {
    /// `https://api.bland.ai`, or the simulator's `http://127.0.0.1:PORT`.
    pub base_url: String,
    pub api_key: Secret,
    /// BYOT (own Twilio) accounts only: sent as the `encrypted_key` header.
    pub encrypted_key: Option<Secret>,
    pub connect_timeout: Duration,
    /// Whole request, answer body included.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// The account's request budget, shared by every client of the same API key; each attempt
    /// (retries included) waits for a cell.
    pub rate_limiter: Option<Arc<DefaultDirectRateLimiter>>,
    /// Where each request's latency, each 429 and what Bland says of the key are counted.
    pub metrics: Metrics,
}

impl BlandClientConfig {
    /// Defaults: 5 s to connect, 30 s per request, [`RetryPolicy::default`], no rate limiter.
    pub fn new(base_url: impl Into<String>, api_key: Secret) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            encrypted_key: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            rate_limiter: None,
            metrics: Metrics::default(),
        }
    }
}

impl fmt::Debug for BlandClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlandClientConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("encrypted_key", &self.encrypted_key)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("rate_limited", &self.rate_limiter.is_some())
            .finish()
    }
}

/// Why a client could not be built (bad configuration).
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("[bland] base_url `{url}` is not a usable http(s) URL: {reason} (expected e.g. https://api.bland.ai)")]
    BaseUrl { url: String, reason: String },
    #[error(
        "the Bland {which} contains characters not allowed in an HTTP header (check for a stray newline in the key file)"
    )]
    BadSecret { which: &'static str },
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A Bland API client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    retry: RetryPolicy,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    metrics: Metrics,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base.as_str())
            .field("retry", &self.retry)
            .field("rate_limited", &self.limiter.is_some())
            .finish_non_exhaustive()
    }
}

/// Which failures a call retries on.
#[derive(Clone, Copy)]
enum RetryOn {
    /// Any transient failure or 429: the request is safe to repeat.
    AnyRetryable,
    /// Only when the request certainly had no effect (429, connection never made).
    NotActedOn,
}

impl RetryOn {
    fn allows(self, err: &BlandError) -> bool {
        match self {
            Self::AnyRetryable => err.is_retryable(),
            Self::NotActedOn => {
                matches!(err, BlandError::RateLimited { .. })
                    || matches!(err, BlandError::Transient { kind: TransientKind::Connect, .. })
            }
        }
    }
}

impl Client {
    pub fn new(config: BlandClientConfig) -> Result<Self, ClientBuildError> {
        let base = parse_base_url(&config.base_url)?;
        let mut headers = HeaderMap::new();
        headers.insert("authorization", secret_header(&config.api_key, "API key")?);
        if let Some(key) = &config.encrypted_key {
            headers.insert("encrypted_key", secret_header(key, "encrypted_key")?);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the API key to wherever the Location points, and turn a
            // POST into a GET on the way: Bland does not redirect, so one is an error.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http, base, retry: config.retry, limiter: config.rate_limiter, metrics: config.metrics })
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `POST /v1/calls`. Retried only on 429 and connection failures; any other failure is
    /// returned at once — check [`BlandError::is_ambiguous_send`] before sending again.
    pub async fn send_call(&self, req: &SendCallRequest) -> Result<SendCallResponse, BlandError> {
        const OP: &str = "send call";
        let body = serde_json::to_vec(req)
            .map_err(|e| BlandError::Decode { op: OP, detail: format!("cannot encode the request: {e}") })?;
        let url = self.url(&["v1", "calls"]);
        let value = self
            .with_retry(OP, RetryOn::NotActedOn, || {
                self.attempt((OP, Endpoint::SendCall), Method::POST, url.clone(), Some(body.clone()))
            })
            .await?;
        match SendCallResponse::from_value(&value) {
            Some(resp) => Ok(resp),
            None if value.get("status").and_then(Value::as_str) == Some("error") => Err(BlandError::Permanent {
                op: OP,
                status: 200,
                body: super::errors::ApiErrorBody::parse(value.to_string().as_bytes()),
            }),
            None => Err(BlandError::Decode { op: OP, detail: "success answer without a call_id".into() }),
        }
    }

    /// `GET /v1/calls/{call_id}`.
    pub async fn call_details(&self, call_id: &str) -> Result<CallDetails, BlandError> {
        const OP: &str = "get call details";
        let url = self.url(&["v1", "calls", call_id]);
        let value = self.get((OP, Endpoint::CallDetails), url).await?;
        CallDetails::from_value(value).map_err(|detail| BlandError::Decode { op: OP, detail })
    }

    /// `GET /v1/calls` with filters.
    pub async fn list_calls(&self, query: &ListCallsQuery) -> Result<ListCallsResponse, BlandError> {
        const OP: &str = "list calls";
        let mut url = self.url(&["v1", "calls"]);
        {
            let pairs = query.to_pairs();
            if !pairs.is_empty() {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, &v);
                }
            }
        }
        let value = self.get((OP, Endpoint::ListCalls), url).await?;
        ListCallsResponse::from_value(&value).map_err(|detail| BlandError::Decode { op: OP, detail })
    }

    /// `POST /v1/calls/{call_id}/stop`.
    pub async fn stop_call(&self, call_id: &str) -> Result<StopResponse, BlandError> {
        const OP: &str = "stop call";
        let url = self.url(&["v1", "calls", call_id, "stop"]);
        let value = self.post_idempotent((OP, Endpoint::StopCall), url, None).await?;
        Ok(StopResponse::from_value(&value))
    }

    /// `POST /v1/calls/active/stop`: ends every active call of the account.
    pub async fn stop_active_calls(&self) -> Result<StopResponse, BlandError> {
        const OP: &str = "stop all active calls";
        let url = self.url(&["v1", "calls", "active", "stop"]);
        let value = self.post_idempotent((OP, Endpoint::StopActiveCalls), url, None).await?;
        Ok(StopResponse::from_value(&value))
    }

    /// `POST /v1/calls/{call_id}/analyze`.
    pub async fn analyze_call(&self, call_id: &str, req: &AnalyzeRequest) -> Result<AnalyzeResponse, BlandError> {
        const OP: &str = "analyze call";
        let url = self.url(&["v1", "calls", call_id, "analyze"]);
        let body = encode(OP, req)?;
        let value = self.post_idempotent((OP, Endpoint::AnalyzeCall), url, Some(body)).await?;
        AnalyzeResponse::from_value(value).map_err(|detail| BlandError::Decode { op: OP, detail })
    }

    /// `POST /v1/batches/{batch_id}/analyze`.
    pub async fn analyze_batch(
        &self,
        batch_id: &str,
        req: &AnalyzeRequest,
    ) -> Result<BatchAnalyzeResponse, BlandError> {
        const OP: &str = "analyze batch";
        let url = self.url(&["v1", "batches", batch_id, "analyze"]);
        let body = encode(OP, req)?;
        let value = self.post_idempotent((OP, Endpoint::AnalyzeBatch), url, Some(body)).await?;
        BatchAnalyzeResponse::from_value(value).map_err(|detail| BlandError::Decode { op: OP, detail })
    }

    /// `GET /v1/me`: account status and balance (pre-flight check of the key).
    pub async fn me(&self) -> Result<Account, BlandError> {
        const OP: &str = "get account details";
        let value = self.get((OP, Endpoint::Me), self.url(&["v1", "me"])).await?;
        Account::from_value(value).map_err(|detail| BlandError::Decode { op: OP, detail })
    }

    // -----------------------------------------------------------------------------------------

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut().expect("checked to be a base URL at construction").pop_if_empty().extend(segments);
        url
    }

    async fn get(&self, op: Op, url: Url) -> Result<Value, BlandError> {
        self.with_retry(op.0, RetryOn::AnyRetryable, || self.attempt(op, Method::GET, url.clone(), None)).await
    }

    async fn post_idempotent(&self, op: Op, url: Url, body: Option<Vec<u8>>) -> Result<Value, BlandError> {
        self.with_retry(op.0, RetryOn::AnyRetryable, || self.attempt(op, Method::POST, url.clone(), body.clone())).await
    }

    async fn with_retry<F, Fut>(&self, op: &'static str, on: RetryOn, attempt: F) -> Result<Value, BlandError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Value, BlandError>>,
    {
        let policy = &self.retry;
        attempt
            .retry(policy.backoff())
            .sleep(tokio::time::sleep)
            .when(|e| on.allows(e))
            .adjust(|e, d| policy.next_delay(e, d))
            .notify(|e, d| {
                tracing::warn!(op, error = %e, retry_in_ms = d.as_millis() as u64, "Bland request failed; retrying");
            })
            .await
    }

    /// One attempt: wait for the rate budget, send, read the whole answer (timed and counted
    /// by endpoint), classify.
    async fn attempt(&self, op: Op, method: Method, url: Url, body: Option<Vec<u8>>) -> Result<Value, BlandError> {
        let (op, endpoint) = op;
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        let mut req = self.http.request(method, url);
        if let Some(body) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        // Wall-clock, not the injected clock: this measures the network.
        let started = std::time::Instant::now();
        let answer = async {
            let resp = req.send().await?;
            let status = resp.status();
            let retry_after = resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
            let location = resp.headers().get(reqwest::header::LOCATION).cloned();
            let bytes = if status.is_redirection() { Default::default() } else { resp.bytes().await? };
            Ok::<_, reqwest::Error>((status.as_u16(), retry_after, location, bytes))
        }
        .await;
        let status = answer.as_ref().ok().map(|a| a.0);
        self.metrics.bland_request(endpoint, started.elapsed(), status);
        let (status, retry_after, location, bytes) = answer.map_err(|e| BlandError::from_transport(op, e))?;
        if (300..400).contains(&status) {
            return Err(redirect_error(op, status, location.as_ref()));
        }
        tracing::debug!(op, status, "Bland answered");
        if !(200..300).contains(&status) {
            return Err(classify_response(op, status, retry_after.as_deref(), &bytes, chrono::Utc::now()));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| BlandError::Decode { op, detail: format!("answer is not JSON: {e}") })
    }
}

/// A 3xx, never followed. Read as an unreadable answer: a POST redirected after the server acted
/// on it may have placed the call, so a send answered this way is looked up, never re-sent.
/// An operation's name (for errors and logs) and the endpoint it calls (for metrics).
type Op = (&'static str, Endpoint);

fn redirect_error(op: &'static str, status: u16, location: Option<&HeaderValue>) -> BlandError {
    let location = location.map_or_else(
        || "no Location".to_string(),
        |l| format!("Location `{}`", String::from_utf8_lossy(l.as_bytes()).chars().take(200).collect::<String>()),
    );
    BlandError::Decode {
        op,
        detail: format!(
            "HTTP {status} redirect to {location}, not followed (switchboard follows no redirects: \
             check [bland] base_url)"
        ),
    }
}

fn encode(op: &'static str, req: &impl serde::Serialize) -> Result<Vec<u8>, BlandError> {
    serde_json::to_vec(req).map_err(|e| BlandError::Decode { op, detail: format!("cannot encode the request: {e}") })
}

fn parse_base_url(raw: &str) -> Result<Url, ClientBuildError> {
    let bad = |reason: &str| ClientBuildError::BaseUrl { url: raw.to_string(), reason: reason.to_string() };
    let url = Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(bad("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    Ok(url)
}

fn secret_header(secret: &Secret, which: &'static str) -> Result<HeaderValue, ClientBuildError> {
    let mut value = HeaderValue::from_str(secret.expose().trim()).map_err(|_| ClientBuildError::BadSecret { which })?;
    // Keeps the value out of hyper's and reqwest's debug output.
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            max_attempts: 3,
            max_elapsed: None,
            jitter: false,
            max_retry_after: Duration::from_secs(5),
        }
    }

    fn rate_limited(retry_after: Option<Duration>) -> BlandError {
        BlandError::RateLimited { op: "x", retry_after }
    }

    #[test]
    fn retry_after_stretches_the_delay_but_a_long_one_is_handed_back() {
        let p = policy();
        let d = Some(Duration::from_millis(10));
        assert_eq!(p.next_delay(&rate_limited(None), d), d);
        assert_eq!(p.next_delay(&rate_limited(Some(Duration::from_secs(2))), d), Some(Duration::from_secs(2)));
        assert_eq!(p.next_delay(&rate_limited(Some(Duration::from_secs(60))), d), None);
        assert_eq!(p.next_delay(&rate_limited(None), None), None);
        assert_eq!(
            p.next_delay(&rate_limited(None), Some(Duration::from_secs(9))),
            Some(Duration::from_millis(100)),
            "jittered delays are capped"
        );
    }

    #[test]
    fn send_retries_only_what_certainly_had_no_effect() {
        let transient = |kind| BlandError::Transient { op: "send call", kind, status: None, detail: String::new() };
        assert!(RetryOn::NotActedOn.allows(&rate_limited(None)));
        assert!(RetryOn::NotActedOn.allows(&transient(TransientKind::Connect)));
        assert!(!RetryOn::NotActedOn.allows(&transient(TransientKind::Timeout)));
        assert!(!RetryOn::NotActedOn.allows(&transient(TransientKind::Server)));
        assert!(RetryOn::AnyRetryable.allows(&transient(TransientKind::Server)));
    }

    #[test]
    fn base_urls_are_checked_and_paths_are_appended_with_escaping() {
        for bad in ["api.bland.ai", "ftp://x", "https://x/?a=b", ""] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
        let mut config = BlandClientConfig::new("http://127.0.0.1:9/", Secret::new("k"));
        config.retry = policy();
        let client = Client::new(config).unwrap();
        assert_eq!(client.url(&["v1", "calls", "a/b c"]).as_str(), "http://127.0.0.1:9/v1/calls/a%2Fb%20c");
        let client = Client::new(BlandClientConfig::new("https://proxy.example/bland", Secret::new("k"))).unwrap();
        assert_eq!(client.url(&["v1", "me"]).as_str(), "https://proxy.example/bland/v1/me");
    }

    #[test]
    fn debug_output_never_shows_the_keys() {
        let mut config = BlandClientConfig::new("http://127.0.0.1:9", Secret::new("sk-SECRET-1"));
        config.encrypted_key = Some(Secret::new("enc-SECRET-2"));
        let text = format!("{config:?}");
        assert!(!text.contains("SECRET"), "{text}");
        let client = Client::new(config).unwrap();
        let text = format!("{client:?}");
        assert!(!text.contains("SECRET"), "{text}");
    }

    #[test]
    fn a_key_with_a_newline_is_refused_without_showing_it() {
        let config = BlandClientConfig::new("http://127.0.0.1:9", Secret::new("sk-1\nx"));
        let err = Client::new(config).unwrap_err().to_string();
        assert!(!err.contains("sk-1"), "{err}");
        assert!(err.contains("API key"), "{err}");
    }
}
