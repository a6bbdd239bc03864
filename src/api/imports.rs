//! `POST /api/v1/campaigns/{id}/imports`: a CSV upload, imported exactly as `switchboard
//! import` imports a file.
//!
//! The body is streamed to a file (0600, in a private directory of its own under the system's
//! temporary directory) and refused with 413 past `[http] max_upload_mb`, announced or not;
//! then [`crate::import::import_file`] reads it with the same rules, and the rejects report it
//! writes is returned inline (its first [`REJECTS_INLINE`] bytes, whole records; the counts are
//! always complete). The import runs in a task of its own, so a client that gives up (or a
//! request timeout) never cuts an import off between its rows and its commit; the directory is
//! removed once it is done.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiState, ErrorBody, Id, Q, check_length};
use crate::import::{ImportOptions, ImportSummary, encoding_for_label, import_file, parse_delimiter};

/// The most of the rejects report a response carries.
pub const REJECTS_INLINE: usize = 1 << 20;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The column holding phone numbers [default: found by header: phone, phone_number, mobile, …].
    pub phone_column: Option<String>,
    /// The column holding IANA time zones [default: a column named timezone, time_zone or tz].
    pub timezone_column: Option<String>,
    /// The column holding the US state or Canadian province (code or name) [default: a column
    /// named state, state_code or province].
    pub state_column: Option<String>,
    /// Check the file and report what would happen, without storing anything.
    pub dry_run: Option<bool>,
    /// The file's encoding (utf-8, latin1, windows-1252, utf-16le, …) [default: detected].
    pub encoding: Option<String>,
    /// The delimiter: `,` `;` `|` or `tab` [default: sniffed from the header line].
    pub delimiter: Option<String>,
    /// The file's name, for messages and the campaign's list of imports [default: upload.csv].
    pub file_name: Option<String>,
}

/// What an upload's import did: the counts `switchboard import --json` prints, and more.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// The import's number; none for a dry run, or when nothing new was added.
    pub import_id: Option<i64>,
    pub dry_run: bool,
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Numbers earlier in the file or already in the campaign.
    pub duplicates: u64,
    /// On the do-not-call list: stored, never dialled.
    pub suppressed: u64,
    /// The import of the very same bytes into this campaign before, if any.
    pub previous_import_id: Option<i64>,
    pub warnings: Vec<String>,
    pub encoding: String,
    pub delimiter: String,
    pub phone_column: String,
    pub timezone_column: Option<String>,
    pub state_column: Option<String>,
    /// The rejects report (CSV: line, reason, then the row), when a row was rejected.
    pub rejects: Option<Rejects>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rejects {
    /// The report as `switchboard import` writes it to FILE.rejects.csv, or its first part.
    pub csv: String,
    /// Rejected rows in `csv`.
    pub rows: u64,
    /// True when the report was longer than the response carries (`rejected` counts them all).
    pub truncated: bool,
}

/// A private directory for one upload, removed with everything in it when dropped.
struct Spool {
    dir: PathBuf,
}

impl Spool {
    fn new() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("switchboard-upload-{}", uuid::Uuid::new_v4()));
        std::fs::DirBuilder::new().mode_private().create(&dir)?;
        Ok(Self { dir })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `DirBuilder::mode(0o700)` where there are modes.
