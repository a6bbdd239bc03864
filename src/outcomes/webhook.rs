//! The webhook receiver, `POST /webhooks/bland`: checks the signature (unless the operator
//! explicitly allowed unsigned webhooks), parses the call details and hands them, with the raw
//! body for the inbox, to [`Outcomes::apply`]. It answers 200 once the delivery is stored, 401 /
//! 400 / 413 for deliveries it refuses, and 503 when storing failed, so that Bland delivers
//! again. Each delivery is counted by result and timed (`switchboard_webhooks_total`,
//! `switchboard_webhook_duration_seconds`).
//! Unauthenticated bodies are never logged: they may hold personal data.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tracing::warn;

use super::Outcomes;
use crate::bland::{SIGNATURE_HEADER, parse_webhook, verify_signature};
use crate::metrics::WebhookResult;
use crate::secret::Secret;

/// Largest webhook body accepted (Bland's call details with a long transcript fit easily).
pub const WEBHOOK_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// How the webhook receiver checks signatures.
#[derive(Clone)]
pub enum WebhookAuth {
    Secret(Secret),
    /// Only when the operator allowed unsigned webhooks explicitly.
    Unsigned,
}

#[derive(Clone)]
struct WebhookState {
    outcomes: Arc<Outcomes>,
    auth: WebhookAuth,
}

/// `POST /webhooks/bland`.
pub fn webhook_router(outcomes: Arc<Outcomes>, auth: WebhookAuth) -> Router {
    Router::new()
        .route("/webhooks/bland", post(receive_webhook))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
        .with_state(WebhookState { outcomes, auth })
}

async fn receive_webhook(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (StatusCode, &'static str) {
    let started = std::time::Instant::now();
    let (result, answer) = handle(&state, &headers, body).await;
    state.outcomes.metrics.webhook(result, started.elapsed());
    answer
}

/// What one delivery did, for the metrics, and the answer to it.
async fn handle(
    state: &WebhookState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (WebhookResult, (StatusCode, &'static str)) {
    let body = match body {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            warn!(limit = WEBHOOK_BODY_LIMIT, "webhook refused: body too large");
            return (WebhookResult::TooLarge, (StatusCode::PAYLOAD_TOO_LARGE, "body too large\n"));
        }
        Err(e) => {
            warn!(error = %e, "webhook refused: body unreadable");
            return (WebhookResult::Malformed, (e.status(), "unreadable body\n"));
        }
    };
    if let WebhookAuth::Secret(secret) = &state.auth {
        let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
        let valid = signature.is_some_and(|s| verify_signature(secret, &body, s));
        if !valid {
            // Never log the body: it is unauthenticated and may hold personal data.
            warn!(signed = signature.is_some(), bytes = body.len(), "webhook refused: missing or wrong signature");
            return (WebhookResult::BadSignature, (StatusCode::UNAUTHORIZED, "invalid signature\n"));
        }
    }
    let details = match parse_webhook(&body) {
        Ok(d) => d,
        Err(e) => {
            warn!(error = %e, "webhook refused: unreadable body");
            return (WebhookResult::Malformed, (StatusCode::BAD_REQUEST, "malformed call details\n"));
        }
    };
    let text = String::from_utf8_lossy(&body);
    match state.outcomes.apply(&details, Some(&text)).await {
        Ok(applied) => (applied.into(), (StatusCode::OK, "ok\n")),
        Err(e) => {
            warn!(call_id = %details.call_id, error = %e, "cannot store a webhook; Bland will deliver it again");
            (WebhookResult::Error, (StatusCode::SERVICE_UNAVAILABLE, "try again\n"))
        }
    }
}
