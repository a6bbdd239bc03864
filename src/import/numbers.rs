//! The do-not-call list reader: only the phone column of a CSV file, for `switchboard dnc import`.
//!
//! A path (and perhaps the operator's name for the phone column) comes in; the file's numbers
//! in E.164 go out, or an error. It reads files exactly as an import does (the same prescan,
//! decoding, header detection and lenient [`PhoneNumber::parse`]), so a number is the same
//! number on the list and in a campaign however each file wrote it (`14155550100`,
//! `(415) 555-0100`, `+1 415-555-0100`). Unlike an import it rejects nothing quietly: a line
//! whose number cannot be read fails the whole list, naming the file and the line, and nothing
//! is added. Suppressing too much is safe; a number silently left off the list would be dialled.

use std::path::Path;

use super::decode::{check_quotes_closed, open_csv, record_line};
use super::header::{phone_column, read_header};
use super::prescan::prescan;
use super::{ImportError, ImportOptions, csv_error, excerpt};
use crate::phone::PhoneNumber;

/// Line numbers a failed list's error lists before it only counts.
const LINES_LISTED: usize = 10;

/// Numbers read from a list's phone column, for the do-not-call list.
#[derive(Debug, Default)]
pub struct NumberList {
    /// E.164, in file order, without duplicates.
    pub numbers: Vec<PhoneNumber>,
    /// What the operator should know (several phone-like columns, the one used).
    pub warnings: Vec<String>,
}

/// Reads every number of a CSV file's phone column (same detection and normalisation as an
/// import). Numbers only: a list of millions fits in memory. Any line without a readable
/// number is an error naming the first such line (and counting the others).
pub fn read_numbers(path: &Path, phone_column_name: Option<&str>) -> Result<NumberList, ImportError> {
    let display = path.display().to_string();
    let scan = prescan(path, &ImportOptions::default())?;
    let mut csv = open_csv(path, &scan)?;
    let mut record = csv::StringRecord::new();
    let headers = read_header(&mut csv, &mut record, &display)?;
    let (idx, warning) = phone_column(&headers, &record, phone_column_name, scan.delimiter, &display)?;
    let mut out = NumberList { warnings: warning.into_iter().collect(), ..Default::default() };
    let mut seen = std::collections::HashSet::new();
    // The first bad line and its reason, and every bad line.
    let mut first_bad: Option<(u64, String)> = None;
    let mut bad_lines: Vec<u64> = Vec::new();
    while csv.read_record(&mut record).map_err(|e| csv_error(e, &display))? {
        let reason = match record.get(idx).map(PhoneNumber::parse) {
            Some(Ok(p)) => {
                if seen.insert(p.clone()) {
                    out.numbers.push(p);
                }
                continue;
            }
            Some(Err(e)) => format!("{}: {e}", excerpt(&headers[idx])),
            None => format!("the row has no field {} ({})", idx + 1, excerpt(&headers[idx])),
        };
        let line = record_line(&csv, &record);
        first_bad.get_or_insert((line, reason));
        bad_lines.push(line);
    }
    check_quotes_closed(&csv, path, &scan)?;
    if let Some((line, reason)) = first_bad {
        let listed: Vec<String> = bad_lines.iter().take(LINES_LISTED).map(u64::to_string).collect();
        let more = bad_lines.len().saturating_sub(LINES_LISTED);
        return Err(ImportError::Csv {
            path: display,
            line,
            message: format!(
                "{reason}; {} line(s) hold no number that can be read ({}{}): nothing was added to the do-not-call list \
                 (it is added whole or not at all): correct or remove them",
                bad_lines.len(),
                listed.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() },
            ),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<NumberList, ImportError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dnc.csv");
        std::fs::write(&path, bytes).unwrap();
        read_numbers(&path, None)
    }

    #[test]
    fn numbers_are_read_as_leniently_as_an_import_and_deduplicated() {
        let list = read(b"phone\n14155550100\n(415) 555-0100\n'4155550101\n+1 415-555-0102\n").unwrap();
        assert_eq!(
            list.numbers.iter().map(PhoneNumber::as_str).collect::<Vec<_>>(),
            ["+14155550100", "+14155550101", "+14155550102"]
        );
    }

    #[test]
    fn a_line_without_a_number_fails_the_whole_list_naming_its_line() {
        let err = read(b"name,phone\r\n\r\nA,14155550100\r\nB,call me\r\nC\r\nD,+14155550101\r\n").unwrap_err();
        assert!(matches!(err, ImportError::Csv { line: 4, .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("dnc.csv:4: phone: contains letters; 2 line(s) hold no number that can be read (4, 5)"),
            "{text}"
        );
        assert!(text.contains("nothing was added"), "{text}");
    }
}
