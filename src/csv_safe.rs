//! Cells switchboard writes into CSV files that operators open in spreadsheets.
//!
//! A text that enters here leaves as the text to write in its cell. A spreadsheet runs a cell
//! that starts with `=`, `+`, `-` or `@` as a formula (and strips a leading tab or carriage
//! return before judging), so a recipient's "name" of `=HYPERLINK(…)` copied from an imported
//! file into a report would run on the operator's machine (CSV injection). Every CSV switchboard
//! writes (the rejects report today, the export next) passes each cell through [`neutralise`],
//! which prefixes such a cell with `'`, the OWASP convention: spreadsheets show the text as
//! typed and hide the apostrophe. The price is that a phone number written `+14155552671` or a
//! negative amount `-5` reads back from the file as `'+14155552671` / `'-5`; switchboard's own
//! import strips a leading `'` from phone numbers, so a rejects report fixed up and imported
//! again still reads.

use std::borrow::Cow;

/// The first characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell` as safe to put in a CSV a spreadsheet opens: prefixed with `'` when it starts like a
/// formula, else unchanged (and not copied).
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        let mut out = String::with_capacity(cell.len() + 1);
        out.push('\'');
        out.push_str(cell);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_get_a_leading_apostrophe() {
        for cell in ["=1+1", "+14155552671", "-5", "@SUM(A1)", "\t=cmd", "\r=cmd", "=HYPERLINK(\"x\")"] {
            assert_eq!(neutralise(cell), format!("'{cell}"), "{cell:?}");
        }
    }

    #[test]
    fn other_cells_are_left_as_they_are_without_a_copy() {
        for cell in ["", "Ada", "4155552671", " =not first", "'already", "a=b", "José"] {
            assert!(matches!(neutralise(cell), Cow::Borrowed(c) if c == cell), "{cell:?}");
        }
    }
}
