//! One row: the checks that make a CSV record a job or a reject.
//!
//! A record, the header and the campaign's [`RowContext`] come in; a [`NewJob`] (not yet checked
//! against duplicates or the do-not-call list, which need the whole file's state) or the
//! reason for rejecting the row goes out. This runs once per row of files with millions of
//! rows, so it reuses the caller's buffer for the variables and shares one string per set of
//! time zones instead of allocating per row.
//!
//! A time zone column is trusted only as far as the number allows: a +1 (NANP) number rings in
//! North America, so its zone must be one of [`NANP_ZONES`]: the tzdb zones of the countries
//! and territories that share the country code 1 (the US with Alaska, Hawaii and the Pacific
//! territories, Canada, and the Caribbean members), a superset of the zones libphonenumber's
//! data gives any +1 number, and their old names (`US/Eastern`). A row whose
//! column contradicts that is rejected, not corrected: a zone that is wrong about the country
//! says nothing reliable about the hours, and the campaign's `zone_policy` (which may still
//! change) must never dial, say, a New York number on `Pacific/Kiritimati` time. Rows rejected
//! so are counted ([`RowContext::zone_contradictions`]) for the import's summary. Other
//! countries' zones are taken as given. Cells quoted in reasons are cut to an [`excerpt`].

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono_tz::Tz;
use rustc_hash::FxHashMap;

use super::excerpt;
use crate::compliance::{Region, RegionError};
use crate::config::CampaignSpec;
use crate::config::campaign::parse_zone;
use crate::phone::PhoneNumber;
use crate::store::{ImportSnapshot, NewJob, ZoneSource};

/// No IANA zone name is longer (the longest is 32 characters); a longer cell is not looked up.
const MAX_ZONE_NAME: usize = 64;

/// The zones a +1 (NANP) number may be given in a time zone column: every tzdb zone of the
/// NANP's countries and territories (`zone.tab`: US, CA, AG, AI, AS, BB, BM, BS, DM, DO, GD,
/// GU, JM, KN, KY, LC, MP, MS, PR, SX, TC, TT, VC, VG, VI), which includes all 42 zones
/// libphonenumber's data gives +1 numbers (a unit test checks), then the tzdb's old names for
/// them that spreadsheets still carry (`US/Eastern`, `Canada/Pacific`, `EST5EDT`, …).
const NANP_ZONES: &[&str] = &[
    "America/Adak",
    "America/Anchorage",
    "America/Anguilla",
    "America/Antigua",
    "America/Atikokan",
    "America/Barbados",
    "America/Blanc-Sablon",
    "America/Boise",
    "America/Cambridge_Bay",
    "America/Cayman",
    "America/Chicago",
    "America/Creston",
    "America/Dawson",
    "America/Dawson_Creek",
    "America/Denver",
    "America/Detroit",
    "America/Dominica",
    "America/Edmonton",
    "America/Fort_Nelson",
    "America/Glace_Bay",
    "America/Goose_Bay",
    "America/Grand_Turk",
    "America/Grenada",
    "America/Halifax",
    "America/Indiana/Indianapolis",
    "America/Indiana/Knox",
    "America/Indiana/Marengo",
    "America/Indiana/Petersburg",
    "America/Indiana/Tell_City",
    "America/Indiana/Vevay",
    "America/Indiana/Vincennes",
    "America/Indiana/Winamac",
    "America/Inuvik",
    "America/Iqaluit",
    "America/Jamaica",
    "America/Juneau",
    "America/Kentucky/Louisville",
    "America/Kentucky/Monticello",
    "America/Los_Angeles",
    "America/Lower_Princes",
    "America/Menominee",
    "America/Metlakatla",
    "America/Moncton",
    "America/Montserrat",
    "America/Nassau",
    "America/New_York",
    "America/Nome",
    "America/North_Dakota/Beulah",
    "America/North_Dakota/Center",
    "America/North_Dakota/New_Salem",
    "America/Phoenix",
    "America/Port_of_Spain",
    "America/Puerto_Rico",
    "America/Rankin_Inlet",
    "America/Regina",
    "America/Resolute",
    "America/Santo_Domingo",
    "America/Sitka",
    "America/St_Johns",
    "America/St_Kitts",
    "America/St_Lucia",
    "America/St_Thomas",
    "America/St_Vincent",
    "America/Swift_Current",
    "America/Toronto",
    "America/Tortola",
    "America/Vancouver",
    "America/Whitehorse",
    "America/Winnipeg",
    "America/Yakutat",
    "Atlantic/Bermuda",
    "Pacific/Guam",
    "Pacific/Honolulu",
    "Pacific/Pago_Pago",
    "Pacific/Saipan",
    // Old names (tzdb `backward`) and the POSIX-style zones of the US.
    "America/Atka",
    "America/Coral_Harbour",
    "America/Fort_Wayne",
    "America/Indianapolis",
    "America/Knox_IN",
    "America/Louisville",
    "America/Montreal",
    "America/Nipigon",
    "America/Pangnirtung",
    "America/Rainy_River",
    "America/Shiprock",
    "America/Thunder_Bay",
    "America/Virgin",
    "America/Yellowknife",
    "Canada/Atlantic",
    "Canada/Central",
    "Canada/Eastern",
    "Canada/Mountain",
    "Canada/Newfoundland",
    "Canada/Pacific",
    "Canada/Saskatchewan",
    "Canada/Yukon",
    "Jamaica",
    "Navajo",
    "Pacific/Johnston",
    "Pacific/Midway",
    "Pacific/Samoa",
    "US/Alaska",
    "US/Aleutian",
    "US/Arizona",
    "US/Central",
    "US/East-Indiana",
    "US/Eastern",
    "US/Hawaii",
    "US/Indiana-Starke",
    "US/Michigan",
    "US/Mountain",
    "US/Pacific",
    "US/Samoa",
    "CST6CDT",
    "EST",
    "EST5EDT",
    "HST",
    "MST",
    "MST7MDT",
    "PST8PDT",
];

