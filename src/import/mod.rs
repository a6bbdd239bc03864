//! Streaming CSV import: recipients from an operator's file into a campaign's jobs.
//!
//! A file goes through two passes. The first reads the raw bytes once to hash them (to notice a
//! file imported before), to tell UTF-8 from Latin-1/Windows-1252, to spot binary files, and to
//! sniff the delimiter. The second parses it as CSV on a blocking thread: each row is checked
//! (field count, phone number, time zone, duplicates, do-not-call) and either becomes a job or a
//! line in the rejects report. Jobs flow in chunks through a bounded channel to the store, which
//! writes them inside one write transaction, so an import lands whole or not at all and memory
//! stays flat whatever the file's size. The rejects report is written beside its final path and
//! renamed into place only once the import has committed.
//!
//! What an operator is told stays readable whatever the file holds: an error or a reject reason
//! names the file, the physical line (LF, CRLF and lone-CR line ends, blank lines included) and
//! the column, and quotes at most [`MAX_EXCERPT`] characters of a cell or line ([`excerpt`]);
//! every cell of the rejects report is neutralised against spreadsheet formulas
//! ([`crate::csv_safe::neutralise`]).
//!
//! This file holds what the rest of the program sees (the options, the summary, the errors);
//! each step has a module of its own, in the order a file meets them:
//!
//! - `prescan`: the first pass (hash, encoding, binary check, delimiter);
//! - `decode`: the file as UTF-8 text with LF line ends, behind a CSV reader;
//! - `header`: the phone and time zone columns, and placeholders the file cannot fill;
//! - `row`: one row's checks, making it a job or a reject;
//! - `rejects`: the rejects report, written aside and renamed into place;
//! - `parse`: the second pass, on its own thread, feeding jobs to the store;
//! - `run`: the transaction around it all, and the one abort path;
//! - `numbers`: the same reading for a do-not-call list (numbers only, nothing stored).

use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};

use encoding_rs::Encoding;

use crate::store::{ImportCounts, ImportRow, StoreError};

mod decode;
mod header;
mod numbers;
mod parse;
mod prescan;
mod rejects;
mod row;
mod run;

pub use numbers::{NumberList, read_numbers};
pub use rejects::default_rejects_path;
pub use run::import_file;

/// How to read the file; everything has a sensible default.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub phone_column: Option<String>,
    pub timezone_column: Option<String>,
    /// The column naming the recipient's US state or Canadian province (code or name); by
    /// default the first column called `state`, `state_code`, `province` or `state/province`.
    pub state_column: Option<String>,
    /// Where the rejects report goes; default `FILE.rejects.csv` beside the file.
    pub rejects: Option<PathBuf>,
    pub dry_run: bool,
    /// Forced encoding; otherwise a BOM, else UTF-8 if the whole file is valid UTF-8, else
    /// Windows-1252 (a superset of Latin-1 for text).
    pub encoding: Option<&'static Encoding>,
    /// Forced delimiter; otherwise sniffed from the header line among `,` `;` tab `|`.
    pub delimiter: Option<u8>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// How the file is named in messages and in the imports table, when not by its path (an
    /// upload spooled to a temporary file is named as its sender named it).
    pub name: Option<String>,
}

impl ImportOptions {
    /// The file's name in messages.
    pub(crate) fn display_name(&self, path: &Path) -> String {
        self.name.clone().unwrap_or_else(|| path.display().to_string())
    }
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    pub counts: ImportCounts,
    pub import_id: Option<i64>,
    pub dry_run: bool,
    /// An earlier import of the very same bytes into this campaign.
    pub previous: Option<ImportRow>,
    pub rejects_path: Option<PathBuf>,
    pub warnings: Vec<String>,
    pub encoding: &'static str,
    pub delimiter: u8,
    pub phone_column: String,
    pub timezone_column: Option<String>,
    pub state_column: Option<String>,
    pub elapsed: std::time::Duration,
}

