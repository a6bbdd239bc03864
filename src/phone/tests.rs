use chrono_tz::Tz;

use super::*;

fn e164(raw: &str) -> String {
    match PhoneNumber::parse(raw) {
        Ok(p) => p.to_string(),
        Err(e) => panic!("{raw:?} was refused: {e}"),
    }
}

fn refused(raw: &str) -> PhoneError {
    match PhoneNumber::parse(raw) {
        Ok(p) => panic!("{raw:?} was accepted as {p}"),
        Err(e) => e,
    }
}

fn zone_names(raw: &str) -> Vec<&'static str> {
    PhoneNumber::parse(raw)
        .unwrap_or_else(|e| panic!("{raw:?} was refused: {e}"))
        .time_zones()
        .iter()
        .map(|z| z.name())
        .collect()
}

/// The zones of US area codes, which a number outside the US must never get.
const US_ZONES: [Tz; 9] = [
    Tz::America__New_York,
    Tz::America__Chicago,
    Tz::America__Denver,
    Tz::America__Phoenix,
    Tz::America__Los_Angeles,
    Tz::America__Anchorage,
    Tz::America__Adak,
    Tz::America__Boise,
    Tz::Pacific__Honolulu,
];

// The vendor's own examples use area code 222, which is not assigned, so libphonenumber calls
// them invalid; these tests use 201-555-0123 (libphonenumber's US example) in the same layouts.
#[test]
fn every_documented_us_layout_normalises_to_the_same_e164_number() {
    for raw in [
        "+12015550123",
        "2015550123",
        "+1 (201) 555-0123",
        "+1 201 555 0123",
        "201-555-0123",
        "(201) 555-0123",
        "201.555.0123",
        "+1-201-555-0123",
        "  201 555 0123\t",
        "201/555-0123",
    ] {
        assert_eq!(e164(raw), "+12015550123", "{raw:?}");
    }
}

#[test]
fn the_vendors_literal_examples_with_area_code_222_are_invalid_because_222_is_unassigned() {
    for raw in ["+12223334444", "2223334444", "+1 (222) 333-4444", "222-333-4444"] {
        assert_eq!(refused(raw), PhoneError::Invalid, "{raw:?}");
    }
}

#[test]
fn full_width_digits_and_punctuation_count_as_ascii() {
    assert_eq!(e164("＋１ ４１５ ５５５ ２６７１"), "+14155552671");
    assert_eq!(e164("（２０１）５５５－０１２３"), "+12015550123");
    assert_eq!(e164("201\u{2013}555\u{2013}0123"), "+12015550123");
}

#[test]
fn an_empty_cell_is_refused_as_empty() {
    assert_eq!(refused(""), PhoneError::Empty);
    assert_eq!(refused("  \t "), PhoneError::Empty);
    assert_eq!(PhoneError::Empty.to_string(), "empty phone number");
}

#[test]
fn a_leading_1_without_plus_is_the_national_prefix_as_libphonenumber_reads_it() {
    for raw in ["12015550123", "1 (201) 555-0123", "1-201-555-0123", "1.201.555.0123", "1 201 555 0123"] {
        assert_eq!(e164(raw), "+12015550123", "{raw:?}");
        assert_eq!(crate_e164(raw).as_deref(), Some("+12015550123"), "the crate agrees on {raw:?}");
    }
    // After the prefix the same NANP rules hold: area code 222 is not assigned.
    assert_eq!(refused("12223334444"), PhoneError::Invalid);
    assert_eq!(crate_e164("12223334444"), None);
}

#[test]
fn a_spreadsheets_text_escape_is_not_part_of_the_number() {
    assert_eq!(e164("'2015550123"), "+12015550123");
    assert_eq!(e164("'+12015550123"), "+12015550123");
    assert_eq!(e164(" ' 1-201-555-0123"), "+12015550123");
    assert_eq!(refused("''2015550123"), PhoneError::UnexpectedCharacter('\''));
}

#[test]
fn the_us_international_prefix_011_reaches_other_countries() {
    assert_eq!(e164("011 44 20 7946 0000"), "+442079460000");
    assert_eq!(crate_e164("011 44 20 7946 0000").as_deref(), Some("+442079460000"));
    assert_eq!(e164("011 1 201 555 0123"), "+12015550123");
}

#[test]
fn other_country_codes_without_a_plus_are_refused_as_such() {
    for raw in ["552223334444", "442079460000", "33612345678"] {
        assert_eq!(refused(raw), PhoneError::CountryCodeWithoutPlus, "{raw:?}");
        assert_eq!(crate_e164(raw), None, "libphonenumber refuses {raw:?} too");
    }
    assert_eq!(PhoneError::CountryCodeWithoutPlus.to_string(), "country code without a leading '+'");
}

