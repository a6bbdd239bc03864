//! The header line: which column holds the phone number, which the time zone, and what the
//! campaign's placeholders will miss.
//!
//! The first record of the CSV reader comes in; column indexes (or the `Columns`/`NotCsv`
//! error that stops the import) and warnings go out. Operators' spreadsheets name columns every
//! way ("Phone Number", "phone_number", "Mobile"), so names are compared by [`header_key`]
//! rather than as written; a file whose header names no phone column is most often not a
//! header at all (a wrong delimiter, a letter saved as .csv), and the error says so. A header
//! with several phone-like columns ("Mobile", "Number") gets the most specific one, and a
//! warning naming the one chosen and the others, since guessing wrong would dial the wrong
//! column for every row. Column names quoted in messages are cut to an [`excerpt`].

use std::collections::BTreeSet;

use super::{ImportError, csv_error, excerpt};

/// Header names that hold the phone number, compared without case, spaces or punctuation; the
/// first in this list wins when a file has several. The generic `number` and `to` come last:
/// beside a "Mobile" or "Phone" column they are more likely an account or policy number.
const PHONE_HEADERS: &[&str] = &[
    "phone",
    "phonenumber",
    "phoneno",
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
    "number",
    "to",
];
const TIMEZONE_HEADERS: &[&str] = &["timezone", "tz"];
const STATE_HEADERS: &[&str] = &["state", "statecode", "province", "stateprovince"];

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
    csv: &mut csv::Reader<impl std::io::Read>,
    record: &mut csv::StringRecord,
    display: &str,
) -> Result<Vec<String>, ImportError> {
    if !csv.read_record(record).map_err(|e| csv_error(e, display))? {
        return Err(ImportError::Empty { path: display.to_string() });
    }
    Ok(record.iter().map(|h| h.trim().to_string()).collect())
}

/// The header's column names, joined for a message and cut to an excerpt.
fn listed(headers: &[String]) -> String {
    excerpt(&headers.join(", ")).into_owned()
}

/// The index of the phone column (the one named, else the best known phone header), and a
/// warning when the header had other candidates.
pub(super) fn phone_column(
    headers: &[String],
    header_record: &csv::StringRecord,
    named: Option<&str>,
    delimiter: u8,
    display: &str,
) -> Result<(usize, Option<String>), ImportError> {
    if let Some(c) = named {
        let i = find_column(headers, c).ok_or_else(|| ImportError::Columns {
            path: display.to_string(),
            message: format!("no column `{}` (--phone-column); the header has: {}", excerpt(c), listed(headers)),
        })?;
        return Ok((i, None));
    }
    let rank = |h: &String| PHONE_HEADERS.iter().position(|want| header_key(h) == *want);
    let best = headers.iter().enumerate().filter_map(|(i, h)| Some((rank(h)?, i))).min();
    if let Some((_, i)) = best {
        let others: Vec<String> = headers
            .iter()
            .enumerate()
            .filter(|&(j, h)| j != i && rank(h).is_some())
            .map(|(_, h)| format!("\"{}\"", excerpt(h)))
            .collect();
        let warning = (!others.is_empty()).then(|| {
            format!(
                "several columns could hold the phone number: using \"{}\", not {}; if that is wrong, name the column with --phone-column",
                excerpt(&headers[i]),
                others.join(", ")
            )
        });
        return Ok((i, warning));
    }
    if headers.len() < 2 {
        let first_line = header_record.iter().collect::<Vec<_>>().join(&(delimiter as char).to_string());
        return Err(ImportError::NotCsv {
            path: display.to_string(),
            why: format!(
                "its first line `{}` is not a header with a phone column (name the column with --phone-column, or the delimiter with --delimiter)",
                excerpt(&first_line)
            ),
        });
    }
    Err(ImportError::Columns {
        path: display.to_string(),
        message: format!("no phone column: the header has {}; name it with --phone-column", listed(headers)),
    })
}

/// The index of the time zone column: the one named (which must exist), else the first known
/// time zone header, else none (zones then come from the number or the campaign).
pub(super) fn timezone_column(
    headers: &[String],
    named: Option<&str>,
    display: &str,
) -> Result<Option<usize>, ImportError> {
    optional_column(headers, named, TIMEZONE_HEADERS, "--timezone-column", display)
}

/// The index of the state (or province) column: the one named (which must exist), else the
/// first known state header, else none (regions then come from the area code alone).
pub(super) fn state_column(
    headers: &[String],
    named: Option<&str>,
    display: &str,
) -> Result<Option<usize>, ImportError> {
    optional_column(headers, named, STATE_HEADERS, "--state-column", display)
}

