//! `/api/v1/campaigns…`: each handler reads its input and calls one of [`crate::campaigns`]'s
//! use-cases (or the report's), as `switchboard campaign …` does.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiState, Caller, ErrorBody, Id, Q, media_type, read_body};
use crate::campaigns::{self, CampaignListing, CampaignSummary, Updated};
use crate::store::{CampaignAction, Saved};

/// The largest spec a request may carry.
const SPEC_LIMIT: u64 = 1 << 20;

/// How a spec in a request body is named in its errors (`request body:3:1: …`).
const SOURCE: &str = "request body";

/// The spec in a request body, as TOML text: `application/toml` (or `text/toml`, `text/plain`,
/// or no type at all) as it is; `application/json` turned into TOML first, so that both are
/// validated and stored by the same code.
async fn spec_text(headers: &HeaderMap, body: Body) -> Result<String, ApiError> {
    let media = media_type(headers);
    let bytes = read_body(headers, body, SPEC_LIMIT, "the spec").await?;
    let text = String::from_utf8(bytes).map_err(|_| ApiError::bad_request("invalid_spec", "the spec is not UTF-8"))?;
    match media.as_deref() {
        None | Some("application/toml" | "text/toml" | "text/plain") => Ok(text),
        Some("application/json") => json_spec_as_toml(&text),
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("a spec is sent as application/toml or application/json, not {other}"),
        )),
    }
}

/// A spec written as JSON (the TOML spec's tables as objects), as TOML text.
fn json_spec_as_toml(text: &str) -> Result<String, ApiError> {
    let bad = |m: String| ApiError::bad_request("invalid_spec", format!("{SOURCE}: {m}"));
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    if !json.is_object() {
        return Err(bad("a JSON spec is an object, e.g. {\"name\": \"…\", \"call\": {\"task\": \"…\"}}".into()));
    }
    let table = toml::Table::try_from(json)
        .map_err(|e| bad(format!("cannot be read as a spec: {e} (a key without a value is left out, not null)")))?;
    toml::to_string(&table).map_err(|e| bad(format!("cannot be read as a spec: {e}")))
}

/// A campaign just created, or a draft updated, from `POST /api/v1/campaigns`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedCampaign {
    pub id: String,
    pub name: String,
    /// True when the campaign is new; false when a draft of this id was updated.
    pub created: bool,
}

/// What an action did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionDone {
    pub id: String,
    /// The campaign's state now.
    pub state: String,
    /// `started`, `paused`, `resumed` or `cancelled`.
    pub action: String,
    /// `cancel?stop_active=true`: what asking Bland to end the calls in progress did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<StoppedCalls>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StoppedCalls {
    pub asked: usize,
    pub stopped: usize,
    /// Calls Bland could not be asked to end: `[call_id, why]`.
    pub failed: Vec<(String, String)>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CancelQuery {
    /// Also ask Bland to end the calls in progress.
    pub stop_active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Count dials made at or after this time (RFC 3339, or a date: midnight UTC).
    pub since: Option<String>,
    /// Count dials made before this time (RFC 3339, or a date: midnight UTC).
    pub until: Option<String>,
}

/// A recorded change of a campaign's spec.
#[derive(Debug, Serialize, ToSchema)]
pub struct Change {
    pub id: i64,
    pub changed_at: chrono::DateTime<chrono::Utc>,
    /// `alice@host` (CLI), `api (token 1a2b3c4d)` (API, the token's fingerprint).
    pub actor: String,
    /// The campaign's state when it was changed.
    pub state: String,
    #[schema(value_type = Vec<campaigns::KeyChange>)]
    pub changes: serde_json::Value,
}

/// Every campaign with its state and jobs by state.
#[utoipa::path(
    get,
    path = "/api/v1/campaigns",
    tag = "campaigns",
    responses(
        (status = 200, description = "Every campaign, oldest first", body = Vec<CampaignListing>),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    )
)]
pub async fn list(State(s): State<ApiState>) -> Result<Json<Vec<CampaignListing>>, ApiError> {
    Ok(Json(campaigns::list(&s.store).await?))
}

/// Creates a campaign from its spec (or updates it while it is still a draft), as `campaign
/// create` does.
#[utoipa::path(
    post,
    path = "/api/v1/campaigns",
    tag = "campaigns",
    request_body(
        description = "The campaign spec: TOML as in config/campaign.example.toml, or the same as a JSON object",
        content((String = "application/toml"), (serde_json::Value = "application/json"))
    ),
    responses(
        (status = 201, description = "Created, as a draft", body = SavedCampaign),
        (status = 200, description = "The draft of this id was updated", body = SavedCampaign),
        (status = 400, description = "The spec is invalid: the message names the line and key", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 409, description = "A campaign of this id has started: use PUT", body = ErrorBody),
        (status = 413, description = "The spec is over 1 MiB", body = ErrorBody),
        (status = 415, description = "Neither TOML nor JSON", body = ErrorBody),
    )
)]
pub async fn create(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<SavedCampaign>), ApiError> {
    let text = spec_text(&headers, body).await?;
    let c = campaigns::save(&s.store, &s.config, SOURCE, &text, s.clock.now()).await?;
    let status = if c.saved == Saved::Created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(SavedCampaign { id: c.spec.id.to_string(), name: c.spec.name, created: c.saved == Saved::Created }),
    ))
}

/// A campaign's state and progress, as `campaign show --json` prints it.
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{id}",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "The campaign's summary", body = CampaignSummary),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn show(State(s): State<ApiState>, Id(id): Id) -> Result<Json<CampaignSummary>, ApiError> {
    Ok(Json(campaigns::summary(&s.store, &s.config, &id, s.clock.now()).await?))
}

