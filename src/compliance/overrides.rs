//! Operator overrides of the state rules, from the daemon config's `[compliance.states.XX]`
//! tables. An override may only narrow: fewer hours, more holidays, a stricter frequency cap,
//! or rules for a region the built-in set has none for. One that would widen any rule is
//! refused with the key and the rule it would break.
//!
//! ```toml
//! [compliance.states.FL]
//! hours = { "mon-fri" = "09:00-18:00", sat = "10:00-14:00" }   # the whole week; days left out are closed
//! frequency_cap = { calls = 2, per = "24h" }                    # or "none" where the law has none
//!
//! [compliance.states.AL]
//! # The complete list: every built-in holiday must stay (see `switchboard rules --state AL`).
//! holidays = [{ name = "New Year's Day", date = "01-01", observed = "sat-fri,sun-mon" }, …]
//!
//! [compliance.states.TX]                                        # a region without built-in rules
//! hours = { "mon-sat" = "09:00-21:00", sun = "12:00-21:00" }
//! ```

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::cap::FrequencyCap;
use super::holiday::Observed;
use super::rules::{
    CapRule, Citation, HolidayRule, HoursRule, RawHoliday, RuleSet, StateRules, WEEK, parse_cap, parse_holiday,
    parse_hours, parse_region_key,
};

/// The `[compliance.states]` table: overrides per state code, as written.
pub type StateOverrides = BTreeMap<String, StateOverride>;

/// One state's `[compliance.states.XX]` table. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct StateOverride {
    /// Weekly hours replacing the state's (days left out are closed); each range must lie
    /// inside the built-in hours of its day.
    pub hours: Option<BTreeMap<String, String>>,
    /// The complete holiday list; it must keep every built-in holiday's dates.
    pub holidays: Option<Vec<RawHoliday>>,
    /// `{ calls = N, per = "24h" }`, or `"none"`.
    pub frequency_cap: Option<CapOverride>,
}

/// A frequency cap as the config writes it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(untagged)]
pub enum CapOverride {
    Cap {
        calls: u32,
        per: String,
    },
    /// `"none"`: no cap (refused where the law has one).
    Word(String),
}

/// An override that cannot be applied: the config key (`compliance.states.FL.hours`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct OverrideError {
    pub key: String,
    pub message: String,
}

fn refuse(key: &str, message: String) -> OverrideError {
    OverrideError { key: key.to_owned(), message }
}

const NARROW_ONLY: &str = "overrides may only narrow the state rules";

/// The years over which a holiday list is compared with the built-in one (every weekday and
/// Easter pattern repeats well within them).
const COMPARE_YEARS: std::ops::RangeInclusive<i32> = 1990..=2200;

fn config_citation(code: &str) -> Citation {
    Citation {
        law: format!("daemon config [compliance.states.{code}]"),
        url: "https://switchboard.invalid/config".into(),
    }
}

