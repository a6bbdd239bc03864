//! The first pass: what an import must know about a file before it parses a row.
//!
//! A path and the operator's forced encoding/delimiter come in; a [`Prescan`] goes out, or the
//! error that stops the import before any transaction starts (unreadable, empty, binary). The
//! raw bytes are read once, in large chunks, for everything at the same time: the hash (to
//! notice a file imported before), the line count (to size the duplicate set), whether any CR
//! needs rewriting, whether the whole file is UTF-8, and the head from which the BOM, binary
//! data and the delimiter are judged. Deciding from the head alone keeps the pass a single read;
//! UTF-8 validity is the one property that needs every byte.

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
    let display = path.display().to_string();
    let mut file = File::open(path).map_err(read_error(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut head: Vec<u8> = Vec::new();
    let mut size = 0u64;
    let mut lines = 0u64;
    let mut has_cr = false;
    let mut utf8 = Utf8Check::default();
    loop {
        let n = file.read(&mut buf).map_err(read_error(path))?;
        if n == 0 {
            break;
        }
        let bytes = &buf[..n];
        hasher.update(bytes);
        size += n as u64;
        lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        has_cr = has_cr || bytes.contains(&b'\r');
        if head.len() < HEAD_BYTES {
            head.extend_from_slice(&bytes[..n.min(HEAD_BYTES - head.len())]);
        }
        utf8.feed(bytes);
    }
    if size == 0 {
        return Err(ImportError::Empty { path: display });
    }
    let Some((encoding, bom)) = detect_encoding(&head, utf8.finish(), opts.encoding) else {
        return Err(ImportError::NotCsv {
            path: display,
            why: "it holds binary data (NUL bytes); export the sheet as CSV first".into(),
        });
    };
    let (text, _, _) = encoding.decode(&head);
    let delimiter = opts.delimiter.unwrap_or_else(|| sniff_delimiter(&text));
    let sha256 = hex::encode(hasher.finalize());
    Ok(Prescan { sha256, size, lines, has_cr, encoding, bom, delimiter })
}

/// Whether a byte stream fed in arbitrary chunks is valid UTF-8. A sequence cut by a chunk
/// boundary is carried over to the next chunk, so where the reads happen to end does not matter.
#[derive(Debug)]
struct Utf8Check {
    ok: bool,
    carry: Vec<u8>,
}

impl Default for Utf8Check {
    fn default() -> Self {
        Self { ok: true, carry: Vec::new() }
    }
}

impl Utf8Check {
    fn feed(&mut self, bytes: &[u8]) {
        if !self.ok {
            return;
        }
        self.carry.extend_from_slice(bytes);
        match std::str::from_utf8(&self.carry) {
            Ok(_) => self.carry.clear(),
            Err(e) if e.error_len().is_none() => {
                let keep = self.carry.split_off(e.valid_up_to());
                self.carry = keep;
            }
            Err(_) => self.ok = false,
        }
    }

    /// False when an invalid sequence was met, or the stream ended inside one.
    fn finish(self) -> bool {
        self.ok && self.carry.is_empty()
    }
}

/// The encoding to decode with and the length of BOM to skip, from the head of the file;
/// `None` when the head holds NUL bytes and no UTF-16 BOM explains them (binary data).
///
/// A forced encoding wins over a BOM, and then the BOM is only skipped if it is the forced
/// encoding's own; without either, UTF-8 if every byte of the file was, else Windows-1252.
fn detect_encoding(
    head: &[u8],
    whole_file_is_utf8: bool,
    forced: Option<&'static Encoding>,
) -> Option<(&'static Encoding, usize)> {
    let (bom_encoding, bom) = Encoding::for_bom(head).map_or((None, 0), |(e, n)| (Some(e), n));
    let is_utf16 = matches!(bom_encoding, Some(e) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE);
    if !is_utf16 && head.contains(&0) {
        return None;
    }
    let encoding = forced.or(bom_encoding).unwrap_or(if whole_file_is_utf8 {
        encoding_rs::UTF_8
    } else {
        encoding_rs::WINDOWS_1252
    });
    Some((encoding, if forced.is_some() && bom_encoding != forced { 0 } else { bom }))
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

    #[test]
    fn utf8_is_judged_across_chunk_boundaries() {
        let text = "José ☎ 😀".as_bytes();
        for cut in 0..=text.len() {
            let mut check = Utf8Check::default();
            check.feed(&text[..cut]);
            check.feed(&text[cut..]);
            assert!(check.finish(), "cut at {cut}");
        }
        let mut latin1 = Utf8Check::default();
        latin1.feed(b"Jos\xe9,+12025550100\n");
        latin1.feed("valid later".as_bytes());
        assert!(!latin1.finish());
        let mut truncated = Utf8Check::default();
        truncated.feed(&"é".as_bytes()[..1]);
        assert!(!truncated.finish(), "a file that ends inside a sequence is not UTF-8");
    }

    #[test]
    fn the_encoding_comes_from_the_operator_then_the_bom_then_the_bytes() {
        let utf8_bom = b"\xef\xbb\xbfphone\n";
        let name = |r: Option<(&'static Encoding, usize)>| r.map(|(e, bom)| (e.name(), bom));
        assert_eq!(name(detect_encoding(utf8_bom, true, None)), Some(("UTF-8", 3)));
        assert_eq!(name(detect_encoding(b"phone\n", true, None)), Some(("UTF-8", 0)));
        assert_eq!(name(detect_encoding(b"Jos\xe9\n", false, None)), Some(("windows-1252", 0)));
        // A BOM names the encoding even when the bytes after it are not valid in it.
        assert_eq!(name(detect_encoding(utf8_bom, false, None)), Some(("UTF-8", 3)));
        // A forced encoding skips only its own BOM.
        assert_eq!(name(detect_encoding(utf8_bom, true, Some(encoding_rs::UTF_8))), Some(("UTF-8", 3)));
        assert_eq!(name(detect_encoding(utf8_bom, true, Some(encoding_rs::WINDOWS_1252))), Some(("windows-1252", 0)));
    }

    #[test]
    fn nul_bytes_mean_binary_unless_a_utf16_bom_explains_them() {
        assert!(detect_encoding(b"PK\x03\x04\x14\x00", false, None).is_none());
        assert!(detect_encoding(b"phone\x00\n", true, Some(encoding_rs::UTF_8)).is_none());
        let utf16 = b"\xff\xfep\x00h\x00\n\x00";
        assert_eq!(detect_encoding(utf16, false, None).map(|(e, bom)| (e.name(), bom)), Some(("UTF-16LE", 2)));
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
