//! Streaming CSV export of a campaign's results: one row per recipient (default) or one per
//! attempt with the evidence an auditor asks for (`--attempts`).
//!
//! A campaign id and [`ExportOptions`] come in, with where to write ([`Destination`]); CSV goes
//! out (RFC 4180: CRLF line ends, quotes where needed; UTF-8, with a BOM on request for Excel)
//! and an [`ExportSummary`] comes back. Every read of one export is made through one
//! [`ExportReader`] — one read transaction on one connection — so an export taken while the
//! daemon writes is one consistent snapshot: the header, every row and every aggregate agree.
//! Rows are streamed from the store and written as they come; memory does not grow with the
//! campaign.
//!
//! Every cell passes through [`crate::csv_safe::neutralise`] unless `raw` is set: a recipient's
//! "name" of `=HYPERLINK(…)` must not run in the spreadsheet the export is opened in (so a phone
//! `+14155552671` is written `'+14155552671`; switchboard's import reads it back as it was).
//!
//! A file is written beside its final path and renamed into place once complete
//! ([`crate::files`]): created 0600, never through a symlink planted there, never over the
//! database or its companion files.
//!
//! The per-recipient columns and how names are kept unique are in [`columns`]; how each cell is
//! written in [`rows`].

mod columns;
mod filter;
mod rows;

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

pub use columns::{ATTEMPT_COLUMNS, ColumnSet, OURS};
pub use filter::RecipientOutcome;

use crate::config::{CampaignSpec, ConfigError};
use crate::csv_safe::neutralise;
use crate::store::{ExportReader, Store, StoreError};
use crate::window::Compliance;
use columns::Layout;
use rows::{AuditContext, Times};

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// One row per attempt instead of one per recipient.
    pub attempts: bool,
    pub columns: ColumnSet,
    /// Only recipients (or attempts) with this outcome.
    pub outcome: Option<RecipientOutcome>,
    /// Only recipients with an attempt dialled at or after this instant (attempts: dialled at
    /// or after it).
    pub since: Option<DateTime<Utc>>,
    /// Only recipients (or attempts to recipients) in this region (US state, province).
    pub state: Option<crate::compliance::Region>,
    /// The state rules the `--attempts` evidence judges each call's window by (the daemon's);
    /// `None`: the federal guard and the campaign's hours only.
    pub state_rules: Option<std::sync::Arc<crate::compliance::RuleSet>>,
    /// Write cells as stored, without formula neutralisation.
    pub raw: bool,
    /// Start with a UTF-8 byte order mark (Excel reads the file as UTF-8 then).
    pub bom: bool,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// Where the CSV goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Data rows (the header not counted).
    pub rows: u64,
    pub file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("--outcome {0} describes recipients, not calls: with --attempts use a call outcome or `pending`")]
    OutcomeNotOfAttempts(RecipientOutcome),
    #[error(
        "--columns original gives the recipients' own columns, one row per recipient: it cannot be combined with --attempts"
    )]
    OriginalWithAttempts,
    #[error("--out {path} is {what}: choose another path for the export")]
    OutClash { path: String, what: &'static str },
    #[error("{path}: cannot write the export: {source}")]
    Write { path: String, source: io::Error },
    #[error(transparent)]
    Spec(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ExportError {
    /// True when the operator's input is at fault (exit code 2), not the machine.
    pub fn is_bad_input(&self) -> bool {
        match self {
            ExportError::OutcomeNotOfAttempts(_) | ExportError::OriginalWithAttempts | ExportError::OutClash { .. } => {
                true
            }
            ExportError::Write { source, .. } => {
                matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied | io::ErrorKind::IsADirectory
                )
            }
            // A stored spec the daemon's guard no longer admits is the machine's state, not input.
            ExportError::Spec(_) => false,
            ExportError::Store(e) => matches!(e, StoreError::NotFound(_) | StoreError::Conflict(_)),
        }
    }
}

/// Exports campaign `id` to `dest`. `guard` is the daemon's compliance hours (for the window
/// evidence of `--attempts`; it also bounds the stored spec as the daemon reads it).
pub async fn export(
    store: &Store,
    guard: Compliance,
    id: &str,
    opts: &ExportOptions,
    dest: &Destination,
) -> Result<ExportSummary, ExportError> {
    check(opts)?;
    match dest {
        Destination::Stdout => {
            // Stdout is line-buffered; a large buffer in front of it makes one write per 64 KiB.
            let out = BufWriter::with_capacity(1 << 16, io::stdout());
            let rows = write_csv(store, guard, id, opts, out).await.map_err(|e| e.at("stdout"))?;
            Ok(ExportSummary { rows, file: None })
        }
        Destination::File(path) => {
            let display = path.display().to_string();
            if let Some(what) = crate::files::would_replace(path, store.path(), &[]) {
                return Err(ExportError::OutClash { path: display, what });
            }
            let tmp = crate::files::temp_path_for(path);
            let file = crate::files::create_exclusive(&tmp)
                .map_err(|source| ExportError::Write { path: display.clone(), source })?;
            let written = write_csv(store, guard, id, opts, BufWriter::with_capacity(1 << 16, file)).await;
            let renamed = written.and_then(|rows| {
                std::fs::rename(&tmp, path).map_err(Failed::Io)?;
                Ok(rows)
            });
            match renamed {
                Ok(rows) => Ok(ExportSummary { rows, file: Some(path.clone()) }),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(e.at(&display))
                }
            }
        }
    }
}

