//! The state rule set: per region, the weekly calling hours, the legal holidays and the rolling
//! frequency cap that state law adds to the federal hours, each with its source. The built-in
//! set is `data/state_rules.toml`, compiled into the binary and parsed once
//! ([`RuleSet::builtin`]); the daemon config may narrow it ([`RuleSet::with_overrides`]).
//!
//! The queries are pure and cheap (no allocation beyond a small inline vector):
//! [`RuleSet::day_spans`] gives, for the regions a recipient may be in and a date on the
//! recipient's calendar, the wall-clock spans the state rules leave open that day (or why none);
//! [`RuleSet::frequency_cap`] gives the cap that applies.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;
use smallvec::SmallVec;

use super::cap::FrequencyCap;
use super::holiday::{Holiday, HolidayDate, Observed, Years};
use super::region::Region;
use crate::config::parse_duration;
use crate::window::{TimeRange, WeeklyHours};

/// The built-in rules, as shipped.
pub const RULES_DATA: &str = include_str!("../../data/state_rules.toml");

/// The most time ranges a rule may give one weekday: keeps [`DaySpans`] inline (the
/// intersection of a recipient's few regions stays within its inline capacity in practice).
pub const MAX_RANGES_PER_DAY: usize = 4;

/// Seconds in a day.
const DAY_SECS: u32 = 86_400;

/// Where a rule comes from: the law's section and a page that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    pub law: String,
    pub url: String,
}

impl fmt::Display for Citation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <{}>", self.law, self.url)
    }
}

/// Weekly calling hours; a weekday without ranges is closed (a Sunday ban).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursRule {
    pub hours: WeeklyHours,
    pub citation: Citation,
    /// Narrowed by the daemon config (the citation is the built-in rule's, when there is one).
    pub narrowed: bool,
}

/// Legal holidays on which no call is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayRule {
    pub holidays: Vec<Holiday>,
    /// The law that bans calls on holidays.
    pub citation: Citation,
    /// The law that lists the state's holidays, when another one.
    pub list_citation: Option<Citation>,
    pub narrowed: bool,
}

/// A rolling cap on calls to one number about the same subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapRule {
    pub cap: FrequencyCap,
    pub citation: Citation,
    pub narrowed: bool,
}

/// Everything one region's law adds to the federal rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRules {
    pub region: Region,
    pub name: String,
    /// How the law was read where that needed a choice (always the stricter one).
    pub note: Option<String>,
    pub hours: Option<HoursRule>,
    pub holidays: Option<HolidayRule>,
    pub frequency_cap: Option<CapRule>,
}

impl StateRules {
    /// The holiday closing `date`, if any.
    pub fn holiday_on(&self, date: NaiveDate) -> Option<&Holiday> {
        self.holidays.as_ref()?.holidays.iter().find(|h| h.occurs_on(date))
    }
}

/// A versioned set of state rules. Every call attempt records [`RuleSet::version`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    pub(super) version: String,
    /// Sorted by region, one entry per region.
    pub(super) states: Vec<StateRules>,
}

/// A rules file that cannot be used: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct RulesError {
    pub key: String,
    pub message: String,
}

fn rules_error(key: impl Into<String>, message: impl Into<String>) -> RulesError {
    RulesError { key: key.into(), message: message.into() }
}

// The file's shape (see the comment at the top of data/state_rules.toml).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: String,
    states: BTreeMap<String, RawState>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    name: String,
    note: Option<String>,
    hours: Option<RawHours>,
    holidays: Option<RawHolidays>,
    frequency_cap: Option<RawCap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    days: BTreeMap<String, String>,
    law: String,
    url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHolidays {
    law: String,
    url: String,
    list_law: Option<String>,
    list_url: Option<String>,
    observed: Option<String>,
    list: Vec<RawHoliday>,
}

/// One holiday as written in the rules file or the daemon config.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct RawHoliday {
    pub name: String,
    pub date: String,
    pub observed: Option<String>,
    pub years: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCap {
    calls: u32,
    per: String,
    law: String,
    url: String,
}

fn citation(key: &str, law: String, url: String) -> Result<Citation, RulesError> {
    if law.trim().is_empty() {
        return Err(rules_error(format!("{key}.law"), "every rule needs the law it comes from"));
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(rules_error(format!("{key}.url"), format!("`{url}` is not an http(s) URL")));
    }
    Ok(Citation { law, url })
}