#[test]
fn decimals_and_foreign_national_numbers_get_reasons_that_say_so() {
    assert_eq!(refused("4155552671.0"), PhoneError::Decimal);
    assert_eq!(refused("+14155552671.0"), PhoneError::Decimal);
    assert!(PhoneError::Decimal.to_string().contains("decimal"));
    assert_eq!(refused("07400 126843"), PhoneError::ForeignNational);
    assert_eq!(refused("020 7946 0000"), PhoneError::ForeignNational);
    assert!(PhoneError::ForeignNational.to_string().contains("another country"));
    // Dots between groups are punctuation, not a decimal point.
    assert_eq!(e164("201.555.0123"), "+12015550123");
}

#[test]
fn letters_are_refused_without_vanity_conversion() {
    for raw in ["1-800-FLOWERS", "201-555-CALL", "call me", "tel:+12015550123", "201-555-0123 xyz"] {
        assert_eq!(refused(raw), PhoneError::Letters, "{raw:?}");
    }
    assert_eq!(PhoneError::Letters.to_string(), "contains letters");
}

#[test]
fn extensions_are_refused_because_an_ai_call_cannot_dial_them() {
    for raw in [
        "2223334444 ext. 123",
        "201-555-0123 ext. 123",
        "201-555-0123 ext 123",
        "201-555-0123 EXT:123",
        "201-555-0123 extension 123",
        "201-555-0123 x123",
        "201-555-0123x123",
        "201-555-0123 X 123",
        "201-555-0123 #123",
        "+12015550123;ext=123",
        "201-555-0123,,123",
    ] {
        assert_eq!(refused(raw), PhoneError::Extension, "{raw:?}");
    }
    assert_eq!(PhoneError::Extension.to_string(), "has an extension (an AI call cannot dial one)");
}

#[test]
fn too_few_or_too_many_digits_are_refused_as_such() {
    assert_eq!(refused("555-0123"), PhoneError::TooShort);
    assert_eq!(refused("+1 201 555 012"), PhoneError::TooShort);
    assert_eq!(refused("+1 201 555 01234"), PhoneError::TooLong);
    assert_eq!(refused("+44 20 7946 0000 1234 5678"), PhoneError::TooLong);
    assert_eq!(refused("+4420794600001234567890123"), PhoneError::TooLong);
}

#[test]
fn canadas_seven_digit_service_numbers_are_refused_though_libphonenumber_knows_them() {
    // Valid for the crate (CA "uan" 310-xxxx), but not dialable from outside and read by the
    // time-zone data as US area code 310.
    let n = phonenumber::parse(None, "+13101234").expect("parses");
    assert!(phonenumber::is_valid(&n));
    assert_eq!(refused("+1 310 1234"), PhoneError::TooShort);
}

#[test]
fn odd_characters_and_misplaced_plus_signs_are_refused_with_a_reason() {
    assert_eq!(refused("201*555*0123"), PhoneError::UnexpectedCharacter('*'));
    assert_eq!(refused("201*555*0123").to_string(), "contains '*', which is not part of a phone number");
    assert_eq!(refused("201 555 0123 +1"), PhoneError::MisplacedPlus);
    assert_eq!(refused("++12015550123"), PhoneError::MisplacedPlus);
    assert_eq!(refused("(---)"), PhoneError::NotANumber);
    assert_eq!(refused("+"), PhoneError::NotANumber);
}

#[test]
fn numbers_invalid_for_their_region_are_refused() {
    // An exchange cannot start with 0 or 1; an area code cannot start with 0 or 1.
    for raw in ["+1 201 055 0123", "201 155 0123", "101 555 0123", "001 555 0123", "+1 999 555 0123"] {
        assert_eq!(refused(raw), PhoneError::Invalid, "{raw:?}");
    }
    assert_eq!(refused("+44 111 123 4567"), PhoneError::Invalid);
    assert_eq!(refused("+999 1234 5678"), PhoneError::UnknownCountryCode);
    assert_eq!(PhoneError::Invalid.to_string(), "not a valid number for its country/region");
}

#[test]
fn valid_numbers_outside_nanp_are_accepted_with_a_plus() {
    assert_eq!(e164("+442079460000"), "+442079460000");
    assert_eq!(e164("+44 (0)20 7946 0000"), "+442079460000");
    assert_eq!(e164("+61 2 9374 4000"), "+61293744000");
    assert_eq!(e164("+91 22 2778 2222"), "+912227782222");
    assert_eq!(e164("+49 30 901820"), "+4930901820");
    assert!(!PhoneNumber::parse("+442079460000").unwrap().is_nanp());
    assert!(PhoneNumber::parse("2015550123").unwrap().is_nanp());
}