/// Exports campaign `id` into `out` as it goes (the control API's response body); `what`
/// names `out` in a write error. The same CSV, byte for byte, as [`export`] writes to a file.
pub async fn export_to<W: Write>(
    store: &Store,
    guard: Compliance,
    id: &str,
    opts: &ExportOptions,
    out: W,
    what: &str,
) -> Result<u64, ExportError> {
    check(opts)?;
    write_csv(store, guard, id, opts, out).await.map_err(|e| e.at(what))
}

/// Options that cannot go together, or cannot be served yet.
fn check(opts: &ExportOptions) -> Result<(), ExportError> {
    if opts.attempts {
        if opts.columns == ColumnSet::Original {
            return Err(ExportError::OriginalWithAttempts);
        }
        if let Some(o @ (RecipientOutcome::Suppressed | RecipientOutcome::Cancelled)) = opts.outcome {
            return Err(ExportError::OutcomeNotOfAttempts(o));
        }
    }
    Ok(())
}

/// A failure while writing, before it is known which path to name.
enum Failed {
    Io(io::Error),
    Export(ExportError),
}

impl Failed {
    fn at(self, path: &str) -> ExportError {
        match self {
            Failed::Io(source) => ExportError::Write { path: path.to_string(), source },
            Failed::Export(e) => e,
        }
    }
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Failed::Export(e.into())
    }
}

impl From<ConfigError> for Failed {
    fn from(e: ConfigError) -> Self {
        Failed::Export(e.into())
    }
}

impl From<io::Error> for Failed {
    fn from(e: io::Error) -> Self {
        Failed::Io(e)
    }
}

impl From<csv::Error> for Failed {
    fn from(e: csv::Error) -> Self {
        Failed::Io(e.into())
    }
}

/// A CSV writer that neutralises every cell unless raw.
struct Sheet<W: Write> {
    csv: csv::Writer<W>,
    raw: bool,
}

impl<W: Write> Sheet<W> {
    fn new(mut out: W, bom: bool, raw: bool) -> io::Result<Self> {
        if bom {
            out.write_all("\u{feff}".as_bytes())?;
        }
        let csv = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
        Ok(Sheet { csv, raw })
    }

    fn row<S: AsRef<str>>(&mut self, cells: &[S]) -> Result<(), csv::Error> {
        for cell in cells {
            let cell = cell.as_ref();
            if self.raw {
                self.csv.write_field(cell)?;
            } else {
                self.csv.write_field(neutralise(cell).as_bytes())?;
            }
        }
        self.csv.write_record(None::<&[u8]>)
    }

    fn finish(self) -> Result<(), Failed> {
        let mut out = self.csv.into_inner().map_err(|e| Failed::Io(e.into_error()))?;
        out.flush()?;
        Ok(())
    }
}

/// A bar on stderr counting rows against `total`, or nothing.
fn progress_bar(show: bool, total: u64, what: &str) -> Option<indicatif::ProgressBar> {
    show.then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{{bar:30}} {{percent:>3}}% {{pos}}/{{len}} {what} eta {{eta}}"
            ))
            .expect("valid progress template"),
        );
        bar
    })
}

/// Rows between progress updates.
const PROGRESS_EVERY: u64 = 4096;

async fn write_csv<W: Write>(
    store: &Store,
    guard: Compliance,
    id: &str,
    opts: &ExportOptions,
    out: W,
) -> Result<u64, Failed> {
    let (mut reader, campaign) = store.export_reader(id).await?;
    let spec = CampaignSpec::parse(&format!("campaign `{id}` (stored spec)"), &campaign.spec_toml, &guard)?;
    let mut sheet = Sheet::new(out, opts.bom, opts.raw)?;
    let rows = if opts.attempts {
        write_attempts(&mut reader, &spec, guard, opts, &mut sheet).await?
    } else {
        write_recipients(&mut reader, &spec, opts, &mut sheet).await?
    };
    sheet.finish()?;
    reader.finish().await?;
    Ok(rows)
}

