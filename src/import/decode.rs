//! The second pass's input: the file as UTF-8 text with LF line ends, behind a CSV reader.
//!
//! A path and its [`Prescan`] come in; a CSV reader over decoded text goes out. Decoding here,
//! as bytes stream through, lets the rest of the import deal only in `&str` fields and physical
//! line numbers whatever encoding or line ends the operator's spreadsheet chose. A plain UTF-8
//! file with LF line ends goes through untouched: the common case pays for no extra copy.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::prescan::Prescan;
use super::{ImportError, read_error};

/// The CSV reader both passes over a file's rows use (the import and the do-not-call reader).
pub(super) type CsvReader = csv::Reader<Box<dyn Read + Send>>;

/// A CSV reader over the decoded file. Headers are read as a record of their own (see
/// `header::read_header`) and rows may be ragged: a short row is a reject, not a fatal error.
pub(super) fn open_csv(path: &Path, scan: &Prescan) -> Result<CsvReader, ImportError> {
    Ok(csv::ReaderBuilder::new()
        .delimiter(scan.delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(open_decoded(path, scan)?))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{ImportOptions, prescan::prescan};

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
    fn crlf_conversion_survives_a_reader_that_fills_small_destinations() {
        // More than one internal chunk (64 KiB), read back through a 7-byte buffer.
        let text: Vec<u8> = b"+12015550123,Ada\r\n".repeat(10_000);
        let mut reader = CrlfToLf::new(&text[..]);
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, b"+12015550123,Ada\n".repeat(10_000));
    }

    fn decoded(bytes: &[u8], opts: &ImportOptions) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.csv");
        std::fs::write(&path, bytes).unwrap();
        let scan = prescan(&path, opts).unwrap();
        let mut out = String::new();
        open_decoded(&path, &scan).unwrap().read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn the_decoded_text_is_utf8_without_bom_and_with_lf_line_ends() {
        let plain = ImportOptions::default();
        assert_eq!(decoded(b"\xef\xbb\xbfphone\r\n+12015550123\r\n", &plain), "phone\n+12015550123\n");
        assert_eq!(decoded(b"phone;name\r\n+12015550123;Jos\xe9\r\n", &plain), "phone;name\n+12015550123;José\n");
        assert_eq!(decoded(b"\xff\xfep\x00h\x00\r\x00\n\x00", &plain), "ph\n");
        let latin1 = ImportOptions { encoding: Some(encoding_rs::WINDOWS_1252), ..Default::default() };
        assert_eq!(decoded(b"Jos\xe9\r\n\x80\n", &latin1), "José\n€\n");
        let utf8 = ImportOptions { encoding: Some(encoding_rs::UTF_8), ..Default::default() };
        assert_eq!(decoded(b"\xef\xbb\xbfphone\n", &utf8), "phone\n");
    }

    #[test]
    fn csv_line_numbers_are_physical_lines_after_crlf() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.csv");
        std::fs::write(&path, b"phone,note\r\n1,\"two\r\nlines\"\r\n2,x\r\n").unwrap();
        let scan = prescan(&path, &ImportOptions::default()).unwrap();
        let mut csv = open_csv(&path, &scan).unwrap();
        let lines: Vec<u64> = csv.records().map(|r| r.unwrap().position().map_or(0, |p| p.line())).collect::<Vec<_>>();
        assert_eq!(lines, [1, 2, 4]);
    }
}
