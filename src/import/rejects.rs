//! The rejects report: one CSV line per rejected row, the file's line number and the reason
//! first, then the row as it was read, under the file's own header.
//!
//! The parser writes rejected records in as it meets them; the report leaves only as a file. It
//! is written to a hidden temporary path beside its final one ([`crate::files::temp_path_for`]) and renamed
//! into place by the import once the rows have committed, so an operator never finds a report
//! for an import that did not happen; an import that fails removes the temporary file instead
//! (`run::Uncommitted::abort`).
//!
//! Operators open the report in a spreadsheet, and its cells come from the imported file: each
//! cell (header, reason and row alike) goes through [`neutralise`], so one that a spreadsheet
//! would run as a formula is written with a leading `'` (a phone cell `+14155552671` is written
//! `'+14155552671`; see `csv_safe` for why that is the accepted price).

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use super::ImportError;
use crate::csv_safe::neutralise;

/// `list.csv` → `list.rejects.csv`, beside it.
pub fn default_rejects_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map_or_else(|| "import".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}.rejects.csv"))
}

/// An open rejects report, its header written.
pub(super) struct RejectsWriter {
    path: PathBuf,
    out: csv::Writer<BufWriter<File>>,
}

impl RejectsWriter {
    /// Creates (or truncates) the report at `path` and writes its header: `line`, `reason`,
    /// then the file's columns.
    pub(super) fn create(path: &Path, headers: &[String]) -> Result<Self, ImportError> {
        let file = crate::files::create_exclusive(path).map_err(|source| io_error(path, source))?;
        // Flexible: a rejected row keeps its own field count, ragged or not.
        let mut out = csv::WriterBuilder::new().flexible(true).from_writer(BufWriter::new(file));
        let mut head = csv::StringRecord::from(vec!["line", "reason"]);
        for h in headers {
            head.push_field(&neutralise(h));
        }
        out.write_record(&head).map_err(|e| csv_write_error(path, e))?;
        Ok(Self { path: path.to_path_buf(), out })
    }

    pub(super) fn write(&mut self, line: u64, reason: &str, record: &csv::StringRecord) -> Result<(), ImportError> {
        let mut out = csv::StringRecord::new();
        out.push_field(&line.to_string());
        out.push_field(&neutralise(reason));
        for f in record.iter() {
            out.push_field(&neutralise(f));
        }
        self.out.write_record(&out).map_err(|e| csv_write_error(&self.path, e))
    }

    /// Flushes the report to its (temporary) file.
    pub(super) fn finish(mut self) -> Result<(), ImportError> {
        self.out.flush().map_err(|source| io_error(&self.path, source))
    }
}

fn io_error(path: &Path, source: io::Error) -> ImportError {
    ImportError::Rejects { path: path.display().to_string(), source }
}

fn csv_write_error(path: &Path, e: csv::Error) -> ImportError {
    io_error(path, io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rejects_report_sits_beside_the_file() {
        assert_eq!(default_rejects_path(Path::new("/x/list.csv")), PathBuf::from("/x/list.rejects.csv"));
        assert_eq!(default_rejects_path(Path::new("list")), PathBuf::from("list.rejects.csv"));
    }

    #[test]
    fn a_reject_is_its_line_and_reason_then_the_row_as_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let headers: Vec<String> = vec!["name".into(), "phone".into()];
        let mut w = RejectsWriter::create(&path, &headers).unwrap();
        w.write(3, "phone: not a number", &csv::StringRecord::from(vec!["Fa, Jr.", "n/a"])).unwrap();
        w.write(7, "the row has 3 fields, the header has 2", &csv::StringRecord::from(vec!["a", "b", "c"])).unwrap();
        w.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "line,reason,name,phone\n3,phone: not a number,\"Fa, Jr.\",n/a\n7,\"the row has 3 fields, the header has 2\",a,b,c\n"
        );
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_neutralised_in_header_reason_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let headers: Vec<String> = vec!["=name".into(), "phone".into()];
        let mut w = RejectsWriter::create(&path, &headers).unwrap();
        w.write(2, "=name: odd", &csv::StringRecord::from(vec!["=HYPERLINK(\"http://x\")", "+14155552671"])).unwrap();
        w.write(3, "phone: bad", &csv::StringRecord::from(vec!["@SUM(A1)", "-1"])).unwrap();
        w.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "line,reason,'=name,phone\n2,'=name: odd,\"'=HYPERLINK(\"\"http://x\"\")\",'+14155552671\n3,phone: bad,'@SUM(A1),'-1\n"
        );
    }

    #[test]
    fn a_report_that_cannot_be_created_is_a_rejects_error_naming_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("r.csv");
        let Err(e) = RejectsWriter::create(&path, &[]) else { panic!("created in a missing directory") };
        assert!(matches!(e, ImportError::Rejects { .. }));
        assert!(e.to_string().starts_with(&format!("{}: cannot write the rejects report: ", path.display())), "{e}");
    }
}
