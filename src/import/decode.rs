//! The second pass's input: the file as UTF-8 text with LF line ends, behind a CSV reader.
//!
//! A path and its [`Prescan`] come in; a CSV reader over decoded text goes out, and with it the
//! two facts the csv crate cannot tell: the physical line a record starts on ([`record_line`])
//! and whether the file ended inside a quoted field ([`check_quotes_closed`]). Decoding here, as
//! bytes stream through, lets the rest of the import deal only in `&str` fields and physical
//! line numbers whatever encoding or line ends the operator's spreadsheet chose.
//!
//! Line ends are read the way text editors read them: LF, CRLF and a lone CR (classic Mac OS,
//! and Excel for Mac's "CSV (Macintosh)") each end one line, and all become LF. The text always
//! ends with an LF (one is added if the file lacks it), so that every record ends with one;
//! that is what lets [`record_line`] count back from where a record ends instead of trusting
//! where the csv crate says it started (that is where the previous record ended, before any
//! blank lines it skipped). A plain UTF-8 file with LF line ends goes through uncopied: the
//! common case pays for one scan for `"` and nothing else.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::prescan::Prescan;
use super::{ImportError, read_error};

/// The CSV reader both passes over a file's rows use (the import and the do-not-call reader).
pub(super) type CsvReader = csv::Reader<Normalised>;

