//! The Bland AI API client: typed requests, tolerant answers, classified errors, retries.
//!
//! Everything switchboard says to Bland goes through [`Client`] (reqwest over rustls, see
//! `shared/bland-api.md` for the endpoints). Requests enter as typed structs
//! ([`SendCallRequest`], [`ListCallsQuery`], [`AnalyzeRequest`]); answers leave as typed views
//! that keep the raw JSON ([`CallDetails::raw`]) for storage, or as a [`BlandError`] that says
//! whether to give up, slow down or try later, and — for `send_call` — whether the call might
//! have been placed anyway ([`BlandError::is_ambiguous_send`]). Webhook bodies are read by
//! [`parse_webhook`] after [`verify_signature`] has checked them. This module knows nothing about
//! campaigns; the API key and `encrypted_key` live in [`Secret`](crate::secret::Secret)s and never
//! reach a log line or an error text.

mod client;
mod errors;
mod signature;
mod types;

pub use client::{BlandClientConfig, Client, ClientBuildError, RetryPolicy};
pub use errors::{ApiErrorBody, BlandError, RATE_LIMITED_MARK, TransientKind, classify_response, parse_retry_after};
pub use signature::{SIGNATURE_HEADER, sign, verify_signature};
pub use types::{
    Account, AnalyzeRequest, AnalyzeResponse, AnsweredBy, BatchAnalyzeResponse, CallDetails, CallStatus,
    ListCallsQuery, ListCallsResponse, QueueStatus, SendCallFieldError, SendCallRequest, SendCallResponse,
    StopResponse, TranscriptEntry, parse_time, parse_webhook,
};
