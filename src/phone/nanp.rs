//! The `phonenumber` crate's validity verdict for NANP (+1) numbers, fast.
//!
//! The crate answers `is_valid` in about 14 µs: its metadata regexes live in an LRU cache of
//! 100 entries, keyed by the pattern text, which the ~25 NANP regions alone overflow, so nearly
//! every check hashes a kilobyte-long pattern and recompiles it. An import of a million
//! numbers cannot afford that. [`is_valid`] computes the same verdict with the same data: it
//! takes the patterns from the crate's own metadata, compiles each region's once (with the
//! crate's regex flags), and runs the crate's decision — `validator::source_for` picking the
//! region, `validator::number_type` asking whether any number type matches — over them.
//! `tests::the_fast_path_agrees_with_the_crate_*` check the two against each other.
//!
//! The compiled table is built once, on first use, from data compiled into the binary.

use std::sync::LazyLock;

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::{Regex, RegexBuilder};

/// Length of every NANP national number this module is asked about.
const LEN: u16 = 10;

/// Whether libphonenumber (the `phonenumber` crate) considers `+1` followed by `national`
/// (10 ASCII digits) a valid number.
pub(super) fn is_valid(national: &[u8]) -> bool {
    debug_assert_eq!(national.len(), usize::from(LEN));
    match std::str::from_utf8(national) {
        // The crate strips a leading national prefix '1' (and never validates a 0) before
        // it matches; those rare numbers take its own path rather than a re-implementation.
        Ok(n) if n.len() == usize::from(LEN) && matches!(n.as_bytes()[0], b'2'..=b'9') => REGIONS.is_valid(n),
        _ => crate_verdict(national),
    }
}

/// The reference: the crate's own parse and validity check of `+1` + `national`.
pub(super) fn crate_verdict(national: &[u8]) -> bool {
    let Ok(national) = std::str::from_utf8(national) else {
        return false;
    };
    let plus = format!("+1{national}");
    phonenumber::parse(None, &plus).is_ok_and(|n| phonenumber::is_valid(&n))
}

/// Immutable tables derived from the crate's embedded metadata, built once.
static REGIONS: LazyLock<Nanp> = LazyLock::new(Nanp::from_crate_metadata);

pub(super) fn warm_up() {
    LazyLock::force(&REGIONS);
}

/// The NANP regions in the order the crate tries them (the main region, US, first).
struct Nanp {
    regions: Vec<Region>,
}

struct Region {
    /// Matches when some prefix of the number matches the region's `leadingDigits`; `None`
    /// for regions without (US, CA), which are chosen when the number is valid there.
    leading_digits: Option<Regex>,
    /// Whether a 10-digit number is valid here; `None` when no 10-digit number can be.
    valid: Option<Validity>,
}

struct Validity {
    general: Regex,
    /// Any of the number types the crate's `number_type` checks, those that allow 10 digits.
    any_type: Regex,
}

impl Nanp {
    fn from_crate_metadata() -> Nanp {
        let ids = DATABASE.region(&1).expect("the crate knows country code 1");
        let regions = ids
            .iter()
            .map(|id| {
                let meta = DATABASE.by_id(*id).expect("a region of country code 1");
                Region {
                    leading_digits: meta.leading_digits().map(|re| prefix_regex(&[re.as_str()])),
                    valid: Validity::of(meta),
                }
            })
            .collect();
        Nanp { regions }
    }

    /// `validator::is_valid_with` for a 10-digit national number: the region is the first
    /// (in the crate's order) whose leading digits match, or, for a region without leading
    /// digits, in which the number is valid; the number is valid if it is valid there.
    fn is_valid(&self, national: &str) -> bool {
        for region in &self.regions {
            match &region.leading_digits {
                Some(ld) if ld.is_match(national) => return region.is_valid(national),
                Some(_) => {}
                None if region.is_valid(national) => return true,
                None => {}
            }
        }
        false
    }
}

impl Region {
    /// `validator::number_type(meta, national) != Type::Unknown`.
    fn is_valid(&self, national: &str) -> bool {
        self.valid.as_ref().is_some_and(|v| v.general.is_match(national) && v.any_type.is_match(national))
    }
}

impl Validity {
    fn of(meta: &Metadata) -> Option<Validity> {
        let d = meta.descriptors();
        if !allows_ten_digits(d.general()) {
            return None;
        }
        // Exactly the descriptors `number_type` tries, in any order: validity only asks
        // whether one of them matches.
        let types: Vec<&str> = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ]
        .into_iter()
        .flatten()
        .filter(|d| allows_ten_digits(d))
        .map(|d| d.national_number().as_str())
        .collect();
        if types.is_empty() {
            return None;
        }
        Some(Validity {
            general: prefix_regex(&[d.general().national_number().as_str()]),
            any_type: prefix_regex(&types),
        })
    }
}

/// `Descriptor::is_match` first checks the length against `possible_length` (when given).
fn allows_ten_digits(d: &Descriptor) -> bool {
    d.possible_length().is_empty() || d.possible_length().contains(&LEN)
}

/// A regex that matches when one of `patterns` matches at the start of the text: the crate
/// tests `regex.find(text)` starting at 0, and a match starting at 0 exists exactly when the
/// start-anchored regex matches. Compiled with the crate's flag (`ignore_whitespace`, as its
/// patterns come indented from XML); each pattern ends with a newline so that a `#` comment
/// in one could not swallow the closing parenthesis.
fn prefix_regex(patterns: &[&str]) -> Regex {
    let alternatives: Vec<String> = patterns.iter().map(|p| format!("(?:{p}\n)")).collect();
    RegexBuilder::new(&format!("^(?:{})", alternatives.join("|")))
        .ignore_whitespace(true)
        .build()
        .expect("the crate's own patterns compile")
}
