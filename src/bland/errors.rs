//! Classification of every way a Bland request can fail.
//!
//! An HTTP status and body (or a transport error from reqwest) enter [`classify_response`] /
//! [`BlandError::from_transport`]; a [`BlandError`] leaves, sorted into what the caller must do:
//! give up ([`BlandError::Permanent`]), slow down ([`BlandError::RateLimited`]), try again later
//! ([`BlandError::Transient`]) or report a protocol mismatch ([`BlandError::Decode`]). Error texts
//! carry the operation and Bland's own messages, never a header, so the API key cannot leak
//! through them.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Bland's error body, whichever of its two documented shapes arrived:
/// `{"status":"error","message":…,"errors":[…]}` or `{"status":"error","code":…,"message":…,"details":{…}}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiErrorBody {
    pub message: Option<String>,
    /// The per-field validation messages of a 400.
    pub errors: Vec<String>,
    pub code: Option<String>,
    pub details: Option<Value>,
}

impl ApiErrorBody {
    /// Reads either error shape; a body that is not JSON becomes the message (shortened), so an
    /// HTML error page from a proxy still says something useful.
    pub fn parse(body: &[u8]) -> Self {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => {
                let text = |key: &str| match map.get(key) {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Null) | None => None,
                    Some(other) => Some(other.to_string()),
                };
                let errors = match map.get("errors") {
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|v| match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect(),
                    Some(Value::String(s)) => vec![s.clone()],
                    _ => Vec::new(),
                };
                ApiErrorBody {
                    message: text("message").or_else(|| text("error")),
                    errors,
                    code: text("code"),
                    details: map.get("details").filter(|v| !v.is_null()).cloned(),
                }
            }
            _ => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                ApiErrorBody { message: (!text.is_empty()).then(|| shorten(text, 200)), ..Default::default() }
            }
        }
    }
}

impl fmt::Display for ApiErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(code) = &self.code {
            parts.push(format!("[{code}]"));
        }
        if let Some(message) = &self.message {
            parts.push(message.clone());
        }
        if !self.errors.is_empty() {
            parts.push(self.errors.join(" "));
        }
        if let Some(details) = &self.details {
            parts.push(format!("details: {details}"));
        }
        if parts.is_empty() { f.write_str("no error message in the response") } else { f.write_str(&parts.join(" ")) }
    }
}

/// Why a request failed in a way that may pass if tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransientKind {
    /// The connection could not be made: the request never left this machine.
    Connect,
    /// No complete answer within the configured timeout: Bland may have acted on it.
    Timeout,
    /// Bland (or a proxy before it) answered 5xx or 408.
    Server,
    /// The connection broke while the request or answer was in flight.
    Other,
}

/// What the message of every 429 ([`BlandError::RateLimited`]) holds, and no other's: how a
/// stored send error is known as a 429.
pub const RATE_LIMITED_MARK: &str = "(HTTP 429)";

/// Every failure of a Bland request, sorted by what the caller must do about it.
#[derive(Debug, thiserror::Error)]
pub enum BlandError {
    /// Bland refused the request and will refuse it again: 400 (its messages kept), 401, 403,
    /// 404 and any other 4xx except 408 and 429.
    #[error("Bland refused {op} (HTTP {status}): {body}{hint}", hint = permanent_hint(*.status))]
    Permanent { op: &'static str, status: u16, body: ApiErrorBody },
    /// 429: the account's rate or concurrency limit. `retry_after` is Bland's `Retry-After`, when
    /// it sent one. The request was not acted on.
    #[error("Bland rate-limited {op} (HTTP 429){}", retry_after_text(*.retry_after))]
    RateLimited { op: &'static str, retry_after: Option<Duration> },
    /// A failure that may pass later: 5xx, 408, timeouts, connection errors.
    #[error("{op} failed transiently ({kind:?}{}): {detail}", status.map(|s| format!(", HTTP {s}")).unwrap_or_default())]
    Transient { op: &'static str, kind: TransientKind, status: Option<u16>, detail: String },
    /// Bland answered success with a body this client cannot read.
    #[error("cannot read Bland's answer to {op}: {detail}")]
    Decode { op: &'static str, detail: String },
}

fn permanent_hint(status: u16) -> &'static str {
    match status {
        401 => " — check the API key (BLAND_API_KEY or [bland] api_key_file)",
        403 => " — the API key lacks permission for this (check the account or encrypted_key)",
        404 => " — no such call or batch on this account",
        _ => "",
    }
}

fn retry_after_text(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", retry after {}s", d.as_secs_f64()),
        None => ", no Retry-After given".to_string(),
    }
}

impl BlandError {
    /// Whether trying the same request again later can succeed (rate limits and transient
    /// failures). Says nothing about whether it is *safe* to: see [`Self::is_ambiguous_send`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient { .. })
    }

