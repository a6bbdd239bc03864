//! `/api/v1/dnc`: the do-not-call list, over [`crate::dnc`] as `switchboard dnc add|list`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiState, ErrorBody, read_body};
use crate::dnc::Added;

/// The largest list one request may add (about 250,000 numbers).
const BODY_LIMIT: u64 = 8 << 20;

/// Numbers to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNumbers {
    /// As operators write them: E.164 (`+14155552671`) or national (`(415) 555-2671`).
    pub numbers: Vec<String>,
    /// Why (kept with each number and shown on suppressed jobs) [default: operator request].
    pub reason: Option<String>,
}

/// A number on the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct DncNumber {
    /// E.164.
    pub phone: String,
    pub reason: String,
    pub added_at: chrono::DateTime<chrono::Utc>,
}

/// Adds numbers to the do-not-call list; queued jobs calling them in any campaign are suppressed
/// at once. One number that is not a phone number refuses the whole list.
#[utoipa::path(
    post,
    path = "/api/v1/dnc",
    tag = "dnc",
    request_body(content = AddNumbers, content_type = "application/json"),
    responses(
        (status = 200, description = "Added", body = Added),
        (status = 400, description = "Not JSON of this shape, or a number that is not one (named)", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 413, description = "Over 8 MiB", body = ErrorBody),
    )
)]
pub async fn add(State(s): State<ApiState>, headers: HeaderMap, body: Body) -> Result<Json<Added>, ApiError> {
    let bytes = read_body(&headers, body, BODY_LIMIT, "the list").await?;
    let req: AddNumbers = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            "bad_request",
            format!("request body: {e} (expected {{\"numbers\": [\"+14155552671\"], \"reason\": \"…\"}})"),
        )
    })?;
    if req.numbers.is_empty() {
        return Err(ApiError::bad_request("bad_request", "request body: `numbers` is empty"));
    }
    let reason = req.reason.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| "operator request".into());
    Ok(Json(crate::dnc::add(&s.store, &req.numbers, &reason, s.clock.now()).await?))
}

/// Every number on the do-not-call list, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/dnc",
    tag = "dnc",
    responses(
        (status = 200, description = "The list", body = Vec<DncNumber>),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    )
)]
pub async fn list(State(s): State<ApiState>) -> Result<Json<Vec<DncNumber>>, ApiError> {
    let entries = crate::dnc::list(&s.store).await?;
    Ok(Json(
        entries.into_iter().map(|e| DncNumber { phone: e.phone, reason: e.reason, added_at: e.added_at }).collect(),
    ))
}
