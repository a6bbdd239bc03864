//! The first pass: what an import must know about a file before it parses a row.
//!
//! A path and the operator's forced encoding/delimiter come in; a [`Prescan`] goes out, or the
//! error that stops the import before any transaction starts (unreadable, empty, binary, or
//! UTF-8 spoilt by a few bytes that are not). The raw bytes are read once, in large chunks, for
//! everything at the same time: the hash (to notice a file imported before), the line count (to
//! size the duplicate set), whether any CR needs rewriting, whether the whole file is UTF-8, and
//! the head from which the BOM, binary data and the delimiter are judged. Deciding from the head
//! alone keeps the pass a single read; UTF-8 validity is the one property that needs every byte.
//!
//! The encoding: one the operator forces wins; else a BOM's (UTF-8, UTF-16LE/BE); else UTF-8 if
//! every byte is; else Windows-1252 (a superset of Latin-1 for text), but only when the file
//! holds no valid multi-byte UTF-8 at all. A file that is UTF-8 apart from a few bad bytes (a
//! cell pasted from elsewhere, a line cut mid-character) is not re-read as Windows-1252, which
//! would turn every `é` of the file into `Ã©`: the import stops (exit 2, nothing stored) naming
//! the line of the first bad byte, and asks the operator to fix the bytes or, if the whole file
//! really is Windows-1252, to say so with `--encoding windows-1252`. (`--encoding utf-8` reads
//! such a file strictly: the first bad byte is an error naming its line.)

use std::fs::File;
use std::io::Read;
use std::path::Path;

use encoding_rs::Encoding;
use sha2::{Digest, Sha256};

use super::{ImportError, ImportOptions, read_error};

/// How much of the start of the file the BOM, binary and delimiter checks look at.
const HEAD_BYTES: usize = 64 * 1024;

/// What the first pass learns about the file.
#[derive(Debug, Clone)]
pub(super) struct Prescan {
    /// How the file is named in messages ([`ImportOptions::name`], else its path).
    pub(super) display: String,
    pub(super) sha256: String,
    pub(super) size: u64,
    /// Line feeds in the file: an upper bound on its rows.
    pub(super) lines: u64,
    /// Whether any byte is a carriage return (else line ends need no rewriting).
    pub(super) has_cr: bool,
    pub(super) encoding: &'static Encoding,
    /// Length of a BOM to skip.
    pub(super) bom: usize,
    pub(super) delimiter: u8,
}