impl RuleSet {
    /// These rules narrowed by the daemon config's `[compliance.states]`; the version becomes
    /// `<version>+config.<hash of the overrides>` so that an attempt's recorded version tells
    /// which rules allowed it. Refused, naming the key, when an override would widen a rule.
    pub fn with_overrides(&self, overrides: &StateOverrides) -> Result<RuleSet, OverrideError> {
        if overrides.is_empty() {
            return Ok(self.clone());
        }
        let mut out = self.clone();
        for (code, o) in overrides {
            let key = format!("compliance.states.{code}");
            let region = parse_region_key(&key, code).map_err(|e| refuse(&key, e.message))?;
            let base = self.state(region);
            let name = base.map_or_else(|| region.name().to_owned(), |b| b.name.clone());
            let mut rules = base.cloned().unwrap_or_else(|| StateRules {
                region,
                name: name.clone(),
                note: None,
                hours: None,
                holidays: None,
                frequency_cap: None,
            });
            if let Some(days) = &o.hours {
                let k = format!("{key}.hours");
                let hours = parse_hours(&k, days).map_err(|e| refuse(&k, e.message))?;
                if let Some(b) = base.and_then(|b| b.hours.as_ref()) {
                    for day in WEEK {
                        let inside = |r: &crate::window::TimeRange| {
                            b.hours
                                .ranges(day)
                                .iter()
                                .any(|br| br.start_secs() <= r.start_secs() && r.end_secs() <= br.end_secs())
                        };
                        if let Some(r) = hours.ranges(day).iter().find(|r| !inside(r)) {
                            return Err(refuse(
                                &k,
                                format!(
                                    "{} {r} is outside {name}'s hours ({}; {}): {NARROW_ONLY}",
                                    short(day),
                                    b.hours.describe_day(day),
                                    b.citation.law
                                ),
                            ));
                        }
                    }
                }
                let citation =
                    base.and_then(|b| b.hours.as_ref()).map_or_else(|| config_citation(code), |b| b.citation.clone());
                rules.hours = Some(HoursRule { hours, citation, narrowed: true });
            }
            if let Some(list) = &o.holidays {
                let k = format!("{key}.holidays");
                let holidays = list
                    .iter()
                    .enumerate()
                    .map(|(i, raw)| parse_holiday(&format!("{k}[{i}]"), raw, Observed::NONE))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| refuse(&e.key, e.message))?;
                if let Some(b) = base.and_then(|b| b.holidays.as_ref()) {
                    let kept: HashSet<NaiveDate> =
                        COMPARE_YEARS.flat_map(|y| holidays.iter().flat_map(move |h| h.observed_dates(y))).collect();
                    for h in &b.holidays {
                        if COMPARE_YEARS.flat_map(|y| h.observed_dates(y)).any(|date| !kept.contains(&date)) {
                            return Err(refuse(
                                &k,
                                format!(
                                    "drops {name}'s holiday `{}` ({}, observed {}; {}): list every built-in holiday \
                                     (`switchboard rules --state {code}`) and add yours; {NARROW_ONLY}",
                                    h.name, h.date, h.observed, b.citation.law
                                ),
                            ));
                        }
                    }
                }
                let (citation, list_citation) = match base.and_then(|b| b.holidays.as_ref()) {
                    Some(b) => (b.citation.clone(), b.list_citation.clone()),
                    None => (config_citation(code), None),
                };
                rules.holidays = Some(HolidayRule { holidays, citation, list_citation, narrowed: true });
            }
            if let Some(cap) = &o.frequency_cap {
                let k = format!("{key}.frequency_cap");
                let base_cap = base.and_then(|b| b.frequency_cap.as_ref());
                rules.frequency_cap = match cap {
                    CapOverride::Word(w) if w.trim() == "none" => match base_cap {
                        Some(b) => {
                            return Err(refuse(
                                &k,
                                format!("removes {name}'s cap of {} ({}): {NARROW_ONLY}", b.cap, b.citation.law),
                            ));
                        }
                        None => None,
                    },
                    CapOverride::Word(w) => {
                        return Err(refuse(
                            &k,
                            format!("`{w}` is not a cap (expected {{ calls = 3, per = \"24h\" }} or \"none\")"),
                        ));
                    }
                    CapOverride::Cap { calls, per } => {
                        let new: FrequencyCap = parse_cap(&k, *calls, per).map_err(|e| refuse(&e.key, e.message))?;
                        if let Some(b) = base_cap {
                            if new.calls() > b.cap.calls() {
                                return Err(refuse(
                                    &k,
                                    format!(
                                        "raises {name}'s cap from {} to {} calls ({}): {NARROW_ONLY}",
                                        b.cap.calls(),
                                        new.calls(),
                                        b.citation.law
                                    ),
                                ));
                            }
                            if new.window() < b.cap.window() {
                                return Err(refuse(
                                    &k,
                                    format!(
                                        "shortens {name}'s window from {} to {} ({}): {NARROW_ONLY}",
                                        crate::config::format_duration(b.cap.window()),
                                        crate::config::format_duration(new.window()),
                                        b.citation.law
                                    ),
                                ));
                            }
                        }
                        let citation = base_cap.map_or_else(|| config_citation(code), |b| b.citation.clone());
                        Some(CapRule { cap: new, citation, narrowed: true })
                    }
                };
            }
            match out.states.binary_search_by_key(&region, |s| s.region) {
                Ok(i) => out.states[i] = rules,
                Err(i) => out.states.insert(i, rules),
            }
        }
        let digest = Sha256::digest(format!("{overrides:?}").as_bytes());
        out.version = format!("{}+config.{}", self.version, hex::encode(&digest[..4]));
        Ok(out)
    }
}