/// Replaces a campaign's spec, as `campaign update` does: anything while it is a draft; once
/// started only `[limits]`, `[retry]` and `[schedule]` `hours`, `blackout_dates` and `end`.
/// Recorded with the token's fingerprint; a running daemon dials under it within a second.
#[utoipa::path(
    put,
    path = "/api/v1/campaigns/{id}",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id")),
    request_body(
        description = "The campaign's whole spec as it should now be (TOML or JSON, as for POST)",
        content((String = "application/toml"), (serde_json::Value = "application/json"))
    ),
    responses(
        (status = 200, description = "What changed (empty when nothing did)", body = Updated),
        (status = 400, description = "The spec is invalid, or is another campaign's", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
        (status = 409, description = "A key that cannot change once started, a finished campaign, or a concurrent change", body = ErrorBody),
        (status = 413, description = "The spec is over 1 MiB", body = ErrorBody),
        (status = 415, description = "Neither TOML nor JSON", body = ErrorBody),
    )
)]
pub async fn update(
    State(s): State<ApiState>,
    Extension(Caller(actor)): Extension<Caller>,
    Id(id): Id,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Updated>, ApiError> {
    let text = spec_text(&headers, body).await?;
    Ok(Json(campaigns::update(&s.store, &s.config, &id, SOURCE, &text, &actor, s.clock.now()).await?))
}

/// The recorded changes of a campaign's spec: who, when, what.
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{id}/changes",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "Every change, oldest first", body = Vec<Change>),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn changes(State(s): State<ApiState>, Id(id): Id) -> Result<Json<Vec<Change>>, ApiError> {
    let changes = campaigns::changes(&s.store, &id).await?;
    Ok(Json(
        changes
            .into_iter()
            .map(|c| Change {
                id: c.id,
                changed_at: c.changed_at,
                actor: c.actor,
                state: c.state.to_string(),
                changes: c.changes,
            })
            .collect(),
    ))
}

async fn act(s: &ApiState, id: &str, action: CampaignAction) -> Result<ActionDone, ApiError> {
    let row = campaigns::apply(&s.store, id, action, s.clock.now()).await?;
    Ok(ActionDone { id: row.id, state: row.state.to_string(), action: action.done().to_string(), stopped: None })
}

/// Starts a draft campaign: the daemon begins dialing within a second.
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{id}/start",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "Started", body = ActionDone),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
        (status = 409, description = "Not a draft", body = ErrorBody),
    )
)]
pub async fn start(State(s): State<ApiState>, Id(id): Id) -> Result<Json<ActionDone>, ApiError> {
    Ok(Json(act(&s, &id, CampaignAction::Start).await?))
}

/// Stops claiming new calls (calls in progress finish).
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{id}/pause",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "Paused", body = ActionDone),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
        (status = 409, description = "Not running", body = ErrorBody),
    )
)]
pub async fn pause(State(s): State<ApiState>, Id(id): Id) -> Result<Json<ActionDone>, ApiError> {
    Ok(Json(act(&s, &id, CampaignAction::Pause).await?))
}

/// Continues a paused campaign.
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{id}/resume",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "Resumed", body = ActionDone),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
        (status = 409, description = "Not paused", body = ErrorBody),
    )
)]
pub async fn resume(State(s): State<ApiState>, Id(id): Id) -> Result<Json<ActionDone>, ApiError> {
    Ok(Json(act(&s, &id, CampaignAction::Resume).await?))
}

/// Cancels for good: queued jobs are cancelled, calls in progress finish (or, with
/// `stop_active=true`, Bland is asked to end them).
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{id}/cancel",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id"), CancelQuery),
    responses(
        (status = 200, description = "Cancelled", body = ActionDone),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
        (status = 409, description = "Already completed or cancelled", body = ErrorBody),
    )
)]
pub async fn cancel(State(s): State<ApiState>, Id(id): Id, Q(q): Q<CancelQuery>) -> Result<Json<ActionDone>, ApiError> {
    let mut done = act(&s, &id, CampaignAction::Cancel).await?;
    if q.stop_active == Some(true) {
        let r = campaigns::stop_active_calls(&s.store, &s.bland, &id).await?;
        done.stopped = Some(StoppedCalls { asked: r.asked, stopped: r.stopped, failed: r.failed });
    }
    Ok(Json(done))
}

/// The campaign report, as `report --json` prints it.
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{id}/report",
    tag = "recipients",
    params(("id" = String, Path, description = "The campaign's id"), ReportQuery),
    responses(
        (status = 200, description = "The report: funnel, retry yield, outcomes by local hour and zone, minutes, cost, failure reasons, answers (see `switchboard report --help`)", body = serde_json::Value),
        (status = 400, description = "A bad since/until", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn report(
    State(s): State<ApiState>,
    Id(id): Id,
    Q(q): Q<ReportQuery>,
) -> Result<Json<crate::report::Report>, ApiError> {
    let time = |name: &str, v: Option<String>| {
        v.map(|t| crate::clock::parse_instant(&t))
            .transpose()
            .map_err(|e| ApiError::bad_request("bad_request", format!("query parameter `{name}`: {e}")))
    };
    let period = crate::report::period(time("since", q.since)?, time("until", q.until)?)
        .map_err(|e| ApiError::bad_request("bad_request", format!("query parameters `since`, `until`: {e}")))?;
    Ok(Json(crate::report::report(&s.store, &s.config, &id, period, s.clock.now()).await?))
}