pub(super) fn prescan(path: &Path, opts: &ImportOptions) -> Result<Prescan, ImportError> {
    let display = opts.display_name(path);
    let mut file = File::open(path).map_err(read_error(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut head: Vec<u8> = Vec::new();
    let mut size = 0u64;
    let mut lines = 0u64;
    let mut crs = 0u64;
    let mut utf8 = Utf8Check::default();
    loop {
        let n = file.read(&mut buf).map_err(read_error(path))?;
        if n == 0 {
            break;
        }
        let bytes = &buf[..n];
        hasher.update(bytes);
        size += n as u64;
        utf8.feed(bytes, lines);
        lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        if bytes.contains(&b'\r') {
            crs += bytes.iter().filter(|&&b| b == b'\r').count() as u64;
        }
        if head.len() < HEAD_BYTES {
            head.extend_from_slice(&bytes[..n.min(HEAD_BYTES - head.len())]);
        }
    }
    if size == 0 {
        return Err(ImportError::Empty { path: display });
    }
    let utf8 = utf8.finish(lines);
    let (encoding, bom) = match detect_encoding(&head, &utf8, opts.encoding) {
        Ok(found) => found,
        Err(Undecided::Binary) => {
            return Err(ImportError::NotCsv {
                path: display,
                why: "it holds binary data (NUL bytes); export the sheet as CSV first".into(),
            });
        }
        Err(Undecided::SpoiltUtf8) => {
            return Err(ImportError::Csv {
                path: display,
                line: utf8.first_invalid_line,
                message: format!(
                    "the file is UTF-8 but {} not (the first on this line), so it is not read as Windows-1252 either \
                     (every accented letter would be garbled): fix {}, or, if the whole file really is Windows-1252, \
                     say so with --encoding windows-1252",
                    if utf8.invalid == 1 {
                        "1 byte sequence is".to_string()
                    } else {
                        format!("{} byte sequences are", utf8.invalid)
                    },
                    if utf8.invalid == 1 { "it" } else { "them" },
                ),
            });
        }
    };
    let (text, _, _) = encoding.decode(&head);
    let delimiter = opts.delimiter.unwrap_or_else(|| sniff_delimiter(&text));
    let sha256 = hex::encode(hasher.finalize());
    // A file with CR line ends (classic Mac OS) has one row a CR, not a LF.
    let lines = lines.max(crs);
    Ok(Prescan { display, sha256, size, lines, has_cr: crs > 0, encoding, bom, delimiter })
}

/// What the whole file's bytes say about UTF-8, for [`detect_encoding`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Utf8Summary {
    /// Every byte is UTF-8 (and the file does not end inside a sequence).
    valid: bool,
    /// At least one valid non-ASCII sequence: the file was written as UTF-8 somewhere.
    multibyte: bool,
    /// Invalid sequences (a file ending inside a sequence counts one).
    invalid: u64,
    /// The line of the first invalid sequence (0 when there is none).
    first_invalid_line: u64,
}

/// Whether a byte stream fed in arbitrary chunks is UTF-8, and where it is not. A sequence cut
/// by a chunk boundary is carried over to the next chunk, so where the reads happen to end does
/// not matter. An invalid sequence is skipped and the check goes on: a Windows-1252 file (one
/// error per accented letter, and no valid multi-byte sequence) is told from a UTF-8 file with
/// a few bad bytes by whether any valid multi-byte sequence exists.
#[derive(Debug, Default)]
struct Utf8Check {
    carry: Vec<u8>,
    multibyte: bool,
    invalid: u64,
    first_invalid_line: u64,
}

impl Utf8Check {
    /// `bytes` are the next chunk; `lines_before` the line feeds of the chunks before it.
    fn feed(&mut self, bytes: &[u8], lines_before: u64) {
        // Only an incomplete sequence is ever carried (no line feed), so the carry does not
        // shift line counts.
        let joined;
        let mut rest: &[u8] = if self.carry.is_empty() {
            bytes
        } else {
            self.carry.extend_from_slice(bytes);
            joined = std::mem::take(&mut self.carry);
            &joined
        };
        let whole = rest;
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    self.multibyte |= !text.is_ascii();
                    return;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    self.multibyte |= !valid.is_ascii();
                    let Some(bad) = e.error_len() else {
                        self.carry = after.to_vec();
                        return;
                    };
                    if self.invalid == 0 {
                        let at = whole.len() - after.len();
                        self.first_invalid_line =
                            lines_before + 1 + whole[..at].iter().filter(|&&b| b == b'\n').count() as u64;
                    }
                    self.invalid += 1;
                    rest = &after[bad..];
                }
            }
        }
    }

    /// `lines` is the file's line feeds.
    fn finish(mut self, lines: u64) -> Utf8Summary {
        if !self.carry.is_empty() {
            // The file ends inside a sequence, on its last line (after its last line feed).
            if self.invalid == 0 {
                self.first_invalid_line = lines + 1;
            }
            self.invalid += 1;
        }
        Utf8Summary {
            valid: self.invalid == 0,
            multibyte: self.multibyte,
            invalid: self.invalid,
            first_invalid_line: self.first_invalid_line,
        }
    }
}

/// Why no encoding could be chosen.
#[derive(Debug, PartialEq, Eq)]
enum Undecided {
    /// NUL bytes that no UTF-16 BOM or forced UTF-16 explains.
    Binary,
    /// UTF-8 with some bytes that are not (see the module doc).
    SpoiltUtf8,
}

