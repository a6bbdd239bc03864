//! One row: the checks that make a CSV record a job or a reject.
//!
//! A record, the header and the campaign's [`RowContext`] come in; a [`NewJob`] (not yet checked
//! against duplicates or the do-not-call list, which need the whole file's state) or the
//! reason for rejecting the row goes out. This runs once per row of files with millions of
//! rows, so it reuses the caller's buffer for the variables and shares one string per set of
//! time zones instead of allocating per row.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono_tz::Tz;
use rustc_hash::FxHashMap;

use crate::config::CampaignSpec;
use crate::config::campaign::parse_zone;
use crate::phone::PhoneNumber;
use crate::store::{ImportSnapshot, NewJob, ZoneSource};

/// Everything a row is checked against, moved onto the parser thread.
pub(super) struct RowContext {
    pub(super) snapshot: ImportSnapshot,
    pub(super) default_zone: Option<Tz>,
    pub(super) placeholders: BTreeSet<String>,
    zone_names: ZoneNames,
}

impl RowContext {
    pub(super) fn new(spec: &CampaignSpec, snapshot: ImportSnapshot) -> Self {
        Self {
            snapshot,
            default_zone: spec.schedule.timezone,
            placeholders: spec.placeholders.clone(),
            zone_names: ZoneNames::default(),
        }
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

/// Checks one row; `Ok` is a job (not yet checked for duplicates or DNC), `Err` the reason it is
/// rejected.
pub(super) fn check_row(
    record: &csv::StringRecord,
    headers: &[String],
    phone_idx: usize,
    tz_idx: Option<usize>,
    ctx: &mut RowContext,
    var_buf: &mut String,
) -> Result<NewJob, String> {
    if record.len() != headers.len() {
        return Err(format!("the row has {} fields, the header has {}", record.len(), headers.len()));
    }
    let raw_phone = &record[phone_idx];
    let phone = PhoneNumber::parse(raw_phone).map_err(|e| format!("{}: {e}", headers[phone_idx]))?;
    let number_zones = phone.time_zones();
    let column_zone = match tz_idx.map(|i| record[i].trim()) {
        Some(z) if !z.is_empty() => Some(parse_zone(z).map_err(|m| format!("{}: {m}", headers[tz_idx.unwrap()]))?),
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
        suppressed: None,
    })
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
            zone_names: ZoneNames::default(),
        }
    }

    fn check(fields: &[&str], ctx: &mut RowContext) -> Result<NewJob, String> {
        let headers: Vec<String> = HEADERS.iter().map(|s| s.to_string()).collect();
        check_row(&csv::StringRecord::from(fields.to_vec()), &headers, 1, Some(3), ctx, &mut String::new())
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
