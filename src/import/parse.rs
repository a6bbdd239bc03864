//! The second pass, on a blocking thread: every row of the file, checked and sorted.
//!
//! The path, its [`Prescan`] and the campaign's [`RowContext`] come in; accepted and suppressed
//! jobs leave in chunks through a bounded channel to the store, rejected rows go to the
//! (temporary) rejects report, and the counts and column names come back as [`Parsed`]. The
//! channel's bound keeps memory flat whatever the file's size, and a closed channel (the store
//! side failed) stops the parser at its next chunk. A file read to its end inside a quoted
//! field is an error (`decode::check_quotes_closed`), whatever its rows were. The parser does not clean up after itself:
//! on any error it just returns (a progress bar stays as last drawn), and the import's one
//! abort path (`run::Uncommitted::abort`) removes the report and rolls the rows back.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::sync::mpsc;

use super::decode::{check_quotes_closed, open_csv, record_line};
use super::header::{missing_placeholders_warning, phone_column, read_header, state_column, timezone_column};
use super::prescan::Prescan;
use super::rejects::RejectsWriter;
use super::row::{RowContext, check_row};
use super::{ImportError, ImportOptions, csv_error};
use crate::store::{ImportCounts, ImportSnapshot, NewJob, phone_key};

/// Jobs a chunk sent to the store holds.
const CHUNK_ROWS: usize = 4000;

/// What the parser reports once it has read every row.
pub(super) struct Parsed {
    pub(super) counts: ImportCounts,
    pub(super) warnings: Vec<String>,
    pub(super) phone_column: String,
    /// The phone column's place among the file's columns (0-based).
    pub(super) phone_position: usize,
    pub(super) timezone_column: Option<String>,
    pub(super) state_column: Option<String>,
    /// The columns other than the phone, in order: the names of the stored variables.
    pub(super) variable_columns: Vec<String>,
}

pub(super) fn parse_file(
    path: &Path,
    scan: &Prescan,
    opts: &ImportOptions,
    mut ctx: RowContext,
    tmp_rejects: Option<PathBuf>,
    sender: mpsc::Sender<Vec<NewJob>>,
) -> Result<Parsed, ImportError> {
    let display = scan.display.clone();
    let mut csv = open_csv(path, scan)?;
    let mut record = csv::StringRecord::new();
    let headers = read_header(&mut csv, &mut record, &display)?;
    let (phone_idx, phone_warning) =
        phone_column(&headers, &record, opts.phone_column.as_deref(), scan.delimiter, &display)?;
    let tz_idx = timezone_column(&headers, opts.timezone_column.as_deref(), &display)?;
    let state_idx = state_column(&headers, opts.state_column.as_deref(), &display)?;
    let mut warnings: Vec<String> =
        phone_warning.into_iter().chain(missing_placeholders_warning(&ctx.placeholders, &headers)).collect();
    let mut rejects = tmp_rejects.as_deref().map(|p| RejectsWriter::create(p, &headers)).transpose()?;

    let progress = opts
        .progress
        .then(|| crate::progress::styled(scan.size, "{bar:30} {percent:>3}% {bytes}/{total_bytes} {msg} eta {eta}"));
    let mut counts = ImportCounts::default();
    // The numbers already in the campaign and those met so far in the file: one lookup a row.
    // Sized for the file up front (one row a line, at most): no rehashing of a million keys.
    let mut seen = std::mem::take(&mut ctx.snapshot.existing);
    seen.reserve(scan.lines as usize);
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    let mut var_buf = String::new();
    let started = Instant::now();
    let mut store_stopped = false;

    while csv.read_record(&mut record).map_err(|e| csv_error(e, &display))? {
        let line = record_line(&csv, &record);
        counts.rows_read += 1;
        match check_row(&record, &headers, (phone_idx, tz_idx, state_idx), &mut ctx, &mut var_buf) {
            Err(reason) => {
                counts.rejected += 1;
                if let Some(w) = rejects.as_mut() {
                    w.write(line, &reason, &record)?;
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
                        store_stopped = true;
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
    // Only a file read to its end can be known to end inside a quote.
    if !store_stopped {
        check_quotes_closed(&csv, path, scan)?;
    }
    if !chunk.is_empty() {
        let _ = sender.blocking_send(chunk);
    }
    if ctx.zone_contradictions > 0 {
        warnings.push(format!(
            "{} row(s) rejected because their time zone column names a zone outside North America for a +1 number \
             (the rejects report has each line)",
            ctx.zone_contradictions
        ));
    }
    if let Some(w) = rejects {
        w.finish()?;
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    ctx.snapshot = ImportSnapshot::default();
    Ok(Parsed {
        counts,
        warnings,
        phone_column: headers[phone_idx].clone(),
        phone_position: phone_idx,
        timezone_column: tz_idx.map(|i| headers[i].clone()),
        state_column: state_idx.map(|i| headers[i].clone()),
        variable_columns: headers.iter().enumerate().filter(|(i, _)| *i != phone_idx).map(|(_, h)| h.clone()).collect(),
    })
}