/// Everything a row is checked against, moved onto the parser thread.
pub(super) struct RowContext {
    pub(super) snapshot: ImportSnapshot,
    pub(super) default_zone: Option<Tz>,
    pub(super) placeholders: BTreeSet<String>,
    /// Rows rejected because their zone column contradicts their number's country.
    pub(super) zone_contradictions: u64,
    zone_names: ZoneNames,
    region_names: RegionNames,
    /// [`NANP_ZONES`], parsed once per import.
    nanp_zones: Vec<Tz>,
}

impl RowContext {
    pub(super) fn new(spec: &CampaignSpec, snapshot: ImportSnapshot) -> Self {
        Self {
            snapshot,
            default_zone: spec.schedule.timezone,
            placeholders: spec.placeholders.clone(),
            zone_contradictions: 0,
            zone_names: ZoneNames::default(),
            region_names: RegionNames::default(),
            nanp_zones: Self::nanp_zones(),
        }
    }

    fn nanp_zones() -> Vec<Tz> {
        NANP_ZONES.iter().map(|z| z.parse().expect("a tzdb zone name")).collect()
    }
}

/// The stored form of each set of zones met in a file (`America/Chicago|America/Denver`), made
/// once and shared by its rows.
#[derive(Default)]
struct ZoneNames(FxHashMap<Box<[Tz]>, Arc<str>>);

impl ZoneNames {
    fn get(&mut self, zones: &[Tz]) -> Arc<str> {
        if let Some(names) = self.0.get(zones) {
            return names.clone();
        }
        let names: Arc<str> = Arc::from(zones.iter().map(|z| z.name()).collect::<Vec<_>>().join("|"));
        self.0.insert(zones.into(), names.clone());
        names
    }
}

/// The stored form of each set of regions met in a file (`FL|OK`), by the state column's region
/// and the area code's (a static list, keyed by its address): made once, shared by its rows.
#[derive(Default)]
struct RegionNames(FxHashMap<(Option<Region>, usize, usize), Arc<str>>);