/// Why an import failed as a whole (nothing was stored).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: cannot read: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path}: not a CSV file: {why}")]
    NotCsv { path: String, why: String },
    #[error("{path}: the file is empty (expected a header line and rows)")]
    Empty { path: String },
    #[error("{path}:1: {message}")]
    Columns { path: String, message: String },
    #[error("{path}:{line}: {message}")]
    Csv { path: String, line: u64, message: String },
    #[error("{path}: cannot write the rejects report: {source}")]
    Rejects { path: String, source: io::Error },
    #[error("--rejects {path} is {what}: choose another path for the rejects report")]
    RejectsClash { path: String, what: &'static str },
    #[error("campaign `{campaign}` is {state}: recipients can no longer be added")]
    CampaignClosed { campaign: String, state: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    /// True when the operator's input is at fault (exit code 2), not the machine.
    pub fn is_bad_input(&self) -> bool {
        let missing_file = matches!(self, ImportError::Read { source, .. }
            if matches!(source.kind(), io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied | io::ErrorKind::IsADirectory));
        missing_file
            || matches!(
                self,
                ImportError::NotCsv { .. }
                    | ImportError::Empty { .. }
                    | ImportError::Columns { .. }
                    | ImportError::Csv { .. }
                    | ImportError::CampaignClosed { .. }
                    | ImportError::RejectsClash { .. }
            )
    }
}

/// An encoding label as `--encoding` and the API's `encoding` take it (`utf-8`, `latin1`,
/// `windows-1252`, `utf-16le`, … as the WHATWG Encoding Standard names them).
pub fn encoding_for_label(label: &str) -> Result<&'static Encoding, String> {
    Encoding::for_label(label.trim().as_bytes())
        .ok_or_else(|| format!("`{label}` is not an encoding label (e.g. utf-8, latin1, windows-1252, utf-16le)"))
}

/// A delimiter as `--delimiter` and the API's `delimiter` take it: one ASCII character or `tab`.
pub fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        s if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        other => Err(format!("`{other}`: expected one character (`,` `;` `|`) or `tab`")),
    }
}

/// Maps a read failure on the operator's file to the error that names it.
fn read_error(path: &Path) -> impl Fn(io::Error) -> ImportError + '_ {
    move |source| ImportError::Read { path: path.display().to_string(), source }
}

/// The most characters of a cell, header or line an error or reject reason quotes.
pub const MAX_EXCERPT: usize = 80;

/// `text` as quoted in a message: whole when it has at most [`MAX_EXCERPT`] characters, else
/// its start and an ellipsis, [`MAX_EXCERPT`] characters in all. A line of a megabyte stays a
/// line of the terminal.
pub(crate) fn excerpt(text: &str) -> Cow<'_, str> {
    let mut chars = text.char_indices();
    match chars.nth(MAX_EXCERPT - 1) {
        Some((cut, _)) if chars.next().is_some() => Cow::Owned(format!("{}\u{2026}", &text[..cut])),
        _ => Cow::Borrowed(text),
    }
}

/// Maps a CSV reader failure to the error an operator can act on: the line, and for text that
/// is not UTF-8 the option that reads it.
fn csv_error(e: csv::Error, display: &str) -> ImportError {
    match e.kind() {
        csv::ErrorKind::Io(_) => {
            ImportError::Read { path: display.to_string(), source: io::Error::other(e.to_string()) }
        }
        csv::ErrorKind::Utf8 { pos, .. } => ImportError::Csv {
            path: display.to_string(),
            line: pos.as_ref().map_or(0, |p| p.line()),
            message: "the text is not valid UTF-8; if the file is Latin-1/Windows-1252, use --encoding latin1".into(),
        },
        _ => ImportError::Csv {
            path: display.to_string(),
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_at_most_max_excerpt_characters_with_an_ellipsis_when_cut() {
        assert!(matches!(excerpt("short"), Cow::Borrowed("short")));
        let exact = "\u{e9}".repeat(MAX_EXCERPT);
        assert!(matches!(excerpt(&exact), Cow::Borrowed(_)));
        let long = "\u{e9}".repeat(1_000_000);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), MAX_EXCERPT);
        assert!(cut.ends_with("\u{e9}\u{2026}"));
    }

    #[test]
    fn only_the_operators_input_is_bad_input() {
        let read = |kind| ImportError::Read { path: "f".into(), source: io::Error::from(kind) };
        assert!(read(io::ErrorKind::NotFound).is_bad_input());
        assert!(read(io::ErrorKind::PermissionDenied).is_bad_input());
        assert!(!read(io::ErrorKind::Other).is_bad_input(), "a failing disk is not the operator's fault");
        assert!(ImportError::Empty { path: "f".into() }.is_bad_input());
        assert!(ImportError::Csv { path: "f".into(), line: 3, message: "m".into() }.is_bad_input());
        let rejects = ImportError::Rejects { path: "r".into(), source: io::Error::from(io::ErrorKind::NotFound) };
        assert!(!rejects.is_bad_input(), "the report's directory is not the input");
    }
}