/// The encoding to decode with and the length of BOM to skip (see the module doc for the
/// order). A forced encoding skips only its own BOM.
fn detect_encoding(
    head: &[u8],
    utf8: &Utf8Summary,
    forced: Option<&'static Encoding>,
) -> Result<(&'static Encoding, usize), Undecided> {
    let utf16 =
        |e: Option<&'static Encoding>| matches!(e, Some(e) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE);
    let (bom_encoding, bom) = Encoding::for_bom(head).map_or((None, 0), |(e, n)| (Some(e), n));
    if !utf16(bom_encoding) && !utf16(forced) && head.contains(&0) {
        return Err(Undecided::Binary);
    }
    if let Some(forced) = forced {
        return Ok((forced, if bom_encoding == Some(forced) { bom } else { 0 }));
    }
    let encoding = bom_encoding.unwrap_or(if utf8.valid || utf8.multibyte {
        encoding_rs::UTF_8
    } else {
        encoding_rs::WINDOWS_1252
    });
    if encoding == encoding_rs::UTF_8 && !utf8.valid {
        return Err(Undecided::SpoiltUtf8);
    }
    Ok((encoding, bom))
}

/// The candidate that appears most often outside quotes on the header line; `,` on a tie.
pub(super) fn sniff_delimiter(text: &str) -> u8 {
    let text = text.trim_start_matches('\u{feff}');
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for b in text.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = candidates.iter().position(|c| *c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let (best, n) = counts.iter().enumerate().max_by_key(|(i, n)| (**n, usize::MAX - i)).unwrap();
    if *n == 0 { b',' } else { candidates[best] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delimiter_is_the_most_common_candidate_outside_quotes_on_the_header_line() {
        assert_eq!(sniff_delimiter("phone;name;city\n1,2,3"), b';');
        assert_eq!(sniff_delimiter("phone\tname\n"), b'\t');
        assert_eq!(sniff_delimiter("\"a;b;c\",phone\n"), b',');
        assert_eq!(sniff_delimiter("phone\n"), b',');
        assert_eq!(sniff_delimiter("\u{feff}phone|name\n"), b'|');
    }

    #[test]
    fn a_tie_goes_to_the_earlier_candidate_and_a_quoted_line_break_does_not_end_the_header() {
        assert_eq!(sniff_delimiter("a;b,c\n"), b',');
        assert_eq!(sniff_delimiter("a|b\tc\n"), b'\t');
        assert_eq!(sniff_delimiter("\"first\nline\";phone;name\n,,,,,,"), b';');
        assert_eq!(sniff_delimiter("phone;name\r\na,b,c,d"), b';');
    }

    fn check(chunks: &[&[u8]]) -> Utf8Summary {
        let mut check = Utf8Check::default();
        let mut lines = 0;
        for c in chunks {
            check.feed(c, lines);
            lines += c.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        check.finish(lines)
    }

    #[test]
    fn utf8_is_judged_across_chunk_boundaries() {
        let text = "Jos\u{e9} \u{260e} \u{1f600}".as_bytes();
        for cut in 0..=text.len() {
            let summary = check(&[&text[..cut], &text[cut..]]);
            assert!(summary.valid && summary.multibyte, "cut at {cut}");
        }
        let latin1 = check(&[b"Jos\xe9,+12025550100\n", b"valid later\n", b"Ren\xe9e\n"]);
        assert_eq!((latin1.valid, latin1.multibyte, latin1.invalid, latin1.first_invalid_line), (false, false, 2, 1));
        let truncated = check(&[b"a\n", &"\u{e9}".as_bytes()[..1]]);
        assert_eq!((truncated.valid, truncated.invalid, truncated.first_invalid_line), (false, 1, 2));
    }

    #[test]
    fn utf8_with_a_few_bad_bytes_is_told_from_windows_1252_and_the_first_bad_line_is_known() {
        let spoilt = check(&[b"name\nJos\xc3\xa9\nRen\xe9e\n", b"\xff\n"]);
        assert_eq!((spoilt.valid, spoilt.multibyte, spoilt.invalid, spoilt.first_invalid_line), (false, true, 2, 3));
        let only_later = check(&[b"a\nb\n", b"c\n\xe9\n"]);
        assert_eq!(only_later.first_invalid_line, 4, "lines of earlier chunks count");
    }

    fn summary(valid: bool, multibyte: bool) -> Utf8Summary {
        Utf8Summary { valid, multibyte, invalid: u64::from(!valid), first_invalid_line: u64::from(!valid) }
    }

    #[test]
    fn the_encoding_comes_from_the_operator_then_the_bom_then_the_bytes() {
        let utf8_bom = b"\xef\xbb\xbfphone\n";
        let name = |r: Result<(&'static Encoding, usize), Undecided>| r.map(|(e, bom)| (e.name(), bom));
        let (valid, latin1, spoilt) = (summary(true, false), summary(false, false), summary(false, true));
        assert_eq!(name(detect_encoding(utf8_bom, &valid, None)), Ok(("UTF-8", 3)));
        assert_eq!(name(detect_encoding(b"phone\n", &valid, None)), Ok(("UTF-8", 0)));
        assert_eq!(name(detect_encoding(b"Jos\xe9\n", &latin1, None)), Ok(("windows-1252", 0)));
        // UTF-8 apart from a few bytes is not guessed at, BOM or not: the operator chooses.
        assert_eq!(name(detect_encoding(b"Jos\xc3\xa9\n", &spoilt, None)), Err(Undecided::SpoiltUtf8));
        assert_eq!(name(detect_encoding(utf8_bom, &latin1, None)), Err(Undecided::SpoiltUtf8));
        assert_eq!(name(detect_encoding(b"x\n", &spoilt, Some(encoding_rs::UTF_8))), Ok(("UTF-8", 0)));
        assert_eq!(name(detect_encoding(b"x\n", &spoilt, Some(encoding_rs::WINDOWS_1252))), Ok(("windows-1252", 0)));
        // A forced encoding skips only its own BOM.
        assert_eq!(name(detect_encoding(utf8_bom, &valid, Some(encoding_rs::UTF_8))), Ok(("UTF-8", 3)));
        assert_eq!(name(detect_encoding(utf8_bom, &valid, Some(encoding_rs::WINDOWS_1252))), Ok(("windows-1252", 0)));
    }

    #[test]
    fn nul_bytes_mean_binary_unless_a_utf16_bom_or_forced_utf16_explains_them() {
        let (valid, latin1) = (summary(true, false), summary(false, false));
        assert_eq!(detect_encoding(b"PK\x03\x04\x14\x00", &latin1, None), Err(Undecided::Binary));
        assert_eq!(detect_encoding(b"phone\x00\n", &valid, Some(encoding_rs::UTF_8)), Err(Undecided::Binary));
        let utf16 = b"\xff\xfep\x00h\x00\n\x00";
        assert_eq!(detect_encoding(utf16, &latin1, None).map(|(e, bom)| (e.name(), bom)), Ok(("UTF-16LE", 2)));
        let be = b"\x00p\x00h\x00\n";
        assert_eq!(
            detect_encoding(be, &valid, Some(encoding_rs::UTF_16BE)).map(|(e, bom)| (e.name(), bom)),
            Ok(("UTF-16BE", 0))
        );
    }

    #[test]
    fn the_prescan_counts_lines_and_carriage_returns_and_refuses_empty_and_binary_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let scan = prescan(&write("a.csv", b"phone;name\r\n+12015550123;Ada\r\n"), &ImportOptions::default()).unwrap();
        assert_eq!((scan.size, scan.lines, scan.has_cr, scan.delimiter), (30, 2, true, b';'));
        let mac = prescan(&write("m.csv", b"phone\r1\r2\r3\r"), &ImportOptions::default()).unwrap();
        assert_eq!((mac.lines, mac.has_cr), (4, true), "CR line ends count as lines");
        assert_eq!(scan.sha256.len(), 64);
        let forced = ImportOptions { delimiter: Some(b'|'), ..Default::default() };
        assert_eq!(prescan(&write("b.csv", b"phone,name\n"), &forced).unwrap().delimiter, b'|');
        assert!(matches!(prescan(&write("e.csv", b""), &ImportOptions::default()), Err(ImportError::Empty { .. })));
        assert!(matches!(
            prescan(&write("x.xlsx", b"PK\x03\x04\x00"), &ImportOptions::default()),
            Err(ImportError::NotCsv { .. })
        ));
    }
}