fn optional_column(
    headers: &[String],
    named: Option<&str>,
    known: &[&str],
    flag: &str,
    display: &str,
) -> Result<Option<usize>, ImportError> {
    match named {
        Some(c) => Ok(Some(find_column(headers, c).ok_or_else(|| ImportError::Columns {
            path: display.to_string(),
            message: format!("no column `{}` ({flag}); the header has: {}", excerpt(c), listed(headers)),
        })?)),
        None => Ok(headers.iter().position(|h| known.contains(&header_key(h).as_str()))),
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

    fn phone(h: &[&str], named: Option<&str>) -> Result<usize, ImportError> {
        phone_and_warning(h, named).map(|(i, _)| i)
    }

    fn phone_and_warning(h: &[&str], named: Option<&str>) -> Result<(usize, Option<String>), ImportError> {
        phone_column(&names(h), &csv::StringRecord::from(h.to_vec()), named, b';', "list.csv")
    }

    #[test]
    fn headers_match_without_case_spaces_or_punctuation() {
        let h = names(&["Name", " Phone Number ", "Time_Zone"]);
        assert_eq!(find_column(&h, "phone_number"), Some(1));
        assert_eq!(find_column(&h, "TIMEZONE"), Some(2));
        assert_eq!(find_column(&h, "email"), None);
        assert_eq!(header_key("Téléphone N°"), "téléphonen");
    }

    #[test]
    fn the_phone_column_is_the_named_one_else_the_best_known_name_not_the_leftmost() {
        assert_eq!(phone(&["to", "name", "Mobile", "Phone"], None).unwrap(), 3);
        assert_eq!(phone(&["name", "Cell-Phone"], None).unwrap(), 1);
        assert_eq!(phone(&["to", "name", "Phone"], Some("TO")).unwrap(), 0);
        let err = phone(&["name", "phone"], Some("mobile")).unwrap_err().to_string();
        assert_eq!(err, "list.csv:1: no column `mobile` (--phone-column); the header has: name, phone");
    }

    #[test]
    fn no_phone_column_in_a_one_column_header_means_the_file_is_not_a_csv_header() {
        let one = phone(&["Dear team, please call everyone"], None).unwrap_err();
        assert!(matches!(one, ImportError::NotCsv { .. }), "{one}");
        assert!(one.to_string().contains("`Dear team, please call everyone` is not a header"), "{one}");
        let long = "x".repeat(500);
        let shown = phone(&[long.as_str()], None).unwrap_err().to_string();
        assert!(shown.contains(&format!("`{}\u{2026}`", "x".repeat(79))), "the line is cut to an excerpt: {shown}");
        let two = phone(&["name", "email"], None).unwrap_err();
        assert!(matches!(two, ImportError::Columns { .. }), "{two}");
        assert!(two.to_string().ends_with("no phone column: the header has name, email; name it with --phone-column"));
    }

    #[test]
    fn a_phone_like_column_beats_a_generic_number_and_other_candidates_are_named_in_a_warning() {
        assert_eq!(phone_and_warning(&["Number", "name", "Mobile"], None).unwrap().0, 2);
        assert_eq!(phone_and_warning(&["to", "Cell"], None).unwrap().0, 1);
        assert_eq!(phone_and_warning(&["name", "number"], None).unwrap(), (1, None), "one candidate: no warning");
        let (i, warning) = phone_and_warning(&["Number", "Phone", "Cell Phone", "name"], None).unwrap();
        assert_eq!(i, 1);
        assert_eq!(
            warning.as_deref(),
            Some(
                "several columns could hold the phone number: using \"Phone\", not \"Number\", \"Cell Phone\"; if that is wrong, name the column with --phone-column"
            )
        );
        assert_eq!(phone_and_warning(&["Number", "Phone"], Some("number")).unwrap(), (0, None), "named: no guess");
    }

    #[test]
    fn a_huge_header_is_quoted_as_an_excerpt() {
        let huge = "h".repeat(1 << 20);
        let err = phone(&[huge.as_str(), "name"], None).unwrap_err().to_string();
        assert!(err.len() < 300, "{} bytes", err.len());
        let err = phone(&[huge.as_str(), "phone"], Some(&format!("{huge}x"))).unwrap_err().to_string();
        assert!(err.len() < 300, "{} bytes", err.len());
    }

    #[test]
    fn the_timezone_column_is_optional_unless_named() {
        let h = names(&["phone", "Time Zone", "tz"]);
        assert_eq!(timezone_column(&h, None, "f").unwrap(), Some(1));
        assert_eq!(timezone_column(&h, Some("TZ"), "f").unwrap(), Some(2));
        assert_eq!(timezone_column(&names(&["phone", "zone"]), None, "f").unwrap(), None);
        assert!(matches!(timezone_column(&h, Some("zone"), "f"), Err(ImportError::Columns { .. })));
    }

    #[test]
    fn the_header_is_the_first_record_trimmed_and_an_empty_file_has_none() {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(Box::new(&b" Phone , Name\n+12015550123,Ada\n"[..]) as Box<dyn std::io::Read + Send>);
        let mut record = csv::StringRecord::new();
        assert_eq!(read_header(&mut csv, &mut record, "f").unwrap(), names(&["Phone", "Name"]));
        assert_eq!(&record[0], " Phone ", "the record keeps the line as written, for error messages");
        let mut empty = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(Box::new(&b""[..]) as Box<dyn std::io::Read + Send>);
        assert!(matches!(read_header(&mut empty, &mut record, "f"), Err(ImportError::Empty { .. })));
    }

    #[test]
    fn placeholders_no_column_provides_are_named_in_one_warning() {
        let wanted: BTreeSet<String> = ["first_name", "city", "balance"].iter().map(|s| s.to_string()).collect();
        assert_eq!(missing_placeholders_warning(&wanted, &names(&["phone", "First_Name ", "City", "Balance"])), None);
        let one = missing_placeholders_warning(&wanted, &names(&["phone", "first_name", "city"])).unwrap();
        assert!(one.contains("uses a placeholder that no column of this file provides: {{balance}} ("), "{one}");
        let two = missing_placeholders_warning(&wanted, &names(&["phone", "city"])).unwrap();
        assert!(two.contains("placeholders that no column of this file provides: {{balance}}, {{first_name}} ("));
    }
}
