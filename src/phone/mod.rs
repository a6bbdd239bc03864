//! Phone numbers: turns what people type into a CSV cell into a validated E.164 number
//! ([`PhoneNumber::parse`]), and a number into the IANA time zones it may ring in
//! ([`PhoneNumber::time_zones`]).
//!
//! Raw text enters through `parse` (import, CLI) and leaves as a [`PhoneNumber`] holding the
//! E.164 string, or as a [`PhoneError`] whose `Display` is a short reason for a rejects report.
//! Stored numbers come back through [`PhoneNumber::from_stored`] unchecked. The module does no
//! I/O: validity comes from the `phonenumber` crate's libphonenumber metadata, time zones from
//! libphonenumber's prefix map embedded from `data/phone_timezones.tsv`.
//!
//! What is accepted is what libphonenumber accepts as valid with the US as default region: E.164,
//! a 10-digit US number in the usual national layouts, the same after the national prefix 1
//! (`1-415-555-2671`, what a spreadsheet leaves of `+1…`) or the international prefix 011, and a
//! spreadsheet's text escape (`'4155552671`). Letters (no vanity-number conversion), extensions,
//! decimals (`4155552671.0`), other countries' national numbers and other country codes without
//! '+' are refused, each with its own reason. The `phonenumber` crate "parses" plenty of junk, so its validity
//! check is always applied; for +1 numbers — nearly all of an import — that check is answered
//! by the `nanp` submodule, which gives the crate's verdict much faster.

mod nanp;
mod zones;

use std::cmp::Ordering;

use chrono_tz::Tz;

/// A valid phone number in E.164 form (`+14155552671`). Constructed only by
/// [`PhoneNumber::parse`] (or from the DB).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct PhoneNumber(String);

/// Why a text is not a phone number switchboard can call. `Display` is a short reason fit for
/// a rejects report; the caller adds where (file, line, column).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PhoneError {
    #[error("empty phone number")]
    Empty,
    #[error("has an extension (an AI call cannot dial one)")]
    Extension,
    #[error("contains letters")]
    Letters,
    #[error("contains {0:?}, which is not part of a phone number")]
    UnexpectedCharacter(char),
    #[error("'+' is only allowed at the start")]
    MisplacedPlus,
    #[error("country code without a leading '+'")]
    CountryCodeWithoutPlus,
    #[error("a national number of another country (starts with 0): write it with '+' and its country code")]
    ForeignNational,
    #[error("a decimal number, not a phone number (the spreadsheet stored the column as numbers: format it as text)")]
    Decimal,
    #[error("too few digits (a US number has 10, area code included)")]
    TooShort,
    #[error("too many digits for a phone number")]
    TooLong,
    #[error("unknown country code")]
    UnknownCountryCode,
    #[error("not a phone number")]
    NotANumber,
    #[error("not a valid number for its country/region")]
    Invalid,
}

impl PhoneNumber {
    /// Normalises `raw` to E.164, assuming the US (+1) when it has no '+', and checks that
    /// libphonenumber considers the result a valid number.
    pub fn parse(raw: &str) -> Result<PhoneNumber, PhoneError> {
        let text = raw.trim();
        // A spreadsheet's text escape: `'4155552671` keeps a cell from being read as a number.
        let text = text.strip_prefix('\'').map_or(text, str::trim_start);
        if is_decimal(text) {
            return Err(PhoneError::Decimal);
        }
        let Scanned { mut plus, digits } = scan(text)?;
        let mut digits = digits.as_str();
        // The US international prefix, as libphonenumber (region US) reads it:
        // `011 44 20 7946 0000` is +44 20 7946 0000.
        if !plus && digits.len() > 3 && digits.starts_with("011") {
            (plus, digits) = (true, &digits[3..]);
        }
        match (plus, digits.len()) {
            (_, 0) => Err(PhoneError::NotANumber),
            (false, 10) => nanp(digits),
            // The national prefix 1 (`1 415 555 2671`, what a spreadsheet leaves of `+1…`):
            // libphonenumber strips it and judges the 10 digits after it.
            (false, 11) if digits.starts_with('1') => nanp(&digits[1..]),
            // A trunk prefix 0 is how other countries write national numbers (`07400 123456`).
            (false, n) if n > 10 && digits.starts_with('0') => Err(PhoneError::ForeignNational),
            (false, n) if n > 10 => Err(PhoneError::CountryCodeWithoutPlus),
            (false, _) => Err(PhoneError::TooShort),
            // NANP numbers are always 10 digits after the +1. (libphonenumber also knows 7-digit
            // Canadian 310-xxxx service numbers; they cannot be dialled from outside and their
            // prefix would be read as the US area code 310, so they are refused too.)
            (true, n) if digits.starts_with('1') => match n.cmp(&11) {
                Ordering::Less => Err(PhoneError::TooShort),
                Ordering::Equal => nanp(&digits[1..]),
                Ordering::Greater => Err(PhoneError::TooLong),
            },
            (true, n) if n > MAX_DIGITS => Err(PhoneError::TooLong),
            (true, _) => international(digits),
        }
    }

