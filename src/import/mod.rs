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

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use encoding_rs::Encoding;
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::config::CampaignSpec;
use crate::config::campaign::parse_zone;
use crate::phone::PhoneNumber;
use crate::store::{ImportCounts, ImportRow, ImportSnapshot, NewJob, Store, StoreError, ZoneSource, phone_key};

/// Header names that hold the phone number, compared without case, spaces or punctuation; the
/// first in this list wins when a file has several.
const PHONE_HEADERS: &[&str] = &[
    "phone",
    "phonenumber",
    "phoneno",
    "number",
    "mobile",
    "mobilenumber",
    "mobilephone",
    "cell",
    "cellphone",
    "cellnumber",
    "telephone",
    "telephonenumber",
    "tel",
    "msisdn",
    "contactnumber",
    "tonumber",
    "to",
];
const TIMEZONE_HEADERS: &[&str] = &["timezone", "tz"];
const CHUNK_ROWS: usize = 4000;

/// How to read the file; everything has a sensible default.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub phone_column: Option<String>,
    pub timezone_column: Option<String>,
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
            )
    }
}

/// Imports `path` into the campaign described by `spec`.
pub async fn import_file(
    store: &Store,
    spec: &CampaignSpec,
    path: &Path,
    opts: &ImportOptions,
    now: DateTime<Utc>,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let campaign = store.campaign(spec.id.as_str()).await?;
    if matches!(campaign.state, crate::store::CampaignState::Cancelled) {
        return Err(ImportError::CampaignClosed { campaign: campaign.id, state: campaign.state.to_string() });
    }
    // The phone tables are built beside the first pass over the file, not before the first row.
    // Not awaited: the parser's first lookup waits for the tables if they are still being built.
    tokio::task::spawn_blocking(move || {
        crate::phone::warm_up();
        tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "phone tables ready");
    });
    let display = path.display().to_string();
    let scan = {
        let path = path.to_path_buf();
        let opts = opts.clone();
        tokio::task::spawn_blocking(move || prescan(&path, &opts)).await.expect("prescan thread panicked")?
    };
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "prescan done");
    let previous = store.previous_import(spec.id.as_str(), &scan.sha256).await?;
    let rejects_path = opts.rejects.clone().unwrap_or_else(|| default_rejects_path(path));
    let write_rejects = !opts.dry_run || opts.rejects.is_some();

    // A dry run reads a snapshot without the write lock; a real import reads it inside the
    // transaction it writes in, so nothing can change between the check and the write.
    let mut tx = None;
    let snapshot = if opts.dry_run {
        store.import_snapshot(spec.id.as_str()).await?
    } else {
        let file_name = path.file_name().map_or(display.clone(), |n| n.to_string_lossy().into_owned());
        let mut t = store.begin_import(spec.id.as_str(), &file_name, &scan.sha256, now.timestamp_millis()).await?;
        let snap = t.snapshot().await?;
        tx = Some(t);
        snap
    };

    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "snapshot read");
    let (sender, mut receiver) = mpsc::channel::<Vec<NewJob>>(4);
    let parse = {
        let ctx = RowContext::new(spec, snapshot);
        let path = path.to_path_buf();
        let opts = opts.clone();
        let tmp_rejects = write_rejects.then(|| temp_path_for(&rejects_path));
        let scan = scan.clone();
        tokio::task::spawn_blocking(move || parse_file(&path, &scan, &opts, ctx, tmp_rejects, sender))
    };

    let mut store_error = None;
    while let Some(chunk) = receiver.recv().await {
        if let Some(t) = tx.as_mut()
            && let Err(e) = t.insert(chunk).await
        {
            store_error = Some(e);
            break;
        }
    }
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "rows stored");
    // Closing the receiver makes a still-running parser stop at its next send.
    drop(receiver);
    let parsed = parse.await.expect("import parser thread panicked");
    let tmp_rejects = write_rejects.then(|| temp_path_for(&rejects_path));
    let discard = |tmp: &Option<PathBuf>| {
        if let Some(t) = tmp {
            let _ = std::fs::remove_file(t);
        }
    };
    let parsed = match (parsed, store_error) {
        (Ok(p), None) => p,
        (Err(e), _) => {
            discard(&tmp_rejects);
            if let Some(t) = tx {
                t.rollback().await?;
            }
            return Err(e);
        }
        (Ok(_), Some(e)) => {
            discard(&tmp_rejects);
            if let Some(t) = tx {
                t.rollback().await?;
            }
            return Err(e.into());
        }
    };

    let counts = parsed.counts;
    let import_id = match tx {
        Some(t) if counts.accepted + counts.suppressed > 0 => Some(t.commit(counts, &parsed.variable_columns).await?),
        // Nothing new: leave no trace of this run but the report.
        Some(t) => {
            t.rollback().await?;
            None
        }
        None => None,
    };
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "committed");
    let rejects_path = match tmp_rejects {
        Some(tmp) => {
            std::fs::rename(&tmp, &rejects_path)
                .map_err(|source| ImportError::Rejects { path: rejects_path.display().to_string(), source })?;
            Some(rejects_path)
        }
        None => None,
    };
    Ok(ImportSummary {
        counts,
        import_id,
        dry_run: opts.dry_run,
        previous,
        rejects_path,
        warnings: parsed.warnings,
        encoding: scan.encoding.name(),
        delimiter: scan.delimiter,
        phone_column: parsed.phone_column,
        timezone_column: parsed.timezone_column,
        elapsed: started.elapsed(),
    })
}