fn short(day: chrono::Weekday) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day.num_days_from_monday() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::Region;

    fn overrides(toml_text: &str) -> StateOverrides {
        let table: toml::Table = toml::from_str(toml_text).unwrap();
        toml::Value::Table(table).try_into().unwrap()
    }

    fn apply(toml_text: &str) -> Result<RuleSet, OverrideError> {
        RuleSet::builtin().with_overrides(&overrides(toml_text))
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn r(code: &str) -> Region {
        Region::parse(code).unwrap()
    }

    #[test]
    fn narrower_hours_are_accepted_and_change_the_version() {
        let rules = apply("[FL]\nhours = { \"mon-fri\" = \"09:00-18:00\" }").unwrap();
        let s = rules.day_spans(&[r("FL")], d(2026, 12, 2));
        assert_eq!(s.spans().iter().map(|s| s.to_string()).collect::<Vec<_>>(), ["09:00-18:00"]);
        assert_eq!(
            rules.day_spans(&[r("FL")], d(2026, 12, 5)).closed_reason().unwrap().to_string(),
            "Saturday ban (FL)"
        );
        assert!(rules.version().starts_with("2026-12-01+config."), "{}", rules.version());
        assert_eq!(rules.version().len(), "2026-12-01+config.".len() + 8);
        assert!(rules.state(r("FL")).unwrap().hours.as_ref().unwrap().narrowed);
        // The cap is untouched.
        assert_eq!(rules.frequency_cap(&[r("FL")]).unwrap().calls(), 3);
        assert_eq!(RuleSet::builtin().with_overrides(&StateOverrides::new()).unwrap().version(), "2026-12-01");
    }

    #[test]
    fn later_hours_are_refused_naming_the_key_and_the_rule() {
        let e = apply("[FL]\nhours = { \"mon-sun\" = \"08:00-20:30\" }").unwrap_err();
        assert_eq!(e.key, "compliance.states.FL.hours");
        assert_eq!(
            e.message,
            "mon 08:00-20:30 is outside Florida's hours (mon-sun 08:00-20:00; Fla. Stat. § 501.616(6)(a) (as amended by \
             CS/SB 1120, 2021: no commercial telephone solicitation before 8 a.m. or after 8 p.m. at the called person's \
             location)): overrides may only narrow the state rules"
        );
    }

    #[test]
    fn more_days_are_refused() {
        let e = apply("[AL]\nhours = { \"mon-sun\" = \"09:00-17:00\" }").unwrap_err();
        assert_eq!(e.key, "compliance.states.AL.hours");
        assert!(e.message.starts_with("sun 09:00-17:00 is outside Alabama's hours (sun closed;"), "{}", e.message);
    }

    #[test]
    fn dropping_a_holiday_is_refused_and_adding_one_is_not() {
        let e = apply("[UT]\nholidays = [{ name = \"New Year's Day\", date = \"01-01\" }]").unwrap_err();
        assert_eq!(e.key, "compliance.states.UT.holidays");
        assert!(
            e.message.starts_with("drops Utah's holiday `New Year's Day` (01-01, observed sat-fri,sun-mon;"),
            "{}",
            e.message
        );
        // The built-in list (in another order, renamed) plus one more: accepted.
        let mut list: Vec<String> = RuleSet::builtin()
            .state(r("UT"))
            .unwrap()
            .holidays
            .as_ref()
            .unwrap()
            .holidays
            .iter()
            .rev()
            .map(|h| {
                format!(
                    "{{ name = \"x\", date = \"{}\", observed = \"{}\", years = \"{}\" }}",
                    h.date, h.observed, h.years
                )
            })
            .collect();
        list.push("{ name = \"Company picnic\", date = \"08-14\" }".into());
        let rules = apply(&format!("[UT]\nholidays = [{}]", list.join(", "))).unwrap();
        assert_eq!(
            rules.day_spans(&[r("UT")], d(2026, 8, 14)).closed_reason().unwrap().to_string(),
            "holiday: Company picnic (UT)"
        );
    }

    #[test]
    fn a_holiday_kept_on_more_dates_still_counts_as_kept() {
        // New Year's Day observed on more days than the built-in rule: a superset, accepted.
        let la = RuleSet::builtin().state(r("LA")).unwrap().holidays.as_ref().unwrap();
        let list: Vec<String> = la
            .holidays
            .iter()
            .map(|h| {
                let observed = if h.name == "New Year's Day" {
                    "sat-fri,sat-mon,sun-mon".to_owned()
                } else {
                    h.observed.to_string()
                };
                format!(
                    "{{ name = \"{}\", date = \"{}\", observed = \"{observed}\", years = \"{}\" }}",
                    h.name, h.date, h.years
                )
            })
            .collect();
        apply(&format!("[LA]\nholidays = [{}]", list.join(", "))).unwrap();
        // …and with a narrower observance, refused.
        let fewer: Vec<String> = la
            .holidays
            .iter()
            .map(|h| format!("{{ name = \"{}\", date = \"{}\", years = \"{}\" }}", h.name, h.date, h.years))
            .collect();
        let e = apply(&format!("[LA]\nholidays = [{}]", fewer.join(", "))).unwrap_err();
        assert!(e.message.starts_with("drops Louisiana's holiday `New Year's Day`"), "{}", e.message);
    }

    #[test]
    fn dropping_or_raising_the_frequency_cap_is_refused() {
        let e = apply("[FL]\nfrequency_cap = \"none\"").unwrap_err();
        assert_eq!(e.key, "compliance.states.FL.frequency_cap");
        assert!(
            e.message.starts_with("removes Florida's cap of 3 calls per 24h (Fla. Stat. § 501.616(6)(b)"),
            "{}",
            e.message
        );
        let e = apply("[OK]\nfrequency_cap = { calls = 5, per = \"24h\" }").unwrap_err();
        assert!(e.message.starts_with("raises Oklahoma's cap from 3 to 5 calls"), "{}", e.message);
        let e = apply("[MD]\nfrequency_cap = { calls = 3, per = \"12h\" }").unwrap_err();
        assert!(e.message.starts_with("shortens Maryland's window from 1d to 12h"), "{}", e.message);
        let e = apply("[MD]\nfrequency_cap = \"sometimes\"").unwrap_err();
        assert!(e.message.contains("is not a cap"), "{}", e.message);
        let rules = apply("[FL]\nfrequency_cap = { calls = 2, per = \"48h\" }").unwrap();
        assert_eq!(rules.frequency_cap(&[r("FL")]).unwrap().to_string(), "2 calls per 48h");
        // "none" where there is no cap is fine.
        apply("[CA]\nfrequency_cap = \"none\"").unwrap();
    }

    #[test]
    fn a_region_without_built_in_rules_may_get_some() {
        let rules = apply("[TX]\nhours = { \"mon-sat\" = \"09:00-21:00\", sun = \"12:00-21:00\" }\nfrequency_cap = { calls = 1, per = \"24h\" }").unwrap();
        let sun = rules.day_spans(&[r("TX")], d(2026, 12, 6));
        assert_eq!(sun.spans().iter().map(|s| s.to_string()).collect::<Vec<_>>(), ["12:00-21:00"]);
        let tx = rules.state(r("TX")).unwrap();
        assert_eq!(tx.name, "Texas");
        assert!(tx.hours.as_ref().unwrap().citation.law.contains("[compliance.states.TX]"));
        assert_eq!(rules.frequency_cap(&[r("TX")]).unwrap().calls(), 1);
    }

    #[test]
    fn bad_keys_and_values_name_the_key() {
        let e = apply("[Florida]\nhours = { mon = \"09:00-17:00\" }").unwrap_err();
        assert_eq!(e.key, "compliance.states.Florida");
        assert!(e.message.contains("two-letter code in capitals (`FL`)"), "{}", e.message);
        let e = apply("[FL]\nhours = { mon = \"9-5\" }").unwrap_err();
        assert_eq!(e.key, "compliance.states.FL.hours");
        let e = apply("[UT]\nholidays = [{ name = \"x\", date = \"someday\" }]").unwrap_err();
        assert_eq!(e.key, "compliance.states.UT.holidays[0].date");
        let table: toml::Table = toml::from_str("[FL]\nhourz = {}").unwrap();
        let e = toml::Value::Table(table).try_into::<StateOverrides>().unwrap_err();
        assert!(e.to_string().contains("unknown field `hourz`"), "{e}");
    }
}