#[test]
fn a_us_area_code_maps_to_its_zone() {
    assert_eq!(zone_names("201-555-0123"), ["America/New_York"]);
    assert_eq!(zone_names("(415) 555-2671"), ["America/Los_Angeles"]);
    assert_eq!(zone_names("+1 312 555 0100"), ["America/Chicago"]);
}

#[test]
fn an_area_code_spanning_zones_keeps_all_of_them() {
    assert_eq!(zone_names("+1 605 555 0100"), ["America/Denver", "America/North_Dakota/Center"]);
    assert_eq!(zone_names("+1 907 555 0100"), ["America/Adak", "America/Anchorage"]);
    assert_eq!(zone_names("+1 775 555 0100"), ["America/Boise", "America/Los_Angeles"]);
}

#[test]
fn an_exchange_listed_on_its_own_overrides_its_area_code() {
    // Area code 807 (north-western Ontario) is Toronto time, except exchanges on Winnipeg time.
    assert_eq!(zone_names("+1 807 555 0100"), ["America/Toronto"]);
    assert_eq!(zone_names("+1 807 223 0100"), ["America/Winnipeg"]);
}

#[test]
fn canadian_and_caribbean_nanp_numbers_get_their_own_zones_and_no_us_zone() {
    assert_eq!(zone_names("+1 416 555 0100"), ["America/Toronto"]);
    assert_eq!(zone_names("+1 604 555 0100"), ["America/Vancouver"]);
    // Jamaica, fixed line and mobile: libphonenumber's own lookup would give the mobile all
    // 42 NANP zones (mobiles count as non-geographic); the prefix lookup gives Jamaica's.
    assert_eq!(zone_names("+1 876 523 0123"), ["America/Jamaica"]);
    assert_eq!(zone_names("+1 876 210 1234"), ["America/Jamaica"]);
    assert_eq!(zone_names("+1 787 234 5678"), ["America/Puerto_Rico"]);
    for raw in ["+1 416 555 0100", "+1 876 210 1234", "+1 242 359 1234", "+1 787 234 5678"] {
        let p = PhoneNumber::parse(raw).unwrap();
        assert!(p.is_nanp());
        assert!(!p.time_zones().iter().any(|z| US_ZONES.contains(z)), "{raw}: {:?}", p.time_zones());
    }
}

#[test]
fn numbers_outside_nanp_get_their_countrys_zones_and_no_us_zone() {
    assert_eq!(zone_names("+442079460000"), ["Europe/London"]);
    assert_eq!(zone_names("+61 2 9374 4000"), ["Australia/Sydney"]);
    assert_eq!(zone_names("+91 22 2778 2222"), ["Asia/Calcutta"]);
    assert_eq!(zone_names("+49 30 901820"), ["Europe/Berlin"]);
    // A UK mobile can be anywhere on the British Isles' clocks.
    assert_eq!(zone_names("+44 7400 123456"), ["Europe/Guernsey", "Europe/Isle_of_Man", "Europe/London"]);
    // Corrected in the generator: upstream says America/Chicago.
    assert_eq!(zone_names("+505 2222 3333"), ["America/Managua"]);
    for raw in ["+442079460000", "+7 495 123 4567", "+52 55 1234 5678", "+505 2222 3333"] {
        let p = PhoneNumber::parse(raw).unwrap();
        assert!(!p.time_zones().is_empty(), "{raw}");
        assert!(!p.time_zones().iter().any(|z| US_ZONES.contains(z)), "{raw}: {:?}", p.time_zones());
    }
}

#[test]
fn a_toll_free_number_has_no_known_zone() {
    // libphonenumber has no entry for 800 and its kin, only for country code 1: all 42 zones
    // from Guam to Newfoundland. That says nothing about the person (and a "strictest" window
    // over them would never open), so it counts as unknown and the import falls back.
    for raw in ["+1 800 234 5678", "(888) 555-0100"] {
        assert!(PhoneNumber::parse(raw).unwrap().time_zones().is_empty(), "{raw}");
    }
    // A single-zone country's country-wide entry is still an answer.
    assert_eq!(PhoneNumber::parse("+44 20 7946 0958").unwrap().time_zones(), [Tz::Europe__London]);
}

#[test]
fn a_number_the_data_names_no_zone_for_has_none() {
    // +800 is the international freephone code: valid, but in no country.
    let p = PhoneNumber::parse("+800 1234 5678").unwrap();
    assert_eq!(p.as_str(), "+80012345678");
    assert!(p.time_zones().is_empty());
}