/// Weekly hours from `{ "mon-fri" = "08:00-20:00" }`, at most [`MAX_RANGES_PER_DAY`] a day.
pub(super) fn parse_hours(key: &str, days: &BTreeMap<String, String>) -> Result<WeeklyHours, RulesError> {
    let hours = WeeklyHours::parse(days.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| rules_error(key, e.to_string()))?;
    for day in WEEK {
        if hours.ranges(day).len() > MAX_RANGES_PER_DAY {
            return Err(rules_error(key, format!("{} has more than {MAX_RANGES_PER_DAY} ranges", short(day))));
        }
    }
    Ok(hours)
}

/// One holiday, with `default_observed` when it names no observance of its own.
pub(super) fn parse_holiday(key: &str, raw: &RawHoliday, default_observed: Observed) -> Result<Holiday, RulesError> {
    if raw.name.trim().is_empty() {
        return Err(rules_error(format!("{key}.name"), "a holiday needs a name"));
    }
    let date: HolidayDate = raw.date.parse().map_err(|e| rules_error(format!("{key}.date"), format!("{e}")))?;
    let observed = match &raw.observed {
        Some(o) => o.parse().map_err(|e| rules_error(format!("{key}.observed"), format!("{e}")))?,
        None => default_observed,
    };
    let years = match &raw.years {
        Some(y) => y.parse().map_err(|e| rules_error(format!("{key}.years"), format!("{e}")))?,
        None => Years::All,
    };
    Ok(Holiday { name: raw.name.trim().to_owned(), date, observed, years })
}

/// A cap from `calls` and `per` (a duration up to 31 days).
pub(super) fn parse_cap(key: &str, calls: u32, per: &str) -> Result<FrequencyCap, RulesError> {
    let window = parse_duration(per).map_err(|m| rules_error(format!("{key}.per"), m))?;
    if window > chrono::Duration::days(31) {
        return Err(rules_error(format!("{key}.per"), "must be at most 31d"));
    }
    FrequencyCap::new(calls, window)
        .ok_or_else(|| rules_error(key, "`calls` must be at least 1 and `per` longer than zero"))
}

/// A state key: exactly a two-letter region code.
pub(super) fn parse_region_key(key: &str, text: &str) -> Result<Region, RulesError> {
    let region = Region::parse(text).map_err(|e| rules_error(key, e.to_string()))?;
    if region.code() != text {
        return Err(rules_error(
            key,
            format!("write the state as its two-letter code in capitals (`{}`)", region.code()),
        ));
    }
    Ok(region)
}

static BUILTIN: LazyLock<RuleSet> = LazyLock::new(|| match RuleSet::parse(RULES_DATA) {
    Ok(rules) => rules,
    Err(e) => panic!("data/state_rules.toml: {e}"),
});