    /// A number read back from the database, where only `parse` output is stored.
    pub fn from_stored(e164: String) -> PhoneNumber {
        PhoneNumber(e164)
    }

    /// The E.164 text, `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number for a log line: its last four digits only (`…2671`), enough to tell calls
    /// apart without writing people's numbers into logs.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        format!("…{}", &digits[digits.len().saturating_sub(4)..])
    }

    /// Whether the number is in the North American Numbering Plan (country code 1).
    pub fn is_nanp(&self) -> bool {
        self.0.starts_with("+1")
    }

    /// libphonenumber's time zones for this number: those of the longest prefix its map knows
    /// (the area code, or area code and exchange, for NANP; a prefix of the national number
    /// elsewhere; at worst the country code, e.g. all 42 NANP zones for an 800 number); empty
    /// when the data names none (libphonenumber's "Etc/Unknown").
    ///
    /// Unlike libphonenumber's `getTimeZonesForNumber`, mobile and other non-geographic numbers
    /// are looked up by prefix too instead of falling back to the whole country code: that
    /// fallback would give a Jamaican mobile all NANP zones, US ones included.
    pub fn time_zones(&self) -> &'static [Tz] {
        zones::for_digits(self.0.strip_prefix('+').unwrap_or(&self.0))
    }
}

/// Builds, now, the tables the first parse would otherwise build: the `phonenumber` crate's
/// metadata (it compiles every region's patterns: about a quarter of a second), the NANP
/// validity patterns and the prefix → zone map. An import calls it on a thread of its own while
/// it reads the file the first time, so that its first row does not wait for them.
pub fn warm_up() {
    nanp::warm_up();
    zones::warm_up();
}

impl std::fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `text` is a number a spreadsheet wrote as a decimal (`4155552671.0`): digits, one
/// point, one or two digits after it. Read as punctuation, the point would add a digit and
/// turn it into some other number.
fn is_decimal(text: &str) -> bool {
    let text = text.strip_prefix('+').unwrap_or(text);
    text.split_once('.').is_some_and(|(whole, fraction)| {
        whole.len() >= 7
            && (1..=2).contains(&fraction.len())
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.bytes().all(|b| b.is_ascii_digit())
    })
}

/// E.164 allows at most 15 digits, country code included.
const MAX_DIGITS: usize = 15;

/// A 10-digit NANP national number (area code, exchange, line), checked by the crate's
/// verdict for `+1` + `national`.
fn nanp(national: &str) -> Result<PhoneNumber, PhoneError> {
    if !nanp::is_valid(national.as_bytes()) {
        return Err(PhoneError::Invalid);
    }
    let mut e164 = String::with_capacity(12);
    e164.push_str("+1");
    e164.push_str(national);
    Ok(PhoneNumber(e164))
}

/// A number written with '+' and a country code other than 1: the crate parses and checks it.
fn international(digits: &str) -> Result<PhoneNumber, PhoneError> {
    use phonenumber::ParseError as P;
    let mut plus = String::with_capacity(digits.len() + 1);
    plus.push('+');
    plus.push_str(digits);
    let number = phonenumber::parse(None, &plus).map_err(|e| match e {
        P::NoNumber => PhoneError::NotANumber,
        P::InvalidCountryCode => PhoneError::UnknownCountryCode,
        P::TooShortAfterIdd | P::TooShortNsn => PhoneError::TooShort,
        P::TooLong => PhoneError::TooLong,
        _ => PhoneError::Invalid,
    })?;
    if !phonenumber::is_valid(&number) {
        return Err(PhoneError::Invalid);
    }
    let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
    // A country code of 1 was routed to `nanp` before; the crate cannot turn other digits
    // into one, but the NANP rules above must not be bypassed if it ever did.
    if e164.starts_with("+1") {
        return Err(PhoneError::Invalid);
    }
    Ok(PhoneNumber(e164))
}

