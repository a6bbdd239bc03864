//! The header line: which column holds the phone number, which the time zone, and what the
//! campaign's placeholders will miss.
//!
//! The first record of the CSV reader comes in; column indexes (or the `Columns`/`NotCsv`
//! error that stops the import) and warnings go out. Operators' spreadsheets name columns every
//! way ("Phone Number", "phone_number", "Mobile"), so names are compared by [`header_key`]
//! rather than as written; a file whose header names no phone column is most often not a
//! header at all (a wrong delimiter, a letter saved as .csv), and the error says so.

use std::collections::BTreeSet;

use super::decode::CsvReader;
use super::{ImportError, csv_error};

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

/// Header text as compared with the known names: lowercase, letters and digits only.
fn header_key(h: &str) -> String {
    h.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

pub(super) fn find_column(headers: &[String], wanted: &str) -> Option<usize> {
    let k = header_key(wanted);
    headers.iter().position(|h| header_key(h) == k)
}

/// Reads the header line into `record` and returns the trimmed column names.
pub(super) fn read_header(
    csv: &mut CsvReader,
    record: &mut csv::StringRecord,
    display: &str,
) -> Result<Vec<String>, ImportError> {
    if !csv.read_record(record).map_err(|e| csv_error(e, display))? {
        return Err(ImportError::Empty { path: display.to_string() });
    }
    Ok(record.iter().map(|h| h.trim().to_string()).collect())
}

/// The index of the phone column: the one named, else the first known phone header.
pub(super) fn phone_column(
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

/// The index of the time zone column: the one named (which must exist), else the first known
/// time zone header, else none (zones then come from the number or the campaign).
pub(super) fn timezone_column(
    headers: &[String],
    named: Option<&str>,
    display: &str,
) -> Result<Option<usize>, ImportError> {
    match named {
        Some(c) => Ok(Some(find_column(headers, c).ok_or_else(|| ImportError::Columns {
            path: display.to_string(),
            message: format!("no column `{c}` (--timezone-column); the header has: {}", headers.join(", ")),
        })?)),
        None => Ok(headers.iter().position(|h| TIMEZONE_HEADERS.contains(&header_key(h).as_str()))),
    }
}

/// The warning for the campaign's placeholders that no column of this file provides (compared
/// with the trimmed, lowercased header), if any.
pub(super) fn missing_placeholders_warning(placeholders: &BTreeSet<String>, headers: &[String]) -> Option<String> {
    let columns: BTreeSet<String> = headers.iter().map(|h| h.trim().to_lowercase()).collect();
    let missing: Vec<&str> = placeholders.iter().filter(|p| !columns.contains(*p)).map(String::as_str).collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "the campaign's [call] uses {} that no column of this file provides: {} (those recipients will fail at dispatch unless another import provides them)",
        if missing.len() == 1 { "a placeholder" } else { "placeholders" },
        missing.iter().map(|p| format!("{{{{{p}}}}}")).collect::<Vec<_>>().join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn headers_match_without_case_spaces_or_punctuation() {
        let h = names(&["Name", " Phone Number ", "Time_Zone"]);
        assert_eq!(find_column(&h, "phone_number"), Some(1));
        assert_eq!(find_column(&h, "TIMEZONE"), Some(2));
        assert_eq!(find_column(&h, "email"), None);
    }
}
