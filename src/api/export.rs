//! `GET /api/v1/campaigns/{id}/export`: the CSV `switchboard export` writes, streamed as the
//! response body, with the CLI's flags as query parameters.
//!
//! The export runs on a blocking thread of its own (it writes through `std::io::Write`, as it
//! does to a file) and hands its bytes over a small bounded channel (a std one: the export's
//! thread blocks on it, which a tokio channel refuses inside the runtime), so a slow client
//! slows the export down instead of filling memory, and a client that goes away stops it. Whatever fails
//! before the first byte (no such campaign, options that do not go together) is answered as an
//! API error; a failure after it (the database gone mid-export) aborts the response, so a client
//! never takes a cut-off file for a whole one.

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::mpsc;

use tokio::sync::oneshot;
use utoipa::IntoParams;

use super::{ApiError, ApiState, ErrorBody, Id, Q};
use crate::clock::parse_instant;
use crate::export::{ColumnSet, ExportError, ExportOptions, RecipientOutcome, export_to};

/// Bytes handed to the response at a time.
const CHUNK: usize = 64 << 10;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// One row per call attempt, with the audit evidence, instead of one per recipient.
    pub attempts: Option<bool>,
    /// Only recipients (with attempts: calls) with this outcome: human, voicemail, no_answer,
    /// busy, failed, unknown, pending, suppressed or cancelled.
    pub outcome: Option<String>,
    /// Only recipients in this US state or Canadian province (a code such as FL, or a name).
    pub state: Option<String>,
    /// Only recipients with a call dialled at or after this time (RFC 3339, or a date).
    pub since: Option<String>,
    /// `all` (the default) or `original`: exactly the imported files' columns (a recall list).
    pub columns: Option<String>,
    /// Cells as stored, without formula neutralisation.
    pub raw: Option<bool>,
    /// Begin with a UTF-8 byte order mark (for Excel).
    pub bom: Option<bool>,
}

impl ExportQuery {
    fn options(self) -> Result<ExportOptions, ApiError> {
        let bad =
            |name: &str, e: String| ApiError::bad_request("bad_request", format!("query parameter `{name}`: {e}"));
        Ok(ExportOptions {
            attempts: self.attempts.unwrap_or(false),
            columns: match self.columns.as_deref() {
                None | Some("all") => ColumnSet::All,
                Some("original") => ColumnSet::Original,
                Some(other) => return Err(bad("columns", format!("`{other}` is not `all` or `original`"))),
            },
            outcome: self.outcome.map(|o| o.parse::<RecipientOutcome>()).transpose().map_err(|e| bad("outcome", e))?,
            since: self.since.map(|t| parse_instant(&t)).transpose().map_err(|e| bad("since", e))?,
            state: self
                .state
                .map(|s| crate::compliance::Region::parse(&s))
                .transpose()
                .map_err(|e| bad("state", e.to_string()))?,
            state_rules: None,
            raw: self.raw.unwrap_or(false),
            bom: self.bom.unwrap_or(false),
            progress: false,
        })
    }
}

/// Hands what the export writes to the response, [`CHUNK`] bytes at a time; blocks the
/// export's thread while the response has as much as it holds.
struct ToResponse {
    tx: mpsc::SyncSender<Bytes>,
    buf: Vec<u8>,
}

impl ToResponse {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.send(chunk).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ToResponse {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Store(e) => e.into(),
            e if e.is_bad_input() => ApiError::bad_request("bad_request", e.to_string()),
            e => ApiError::internal(e),
        }
    }
}

/// The campaign's results as CSV, as `switchboard export` writes them.
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{id}/export",
    tag = "recipients",
    params(("id" = String, Path, description = "The campaign's id"), ExportQuery),
    responses(
        (status = 200, description = "The CSV (RFC 4180, UTF-8), streamed: one row per recipient, or per attempt", body = String, content_type = "text/csv"),
        (status = 400, description = "A bad parameter, or options that do not go together", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn export(State(s): State<ApiState>, Id(id): Id, Q(q): Q<ExportQuery>) -> Result<Response, ApiError> {
    let mut opts = q.options()?;
    opts.state_rules = Some(s.config.compliance.rules.clone());
    let file_name = format!("{id}{}.csv", if opts.attempts { "-attempts" } else { "" });
    let (tx, rx) = mpsc::sync_channel::<Bytes>(4);
    let (done_tx, done_rx) = oneshot::channel();
    let runtime = tokio::runtime::Handle::current();
    let (store, guard) = (s.store.clone(), s.config.compliance());
    tokio::task::spawn_blocking(move || {
        let out = ToResponse { tx, buf: Vec::with_capacity(CHUNK) };
        let result = runtime.block_on(export_to(&store, guard, &id, &opts, out, "the response"));
        let _ = done_tx.send(result);
    });
    // Nothing written yet: a failure is still an error answer.
    let (first, rx) = next_chunk(rx).await?;
    let Some(first) = first else {
        return match done_rx.await {
            Ok(Ok(_)) => Ok(csv_response(&file_name, Body::empty())),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(ApiError::internal(e)),
        };
    };
    let rest = futures_util::stream::unfold(Some((rx, done_rx)), |state| async move {
        let (rx, done_rx) = state?;
        let (chunk, rx) = match next_chunk(rx).await {
            Ok(next) => next,
            Err(e) => return Some((Err(io::Error::other(e.message)), None)),
        };
        match chunk {
            Some(chunk) => Some((Ok(chunk), Some((rx, done_rx)))),
            None => match done_rx.await {
                Ok(Ok(_)) => None,
                // The body ends in an error: the connection is cut, not the file quietly short.
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "export failed after its first bytes were sent");
                    Some((Err(io::Error::other(e.to_string())), None))
                }
                Err(e) => Some((Err(io::Error::other(e.to_string())), None)),
            },
        }
    });
    let body = futures_util::StreamExt::chain(futures_util::stream::iter([Ok::<_, io::Error>(first)]), rest);
    Ok(csv_response(&file_name, Body::from_stream(body)))
}

/// The export's next chunk (`None` once it has finished), waited for off the runtime's threads.
async fn next_chunk(rx: mpsc::Receiver<Bytes>) -> Result<(Option<Bytes>, mpsc::Receiver<Bytes>), ApiError> {
    tokio::task::spawn_blocking(move || (rx.recv().ok(), rx)).await.map_err(ApiError::internal)
}

fn csv_response(file_name: &str, body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
        ],
        body,
    )
        .into_response()
}