/// The digits of a raw number and whether it started with '+'.
struct Scanned {
    plus: bool,
    digits: Digits,
}

/// Up to `MAX_DIGITS + 2` ASCII digits, on the stack: anything longer is refused as too long
/// before the buffer could overflow.
struct Digits {
    buf: [u8; MAX_DIGITS + 2],
    len: usize,
}

impl Digits {
    fn push(&mut self, d: u8) -> Result<(), PhoneError> {
        *self.buf.get_mut(self.len).ok_or(PhoneError::TooLong)? = d;
        self.len += 1;
        Ok(())
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits are ever pushed.
        std::str::from_utf8(&self.buf[..self.len]).expect("ASCII digits")
    }
}

/// Reads `raw` into digits, skipping the punctuation people format numbers with, and refuses
/// what cannot be a callable number (letters, extensions, a '+' after the first digit).
/// Full-width digits and punctuation (as typed with East Asian input methods) count as their
/// ASCII twins.
fn scan(raw: &str) -> Result<Scanned, PhoneError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(PhoneError::Empty);
    }
    let mut out = Scanned { plus: false, digits: Digits { buf: [0; MAX_DIGITS + 2], len: 0 } };
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // ASCII first: almost every number is plain ASCII.
        let (c, width) = if b.is_ascii() {
            (char::from(b), 1)
        } else {
            let c = s[i..].chars().next().expect("i is on a char boundary");
            (c, c.len_utf8())
        };
        match c {
            '0'..='9' => out.digits.push(b)?,
            '０'..='９' => out.digits.push(b'0' + (u32::from(c) - u32::from('０')) as u8)?,
            '+' | '＋' if out.digits.len == 0 && !out.plus => out.plus = true,
            '+' | '＋' => return Err(PhoneError::MisplacedPlus),
            _ if is_separator(c) => {}
            _ => return Err(refuse(&s[i..], out.digits.len > 0, c, s)),
        }
        i += width;
    }
    Ok(out)
}

/// Punctuation and spaces libphonenumber accepts inside a number (its VALID_PUNCTUATION,
/// less 'x', which here always means an extension).
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t'
            | '-'
            | '.'
            | '/'
            | '('
            | ')'
            | '['
            | ']'
            | '~'
            | '\u{00A0}' // no-break space
            | '\u{00AD}' // soft hyphen
            | '\u{200B}' // zero-width space
            | '\u{2060}' // word joiner
            | '\u{2212}' // minus sign
            | '\u{2053}' // swung dash
            | '\u{223C}' // tilde operator
            | '\u{3000}' // ideographic space
            | '\u{30FC}' // katakana-hiragana prolonged sound mark, used as a dash
            | '（' | '）' | '［' | '］' | '－' | '．' | '／' | '～'
    ) || ('\u{2010}'..='\u{2015}').contains(&c) // hyphens and dashes
}

/// The reason for refusing a number at `rest`, the first character that is neither a digit
/// nor punctuation. An extension marker after some digits is reported as an extension, so the
/// user learns what to remove; any other letter as letters.
fn refuse(rest: &str, after_digits: bool, c: char, whole: &str) -> PhoneError {
    if after_digits && is_extension(rest) {
        PhoneError::Extension
    } else if whole.chars().any(char::is_alphabetic) {
        PhoneError::Letters
    } else {
        PhoneError::UnexpectedCharacter(c)
    }
}

/// Whether `rest` is an extension: a marker (`ext`, `ext.`, `extension`, `x`, `#`, `;ext=`,
/// …) followed by digits and nothing else.
fn is_extension(rest: &str) -> bool {
    const MARKERS: [&str; 7] = [";ext=", "extension", "extn", "ext", "x", "#", ","];
    let lower = rest.to_lowercase();
    MARKERS.iter().any(|m| {
        lower.strip_prefix(m).is_some_and(|tail| {
            let tail = tail.trim_start_matches(['.', ':', '=', ' ', '#', ',']);
            !tail.is_empty()
                && tail.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-'))
                && tail.chars().any(|c| c.is_ascii_digit())
        })
    })
}

#[cfg(test)]
mod tests;
