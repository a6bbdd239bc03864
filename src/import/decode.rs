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
}