impl RegionNames {
    fn get(&mut self, column: Option<Region>, area: &'static [Region]) -> Arc<str> {
        let key = (column, area.as_ptr() as usize, area.len());
        if let Some(names) = self.0.get(&key) {
            return names.clone();
        }
        let mut all: Vec<Region> = column.into_iter().chain(area.iter().copied()).collect();
        all.sort();
        all.dedup();
        let names: Arc<str> = Arc::from(Region::joined(&all));
        self.0.insert(key, names.clone());
        names
    }
}

/// Checks one row; `Ok` is a job (not yet checked for duplicates or DNC), `Err` the reason it is
/// rejected.
pub(super) fn check_row(
    record: &csv::StringRecord,
    headers: &[String],
    (phone_idx, tz_idx, state_idx): (usize, Option<usize>, Option<usize>),
    ctx: &mut RowContext,
    var_buf: &mut String,
) -> Result<NewJob, String> {
    if record.len() != headers.len() {
        return Err(format!("the row has {} fields, the header has {}", record.len(), headers.len()));
    }
    let raw_phone = &record[phone_idx];
    let phone = PhoneNumber::parse(raw_phone).map_err(|e| format!("{}: {e}", excerpt(&headers[phone_idx])))?;
    let number_zones = phone.time_zones();
    let column_zone = match tz_idx.map(|i| (i, record[i].trim())) {
        Some((i, z)) if !z.is_empty() => Some(column_zone(z, &phone, &headers[i], ctx)?),
        _ => None,
    };
    let (timezones, zone_source) = if let Some(z) = column_zone {
        (ctx.zone_names.get(&[z]), ZoneSource::Column)
    } else if !number_zones.is_empty() {
        (ctx.zone_names.get(number_zones), ZoneSource::AreaCode)
    } else {
        match ctx.default_zone {
            // Only a NANP number may fall back to the campaign's zone: a foreign number with
            // no known zone must never be called on, say, New York time.
            Some(z) if phone.is_nanp() => (ctx.zone_names.get(&[z]), ZoneSource::Default),
            Some(_) => {
                return Err(format!(
                    "no time zone is known for {phone}, and the campaign default only applies to +1 numbers: add a timezone column"
                ));
            }
            None => {
                return Err(format!(
                    "no time zone is known for {phone}: add a timezone column or set [schedule] timezone"
                ));
            }
        }
    };
    // Regions: the state column's and the area code's, both (their rules all apply).
    let column_region = match state_idx.map(|i| (i, record[i].trim())) {
        Some((i, cell)) if !cell.is_empty() => Some(
            Region::parse(cell)
                .map_err(|_| format!("{}: {}", excerpt(&headers[i]), RegionError(excerpt(cell).to_string())))?,
        ),
        _ => None,
    };
    let regions = ctx.region_names.get(column_region, Region::for_number(&phone));
    // The values only, in column order: the names are stored once, with the import.
    var_buf.clear();
    var_buf.push('[');
    for (i, v) in record.iter().enumerate() {
        if i == phone_idx {
            continue;
        }
        if var_buf.len() > 1 {
            var_buf.push(',');
        }
        push_json_str(var_buf, v);
    }
    var_buf.push(']');
    Ok(NewJob {
        phone: Arc::from(phone.as_str()),
        source_line: 0,
        variables: Arc::from(var_buf.as_str()),
        timezones,
        zone_source,
        // Stored only when it adds something: the dispatcher reads a missing value as "the same
        // as timezones", and a million rows are 16+ bytes smaller each.
        number_zones: (!number_zones.is_empty() && zone_source != ZoneSource::AreaCode)
            .then(|| ctx.zone_names.get(number_zones)),
        regions,
        suppressed: None,
    })
}

