//! Recipient regions: the US states, DC, the US territories of the NANP and the Canadian
//! provinces and territories, as two-letter codes ([`Region`]), and the NANP area code → region
//! map embedded from `data/area_codes.tsv` (written by `tools/gen_area_codes.py` from
//! libphonenumber's geocoding data; source, version and licence in `data/README.md`).

use std::fmt;
use std::sync::LazyLock;

use crate::phone::PhoneNumber;

/// A US state, DC, a US territory in the NANP (PR, VI, GU, MP, AS) or a Canadian province or
/// territory, by its two-letter postal code. Constructed only from the known codes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region([u8; 2]);

/// Every region: code and English name, US first (alphabetical by code), then Canada.
const REGIONS: &[(&str, &str)] = &[
    ("AK", "Alaska"),
    ("AL", "Alabama"),
    ("AR", "Arkansas"),
    ("AS", "American Samoa"),
    ("AZ", "Arizona"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DC", "District of Columbia"),
    ("DE", "Delaware"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("GU", "Guam"),
    ("HI", "Hawaii"),
    ("IA", "Iowa"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("MA", "Massachusetts"),
    ("MD", "Maryland"),
    ("ME", "Maine"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MO", "Missouri"),
    ("MP", "Northern Mariana Islands"),
    ("MS", "Mississippi"),
    ("MT", "Montana"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("NE", "Nebraska"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NV", "Nevada"),
    ("NY", "New York"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("PR", "Puerto Rico"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VA", "Virginia"),
    ("VI", "U.S. Virgin Islands"),
    ("VT", "Vermont"),
    ("WA", "Washington"),
    ("WI", "Wisconsin"),
    ("WV", "West Virginia"),
    ("WY", "Wyoming"),
    ("AB", "Alberta"),
    ("BC", "British Columbia"),
    ("MB", "Manitoba"),
    ("NB", "New Brunswick"),
    ("NL", "Newfoundland and Labrador"),
    ("NS", "Nova Scotia"),
    ("NT", "Northwest Territories"),
    ("NU", "Nunavut"),
    ("ON", "Ontario"),
    ("PE", "Prince Edward Island"),
    ("QC", "Quebec"),
    ("SK", "Saskatchewan"),
    ("YT", "Yukon"),
];

/// Other names people write in a `state` column, lower-case, with their code.
const ALIASES: &[(&str, &str)] = &[
    ("washington dc", "DC"),
    ("washington d.c.", "DC"),
    ("d.c.", "DC"),
    ("washington state", "WA"),
    ("virgin islands", "VI"),
    ("us virgin islands", "VI"),
    ("northern marianas", "MP"),
    ("québec", "QC"),
    ("newfoundland", "NL"),
    ("labrador", "NL"),
    ("pei", "PE"),
    ("yukon territory", "YT"),
];

/// Why a text is not a region; `Display` says what is expected (the caller adds where).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a US state, territory or Canadian province (expected a two-letter code such as FL or ON, or a name such as Florida)"
)]
pub struct RegionError(pub String);

impl Region {
    /// `regions` as stored and shown: their codes joined by `|` (`FL|OK`), onto `out`.
    pub fn push_joined(out: &mut String, regions: &[Region]) {
        for (i, r) in regions.iter().enumerate() {
            if i > 0 {
                out.push('|');
            }
            out.push_str(r.code());
        }
    }

    /// [`Region::push_joined`] into a new string (`""` for none).
    pub fn joined(regions: &[Region]) -> String {
        let mut out = String::new();
        Region::push_joined(&mut out, regions);
        out
    }

    /// A two-letter code (`FL`, `fl`) or an English name (`Florida`, `new york`, `Washington
    /// D.C.`), case-insensitive, surrounding blanks ignored: what a CSV `state` column holds.
    pub fn parse(text: &str) -> Result<Region, RegionError> {
        let t = text.trim();
        let bad = || RegionError(text.to_owned());
        if t.len() == 2 {
            return Region::from_code(&t.to_ascii_uppercase()).ok_or_else(bad);
        }
        let lower = t.to_lowercase();
        let lower = lower.split_whitespace().collect::<Vec<_>>().join(" ");
        REGIONS
            .iter()
            .find(|(_, name)| name.to_lowercase() == lower)
            .map(|(code, _)| *code)
            .or_else(|| ALIASES.iter().find(|(alias, _)| *alias == lower).map(|(_, code)| *code))
            .and_then(Region::from_code)
            .ok_or_else(bad)
    }

    /// An upper-case two-letter code from the known list.
    fn from_code(code: &str) -> Option<Region> {
        REGIONS.iter().find(|(c, _)| *c == code).map(|(c, _)| Region(c.as_bytes().try_into().expect("two bytes")))
    }

    /// The two-letter code, `FL`.
    pub fn code(self) -> &'static str {
        REGIONS.iter().find(|(c, _)| c.as_bytes() == self.0).map(|(c, _)| *c).expect("constructed from the list")
    }

    /// The English name, `Florida`.
    pub fn name(self) -> &'static str {
        REGIONS.iter().find(|(c, _)| c.as_bytes() == self.0).map(|(_, n)| *n).expect("constructed from the list")
    }

    /// Whether this is a Canadian province or territory.
    pub fn is_canadian(self) -> bool {
        matches!(self.code(), "AB" | "BC" | "MB" | "NB" | "NL" | "NS" | "NT" | "NU" | "ON" | "PE" | "QC" | "SK" | "YT")
    }

    /// Every known region, US first.
    pub fn all() -> impl Iterator<Item = Region> {
        REGIONS.iter().map(|(c, _)| Region(c.as_bytes().try_into().expect("two bytes")))
    }

    /// The regions the number's area code belongs to (one for nearly every code; `902` is Nova
    /// Scotia and Prince Edward Island, `867` the three northern territories); empty for a
    /// number outside +1 and for area codes that name no region (toll-free, non-geographic,
    /// the other NANP countries such as Jamaica).
    pub fn for_number(number: &PhoneNumber) -> &'static [Region] {
        let Some(area) = number.as_str().strip_prefix("+1").and_then(|n| n.get(..3)) else {
            return &[];
        };
        let Ok(area) = area.parse::<usize>() else {
            return &[];
        };
        AREA_CODES.get(area).map_or(&[], |r| r.as_slice())
    }

    /// The number's region when its area code names exactly one; `None` otherwise (see
    /// [`Region::for_number`] for every region of an area code that spans several).
    pub fn from_area_code(number: &PhoneNumber) -> Option<Region> {
        match Region::for_number(number) {
            [one] => Some(*one),
            _ => None,
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Region {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, RegionError> {
        Region::parse(s)
    }
}

impl serde::Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

const DATA: &str = include_str!("../../data/area_codes.tsv");

/// Immutable, embedded data parsed once, indexed by the area code as a number (000-999).
static AREA_CODES: LazyLock<Vec<Vec<Region>>> = LazyLock::new(|| parse_area_codes(DATA));

/// Parses the embedded file. A malformed line is a defect of the shipped data (a unit test
/// loads it), so it panics with the line number rather than returning an error.
fn parse_area_codes(text: &str) -> Vec<Vec<Region>> {
    let mut map = vec![Vec::new(); 1000];
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| -> ! { panic!("data/area_codes.tsv line {}: {what}: {line:?}", i + 1) };
        let Some((code, regions)) = line.split_once('\t') else { bad("expected AREA_CODE<TAB>REGIONS") };
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            bad("the area code is not three digits");
        }
        let slot: &mut Vec<Region> = &mut map[code.parse::<usize>().expect("three digits")];
        if !slot.is_empty() {
            bad("duplicate area code");
        }
        for r in regions.split('&') {
            slot.push(Region::from_code(r).unwrap_or_else(|| bad("unknown region code")));
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Area codes only need the digits, not numbers libphonenumber deems valid.
    fn number(n: &str) -> PhoneNumber {
        PhoneNumber::from_stored(n.to_owned())
    }

    fn region(n: &str) -> Option<&'static str> {
        Region::from_area_code(&number(n)).map(Region::code)
    }

    #[test]
    fn area_codes_map_to_their_state_or_province() {
        assert_eq!(
            Region::from_area_code(&PhoneNumber::parse("(415) 555-2671").unwrap()).map(Region::code),
            Some("CA")
        );
        assert_eq!(region("+14155552671"), Some("CA"));
        assert_eq!(region("+12125550100"), Some("NY"));
        assert_eq!(region("+13055550100"), Some("FL"));
        assert_eq!(region("+14055550100"), Some("OK"));
        assert_eq!(region("+14165550100"), Some("ON"));
        assert_eq!(region("+12025550100"), Some("DC"));
        assert_eq!(region("+12065550100"), Some("WA"));
        assert_eq!(region("+15045550100"), Some("LA"));
        assert_eq!(region("+12055550100"), Some("AL"));
        assert_eq!(region("+14015550100"), Some("RI"));
        assert_eq!(region("+18015550100"), Some("UT"));
        assert_eq!(region("+14105550100"), Some("MD"));
        assert_eq!(region("+16015550100"), Some("MS"));
        assert_eq!(region("+15145550100"), Some("QC"));
        assert_eq!(region("+16045550100"), Some("BC"));
        // Codes upstream describes only through their exchanges ("Bridgeport, CT").
        assert_eq!(region("+12035550100"), Some("CT"));
        assert_eq!(region("+17185550100"), Some("NY"));
        assert_eq!(region("+19055550100"), Some("ON"));
    }

    #[test]
    fn territories_come_from_the_numbering_plan_and_other_countries_map_to_none() {
        assert_eq!(region("+17875550100"), Some("PR"));
        assert_eq!(region("+19395550100"), Some("PR"));
        assert_eq!(region("+13405550100"), Some("VI"));
        assert_eq!(region("+16715550100"), Some("GU"));
        assert_eq!(region("+16705550100"), Some("MP"));
        assert_eq!(region("+16845550100"), Some("AS"));
        assert_eq!(region("+18765550100"), None, "Jamaica");
        assert_eq!(region("+12425550100"), None, "the Bahamas");
        assert_eq!(region("+18005550100"), None, "toll-free");
        assert_eq!(region("+442079460000"), None, "not NANP");
    }

    #[test]
    fn an_area_code_spanning_several_regions_names_them_all() {
        let codes = |n: &str| Region::for_number(&number(n)).iter().map(|r| r.code()).collect::<Vec<_>>();
        assert_eq!(codes("+19025550100"), ["NS", "PE"]);
        assert_eq!(codes("+18675550100"), ["NT", "NU", "YT"]);
        assert_eq!(region("+19025550100"), None);
        assert!(codes("+18765550100").is_empty());
    }

    #[test]
    fn the_embedded_map_covers_every_state_and_province() {
        let map = &*AREA_CODES;
        let data_lines = DATA.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count();
        assert_eq!(map.iter().filter(|r| !r.is_empty()).count(), data_lines);
        for r in Region::all() {
            assert!(map.iter().any(|rs| rs.contains(&r)), "no area code maps to {r}");
        }
    }

    #[test]
    fn regions_parse_from_codes_and_names_in_any_case() {
        let p = |s: &str| Region::parse(s).map(Region::code);
        assert_eq!(p("FL"), Ok("FL"));
        assert_eq!(p(" fl "), Ok("FL"));
        assert_eq!(p("Florida"), Ok("FL"));
        assert_eq!(p("NEW  york"), Ok("NY"));
        assert_eq!(p("District of Columbia"), Ok("DC"));
        assert_eq!(p("Washington D.C."), Ok("DC"));
        assert_eq!(p("washington"), Ok("WA"));
        assert_eq!(p("Prince Edward Island"), Ok("PE"));
        assert_eq!(p("Québec"), Ok("QC"));
        assert_eq!(p("Puerto Rico"), Ok("PR"));
        assert_eq!(Region::parse("OK").unwrap().name(), "Oklahoma");
        assert_eq!(Region::parse("on").unwrap().to_string(), "ON");
        assert!(Region::parse("ON").unwrap().is_canadian());
        assert!(!Region::parse("OR").unwrap().is_canadian());
    }

    #[test]
    fn unknown_regions_say_what_is_expected() {
        let e = Region::parse("Flordia").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`Flordia` is not a US state, territory or Canadian province (expected a two-letter code such as FL or ON, or a name such as Florida)"
        );
        for bad in ["", "X", "XX", "ZZ", "U.S.", "Texass", "F L"] {
            assert!(Region::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    #[should_panic(expected = "line 2: unknown region code")]
    fn a_bad_region_in_the_data_is_reported_with_its_line() {
        parse_area_codes("201\tNJ\n202\tXX\n");
    }
}
