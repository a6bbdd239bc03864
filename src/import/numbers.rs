//! The do-not-call list reader: only the phone column of a CSV file, for `switchboard dnc import`.
//!
//! A path (and perhaps the operator's name for the phone column) comes in; the file's numbers
//! in E.164 and the lines that held none go out. It reads files exactly as an import does (the
//! same prescan, decoding and header detection), so a list that imports as recipients also
//! reads as a do-not-call list, but it checks no zones and writes nothing.

use std::path::Path;

use super::decode::open_csv;
use super::header::{phone_column, read_header};
use super::prescan::prescan;
use super::{ImportError, ImportOptions, csv_error};
use crate::phone::PhoneNumber;

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