/// A CSV reader over the decoded file. Headers are read as a record of their own (see
/// `header::read_header`) and rows may be ragged: a short row is a reject, not a fatal error.
pub(super) fn open_csv(path: &Path, scan: &Prescan) -> Result<CsvReader, ImportError> {
    Ok(csv::ReaderBuilder::new()
        .delimiter(scan.delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(Normalised::new(open_decoded(path, scan)?, scan)))
}

/// The physical line (1-based) `record`, just read from `csv`, starts on. The csv crate puts a
/// record where the previous one ended, so a record after blank lines would be reported on the
/// first blank line; but every record ends with an LF (see the module doc), so its first line
/// is the line after it ends less the line breaks inside its quoted fields. Almost no record
/// has one, and the check for it is one scan of a short slice, without allocating.
pub(super) fn record_line(csv: &CsvReader, record: &csv::StringRecord) -> u64 {
    let next = csv.position().line();
    let bytes = record.as_byte_record().as_slice();
    let inside = if bytes.contains(&b'\n') { bytes.iter().filter(|&&b| b == b'\n').count() as u64 } else { 0 };
    next.saturating_sub(1 + inside).max(1)
}

/// Once `csv` has read every record: an error naming the line where a quoted field opened if
/// the file ended inside it. The csv crate would otherwise end the field at the end of the
/// file, quietly making every line after a stray `"` part of one cell. The line is found by
/// decoding the file again up to the quote: this only happens on the way to an error.
pub(super) fn check_quotes_closed(csv: &CsvReader, path: &Path, scan: &Prescan) -> Result<(), ImportError> {
    let Some(at) = csv.get_ref().open_quote() else { return Ok(()) };
    let mut text = Normalised::new(open_decoded(path, scan)?, scan).take(at);
    let mut buf = vec![0u8; 1 << 16];
    let mut line = 1;
    loop {
        let n = text.read(&mut buf).map_err(read_error(path))?;
        if n == 0 {
            break;
        }
        line += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
    Err(ImportError::Csv {
        path: scan.display.clone(),
        line,
        message: "a quoted field opens here and is never closed, so the rest of the file would be one cell: \
                  add the closing `\"` (a quote inside a quoted field is written twice: `\"\"`)"
            .into(),
    })
}

/// The file as UTF-8: the BOM the prescan found skipped, other encodings decoded. UTF-8 is
/// passed through as read: a bad byte in it (only possible when the operator forced UTF-8, see
/// `prescan`) is the csv reader's error, naming its line.
fn open_decoded(path: &Path, scan: &Prescan) -> Result<Box<dyn Read + Send>, ImportError> {
    let file = File::open(path).map_err(read_error(path))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    if scan.encoding == encoding_rs::UTF_8 {
        let skip = scan.bom.min(reader.fill_buf().map_err(read_error(path))?.len());
        reader.consume(skip);
        Ok(Box::new(reader))
    } else {
        let decoder = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(Some(scan.encoding))
            .bom_override(scan.bom > 0)
            .strip_bom(true)
            .build(reader);
        Ok(Box::new(decoder))
    }
}

/// Decoded text on its way to the csv crate: line ends made LF (when the file has any CR), an
/// LF added at the end if missing, and the quoting followed (see [`Quotes`]).
pub(super) struct Normalised {
    inner: Box<dyn Read + Send>,
    /// Line ends need rewriting (the file holds a CR somewhere).
    convert: Option<LineEnds>,
    quotes: Quotes,
    /// The last byte handed out (LF before the first, so an empty file gets no LF added).
    last: u8,
    eof: bool,
}

impl Normalised {
    fn new(inner: Box<dyn Read + Send>, scan: &Prescan) -> Self {
        Self {
            inner,
            convert: scan.has_cr.then(LineEnds::default),
            quotes: Quotes::new(scan.delimiter),
            last: b'\n',
            eof: false,
        }
    }

    /// The offset in the text of the quote that opened a field still open at the end.
    fn open_quote(&self) -> Option<u64> {
        self.quotes.open_quote()
    }
}

impl Read for Normalised {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if dst.is_empty() || self.eof {
            return Ok(0);
        }
        let mut n = match &mut self.convert {
            Some(lines) => lines.read(&mut self.inner, dst)?,
            None => self.inner.read(dst)?,
        };
        if n == 0 {
            self.eof = true;
            if self.last == b'\n' {
                return Ok(0);
            }
            dst[0] = b'\n';
            n = 1;
        }
        self.quotes.scan(&dst[..n]);
        self.last = dst[n - 1];
        Ok(n)
    }
}

/// CRLF and lone CR to LF, as bytes stream through.
struct LineEnds {
    input: Vec<u8>,
    output: Vec<u8>,
    pos: usize,
    /// The last byte was a CR turned into LF: an LF right after it is the same line end.
    after_cr: bool,
}

impl Default for LineEnds {
    fn default() -> Self {
        Self { input: vec![0; 1 << 16], output: Vec::with_capacity(1 << 16), pos: 0, after_cr: false }
    }
}

impl LineEnds {
    fn read(&mut self, inner: &mut impl Read, dst: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.output.len() {
            self.output.clear();
            self.pos = 0;
            let n = inner.read(&mut self.input)?;
            if n == 0 {
                return Ok(0);
            }
            for &b in &self.input[..n] {
                match b {
                    b'\r' => self.output.push(b'\n'),
                    b'\n' if self.after_cr => {}
                    _ => self.output.push(b),
                }
                self.after_cr = b == b'\r';
            }
        }
        let k = dst.len().min(self.output.len() - self.pos);
        dst[..k].copy_from_slice(&self.output[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

/// The csv crate's quoting rules, followed only as far as needed to know whether the text ends
/// inside a quoted field: a `"` opens one only at the start of a field (after a delimiter, a
/// line end or at the start of the text; elsewhere it is a literal character), and inside one
/// a `"` closes it unless another follows (`""` is an escaped quote). Only quotes are looked
/// at, found by a scan that jumps from one to the next, so a file with few quotes costs one
/// pass of a byte search.
struct Quotes {
    delimiter: u8,
    state: QuoteState,
    /// The byte before the current chunk.
    prev: u8,
    /// Bytes scanned before the current chunk.
    offset: u64,
    /// Where the quoted field being read opened.
    opened_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    Outside,
    Quoted,
    /// Just after a `"` inside a quoted field: closed, unless the next byte is `"`.
    AfterQuote,
}

impl Quotes {
    fn new(delimiter: u8) -> Self {
        Self { delimiter, state: QuoteState::Outside, prev: b'\n', offset: 0, opened_at: 0 }
    }

    fn scan(&mut self, bytes: &[u8]) {
        // `contains` on bytes is a word-at-a-time search: a run without quotes (most files
        // have none) is passed at that speed; `position` then only walks up to the quote.
        let find_quote = |from: usize| {
            let rest = &bytes[from..];
            if rest.contains(&b'"') { rest.iter().position(|&b| b == b'"').map(|k| from + k) } else { None }
        };
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                QuoteState::Outside => {
                    let Some(at) = find_quote(i) else { break };
                    let before = if at == 0 { self.prev } else { bytes[at - 1] };
                    if before == self.delimiter || before == b'\n' {
                        self.state = QuoteState::Quoted;
                        self.opened_at = self.offset + at as u64;
                    }
                    i = at + 1;
                }
                QuoteState::Quoted => {
                    let Some(at) = find_quote(i) else { break };
                    self.state = QuoteState::AfterQuote;
                    i = at + 1;
                }
                QuoteState::AfterQuote => {
                    self.state = if bytes[i] == b'"' { QuoteState::Quoted } else { QuoteState::Outside };
                    i += 1;
                }
            }
        }
        if let Some(&last) = bytes.last() {
            self.prev = last;
        }
        self.offset += bytes.len() as u64;
    }

    fn open_quote(&self) -> Option<u64> {
        (self.state == QuoteState::Quoted).then_some(self.opened_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{ImportOptions, prescan::prescan};

    /// A reader that hands out one byte at a time: every CR and quote ends up at a chunk's end.
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

    fn line_ends(reader: impl Read, dst_len: usize) -> Vec<u8> {
        let (mut reader, mut ends, mut out, mut buf) = (reader, LineEnds::default(), Vec::new(), vec![0u8; dst_len]);
        loop {
            let n = ends.read(&mut reader, &mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn crlf_and_lone_cr_each_become_one_lf_across_chunk_boundaries() {
        let text = b"a\r\nb\rc\r\n\"q\r\nq\"\r\r\n\n";
        assert_eq!(line_ends(Dribble(text), 7), b"a\nb\nc\n\"q\nq\"\n\n\n");
        assert_eq!(line_ends(&text[..], 7), b"a\nb\nc\n\"q\nq\"\n\n\n");
    }

    #[test]
    fn line_end_conversion_survives_a_reader_that_fills_small_destinations() {
        // More than one internal chunk (64 KiB), read back through a 7-byte buffer.
        let text: Vec<u8> = b"+12015550123,Ada\r\n".repeat(10_000);
        assert_eq!(line_ends(&text[..], 7), b"+12015550123,Ada\n".repeat(10_000));
    }

    fn open_quote(text: &[u8], delimiter: u8, dribble: bool) -> Option<u64> {
        let mut q = Quotes::new(delimiter);
        if dribble {
            text.chunks(1).for_each(|c| q.scan(c));
        } else {
            q.scan(text);
        }
        q.open_quote()
    }

    #[test]
    fn a_quote_opens_a_field_only_at_its_start_and_doubled_quotes_stay_inside() {
        for dribble in [false, true] {
            assert_eq!(open_quote(b"a,b\n1,2\n", b',', dribble), None);
            assert_eq!(open_quote(b"a,\"b\"\"c\"\n\"x\ny\",z\n", b',', dribble), None);
            assert_eq!(
                open_quote(b"a,5\" screen,b\"c\n", b',', dribble),
                None,
                "a quote inside a field is a character"
            );
            assert_eq!(open_quote(b"\"a\"b\"c\n", b',', dribble), None, "after a closing quote, quotes are characters");
            assert_eq!(open_quote(b"a;b\n1;\"open\n2;3\n", b';', dribble), Some(6));
            assert_eq!(open_quote(b"a,b\n1,\"x\"\"\n", b',', dribble), Some(6), "an escaped quote does not close");
            assert_eq!(open_quote(b"\"", b',', dribble), Some(0));
            assert_eq!(open_quote(b"a;\"b\n", b',', dribble), None, "not a field start for this delimiter");
        }
    }

    fn write(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.csv");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    fn decoded(bytes: &[u8], opts: &ImportOptions) -> String {
        let (_dir, path) = write(bytes);
        let scan = prescan(&path, opts).unwrap();
        let mut out = String::new();
        Normalised::new(open_decoded(&path, &scan).unwrap(), &scan).read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn the_decoded_text_is_utf8_without_bom_and_with_lf_line_ends_and_a_final_lf() {
        let plain = ImportOptions::default();
        assert_eq!(decoded(b"\xef\xbb\xbfphone\r\n+12015550123\r\n", &plain), "phone\n+12015550123\n");
        assert_eq!(decoded(b"phone;name\r\n+12015550123;Jos\xe9\r\n", &plain), "phone;name\n+12015550123;Jos\u{e9}\n");
        assert_eq!(decoded(b"\xff\xfep\x00h\x00\r\x00\n\x00", &plain), "ph\n");
        assert_eq!(decoded(b"phone\r1\r2", &plain), "phone\n1\n2\n");
        assert_eq!(decoded(b"phone\n1", &plain), "phone\n1\n");
        let latin1 = ImportOptions { encoding: Some(encoding_rs::WINDOWS_1252), ..Default::default() };
        assert_eq!(decoded(b"Jos\xe9\r\n\x80\n", &latin1), "Jos\u{e9}\n\u{20ac}\n");
        let utf8 = ImportOptions { encoding: Some(encoding_rs::UTF_8), ..Default::default() };
        assert_eq!(decoded(b"\xef\xbb\xbfphone\n", &utf8), "phone\n");
    }

    fn record_lines(bytes: &[u8]) -> Vec<u64> {
        let (_dir, path) = write(bytes);
        let scan = prescan(&path, &ImportOptions::default()).unwrap();
        let mut csv = open_csv(&path, &scan).unwrap();
        let mut record = csv::StringRecord::new();
        let mut lines = Vec::new();
        while csv.read_record(&mut record).unwrap() {
            lines.push(record_line(&csv, &record));
        }
        check_quotes_closed(&csv, &path, &scan).unwrap();
        lines
    }

    #[test]
    fn records_are_numbered_by_physical_line_whatever_the_line_ends_and_blank_lines() {
        assert_eq!(record_lines(b"phone,note\r\n1,\"two\r\nlines\"\r\n2,x\r\n"), [1, 2, 4]);
        assert_eq!(record_lines(b"phone,note\n\n1,x\n\n\n2,\"a\n\nb\"\n\n3,y"), [1, 3, 6, 10]);
        assert_eq!(record_lines(b"phone,note\r1,x\r\r2,\"a\rb\"\r3,y\r"), [1, 2, 4, 6]);
        assert_eq!(record_lines(b"\n\nphone\n1\n"), [3, 4]);
    }

    #[test]
    fn a_quote_never_closed_is_an_error_on_the_line_it_opened() {
        let (_dir, path) = write(b"phone,note\r\n1,x\r\n\r\n2,\"oops\r\n3,y\r\n4,z\r\n");
        let scan = prescan(&path, &ImportOptions::default()).unwrap();
        let mut csv = open_csv(&path, &scan).unwrap();
        let mut record = csv::StringRecord::new();
        while csv.read_record(&mut record).unwrap() {}
        let err = check_quotes_closed(&csv, &path, &scan).unwrap_err();
        assert!(matches!(err, ImportError::Csv { line: 4, .. }), "{err}");
        assert!(err.to_string().contains("never closed"), "{err}");
    }
}