    /// For an error returned by `send_call`: the call may have been placed anyway (timeout, 5xx,
    /// a connection broken in flight, an unreadable success). The caller must look the call up
    /// (list calls by number, matched on its metadata) before sending again — re-sending blindly
    /// could ring the person twice.
    pub fn is_ambiguous_send(&self) -> bool {
        match self {
            Self::Transient { kind, .. } => *kind != TransientKind::Connect,
            Self::Decode { .. } => true,
            Self::Permanent { .. } | Self::RateLimited { .. } => false,
        }
    }

    /// For an ambiguous send: Bland's application answered it with a 5xx of its own (500, 501,
    /// 505…), so its handling of the send had ended and a call it placed is already listed; a
    /// lookup soon after is conclusive. Not for a timeout, a connection cut in flight, an
    /// unreadable success or a gateway's 502/503/504, behind which the send may still be running.
    pub fn answered_by_application(&self) -> bool {
        matches!(self, Self::Transient { status: Some(s), .. } if (500..600).contains(s) && !matches!(s, 502..=504))
    }

    /// True when the request certainly never reached Bland or Bland certainly did not act on it,
    /// so repeating it cannot duplicate anything.
    pub fn certainly_not_acted_on(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Permanent { .. } => true,
            Self::Transient { kind, .. } => *kind == TransientKind::Connect,
            Self::Decode { .. } => false,
        }
    }

    /// Bland's `Retry-After`, for a 429 that carried one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when Bland answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Permanent { status, .. } => Some(*status),
            Self::RateLimited { .. } => Some(429),
            Self::Transient { status, .. } => *status,
            Self::Decode { .. } => None,
        }
    }

    /// Sorts a reqwest transport error. The URL is dropped from the text (it may hold a phone
    /// number in a query); headers — the API key — are never part of reqwest's error text.
    pub fn from_transport(op: &'static str, err: reqwest::Error) -> Self {
        let kind = if err.is_connect() {
            TransientKind::Connect
        } else if err.is_timeout() {
            TransientKind::Timeout
        } else {
            TransientKind::Other
        };
        Self::Transient { op, kind, status: None, detail: error_chain(&err.without_url()) }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Sorts a non-2xx answer. `retry_after` is the raw `Retry-After` header, if any; `now` is used to
/// turn an HTTP-date into a wait.
pub fn classify_response(
    op: &'static str,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> BlandError {
    match status {
        429 => BlandError::RateLimited { op, retry_after: retry_after.and_then(|v| parse_retry_after(v, now)) },
        408 | 500..=599 => BlandError::Transient {
            op,
            kind: if status == 408 { TransientKind::Timeout } else { TransientKind::Server },
            status: Some(status),
            detail: ApiErrorBody::parse(body).to_string(),
        },
        _ => BlandError::Permanent { op, status, body: ApiErrorBody::parse(body) },
    }
}

/// `Retry-After` as delay-seconds (`120`, also a decimal such as `1.5`) or as an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`); a date in the past means "now". Garbage is `None`, which the
/// retry policy treats like an absent header.
/// The longest wait a `Retry-After` is read as: a longer one (or one out of range) is a day, so
/// a hostile or broken header can neither panic the client nor overflow the time it is added to.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs.min(MAX_RETRY_AFTER.as_secs()))
    } else if let Ok(secs) = value.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return None;
        }
        // Capped before the conversion, which panics past u64::MAX seconds (`1e30`).
        Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64()))
    } else {
        let at = DateTime::parse_from_rfc2822(value).ok()?.to_utc();
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max_chars).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z").unwrap().to_utc()
    }

    #[test]
    fn only_a_429_carries_the_rate_limited_mark() {
        for retry_after in [None, Some(Duration::from_secs(3))] {
            let e = BlandError::RateLimited { op: "send call", retry_after };
            assert!(e.to_string().contains(RATE_LIMITED_MARK), "{e}");
        }
        let others = [
            BlandError::Permanent { op: "send call", status: 400, body: ApiErrorBody::default() },
            BlandError::Transient {
                op: "send call",
                kind: TransientKind::Other,
                status: Some(503),
                detail: "unavailable".into(),
            },
            BlandError::Decode { op: "send call", detail: "not JSON".into() },
        ];
        for e in others {
            assert!(!e.to_string().contains(RATE_LIMITED_MARK), "{e}");
        }
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        assert_eq!(parse_retry_after("120", now()), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 1.5 ", now()), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now()), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-3", now()), None);
    }

    #[test]
    fn a_huge_retry_after_is_read_as_the_longest_wait_and_never_panics() {
        for huge in ["1e30", "99999999999999999999", "18446744073709551615", "Fri, 31 Dec 9999 23:59:59 GMT"] {
            assert_eq!(parse_retry_after(huge, now()), Some(MAX_RETRY_AFTER), "{huge}");
        }
        // Whatever the header says, a wait can be added to a time without overflowing.
        let wait = chrono::Duration::from_std(parse_retry_after("1e30", now()).unwrap()).unwrap();
        assert!(now().checked_add_signed(wait).is_some());
    }

    #[test]
    fn a_validation_error_keeps_every_message_bland_sent() {
        let body = br#"{"status":"error","message":"Invalid parameters","errors":["Missing required parameter: phone_number.","Task must be a string."]}"#;
        let err = classify_response("send call", 400, None, body, now());
        let BlandError::Permanent { status, body, .. } = &err else {
            panic!("expected permanent, got {err:?}");
        };
        assert_eq!(*status, 400);
        assert_eq!(body.message.as_deref(), Some("Invalid parameters"));
        assert_eq!(body.errors.len(), 2);
        let text = err.to_string();
        assert!(text.contains("Missing required parameter: phone_number."), "{text}");
        assert!(text.contains("Task must be a string."), "{text}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn the_code_and_details_error_shape_is_kept() {
        let body = br#"{"status":"error","code":"invalid_parameter","message":"Invalid phone number format","details":{"parameter":"phone_number"}}"#;
        let err = classify_response("send call", 400, None, body, now());
        let BlandError::Permanent { body, .. } = &err else {
            panic!("expected permanent");
        };
        assert_eq!(body.code.as_deref(), Some("invalid_parameter"));
        assert_eq!(body.details.as_ref().unwrap()["parameter"], "phone_number");
        assert!(err.to_string().contains("[invalid_parameter]"));
    }

    #[test]
    fn statuses_are_sorted_into_permanent_rate_limited_and_transient() {
        for status in [400, 401, 403, 404, 422] {
            let err = classify_response("x", status, None, b"{}", now());
            assert!(matches!(err, BlandError::Permanent { .. }), "{status}");
            assert!(!err.is_ambiguous_send());
        }
        let err = classify_response("x", 429, Some("7"), b"", now());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        assert!(err.is_retryable() && !err.is_ambiguous_send());
        for status in [408, 500, 502, 503, 504] {
            let err = classify_response("x", status, None, b"oops", now());
            assert!(err.is_retryable(), "{status}");
            assert!(err.is_ambiguous_send(), "{status}");
        }
    }

    #[test]
    fn only_a_5xx_of_bland_s_own_application_says_the_send_s_handling_had_ended() {
        for status in [500, 501, 505, 520] {
            assert!(classify_response("x", status, None, b"oops", now()).answered_by_application(), "{status}");
        }
        // A gateway's answer, a timeout's 408, and failures with no answer: the send may still run.
        for status in [408, 502, 503, 504] {
            assert!(!classify_response("x", status, None, b"oops", now()).answered_by_application(), "{status}");
        }
        for kind in [TransientKind::Timeout, TransientKind::Other, TransientKind::Connect] {
            let err = BlandError::Transient { op: "send call", kind, status: None, detail: String::new() };
            assert!(!err.answered_by_application(), "{kind:?}");
        }
        assert!(!BlandError::Decode { op: "send call", detail: String::new() }.answered_by_application());
    }

    #[test]
    fn a_non_json_error_page_becomes_a_short_message() {
        let page = "<html>".to_string() + &"x".repeat(1000);
        let body = ApiErrorBody::parse(page.as_bytes());
        assert!(body.message.unwrap().chars().count() <= 201);
    }

    #[test]
    fn only_a_connect_error_on_send_is_certainly_not_placed() {
        let mk = |kind| BlandError::Transient { op: "send call", kind, status: None, detail: String::new() };
        assert!(!mk(TransientKind::Connect).is_ambiguous_send());
        assert!(mk(TransientKind::Connect).certainly_not_acted_on());
        assert!(mk(TransientKind::Timeout).is_ambiguous_send());
        assert!(mk(TransientKind::Other).is_ambiguous_send());
        let decode = BlandError::Decode { op: "send call", detail: String::new() };
        assert!(decode.is_ambiguous_send());
    }
}