/// The zone a time zone cell names, checked against the number's country (see the module doc).
fn column_zone(cell: &str, phone: &PhoneNumber, header: &str, ctx: &mut RowContext) -> Result<Tz, String> {
    let column = excerpt(header);
    if cell.len() > MAX_ZONE_NAME {
        return Err(format!("{column}: `{}` is not an IANA time zone (e.g. America/New_York)", excerpt(cell)));
    }
    let zone = parse_zone(cell).map_err(|m| format!("{column}: {m}"))?;
    if phone.is_nanp() && !ctx.nanp_zones.contains(&zone) {
        ctx.zone_contradictions += 1;
        return Err(format!(
            "{column}: `{}` is not a North American time zone, but {phone} is a +1 (North American) number: \
             correct the zone, or leave it empty to use the area code's",
            zone.name()
        ));
    }
    Ok(zone)
}

fn push_json_str(out: &mut String, s: &str) {
    // serde_json's escaping, without building a Value per field; plain text (most fields) as is.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("a string serialises"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADERS: [&str; 4] = ["name", "Phone", "note", "tz"];

    fn ctx(default_zone: Option<Tz>) -> RowContext {
        RowContext {
            snapshot: ImportSnapshot::default(),
            default_zone,
            placeholders: BTreeSet::new(),
            zone_contradictions: 0,
            zone_names: ZoneNames::default(),
            region_names: RegionNames::default(),
            nanp_zones: RowContext::nanp_zones(),
        }
    }

    fn check(fields: &[&str], ctx: &mut RowContext) -> Result<NewJob, String> {
        let headers: Vec<String> = HEADERS.iter().map(|s| s.to_string()).collect();
        check_row(&csv::StringRecord::from(fields.to_vec()), &headers, (1, Some(3), None), ctx, &mut String::new())
    }

    #[test]
    fn a_good_row_is_a_job_with_the_other_columns_as_a_json_array() {
        let job = check(&["Ada", "(201) 555-0123", "likes \"quotes\"\n", ""], &mut ctx(None)).unwrap();
        assert_eq!(&*job.phone, "+12015550123");
        assert_eq!(&*job.timezones, "America/New_York");
        assert_eq!(job.zone_source, ZoneSource::AreaCode);
        assert_eq!(job.number_zones, None, "the area code's zones are already the job's zones");
        assert_eq!(&*job.variables, r#"["Ada","likes \"quotes\"\n",""]"#);
        let values: Vec<String> = serde_json::from_str(&job.variables).unwrap();
        assert_eq!(values, ["Ada", "likes \"quotes\"\n", ""]);
        assert_eq!((job.source_line, job.suppressed), (0, None), "set by the caller");
    }

    #[test]
    fn a_zone_column_wins_and_the_numbers_own_zones_are_kept_beside_it() {
        let job = check(&["Bo", "+1 415 555 2671", "", " America/Chicago "], &mut ctx(None)).unwrap();
        assert_eq!((&*job.timezones, job.zone_source), ("America/Chicago", ZoneSource::Column));
        assert_eq!(job.number_zones.as_deref(), Some("America/Los_Angeles"));
    }

    #[test]
    fn rows_are_rejected_with_a_reason_naming_the_column() {
        let mut c = ctx(None);
        assert_eq!(
            check(&["Ha", "(312) 555-0162", "ragged"], &mut c).unwrap_err(),
            "the row has 3 fields, the header has 4"
        );
        assert!(check(&["Fa", "not a number", "", ""], &mut c).unwrap_err().starts_with("Phone: "));
        assert_eq!(
            check(&["Gu", "(312) 555-0162", "", "Mars/Base"], &mut c).unwrap_err(),
            "tz: `Mars/Base` is not an IANA time zone (e.g. America/New_York)"
        );
    }

    #[test]
    fn the_campaign_zone_is_a_fallback_for_nanp_numbers_only() {
        let denver = Some(chrono_tz::America::Denver);
        // A toll-free number has no zone of its own (see `phone`): the campaign's applies.
        let toll_free = check(&["", "+1 800 234 5678", "", ""], &mut ctx(denver)).unwrap();
        assert_eq!((&*toll_free.timezones, toll_free.zone_source), ("America/Denver", ZoneSource::Default));
        assert_eq!(toll_free.number_zones, None);
        let none = check(&["", "+1 800 234 5678", "", ""], &mut ctx(None)).unwrap_err();
        assert!(none.ends_with("add a timezone column or set [schedule] timezone"), "{none}");
        // International freephone is in no country: never called on the campaign's clock.
        let foreign = check(&["", "+800 1234 5678", "", ""], &mut ctx(denver)).unwrap_err();
        assert!(foreign.contains("+80012345678, and the campaign default only applies to +1 numbers"), "{foreign}");
        let named = check(&["", "+800 1234 5678", "", "Europe/Paris"], &mut ctx(denver)).unwrap();
        assert_eq!((&*named.timezones, named.zone_source), ("Europe/Paris", ZoneSource::Column));
    }

    #[test]
    fn a_zone_column_that_contradicts_a_nanp_number_is_rejected_and_counted() {
        let mut c = ctx(None);
        let kiritimati = check(&["Ki", "+1 212 555 0147", "", "Pacific/Kiritimati"], &mut c).unwrap_err();
        assert_eq!(
            kiritimati,
            "tz: `Pacific/Kiritimati` is not a North American time zone, but +12125550147 is a +1 (North American) number: \
             correct the zone, or leave it empty to use the area code's"
        );
        assert!(check(&["Lo", "+1 212 555 0147", "", "Europe/London"], &mut c).is_err());
        assert_eq!(c.zone_contradictions, 2);
        // North American zones other than the area code's stay the operator's call.
        for zone in
            ["America/Chicago", "Pacific/Honolulu", "America/Anchorage", "America/Puerto_Rico", "America/St_Johns"]
        {
            let job = check(&["Ok", "+1 212 555 0147", "", zone], &mut c).unwrap();
            assert_eq!((&*job.timezones, job.zone_source), (zone, ZoneSource::Column));
        }
        // Other countries are taken as given.
        assert!(check(&["Uk", "+44 20 7946 0958", "", "Europe/London"], &mut c).is_ok());
        assert_eq!(c.zone_contradictions, 2);
    }

    #[test]
    fn every_zone_libphonenumber_gives_a_nanp_number_is_a_north_american_zone() {
        let nanp = RowContext::nanp_zones();
        assert_eq!(nanp.len(), NANP_ZONES.len(), "every name parses");
        assert!(!nanp.contains(&chrono_tz::Pacific::Kiritimati) && !nanp.contains(&chrono_tz::America::Mexico_City));
        let data = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/phone_timezones.tsv")).unwrap();
        let mut checked = 0;
        for line in data.lines().filter(|l| l.starts_with('1')) {
            let (prefix, zones) = line.split_once('\t').unwrap();
            for zone in zones.split('&') {
                assert!(
                    NANP_ZONES.contains(&zone),
                    "+{prefix} has {zone}, which a +1 number's zone column would refuse"
                );
                checked += 1;
            }
        }
        assert!(checked > 300, "{checked} zones checked");
    }

    #[test]
    fn a_huge_zone_cell_is_quoted_as_an_excerpt_and_not_looked_up() {
        let huge = "Z".repeat(1 << 20);
        let reason = check(&["Hu", "+1 212 555 0147", "", &huge], &mut ctx(None)).unwrap_err();
        assert!(reason.len() < 200, "{} bytes", reason.len());
    }

    #[test]
    fn each_set_of_zones_is_named_once_and_shared() {
        let mut names = ZoneNames::default();
        let a = names.get(&[chrono_tz::America::Chicago, chrono_tz::America::Denver]);
        let b = names.get(&[chrono_tz::America::Chicago, chrono_tz::America::Denver]);
        assert_eq!(&*a, "America/Chicago|America/Denver");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &names.get(&[chrono_tz::America::Chicago])));
    }

    #[test]
    fn json_strings_match_serde_json_for_plain_and_escaped_text() {
        for s in ["", "plain text, with commas", "tab\there", "a \"quote\"", "back\\slash", "\u{1}", "José ☎"] {
            let mut out = String::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }
}