impl RuleSet {
    /// The rules compiled into the binary (`data/state_rules.toml`), parsed on first use. A
    /// defect in that file panics here with the key; a unit test loads it, so it never ships.
    pub fn builtin() -> &'static RuleSet {
        &BUILTIN
    }

    /// Parses a rules file of the shape of `data/state_rules.toml`.
    pub fn parse(text: &str) -> Result<RuleSet, RulesError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| rules_error("(file)", e.message().to_owned()))?;
        if raw.version.trim().is_empty() {
            return Err(rules_error("version", "must not be empty"));
        }
        let mut states = Vec::with_capacity(raw.states.len());
        for (code, s) in raw.states {
            let key = format!("states.{code}");
            let region = parse_region_key(&key, &code)?;
            let hours = match s.hours {
                None => None,
                Some(h) => {
                    let k = format!("{key}.hours");
                    let hours = parse_hours(&format!("{k}.days"), &h.days)?;
                    Some(HoursRule { hours, citation: citation(&k, h.law, h.url)?, narrowed: false })
                }
            };
            let holidays = match s.holidays {
                None => None,
                Some(h) => {
                    let k = format!("{key}.holidays");
                    let default_observed = match &h.observed {
                        Some(o) => o.parse().map_err(|e| rules_error(format!("{k}.observed"), format!("{e}")))?,
                        None => Observed::NONE,
                    };
                    if h.list.is_empty() {
                        return Err(rules_error(format!("{k}.list"), "lists no holiday"));
                    }
                    let list = h
                        .list
                        .iter()
                        .enumerate()
                        .map(|(i, raw)| parse_holiday(&format!("{k}.list[{i}]"), raw, default_observed))
                        .collect::<Result<Vec<_>, _>>()?;
                    let list_citation = match (h.list_law, h.list_url) {
                        (None, None) => None,
                        (Some(law), Some(url)) => Some(citation(&format!("{k}.list"), law, url)?),
                        _ => return Err(rules_error(&k, "give both list_law and list_url, or neither")),
                    };
                    Some(HolidayRule {
                        holidays: list,
                        citation: citation(&k, h.law, h.url)?,
                        list_citation,
                        narrowed: false,
                    })
                }
            };
            let frequency_cap = match s.frequency_cap {
                None => None,
                Some(c) => {
                    let k = format!("{key}.frequency_cap");
                    let cap = parse_cap(&k, c.calls, &c.per)?;
                    Some(CapRule { cap, citation: citation(&k, c.law, c.url)?, narrowed: false })
                }
            };
            if hours.is_none() && holidays.is_none() && frequency_cap.is_none() {
                return Err(rules_error(key, "has no rule (hours, holidays or frequency_cap)"));
            }
            states.push(StateRules { region, name: s.name, note: s.note, hours, holidays, frequency_cap });
        }
        states.sort_by_key(|s| s.region);
        Ok(RuleSet { version: raw.version.trim().to_owned(), states })
    }

    /// The version every attempt records: the file's `version`, plus `+config.<hash>` when the
    /// daemon config narrowed the rules.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Every region with rules, sorted by code.
    pub fn states(&self) -> &[StateRules] {
        &self.states
    }

    /// The rules of one region; `None` when its law adds nothing to the federal rules.
    pub fn state(&self, region: Region) -> Option<&StateRules> {
        self.states.binary_search_by_key(&region, |s| s.region).ok().map(|i| &self.states[i])
    }

    /// The wall-clock spans of the recipient-local `date` that the state rules of every region
    /// in `regions` leave open (their intersection). Regions without rules leave the whole day
    /// open, as does an empty `regions`: the federal guard and the campaign's hours are the
    /// window's to apply. Empty spans mean closed all day, and [`DaySpans::closed`] says why.
    pub fn day_spans(&self, regions: &[Region], date: NaiveDate) -> DaySpans<'_> {
        let mut spans: SmallVec<[Span; 4]> = SmallVec::new();
        spans.push(Span { start: 0, end: DAY_SECS });
        let weekday = date.weekday();
        for &region in regions {
            let Some(rules) = self.state(region) else { continue };
            if let Some(h) = &rules.hours {
                let ranges = h.hours.ranges(weekday);
                if ranges.is_empty() {
                    return DaySpans::closed(Closed::Weekday { region, weekday });
                }
                spans = intersect(&spans, ranges);
            }
            if let Some(holiday) = rules.holiday_on(date) {
                return DaySpans::closed(Closed::Holiday { region, name: &holiday.name });
            }
        }
        if spans.is_empty() {
            return DaySpans::closed(Closed::NoCommonHours);
        }
        DaySpans { spans, closed: None }
    }

    /// The rolling frequency cap for a recipient in any of `regions`: when several regions have
    /// one, a single cap at least as strict as each (the fewest calls over the longest window).
    pub fn frequency_cap(&self, regions: &[Region]) -> Option<FrequencyCap> {
        regions
            .iter()
            .filter_map(|&r| self.state(r)?.frequency_cap.as_ref().map(|c| c.cap))
            .reduce(FrequencyCap::strictest)
    }
}

/// A span of wall-clock time, `[start, end)` in seconds after midnight (`end` up to 86 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn contains(&self, secs: u32) -> bool {
        self.start <= secs && secs < self.end
    }
}

impl fmt::Display for Span {
    /// `08:00-20:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match TimeRange::from_secs(self.start, self.end) {
            Some(r) => write!(f, "{r}"),
            None => write!(f, "{}-{}", self.start, self.end),
        }
    }
}