/// `list.csv` → `list.rejects.csv`, beside it.
pub fn default_rejects_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map_or_else(|| "import".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}.rejects.csv"))
}

fn temp_path_for(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(|| "rejects".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// What the first pass learns about the file.
#[derive(Debug, Clone)]
struct Prescan {
    sha256: String,
    size: u64,
    /// Line feeds in the file: an upper bound on its rows.
    lines: u64,
    /// Whether any byte is a carriage return (else line ends need no rewriting).
    has_cr: bool,
    encoding: &'static Encoding,
    /// Length of a BOM to skip.
    bom: usize,
    delimiter: u8,
}

fn read_error(path: &Path) -> impl Fn(io::Error) -> ImportError + '_ {
    move |source| ImportError::Read { path: path.display().to_string(), source }
}

fn prescan(path: &Path, opts: &ImportOptions) -> Result<Prescan, ImportError> {
    let display = path.display().to_string();
    let mut file = File::open(path).map_err(read_error(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut head: Vec<u8> = Vec::new();
    let mut size = 0u64;
    let mut lines = 0u64;
    let mut has_cr = false;
    let mut utf8_ok = true;
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = file.read(&mut buf).map_err(read_error(path))?;
        if n == 0 {
            break;
        }
        let bytes = &buf[..n];
        hasher.update(bytes);
        size += n as u64;
        lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        has_cr = has_cr || bytes.contains(&b'\r');
        if head.len() < 64 * 1024 {
            head.extend_from_slice(&bytes[..n.min(64 * 1024 - head.len())]);
        }
        if utf8_ok {
            // Validate across chunk boundaries: an incomplete sequence at the end carries over.
            carry.extend_from_slice(bytes);
            match std::str::from_utf8(&carry) {
                Ok(_) => carry.clear(),
                Err(e) if e.error_len().is_none() => {
                    let keep = carry.split_off(e.valid_up_to());
                    carry = keep;
                }
                Err(_) => utf8_ok = false,
            }
        }
    }
    if !carry.is_empty() {
        utf8_ok = false;
    }
    if size == 0 {
        return Err(ImportError::Empty { path: display });
    }
    let (bom_encoding, bom) = Encoding::for_bom(&head).map_or((None, 0), |(e, n)| (Some(e), n));
    let is_utf16 = matches!(bom_encoding, Some(e) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE);
    if !is_utf16 && head.contains(&0) {
        return Err(ImportError::NotCsv {
            path: display,
            why: "it holds binary data (NUL bytes); export the sheet as CSV first".into(),
        });
    }
    let encoding =
        opts.encoding.or(bom_encoding).unwrap_or(if utf8_ok { encoding_rs::UTF_8 } else { encoding_rs::WINDOWS_1252 });
    let (text, _, _) = encoding.decode(&head);
    let delimiter = opts.delimiter.unwrap_or_else(|| sniff_delimiter(&text));
    let sha256 = hex::encode(hasher.finalize());
    Ok(Prescan {
        sha256,
        size,
        lines,
        has_cr,
        encoding,
        bom: if opts.encoding.is_some() && bom_encoding != opts.encoding { 0 } else { bom },
        delimiter,
    })
}

/// The candidate that appears most often outside quotes on the header line; `,` on a tie.
fn sniff_delimiter(text: &str) -> u8 {
    let text = text.trim_start_matches('\u{feff}');
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for b in text.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = candidates.iter().position(|c| *c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let (best, n) = counts.iter().enumerate().max_by_key(|(i, n)| (**n, usize::MAX - i)).unwrap();
    if *n == 0 { b',' } else { candidates[best] }
}

/// Header text as compared with the known names: lowercase, letters and digits only.
fn header_key(h: &str) -> String {
    h.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

fn find_column(headers: &[String], wanted: &str) -> Option<usize> {
    let k = header_key(wanted);
    headers.iter().position(|h| header_key(h) == k)
}

/// Everything a row is checked against, moved onto the parser thread.
struct RowContext {
    snapshot: ImportSnapshot,
    default_zone: Option<Tz>,
    placeholders: BTreeSet<String>,
    zone_names: ZoneNames,
}

impl RowContext {
    fn new(spec: &CampaignSpec, snapshot: ImportSnapshot) -> Self {
        Self {
            snapshot,
            default_zone: spec.schedule.timezone,
            placeholders: spec.placeholders.clone(),
            zone_names: ZoneNames::default(),
        }
    }
}

/// The stored form of each set of zones met in a file (`America/Chicago|America/Denver`), made
/// once and shared by its rows.
#[derive(Default)]
struct ZoneNames(FxHashMap<Box<[Tz]>, Arc<str>>);

impl ZoneNames {
    fn get(&mut self, zones: &[Tz]) -> Arc<str> {
        if let Some(names) = self.0.get(zones) {
            return names.clone();
        }
        let names: Arc<str> = Arc::from(zones.iter().map(|z| z.name()).collect::<Vec<_>>().join("|"));
        self.0.insert(zones.into(), names.clone());
        names
    }
}

struct Parsed {
    counts: ImportCounts,
    warnings: Vec<String>,
    phone_column: String,
    timezone_column: Option<String>,
    /// The columns other than the phone, in order: the names of the stored variables.
    variable_columns: Vec<String>,
}

/// The file as UTF-8 with LF line ends: the BOM the prescan found skipped, other encodings
/// decoded, CRLF turned into LF.
fn open_decoded(path: &Path, scan: &Prescan) -> Result<Box<dyn Read + Send>, ImportError> {
    let file = File::open(path).map_err(read_error(path))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    if scan.encoding == encoding_rs::UTF_8 {
        let skip = scan.bom.min(reader.fill_buf().map_err(read_error(path))?.len());
        reader.consume(skip);
        if scan.has_cr { Ok(Box::new(CrlfToLf::new(reader))) } else { Ok(Box::new(reader)) }
    } else {
        let decoder = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(Some(scan.encoding))
            .bom_override(scan.bom > 0)
            .strip_bom(true)
            .build(reader);
        Ok(Box::new(CrlfToLf::new(BufReader::with_capacity(1 << 20, decoder))))
    }
}

/// Turns CRLF into LF as bytes stream through. The csv crate reports a record's line one too
/// low after a CRLF (it ends the record at the CR and counts the LF with the next one); with
/// plain LF its line numbers are the file's physical lines, which the rejects report promises.
struct CrlfToLf<R> {
    inner: R,
    input: Vec<u8>,
    output: Vec<u8>,
    pos: usize,
    /// A CR at the end of the last chunk, not yet known to be followed by LF.
    pending_cr: bool,
    eof: bool,
}

impl<R: Read> CrlfToLf<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            input: vec![0; 1 << 16],
            output: Vec::with_capacity(1 << 16),
            pos: 0,
            pending_cr: false,
            eof: false,
        }
    }
}

impl<R: Read> Read for CrlfToLf<R> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.output.len() {
            if self.eof {
                return Ok(0);
            }
            self.output.clear();
            self.pos = 0;
            let n = self.inner.read(&mut self.input)?;
            if n == 0 {
                self.eof = true;
                if std::mem::take(&mut self.pending_cr) {
                    self.output.push(b'\r');
                }
                continue;
            }
            for &b in &self.input[..n] {
                if std::mem::take(&mut self.pending_cr) && b != b'\n' {
                    self.output.push(b'\r');
                }
                if b == b'\r' {
                    self.pending_cr = true;
                } else {
                    self.output.push(b);
                }
            }
        }
        let k = dst.len().min(self.output.len() - self.pos);
        dst[..k].copy_from_slice(&self.output[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

fn parse_file(
    path: &Path,
    scan: &Prescan,
    opts: &ImportOptions,
    mut ctx: RowContext,
    tmp_rejects: Option<PathBuf>,
    sender: mpsc::Sender<Vec<NewJob>>,
) -> Result<Parsed, ImportError> {
    let display = path.display().to_string();
    let mut csv = open_csv(path, scan)?;
    let mut record = csv::StringRecord::new();
    let headers = read_header(&mut csv, &mut record, &display)?;
    let phone_idx = phone_column(&headers, &record, opts.phone_column.as_deref(), scan.delimiter, &display)?;
    let tz_idx = match &opts.timezone_column {
        Some(c) => Some(find_column(&headers, c).ok_or_else(|| ImportError::Columns {
            path: display.clone(),
            message: format!("no column `{c}` (--timezone-column); the header has: {}", headers.join(", ")),
        })?),
        None => headers.iter().position(|h| TIMEZONE_HEADERS.contains(&header_key(h).as_str())),
    };

    let mut warnings = Vec::new();
    let columns: BTreeSet<String> = headers.iter().map(|h| h.trim().to_lowercase()).collect();
    let missing: Vec<&str> = ctx.placeholders.iter().filter(|p| !columns.contains(*p)).map(String::as_str).collect();
    if !missing.is_empty() {
        warnings.push(format!(
            "the campaign's [call] uses {} that no column of this file provides: {} (those recipients will fail at dispatch unless another import provides them)",
            if missing.len() == 1 { "a placeholder" } else { "placeholders" },
            missing.iter().map(|p| format!("{{{{{p}}}}}")).collect::<Vec<_>>().join(", ")
        ));
    }

    let mut rejects = match &tmp_rejects {
        None => None,
        Some(p) => {
            let file =
                File::create(p).map_err(|source| ImportError::Rejects { path: p.display().to_string(), source })?;
            let mut w = csv::WriterBuilder::new().flexible(true).from_writer(io::BufWriter::new(file));
            let mut head = vec!["line".to_string(), "reason".to_string()];
            head.extend(headers.iter().cloned());
            w.write_record(&head).map_err(|e| rejects_error(p, e))?;
            Some((p.clone(), w))
        }
    };

    let progress = opts.progress.then(|| progress_bar(scan.size));
    let mut counts = ImportCounts::default();
    // The numbers already in the campaign and those met so far in the file: one lookup a row.
    // Sized for the file up front (one row a line, at most): no rehashing of a million keys.
    let mut seen = std::mem::take(&mut ctx.snapshot.existing);
    seen.reserve(scan.lines as usize);
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    let mut var_buf = String::new();
    let started = Instant::now();

    while csv.read_record(&mut record).map_err(|e| csv_error(e, &display))? {
        let line = record.position().map_or(0, |p| p.line());
        counts.rows_read += 1;
        match check_row(&record, &headers, phone_idx, tz_idx, &mut ctx, &mut var_buf) {
            Err(reason) => {
                counts.rejected += 1;
                if let Some((p, w)) = rejects.as_mut() {
                    let mut out = csv::StringRecord::new();
                    out.push_field(&line.to_string());
                    out.push_field(&reason);
                    for f in record.iter() {
                        out.push_field(f);
                    }
                    w.write_record(&out).map_err(|e| rejects_error(p, e))?;
                }
            }
            Ok(mut job) => {
                let key = phone_key(&job.phone).expect("an E.164 number has digits");
                if !seen.insert(key) {
                    counts.duplicates += 1;
                    continue;
                }
                job.source_line = line;
                if let Some(reason) = ctx.snapshot.dnc.get(&key) {
                    job.suppressed = Some(format!("do-not-call: {reason}"));
                    counts.suppressed += 1;
                } else {
                    counts.accepted += 1;
                }
                chunk.push(job);
                if chunk.len() == CHUNK_ROWS {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS));
                    if sender.blocking_send(full).is_err() {
                        // The store side stopped (an error it reports itself).
                        break;
                    }
                }
            }
        }
        if let Some(bar) = &progress
            && counts.rows_read % 8192 == 0
        {
            bar.set_position(record.position().map_or(0, |p| p.byte()));
            let rate = counts.rows_read as f64 / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{} rows, {:.0} rows/s", counts.rows_read, rate));
        }
    }
    if !chunk.is_empty() {
        let _ = sender.blocking_send(chunk);
    }
    if let Some((p, mut w)) = rejects {
        w.flush().map_err(|source| ImportError::Rejects { path: p.display().to_string(), source })?;
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    ctx.snapshot = ImportSnapshot::default();
    Ok(Parsed {
        counts,
        warnings,
        phone_column: headers[phone_idx].clone(),
        timezone_column: tz_idx.map(|i| headers[i].clone()),
        variable_columns: headers.iter().enumerate().filter(|(i, _)| *i != phone_idx).map(|(_, h)| h.clone()).collect(),
    })
}

fn open_csv(path: &Path, scan: &Prescan) -> Result<csv::Reader<Box<dyn Read + Send>>, ImportError> {
    Ok(csv::ReaderBuilder::new()
        .delimiter(scan.delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(open_decoded(path, scan)?))
}

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

/// Reads the header line into `record` and returns the trimmed column names.
fn read_header(
    csv: &mut csv::Reader<Box<dyn Read + Send>>,
    record: &mut csv::StringRecord,
    display: &str,
) -> Result<Vec<String>, ImportError> {
    if !csv.read_record(record).map_err(|e| csv_error(e, display))? {
        return Err(ImportError::Empty { path: display.to_string() });
    }
    Ok(record.iter().map(|h| h.trim().to_string()).collect())
}

/// The index of the phone column: the one named, else the first known phone header.
fn phone_column(
    headers: &[String],
    header_record: &csv::StringRecord,
    named: Option<&str>,
    delimiter: u8,
    display: &str,
) -> Result<usize, ImportError> {
    if let Some(c) = named {
        return find_column(headers, c).ok_or_else(|| ImportError::Columns {
            path: display.to_string(),
            message: format!("no column `{c}` (--phone-column); the header has: {}", headers.join(", ")),
        });
    }
    if let Some(i) = PHONE_HEADERS.iter().find_map(|want| headers.iter().position(|h| header_key(h) == *want)) {
        return Ok(i);
    }
    if headers.len() < 2 {
        let first_line = header_record.iter().collect::<Vec<_>>().join(&(delimiter as char).to_string());
        let shown: String = first_line.chars().take(120).collect();
        return Err(ImportError::NotCsv {
            path: display.to_string(),
            why: format!(
                "its first line `{shown}` is not a header with a phone column (name the column with --phone-column, or the delimiter with --delimiter)"
            ),
        });
    }
    Err(ImportError::Columns {
        path: display.to_string(),
        message: format!("no phone column: the header has {}; name it with --phone-column", headers.join(", ")),
    })
}

/// Numbers read from a list's phone column, for the do-not-call list.
#[derive(Debug, Default)]
pub struct NumberList {
    /// E.164, in file order, without duplicates.
    pub numbers: Vec<String>,
    /// (line, reason) for each line whose number could not be read.
    pub rejected: Vec<(u64, String)>,
}

/// Reads every number of a CSV file's phone column (same detection and normalisation as an
/// import). Numbers only: a list of millions fits in memory.
pub fn read_numbers(path: &Path, phone_column_name: Option<&str>) -> Result<NumberList, ImportError> {
    let display = path.display().to_string();
    let scan = prescan(path, &ImportOptions::default())?;
    let mut csv = open_csv(path, &scan)?;
    let mut record = csv::StringRecord::new();
    let headers = read_header(&mut csv, &mut record, &display)?;
    let idx = phone_column(&headers, &record, phone_column_name, scan.delimiter, &display)?;
    let mut out = NumberList::default();
    let mut seen = std::collections::HashSet::new();
    while csv.read_record(&mut record).map_err(|e| csv_error(e, &display))? {
        let line = record.position().map_or(0, |p| p.line());
        match record.get(idx).map(PhoneNumber::parse) {
            Some(Ok(p)) => {
                if seen.insert(p.as_str().to_string()) {
                    out.numbers.push(p.as_str().to_string());
                }
            }
            Some(Err(e)) => out.rejected.push((line, e.to_string())),
            None => out.rejected.push((line, format!("the row has no field {}", idx + 1))),
        }
    }
    Ok(out)
}

fn rejects_error(path: &Path, e: csv::Error) -> ImportError {
    ImportError::Rejects { path: path.display().to_string(), source: io::Error::other(e.to_string()) }
}

fn progress_bar(size: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(size), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {percent:>3}% {bytes}/{total_bytes} {msg} eta {eta}")
            .expect("valid progress template"),
    );
    bar
}

/// Checks one row; `Ok` is a job (not yet checked for duplicates or DNC), `Err` the reason it is
/// rejected.
fn check_row(
    record: &csv::StringRecord,
    headers: &[String],
    phone_idx: usize,
    tz_idx: Option<usize>,
    ctx: &mut RowContext,
    var_buf: &mut String,
) -> Result<NewJob, String> {
    if record.len() != headers.len() {
        return Err(format!("the row has {} fields, the header has {}", record.len(), headers.len()));
    }
    let raw_phone = &record[phone_idx];
    let phone = PhoneNumber::parse(raw_phone).map_err(|e| format!("{}: {e}", headers[phone_idx]))?;
    let number_zones = phone.time_zones();
    let column_zone = match tz_idx.map(|i| record[i].trim()) {
        Some(z) if !z.is_empty() => Some(parse_zone(z).map_err(|m| format!("{}: {m}", headers[tz_idx.unwrap()]))?),
        _ => None,
    };
    let (timezones, zone_source) = if let Some(z) = column_zone {
        (ctx.zone_names.get(&[z]), ZoneSource::Column)
    } else if !number_zones.is_empty() {
        (ctx.zone_names.get(number_zones), ZoneSource::AreaCode)
    } else {
        match ctx.default_zone {
            // Only a NANP number may fall back to the campaign's zone: a foreign number with
            // no known zone must never be called on, say, New York time.
            Some(z) if phone.is_nanp() => (ctx.zone_names.get(&[z]), ZoneSource::Default),
            Some(_) => {
                return Err(format!(
                    "no time zone is known for {phone}, and the campaign default only applies to +1 numbers: add a timezone column"
                ));
            }
            None => {
                return Err(format!(
                    "no time zone is known for {phone}: add a timezone column or set [schedule] timezone"
                ));
            }
        }
    };
    // The values only, in column order: the names are stored once, with the import.
    var_buf.clear();
    var_buf.push('[');
    for (i, v) in record.iter().enumerate() {
        if i == phone_idx {
            continue;
        }
        if var_buf.len() > 1 {
            var_buf.push(',');
        }
        push_json_str(var_buf, v);
    }
    var_buf.push(']');
    Ok(NewJob {
        phone: Arc::from(phone.as_str()),
        source_line: 0,
        variables: Arc::from(var_buf.as_str()),
        timezones,
        zone_source,
        // Stored only when it adds something: the dispatcher reads a missing value as "the same
        // as timezones", and a million rows are 16+ bytes smaller each.
        number_zones: (!number_zones.is_empty() && zone_source != ZoneSource::AreaCode)
            .then(|| ctx.zone_names.get(number_zones)),
        suppressed: None,
    })
}

fn push_json_str(out: &mut String, s: &str) {
    // serde_json's escaping, without building a Value per field; plain text (most fields) as is.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("a string serialises"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delimiter_is_the_most_common_candidate_outside_quotes_on_the_header_line() {
        assert_eq!(sniff_delimiter("phone;name;city\n1,2,3"), b';');
        assert_eq!(sniff_delimiter("phone\tname\n"), b'\t');
        assert_eq!(sniff_delimiter("\"a;b;c\",phone\n"), b',');
        assert_eq!(sniff_delimiter("phone\n"), b',');
        assert_eq!(sniff_delimiter("\u{feff}phone|name\n"), b'|');
    }

    #[test]
    fn headers_match_without_case_spaces_or_punctuation() {
        let h: Vec<String> = ["Name", " Phone Number ", "Time_Zone"].iter().map(|s| s.to_string()).collect();
        assert_eq!(find_column(&h, "phone_number"), Some(1));
        assert_eq!(find_column(&h, "TIMEZONE"), Some(2));
        assert_eq!(find_column(&h, "email"), None);
    }

    #[test]
    fn crlf_becomes_lf_across_chunk_boundaries_and_lone_crs_stay() {
        let text = b"a\r\nb\rc\r\n\"q\r\nq\"\r";
        // One byte at a time puts every CR at the end of a chunk.
        struct Dribble<'a>(&'a [u8]);
        impl Read for Dribble<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let Some((b, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                out[0] = *b;
                self.0 = rest;
                Ok(1)
            }
        }
        for reader in [Box::new(Dribble(text)) as Box<dyn Read>, Box::new(&text[..])] {
            let mut out = Vec::new();
            CrlfToLf::new(reader).read_to_end(&mut out).unwrap();
            assert_eq!(out, b"a\nb\rc\n\"q\nq\"\r");
        }
    }

    #[test]
    fn the_rejects_report_sits_beside_the_file() {
        assert_eq!(default_rejects_path(Path::new("/x/list.csv")), PathBuf::from("/x/list.rejects.csv"));
    }
}
