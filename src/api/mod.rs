//! The control API: campaigns (list, create, show, update, start/pause/resume/cancel, their
//! changes, imports, report, export, the dashboard's figures) and the do-not-call list, as JSON
//! over HTTP on the daemon's own server (`[http] listen`, beside the webhook receiver,
//! `/healthz` and `/metrics`), with its OpenAPI document at `/openapi.json`; and the dashboard
//! page at `/` that shows it ([`pages`]).
//!
//! A request enters through [`auth::authenticate`] (a bearer token, or nobody's on an open
//! loopback API), has its path, query and body read into checked values here, and is handed to
//! the same use-case the command line calls — [`crate::campaigns`], [`crate::import`],
//! [`crate::report`], [`crate::export`], [`crate::dnc`] — so the API can do exactly what the CLI can and nothing it
//! cannot. What leaves is that use-case's own result as JSON, or an [`ApiError`]
//! (`{"error": {"code", "message"}}`). Handlers hold no business logic.
//!
//! Routes are registered only through [`utoipa_axum`]'s `routes!`, which takes each handler's
//! method and path from its `#[utoipa::path]` annotation: the router and the document are built
//! from the same declarations and cannot drift apart (`tests/api.rs` checks both against each
//! other and against the README).

mod auth;
mod campaigns;
mod dashboard;
mod dnc;
mod error;
mod export;
mod imports;

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::IntoResponse;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{ApiAuth, Caller, TOKEN_VAR};
pub use dashboard::{CONTENT_SECURITY_POLICY, pages};
pub use error::{ApiError, ErrorBody, ErrorDetail};

use crate::bland::Client;
use crate::clock::Clock;
use crate::config::DaemonConfig;
use crate::store::Store;

/// What every handler works with.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub config: Arc<DaemonConfig>,
    pub clock: Arc<dyn Clock>,
    /// Bland, for `cancel?stop_active=true`.
    pub bland: Client,
    /// The OpenAPI document, rendered once the router is built.
    doc: Arc<OnceLock<serde_json::Value>>,
}

impl ApiState {
    pub fn new(store: Store, config: Arc<DaemonConfig>, clock: Arc<dyn Clock>, bland: Client) -> Self {
        Self { store, config, clock, bland, doc: Arc::default() }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "switchboard control API",
        description = "Campaigns, imports, reports, exports and the do-not-call list of a switchboard daemon. \
                       Every route wants `Authorization: Bearer <token>` (SWITCHBOARD_API_TOKEN or [http] \
                       api_token_file) unless the daemon listens on loopback without a token. Errors are \
                       `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "campaigns", description = "Create, inspect, change and control campaigns"),
        (name = "recipients", description = "Import recipients, report on them, export the results"),
        (name = "dnc", description = "The do-not-call list"),
        (name = "meta", description = "This document")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's routes and its document, from the same declarations.
fn api() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(campaigns::list, campaigns::create))
        .routes(routes!(campaigns::show, campaigns::update))
        .routes(routes!(campaigns::changes))
        .routes(routes!(campaigns::start))
        .routes(routes!(campaigns::pause))
        .routes(routes!(campaigns::resume))
        .routes(routes!(campaigns::cancel))
        .routes(routes!(campaigns::report))
        .routes(routes!(dashboard::dashboard))
        .routes(routes!(export::export))
        .routes(routes!(imports::upload))
        .routes(routes!(dnc::add, dnc::list))
        .routes(routes!(openapi_json))
}

/// The OpenAPI document of every route [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// The API as an axum router, every route behind `auth`.
pub fn router(state: ApiState, auth: ApiAuth) -> axum::Router {
    let (router, doc) = api().split_for_parts();
    let _ = state.doc.set(serde_json::to_value(&doc).expect("the OpenAPI document is JSON"));
    router.route_layer(middleware::from_fn_with_state(Arc::new(auth), auth::authenticate)).with_state(state)
}

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3 document of every route", body = serde_json::Value),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    )
)]
async fn openapi_json(axum::extract::State(state): axum::extract::State<ApiState>) -> impl IntoResponse {
    Json(state.doc.get().cloned().unwrap_or_default())
}

/// Any path no route serves.
pub async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route {method} {} (see /openapi.json)", uri.path()))
}

/// A known path asked with a method it does not take.
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {method} (see /openapi.json)", uri.path()),
    )
}

/// A query string read into `T`, or a 400 that names the parameter at fault.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Q(v))
            .map_err(|e| ApiError::bad_request("bad_request", e.body_text()))
    }
}

/// The `{id}` of a campaign's path.
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Id(id))
            .map_err(|e| ApiError::bad_request("bad_request", e.body_text()))
    }
}

/// The request's media type (`application/toml`), lowercased, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

/// Refuses a body whose announced length is over `limit` before any of it is read.
fn check_length(headers: &HeaderMap, limit: u64, what: &str) -> Result<(), ApiError> {
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(n) if n > limit => Err(too_large(limit, what)),
        _ => Ok(()),
    }
}

fn too_large(limit: u64, what: &str) -> ApiError {
    ApiError::too_large(format!("{what} is larger than {limit} bytes"))
}

/// The whole body, at most `limit` bytes (a 413 past it, whatever the headers said).
async fn read_body(headers: &HeaderMap, body: Body, limit: u64, what: &str) -> Result<Vec<u8>, ApiError> {
    check_length(headers, limit, what)?;
    let mut out = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("bad_request", format!("cannot read {what}: {e}")))?;
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit, what));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_operation_is_under_api_v1_or_the_document_itself_and_wants_the_token() {
        let doc = serde_json::to_value(openapi()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.keys().all(|p| p.starts_with("/api/v1/") || p == "/openapi.json"), "{:?}", paths.keys());
        assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]), "the token is the document's default");
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let codes = op["responses"].as_object().unwrap();
                assert!(codes.contains_key("401"), "{method} {path} documents no 401");
            }
        }
    }
}