/// Sorted disjoint `a` ∩ sorted disjoint `b`.
fn intersect(a: &[Span], b: &[TimeRange]) -> SmallVec<[Span; 4]> {
    let mut out = SmallVec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (bs, be) = (b[j].start_secs(), b[j].end_secs());
        let start = a[i].start.max(bs);
        let end = a[i].end.min(be);
        if start < end {
            out.push(Span { start, end });
        }
        if a[i].end <= be {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Why the state rules close a whole day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed<'a> {
    /// The region's law allows no call on this weekday (a Sunday ban).
    Weekday { region: Region, weekday: Weekday },
    /// One of the region's legal holidays (or its observed date).
    Holiday { region: Region, name: &'a str },
    /// Each region has hours that day, but they do not overlap.
    NoCommonHours,
}

fn full_name(day: Weekday) -> &'static str {
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"][day.num_days_from_monday() as usize]
}

fn short(day: Weekday) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day.num_days_from_monday() as usize]
}

pub(super) const WEEK: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

impl fmt::Display for Closed<'_> {
    /// `Sunday ban (AL)`, `holiday: Mardi Gras (LA)`, `the states' hours do not overlap`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Closed::Weekday { region, weekday } => write!(f, "{} ban ({region})", full_name(*weekday)),
            Closed::Holiday { region, name } => write!(f, "holiday: {name} ({region})"),
            Closed::NoCommonHours => f.write_str("the states' hours do not overlap"),
        }
    }
}

/// The answer of [`RuleSet::day_spans`]: the open spans of a day, or why it is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySpans<'a> {
    spans: SmallVec<[Span; 4]>,
    closed: Option<Closed<'a>>,
}

impl<'a> DaySpans<'a> {
    fn closed(reason: Closed<'a>) -> Self {
        DaySpans { spans: SmallVec::new(), closed: Some(reason) }
    }

