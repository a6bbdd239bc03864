//! The API's errors: every failure leaves as `{"error": {"code", "message"}}` with the status
//! that says whose fault it was. A message written for an operator (a spec's line and key, the
//! CSV line, the state a campaign is in) is passed on as it is; a failure of the machine (the
//! database, the disk) is logged in full and answered with a 500 that shows none of it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::campaigns::CampaignError;
use crate::dnc::DncError;
use crate::import::ImportError;
use crate::store::StoreError;

/// A failed request.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// What every error response carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `bad_request`, `invalid_spec`, `frozen_keys`, `wrong_campaign`,
    /// `invalid_csv`, `bad_number`, `unauthorized`, `not_found`, `method_not_allowed`,
    /// `not_allowed`, `conflict`, `payload_too_large`, `unsupported_media_type`, `internal`.
    pub code: String,
    /// For people: what was wrong and where (field, line, key).
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// A failure that is not the client's: logged whole, answered without its details (they
    /// may name files and database internals).
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "control API request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; the daemon's log has the details")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message } };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            e => ApiError::internal(e),
        }
    }
}

impl From<CampaignError> for ApiError {
    fn from(e: CampaignError) -> Self {
        match e {
            CampaignError::Spec(e) => ApiError::bad_request("invalid_spec", e.to_string()),
            e @ CampaignError::Read { .. } => ApiError::bad_request("bad_request", e.to_string()),
            e @ CampaignError::OtherCampaign { .. } => ApiError::bad_request("wrong_campaign", e.to_string()),
            e @ CampaignError::NotAllowed { .. } => ApiError::new(StatusCode::CONFLICT, "not_allowed", e.to_string()),
            e @ CampaignError::Frozen { .. } => ApiError::new(StatusCode::CONFLICT, "frozen_keys", e.to_string()),
            CampaignError::Store(e) => e.into(),
            e @ CampaignError::Json { .. } => ApiError::internal(e),
        }
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Store(e) => e.into(),
            e @ ImportError::CampaignClosed { .. } => ApiError::new(StatusCode::CONFLICT, "not_allowed", e.to_string()),
            e if e.is_bad_input() => ApiError::bad_request("invalid_csv", e.to_string()),
            e => ApiError::internal(e),
        }
    }
}

impl From<DncError> for ApiError {
    fn from(e: DncError) -> Self {
        match e {
            e @ DncError::NotANumber { .. } => ApiError::bad_request("bad_number", e.to_string()),
            DncError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_failure_hides_its_details_and_a_users_mistake_keeps_them() {
        let e: ApiError = StoreError::Corrupt("jobs.timezones: `Mars/Base` at /var/lib/x.db".into()).into();
        assert_eq!((e.status, e.code), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
        assert!(!e.message.contains("x.db"), "{}", e.message);
        let e: ApiError = StoreError::NotFound("no campaign `x`".into()).into();
        assert_eq!((e.status, e.message.as_str()), (StatusCode::NOT_FOUND, "no campaign `x`"));
    }
}