trait PrivateDir {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateDir for std::fs::DirBuilder {
    fn mode_private(&mut self) -> &mut Self {
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(self, 0o700);
        self
    }
}

/// Imports recipients from the CSV in the body, as `switchboard import` imports a file.
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{id}/imports",
    tag = "recipients",
    params(("id" = String, Path, description = "The campaign's id"), ImportQuery),
    request_body(
        description = "The CSV file as it is (UTF-8 with or without BOM, Latin-1/Windows-1252, UTF-16; `,` `;` tab or `|`)",
        content((String = "text/csv"))
    ),
    responses(
        (status = 201, description = "Imported", body = ImportResult),
        (status = 200, description = "A dry run, or nothing new to add", body = ImportResult),
        (status = 400, description = "Not a CSV this import can read (the message names the line), or a bad parameter", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
        (status = 409, description = "The campaign is cancelled", body = ErrorBody),
        (status = 413, description = "Larger than [http] max_upload_mb", body = ErrorBody),
    )
)]
pub async fn upload(
    State(s): State<ApiState>,
    Id(id): Id,
    Q(q): Q<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ImportResult>), ApiError> {
    // Everything that can be refused without the body is refused before it is read.
    let spec = crate::campaigns::stored_spec(&s.store, &s.config, &id).await?;
    let param = |name: &'static str| {
        move |e: String| ApiError::bad_request("bad_request", format!("query parameter `{name}`: {e}"))
    };
    let encoding = q.encoding.as_deref().map(encoding_for_label).transpose().map_err(param("encoding"))?;
    let delimiter = q.delimiter.as_deref().map(parse_delimiter).transpose().map_err(param("delimiter"))?;
    let name = file_name(q.file_name.as_deref()).map_err(param("file_name"))?;
    let limit = s.config.http.max_upload_bytes;
    check_length(&headers, limit, "the upload").map_err(|_| too_large(limit))?;

    let spool = Spool::new().map_err(ApiError::internal)?;
    let file = spool.dir.join("upload.csv");
    spool_body(body, &file, limit).await?;
    let opts = ImportOptions {
        phone_column: q.phone_column,
        timezone_column: q.timezone_column,
        state_column: q.state_column,
        rejects: Some(spool.dir.join("rejects.csv")),
        dry_run: q.dry_run.unwrap_or(false),
        encoding,
        delimiter,
        progress: false,
        name: Some(name),
    };
    let store = s.store.clone();
    let now = s.clock.now();
    let imported = tokio::spawn(async move {
        let result = import_file(&store, &spec, &file, &opts, now).await;
        let rejects = match &result {
            Ok(summary) if summary.counts.rejected > 0 => summary.rejects_path.as_deref().map(inline_rejects),
            _ => None,
        };
        drop(spool);
        (result, rejects)
    })
    .await
    .map_err(ApiError::internal)?;
    let summary = imported.0?;
    let rejects = imported.1.transpose().map_err(ApiError::internal)?;
    let status = if summary.import_id.is_some() { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(result(summary, rejects))))
}

/// The name an upload is known by: a plain file name (no directories), `upload.csv` if none.
fn file_name(given: Option<&str>) -> Result<String, String> {
    match given.map(str::trim) {
        None | Some("") => Ok("upload.csv".into()),
        Some(n) if n.len() <= 255 && !n.contains(['/', '\\', '\0']) && n != "." && n != ".." => Ok(n.to_string()),
        Some(n) => {
            Err(format!("`{}` is not a file name (no directories, at most 255 bytes)", crate::import::excerpt(n)))
        }
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::too_large(format!("the upload is larger than {limit} bytes ([http] max_upload_mb)"))
}

/// Writes the body to `path` (created 0600, new), at most `limit` bytes.
async fn spool_body(body: Body, path: &Path, limit: u64) -> Result<(), ApiError> {
    let mut out = crate::files::private().write(true).create_new(true).open(path).map_err(ApiError::internal)?;
    let mut written = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("bad_request", format!("cannot read the upload: {e}")))?;
        written += chunk.len() as u64;
        if written > limit {
            return Err(too_large(limit));
        }
        // Small writes to a local file: not worth a blocking thread each.
        out.write_all(&chunk).map_err(ApiError::internal)?;
    }
    out.flush().map_err(ApiError::internal)
}

/// The rejects report as the response carries it: its bytes as written, cut after the last
/// whole record within [`REJECTS_INLINE`] bytes.
fn inline_rejects(path: &Path) -> std::io::Result<Rejects> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(path)?;
    let mut record = csv::ByteRecord::new();
    let (mut end, mut records, mut truncated) = (0u64, 0u64, false);
    while reader.read_byte_record(&mut record).map_err(std::io::Error::other)? {
        let next = reader.position().byte();
        if next > REJECTS_INLINE as u64 {
            truncated = true;
            break;
        }
        (end, records) = (next, records + 1);
    }
    let mut bytes = Vec::with_capacity(end as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(std::fs::File::open(path)?, end), &mut bytes)?;
    Ok(Rejects {
        csv: String::from_utf8_lossy(&bytes).into_owned(),
        // The first record is the header.
        rows: records.saturating_sub(1),
        truncated,
    })
}

fn result(s: ImportSummary, rejects: Option<Rejects>) -> ImportResult {
    let c = s.counts;
    ImportResult {
        import_id: s.import_id,
        dry_run: s.dry_run,
        rows_read: c.rows_read,
        accepted: c.accepted,
        rejected: c.rejected,
        duplicates: c.duplicates,
        suppressed: c.suppressed,
        previous_import_id: s.previous.map(|p| p.id),
        warnings: s.warnings,
        encoding: s.encoding.to_string(),
        delimiter: match s.delimiter {
            b'\t' => "tab".to_string(),
            d => (d as char).to_string(),
        },
        phone_column: s.phone_column,
        timezone_column: s.timezone_column,
        state_column: s.state_column,
        rejects,
    }
}