async fn write_recipients<W: Write>(
    reader: &mut ExportReader,
    spec: &CampaignSpec,
    opts: &ExportOptions,
    sheet: &mut Sheet<W>,
) -> Result<u64, Failed> {
    let imports = reader.imports().await?;
    let named = reader.named_variables().await?;
    let (schema, question_sets) = match opts.columns {
        ColumnSet::Original => (Vec::new(), Vec::new()),
        ColumnSet::All => (schema_fields(spec), reader.question_sets().await?),
    };
    let layout = Layout::new(opts.columns, &imports, &named, &schema, &question_sets);
    sheet.row(&layout.names)?;
    let bar = match opts.progress {
        true => progress_bar(true, reader.count_recipients().await?, "recipients"),
        false => None,
    };
    let times = Times::default();
    let mut row: Vec<String> = Vec::new();
    let (mut read, mut written) = (0u64, 0u64);
    let mut stream = std::pin::pin!(reader.recipients(opts.since, !layout.questions.is_empty()));
    while let Some(r) = stream.next().await {
        let r = r?;
        read += 1;
        if let Some(bar) = &bar
            && read.is_multiple_of(PROGRESS_EVERY)
        {
            bar.set_position(read);
        }
        if opts.outcome.is_some_and(|o| RecipientOutcome::of(r.state, r.outcome) != Some(o))
            || opts.state.is_some_and(|g| !r.regions.contains(&g))
        {
            continue;
        }
        rows::clear(&mut row, layout.names.len());
        rows::recipient(&mut row, &layout, &r, &times);
        sheet.row(&row)?;
        written += 1;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(written)
}

async fn write_attempts<W: Write>(
    reader: &mut ExportReader,
    spec: &CampaignSpec,
    guard: Compliance,
    opts: &ExportOptions,
    sheet: &mut Sheet<W>,
) -> Result<u64, Failed> {
    sheet.row(&ATTEMPT_COLUMNS)?;
    let bar = match opts.progress {
        true => progress_bar(true, reader.count_attempts().await?, "attempts"),
        false => None,
    };
    let window = spec.dial_window_under(guard, opts.state_rules.as_ref(), std::sync::Arc::from([]));
    let audit = AuditContext::new(window, spec.schedule.zone_policy);
    let times = Times::default();
    let mut row: Vec<String> = Vec::new();
    let (mut read, mut written) = (0u64, 0u64);
    let mut stream = std::pin::pin!(reader.attempts(opts.since));
    while let Some(a) = stream.next().await {
        let a = a?;
        read += 1;
        if let Some(bar) = &bar
            && read.is_multiple_of(PROGRESS_EVERY)
        {
            bar.set_position(read);
        }
        let keep = match opts.outcome {
            None => true,
            Some(RecipientOutcome::Call(o)) => a.outcome == Some(o),
            Some(RecipientOutcome::Pending) => a.outcome.is_none(),
            Some(RecipientOutcome::Suppressed | RecipientOutcome::Cancelled) => false,
        };
        if !keep || opts.state.is_some_and(|g| !a.regions.contains(&g)) {
            continue;
        }
        rows::clear(&mut row, ATTEMPT_COLUMNS.len());
        rows::attempt(&mut row, &a, &audit, &times);
        sheet.row(&row)?;
        written += 1;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(written)
}

/// The `[call] analysis_schema` fields, in the stored spec's key order.
fn schema_fields(spec: &CampaignSpec) -> Vec<String> {
    match spec.call.get("analysis_schema") {
        Some(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_that_cannot_be_served_are_bad_input() {
        let opts = |f: fn(&mut ExportOptions)| {
            let mut o = ExportOptions::default();
            f(&mut o);
            check(&o)
        };
        assert!(opts(|_| {}).is_ok());
        assert!(opts(|o| o.state = Some(crate::compliance::Region::parse("CA").unwrap())).is_ok());
        let e = opts(|o| (o.attempts, o.columns) = (true, ColumnSet::Original)).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        let e = opts(|o| (o.attempts, o.outcome) = (true, Some(RecipientOutcome::Suppressed))).unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("--outcome suppressed"), "{e}");
        assert!(opts(|o| (o.attempts, o.outcome) = (true, Some(RecipientOutcome::Pending))).is_ok());
    }

    #[test]
    fn cells_are_neutralised_unless_raw_and_lines_end_in_crlf() {
        let write = |raw: bool, bom: bool| {
            let mut buf = Vec::new();
            let mut sheet = Sheet::new(&mut buf, bom, raw).unwrap();
            sheet.row(&["=1+1", "a,b", "+1415"]).unwrap();
            sheet.finish().ok().unwrap();
            String::from_utf8(buf).unwrap()
        };
        assert_eq!(write(false, false), "'=1+1,\"a,b\",'+1415\r\n");
        assert_eq!(write(true, false), "=1+1,\"a,b\",+1415\r\n");
        assert_eq!(write(true, true), "\u{feff}=1+1,\"a,b\",+1415\r\n");
    }
}