    /// The open spans, sorted and disjoint; empty when closed all day.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Why the day is closed; `None` when some span is open.
    pub fn closed_reason(&self) -> Option<Closed<'a>> {
        self.closed
    }

    pub fn is_closed(&self) -> bool {
        self.spans.is_empty()
    }

    /// Whether a wall-clock time (seconds after midnight) is inside an open span.
    pub fn contains(&self, secs: u32) -> bool {
        self.spans.iter().any(|s| s.contains(secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> &'static RuleSet {
        RuleSet::builtin()
    }

    fn r(code: &str) -> Region {
        Region::parse(code).unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn spans(regions: &[&str], date: NaiveDate) -> Vec<String> {
        let regions: Vec<Region> = regions.iter().map(|c| r(c)).collect();
        rules().day_spans(&regions, date).spans().iter().map(Span::to_string).collect()
    }

    fn closed(regions: &[&str], date: NaiveDate) -> String {
        let regions: Vec<Region> = regions.iter().map(|c| r(c)).collect();
        let s = rules().day_spans(&regions, date);
        assert!(s.is_closed(), "{regions:?} {date} is open: {:?}", s.spans());
        s.closed_reason().unwrap().to_string()
    }

    #[test]
    fn the_built_in_rules_load_and_are_versioned() {
        let rules = rules();
        assert_eq!(rules.version(), "2026-12-01");
        let codes: Vec<&str> = rules.states().iter().map(|s| s.region.code()).collect();
        assert_eq!(codes, ["AL", "FL", "LA", "MA", "MD", "MS", "NV", "OK", "RI", "SD", "UT", "WA"]);
    }

    #[test]
    fn every_rule_in_the_data_file_cites_its_source() {
        for s in rules().states() {
            let mut citations = Vec::new();
            citations.extend(s.hours.as_ref().map(|h| &h.citation));
            citations.extend(s.holidays.as_ref().map(|h| &h.citation));
            citations.extend(s.holidays.as_ref().and_then(|h| h.list_citation.as_ref()));
            citations.extend(s.frequency_cap.as_ref().map(|c| &c.citation));
            assert!(!citations.is_empty(), "{} has no rule", s.region);
            for c in citations {
                assert!(c.law.len() > 5 && c.url.starts_with("http"), "{}: {c}", s.region);
            }
            assert_eq!(s.name, s.region.name(), "the data file's name of {}", s.region);
            // Rules only narrow the federal 08:00-21:00.
            if let Some(h) = &s.hours {
                assert!(
                    h.hours
                        .outside(
                            chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
                            chrono::NaiveTime::from_hms_opt(21, 0, 0).unwrap()
                        )
                        .is_none(),
                    "{}",
                    s.region
                );
            }
        }
    }

    #[test]
    fn the_readme_lists_every_state_of_the_data_file_with_its_source() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("the README");
        let start = readme.find("### Compliance: state calling rules").expect("the README's compliance section");
        let section = &readme[start..];
        let section = &section[..section[4..].find("\n## ").map_or(section.len(), |i| i + 4)];
        let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| state")).collect();
        for s in rules().states() {
            let row = rows
                .iter()
                .find(|l| l.starts_with(&format!("| {} |", s.region)))
                .unwrap_or_else(|| panic!("{} ({}) is missing from the README's compliance table", s.region, s.name));
            // The row names the law of each of the state's rules (its first words, e.g. `Fla. Stat.`).
            for c in [s.hours.as_ref().map(|h| &h.citation), s.frequency_cap.as_ref().map(|c| &c.citation)]
                .into_iter()
                .flatten()
            {
                let head: String = c.law.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                assert!(row.contains(&head), "the README row of {} does not cite `{head}`: {row}", s.region);
            }
        }
        assert_eq!(rows.len(), rules().states().len(), "the README lists a state the data file has not");
    }

    #[test]
    fn narrower_hours_apply_per_state() {
        let wed = d(2026, 12, 2);
        for state in ["FL", "MD", "WA", "AL", "LA", "MS", "MA"] {
            assert_eq!(spans(&[state], wed), ["08:00-20:00"], "{state}");
        }
        assert_eq!(spans(&["OK"], wed), ["09:00-20:00"]);
        assert_eq!(spans(&["NV"], wed), ["09:00-21:00"]);
        assert_eq!(spans(&["SD"], wed), ["09:00-21:00"]);
        assert_eq!(spans(&["UT"], wed), ["08:00-21:00"]);
        assert_eq!(spans(&["RI"], wed), ["09:00-18:00"]);
        assert_eq!(spans(&["RI"], d(2026, 12, 5)), ["10:00-17:00"], "a Saturday");
        assert_eq!(spans(&["CA"], wed), ["00:00-24:00"], "no state rule");
        assert_eq!(spans(&[], wed), ["00:00-24:00"]);
    }

    #[test]
    fn sunday_and_weekend_bans_close_the_whole_day() {
        let sun = d(2026, 12, 6);
        for state in ["AL", "LA", "MS", "RI", "UT", "SD"] {
            assert_eq!(closed(&[state], sun), format!("Sunday ban ({state})"));
        }
        assert_eq!(closed(&["SD"], d(2026, 12, 5)), "Saturday ban (SD)");
        assert_eq!(spans(&["FL"], sun), ["08:00-20:00"]);
    }

    #[test]
    fn state_holidays_close_the_day_with_their_name() {
        assert_eq!(closed(&["LA"], d(2026, 2, 17)), "holiday: Mardi Gras (LA)");
        assert_eq!(closed(&["LA"], d(2026, 4, 3)), "holiday: Good Friday (LA)");
        assert_eq!(closed(&["AL"], d(2026, 6, 1)), "holiday: Jefferson Davis' Birthday (AL)");
        assert_eq!(closed(&["UT"], d(2026, 7, 24)), "holiday: Pioneer Day (UT)");
        assert_eq!(closed(&["RI"], d(2026, 8, 10)), "holiday: Victory Day (RI)");
        assert_eq!(closed(&["RI"], d(2026, 11, 3)), "holiday: Election Day (RI)");
        assert_eq!(spans(&["RI"], d(2027, 11, 2)), ["09:00-18:00"], "no state election in 2027");
        // Independence Day 2026 is a Saturday: AL and UT keep it on Friday the 3rd too.
        assert_eq!(closed(&["AL"], d(2026, 7, 3)), "holiday: Independence Day (AL)");
        assert_eq!(closed(&["UT"], d(2026, 7, 3)), "holiday: Independence Day (UT)");
        assert_eq!(closed(&["AL"], d(2026, 7, 4)), "holiday: Independence Day (AL)");
        // Florida has no holiday rule.
        assert_eq!(spans(&["FL"], d(2026, 12, 25)), ["08:00-20:00"]);
        // Mississippi's holiday ban was repealed; its Sunday ban stands.
        assert_eq!(spans(&["MS"], d(2026, 12, 25)), ["08:00-20:00"]);
    }

    #[test]
    fn several_regions_intersect_and_the_first_closing_rule_is_the_reason() {
        let wed = d(2026, 12, 2);
        assert_eq!(spans(&["OK", "FL"], wed), ["09:00-20:00"]);
        assert_eq!(spans(&["RI", "NV"], wed), ["09:00-18:00"]);
        assert_eq!(spans(&["FL", "CA"], wed), ["08:00-20:00"]);
        assert_eq!(closed(&["FL", "AL"], d(2026, 12, 6)), "Sunday ban (AL)");
        assert_eq!(closed(&["FL", "LA"], d(2026, 2, 17)), "holiday: Mardi Gras (LA)");
    }

    #[test]
    fn hours_that_do_not_overlap_close_the_day() {
        let set = RuleSet::parse(
            r#"version = "t"
            [states.AL]
            name = "Alabama"
            hours = { days = { "mon-sun" = "08:00-10:00" }, law = "a law", url = "https://a" }
            [states.FL]
            name = "Florida"
            hours = { days = { "mon-sun" = "12:00-14:00, 16:00-18:00" }, law = "a law", url = "https://a" }"#,
        )
        .unwrap();
        let s = set.day_spans(&[r("AL"), r("FL")], d(2026, 12, 2));
        assert_eq!(s.closed_reason(), Some(Closed::NoCommonHours));
        let fl = set.day_spans(&[r("FL")], d(2026, 12, 2));
        assert!(fl.contains(12 * 3600) && !fl.contains(14 * 3600) && fl.contains(17 * 3600));
    }

    #[test]
    fn frequency_caps_apply_in_florida_oklahoma_and_maryland() {
        let cap = |codes: &[&str]| {
            let regions: Vec<Region> = codes.iter().map(|c| r(c)).collect();
            rules().frequency_cap(&regions).map(|c| c.to_string())
        };
        for state in ["FL", "OK", "MD"] {
            assert_eq!(cap(&[state]), Some("3 calls per 24h".into()), "{state}");
        }
        assert_eq!(cap(&["CA", "FL"]), Some("3 calls per 24h".into()));
        assert_eq!(cap(&["CA", "AL"]), None);
        assert_eq!(cap(&[]), None);
    }

    #[test]
    fn a_malformed_rules_file_names_the_key() {
        let e = |text: &str| RuleSet::parse(text).unwrap_err().to_string();
        let state = |body: &str| format!("version = \"t\"\n[states.FL]\nname = \"Florida\"\n{body}");
        assert!(
            e(&state("hours = { days = { mon = \"08:00-25:00\" }, law = \"x law\", url = \"https://x\" }"))
                .starts_with("`states.FL.hours.days`: `25:00` is not a time of day")
        );
        assert_eq!(
            e(&state("hours = { days = { mon = \"08:00-20:00\" }, law = \"x law\", url = \"ftp://x\" }")),
            "`states.FL.hours.url`: `ftp://x` is not an http(s) URL"
        );
        assert_eq!(
            e(&state("hours = { days = { mon = \"08:00-20:00\" }, law = \" \", url = \"https://x\" }")),
            "`states.FL.hours.law`: every rule needs the law it comes from"
        );
        assert_eq!(e(&state("")), "`states.FL`: has no rule (hours, holidays or frequency_cap)");
        assert!(
            e(&state("frequency_cap = { calls = 0, per = \"24h\", law = \"x law\", url = \"https://x\" }"))
                .contains("`calls` must be at least 1")
        );
        assert!(
            e(&state(
                "holidays = { law = \"x law\", url = \"https://x\", list = [{ name = \"X\", date = \"13-01\" }] }"
            ))
            .starts_with("`states.FL.holidays.list[0].date`: `13-01` is not a holiday date")
        );
        assert!(e("version = \"t\"\n[states.fl]\nname = \"Florida\"").contains("two-letter code in capitals"));
        assert!(e("version = \"t\"\n[states.XX]\nname = \"X\"").contains("is not a US state"));
    }
}