#[test]
fn a_stored_number_is_taken_as_is_and_displays_as_its_e164_text() {
    let p = PhoneNumber::from_stored("+12015550123".to_string());
    assert_eq!(p, PhoneNumber::parse("(201) 555-0123").unwrap());
    assert_eq!(p.to_string(), "+12015550123");
    assert_eq!(p.as_str(), "+12015550123");
    assert_eq!(p.time_zones(), [Tz::America__New_York]);
    assert_eq!(serde_json::to_string(&p).unwrap(), "\"+12015550123\"");
}

/// The crate's verdict and E.164 form for a raw US-default text, as `parse` must reproduce
/// them for every text it accepts as a 10-digit NANP number.
fn crate_e164(raw: &str) -> Option<String> {
    let n = phonenumber::parse(Some(phonenumber::country::US), raw).ok()?;
    phonenumber::is_valid(&n).then(|| n.format().mode(phonenumber::Mode::E164).to_string())
}

/// Deterministic pseudo-random numbers (xorshift64), so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + (self.next() % 10) as u8)).collect()
    }
}

fn assert_fast_path_agrees(national: &str) {
    assert_eq!(nanp::is_valid(national.as_bytes()), nanp::crate_verdict(national.as_bytes()), "+1{national}");
}

#[test]
fn the_fast_path_agrees_with_the_crate_on_random_numbers() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (mut valid, mut total) = (0, 0);
    for _ in 0..20_000 {
        let national = rng.digits(10);
        assert_fast_path_agrees(&national);
        total += 1;
        valid += usize::from(nanp::crate_verdict(national.as_bytes()));
    }
    // Both outcomes were exercised, not just one.
    assert!(valid > 1000 && valid < total - 1000, "{valid} of {total} valid");
}

#[test]
fn the_fast_path_agrees_with_the_crate_on_every_area_code_and_exchange_digit() {
    // Every area code, with exchanges that start with every digit and the special 555 and
    // N11 forms, and random line numbers: the patterns decide on these digits.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for npa in 100..1000 {
        for first in 0..10 {
            let exchange = format!("{first}{}", rng.digits(2));
            assert_fast_path_agrees(&format!("{npa}{exchange}{}", rng.digits(4)));
        }
        for exchange in ["555", "211", "911", "958", "959", "976"] {
            assert_fast_path_agrees(&format!("{npa}{exchange}{}", rng.digits(4)));
        }
    }
}

#[test]
fn the_fast_path_agrees_with_the_crate_around_every_nanp_example_and_zone_prefix() {
    // Example numbers of every NANP region and type, every digit of each changed in turn,
    // and random completions of every +1 prefix in the time-zone data (down to 7 digits,
    // as in 807-223): the places where regions and number types meet.
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let db = &phonenumber::metadata::DATABASE;
    let mut examples = Vec::new();
    for id in db.region(&1).unwrap() {
        let d = db.by_id(id).unwrap().descriptors();
        let all = [
            Some(d.general()),
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ];
        examples.extend(all.into_iter().flatten().filter_map(|d| d.example()).map(str::to_string));
    }
    assert!(examples.len() > 100, "{} examples", examples.len());
    for ex in examples.iter().filter(|e| e.len() == 10) {
        assert_fast_path_agrees(ex);
        for pos in 0..10 {
            for d in b'0'..=b'9' {
                let mut v = ex.clone().into_bytes();
                v[pos] = d;
                assert_fast_path_agrees(std::str::from_utf8(&v).unwrap());
            }
        }
    }
    for line in zones::nanp_prefixes_for_tests() {
        let national = &line[1..];
        for _ in 0..3 {
            assert_fast_path_agrees(&format!("{national}{}", rng.digits(10 - national.len())));
        }
    }
}

#[test]
fn parse_agrees_with_the_crate_on_us_numbers_in_every_layout() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    for i in 0..3_000 {
        let n = format!("{}{}", 2 + rng.next() % 8, rng.digits(9));
        let (a, b, c) = (&n[..3], &n[3..6], &n[6..]);
        let raw = match i % 9 {
            0 => format!("+1{n}"),
            1 => n.clone(),
            2 => format!("({a}) {b}-{c}"),
            3 => format!("+1 ({a}) {b}-{c}"),
            4 => format!("{a}.{b}.{c}"),
            5 => format!("1{n}"),
            6 => format!("1-{a}-{b}-{c}"),
            7 => format!("1 ({a}) {b}-{c}"),
            _ => format!("+1 {a} {b} {c}"),
        };
        let ours = PhoneNumber::parse(&raw).ok().map(|p| p.to_string());
        assert_eq!(ours, crate_e164(&raw), "{raw:?}");
    }
}

#[test]
fn a_masked_number_shows_its_last_four_digits_only() {
    assert_eq!(PhoneNumber::parse("(415) 555-2671").unwrap().masked(), "…2671");
    assert!(!PhoneNumber::parse("(415) 555-2671").unwrap().masked().contains("415"));
}
