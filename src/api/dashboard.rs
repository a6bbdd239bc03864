//! The live dashboard: a page at `/` (HTML, one script, one stylesheet, all embedded in the
//! binary) that polls `GET /api/v1/dashboard` and shows every campaign's progress, rates
//! against its caps, zones, forecast, errors and spend, with pause and resume buttons that call
//! the API.
//!
//! The page itself carries no data and needs no token: it is the same bytes for everyone. Its
//! script asks the API, with the token when the API wants one (typed into the page once, or
//! handed over in the URL's fragment `#token=…`, which never reaches the server or its logs; kept
//! in the tab's `sessionStorage` and sent as `Authorization: Bearer`). So the page is exactly as
//! protected as the API, and its numbers are the API's: the script only formats them.
//!
//! Everything the script shows is put in the page as text (`textContent`), never as markup, and
//! the Content-Security-Policy allows scripts and styles from this server only (no inline ones),
//! so a campaign named `<script>…` is shown as that text.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{ApiError, ApiState, ErrorBody};
use crate::campaigns::{self, Dashboard};

const PAGE: &str = include_str!("assets/dashboard.html");
const SCRIPT: &str = include_str!("assets/dashboard.js");
const STYLE: &str = include_str!("assets/dashboard.css");

/// Scripts, styles and requests from this server only; no inline script or style, no frames,
/// no forms posted anywhere, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page and its assets (no token: they hold no data).
pub fn pages() -> axum::Router {
    axum::Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", PAGE) }))
        .route("/assets/dashboard.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/assets/dashboard.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        // A new binary may serve a new page: always ask.
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Everything the dashboard shows: each campaign's summary (as `GET /api/v1/campaigns/{id}`)
/// with its dials and calls in flight against each cap, its spend and its latest failed sends,
/// and the account's caps.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard",
    tag = "campaigns",
    responses(
        (status = 200, description = "Every campaign's summary and live figures, and the account's caps", body = Dashboard),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    )
)]
pub async fn dashboard(State(s): State<ApiState>) -> Result<Json<Dashboard>, ApiError> {
    Ok(Json(campaigns::dashboard(&s.store, &s.config, s.clock.now()).await?))
}
