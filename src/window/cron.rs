//! Campaign runs from a standard 5-field cron expression: parsing, translation for the `cron`
//! crate, and the fire times as instants in the campaign's zone.
//!
//! The `cron` crate reads Quartz-style expressions: a seconds field first, day-of-week numbered
//! 1 (Sunday) to 7 (Saturday), and day-of-month AND day-of-week must both match. Standard (Vixie)
//! cron numbers Sunday 0 or 7 and, when both day fields are restricted, fires when EITHER
//! matches. So this module parses the standard syntax itself, expands every field to an explicit
//! set, and emits one crate expression — or two, whose union is the OR rule.
//!
//! Fire times are computed on the wall clock of the campaign's zone and then placed on the
//! timeline: a time skipped by spring-forward fires at the first instant after the gap (rather
//! than not at all, as the crate would), a time repeated by fall-back fires once, the first time.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;

use super::WindowError;
use super::zone::{earliest, offset_secs, wall};

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTE: FieldSpec = FieldSpec { name: "minute", min: 0, max: 59, names: &[] };
const HOUR: FieldSpec = FieldSpec { name: "hour", min: 0, max: 23, names: &[] };
const DAY_OF_MONTH: FieldSpec = FieldSpec { name: "day-of-month", min: 1, max: 31, names: &[] };
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("january", 1),
        ("feb", 2),
        ("february", 2),
        ("mar", 3),
        ("march", 3),
        ("apr", 4),
        ("april", 4),
        ("may", 5),
        ("jun", 6),
        ("june", 6),
        ("jul", 7),
        ("july", 7),
        ("aug", 8),
        ("august", 8),
        ("sep", 9),
        ("sept", 9),
        ("september", 9),
        ("oct", 10),
        ("october", 10),
        ("nov", 11),
        ("november", 11),
        ("dec", 12),
        ("december", 12),
    ],
};
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &[
        ("sun", 0),
        ("sunday", 0),
        ("mon", 1),
        ("monday", 1),
        ("tue", 2),
        ("tues", 2),
        ("tuesday", 2),
        ("wed", 3),
        ("wednesday", 3),
        ("thu", 4),
        ("thur", 4),
        ("thurs", 4),
        ("thursday", 4),
        ("fri", 5),
        ("friday", 5),
        ("sat", 6),
        ("saturday", 6),
    ],
};

/// One parsed field: the allowed values as bits, and whether it was written starting with `*`
/// (which is what switches standard cron's day-of-month/day-of-week OR rule off).
struct Field {
    bits: u64,
    star: bool,
}

fn field_error(expr: &str, spec: &FieldSpec, text: &str, problem: String) -> WindowError {
    WindowError::CronField { expr: expr.to_owned(), field: spec.name, text: text.to_owned(), problem }
}

fn parse_field(expr: &str, spec: &FieldSpec, text: &str) -> Result<Field, WindowError> {
    let mut bits = 0u64;
    let expected = if spec.names.is_empty() {
        format!("{}-{}", spec.min, spec.max)
    } else if spec.name == "month" {
        format!("{}-{} or jan-dec", spec.min, spec.max)
    } else {
        format!("{}-{} (0 and 7 are Sunday) or sun-sat", spec.min, spec.max)
    };
    for item in text.split(',') {
        let err = |problem: String| field_error(expr, spec, item, problem);
        let value = |v: &str| -> Result<u32, WindowError> {
            if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                match v.parse::<u32>() {
                    Ok(n) if (spec.min..=spec.max).contains(&n) => Ok(n),
                    _ => Err(err(format!("is out of range (expected {expected})"))),
                }
            } else {
                let lower = v.to_ascii_lowercase();
                spec.names
                    .iter()
                    .find(|(name, _)| *name == lower)
                    .map(|&(_, n)| n)
                    .ok_or_else(|| err(format!("is not a value (expected {expected})")))
            }
        };
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => {
                let step = step.parse::<u32>().ok().filter(|s| (1..=spec.max.max(1)).contains(s)).ok_or_else(|| {
                    err(format!("has a bad step (expected a whole number from 1 to {})", spec.max.max(1)))
                })?;
                (base, Some(step))
            }
            None => (item, None),
        };
        let (first, last) = if base == "*" {
            (spec.min, spec.max)
        } else if let Some((a, b)) = base.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            // Day-of-week ranges may wrap past Saturday (`fri-mon`); other fields may not.
            if a > b && spec.name != DAY_OF_WEEK.name {
                return Err(err("starts after it ends (cron ranges do not wrap)".into()));
            }
            (a, b)
        } else {
            let a = value(base)?;
            // `5/15` means from 5 to the end in steps of 15, as most crons read it.
            (a, if step.is_some() { spec.max } else { a })
        };
        let span = if first <= last {
            last - first + 1
        } else {
            // A wrapped day-of-week range, e.g. 5-1: Fri, Sat, Sun, Mon.
            7 - first + last + 1
        };
        let step = step.unwrap_or(1);
        let mut k = 0;
        while k < span {
            let v = first + k;
            let v = if first > last && v > 6 { v - 7 } else { v };
            bits |= 1 << v;
            k += step;
        }
    }
    if spec.name == DAY_OF_WEEK.name && bits & (1 << 7) != 0 {
        bits = (bits & !(1 << 7)) | 1; // 7 is Sunday too
    }
    Ok(Field { bits, star: text.starts_with('*') })
}

/// Writes a bit set as the crate reads it: `*` when full, else runs like `1-5,9`, each value
/// shifted by `shift` (the crate counts weekdays from 1).
fn emit(out: &mut String, bits: u64, min: u32, max: u32, shift: u32) {
    let full = (min..=max).all(|v| bits & (1 << v) != 0);
    if full {
        out.push('*');
        return;
    }
    let mut first = true;
    let mut v = min;
    while v <= max {
        if bits & (1 << v) == 0 {
            v += 1;
            continue;
        }
        let mut w = v;
        while w < max && bits & (1 << (w + 1)) != 0 {
            w += 1;
        }
        if !first {
            out.push(',');
        }
        first = false;
        if w == v {
            let _ = write!(out, "{}", v + shift);
        } else {
            let _ = write!(out, "{}-{}", v + shift, w + shift);
        }
        v = w + 1;
    }
}

fn expand_macro(expr: &str) -> Result<Option<&'static str>, WindowError> {
    let Some(name) = expr.strip_prefix('@') else {
        return Ok(None);
    };
    let fields = match name.to_ascii_lowercase().as_str() {
        "yearly" | "annually" => "0 0 1 1 *",
        "monthly" => "0 0 1 * *",
        "weekly" => "0 0 * * 0",
        "daily" | "midnight" => "0 0 * * *",
        "hourly" => "0 * * * *",
        _ => return Err(WindowError::CronMacro(expr.to_owned())),
    };
    Ok(Some(fields))
}

/// Standard 5-field cron (`minute hour day-of-month month day-of-week`; day-of-week 0-7 with 0
/// and 7 = Sunday; names `jan`…`dec`, `sun`…`sat`; ranges, lists, steps, `*`; `@daily` and the
/// other Vixie macros except `@reboot`) translated for the `cron` crate: 6-field expressions with
/// a seconds field, weekdays numbered from Sunday = 1.
///
/// Usually one expression; two when both day fields are restricted (neither starts with `*`), in
/// which case standard cron fires when either matches — the union of the two.
pub fn translate_cron(expr: &str) -> Result<Vec<String>, WindowError> {
    let trimmed = expr.trim();
    let source = expand_macro(trimmed)?.unwrap_or(trimmed);
    let parts: Vec<&str> = source.split_whitespace().collect();
    if parts.len() != 5 {
        return Err(WindowError::CronFieldCount { expr: trimmed.to_owned(), found: parts.len() });
    }
    let minute = parse_field(trimmed, &MINUTE, parts[0])?;
    let hour = parse_field(trimmed, &HOUR, parts[1])?;
    let dom = parse_field(trimmed, &DAY_OF_MONTH, parts[2])?;
    let month = parse_field(trimmed, &MONTH, parts[3])?;
    let dow = parse_field(trimmed, &DAY_OF_WEEK, parts[4])?;

    let build = |dom_bits: u64, dow_bits: u64| {
        let mut s = String::from("0 ");
        emit(&mut s, minute.bits, 0, 59, 0);
        s.push(' ');
        emit(&mut s, hour.bits, 0, 23, 0);
        s.push(' ');
        emit(&mut s, dom_bits, 1, 31, 0);
        s.push(' ');
        emit(&mut s, month.bits, 1, 12, 0);
        s.push(' ');
        emit(&mut s, dow_bits, 0, 6, 1);
        s
    };
    const ALL_DOM: u64 = ((1 << 32) - 1) & !1;
    const ALL_DOW: u64 = (1 << 7) - 1;
    if !dom.star && !dow.star {
        Ok(vec![build(dom.bits, ALL_DOW), build(ALL_DOM, dow.bits)])
    } else {
        Ok(vec![build(dom.bits, dow.bits)])
    }
}

/// The runs of a campaign: each cron fire time `t`, read on the wall clock of `zone`, opens the
/// run `[t, t + run_for)` (an absolute duration). Runs that overlap or touch join up.
#[derive(Debug, Clone)]
pub struct CronRuns {
    expr: String,
    zone: Tz,
    run_for: Duration,
    schedules: Vec<cron::Schedule>,
}

/// Two runs are the same when written the same: the schedules are parsed from the expression.
impl PartialEq for CronRuns {
    fn eq(&self, other: &Self) -> bool {
        (&self.expr, self.zone, self.run_for) == (&other.expr, other.zone, other.run_for)
    }
}

/// How far back before an instant a fall-back can have repeated wall-clock times that are later
/// than the instant's own reading (the largest DST shift in tzdb is 2 h).
const REPEAT_MARGIN: Duration = Duration::hours(3);

impl CronRuns {
    /// Parses a standard 5-field expression (see [`translate_cron`]). An expression that can
    /// never fire (`0 9 30 2 *`) is an error, as is a `run_for` that is not positive.
    pub fn parse(expr: &str, zone: Tz, run_for: Duration) -> Result<Self, WindowError> {
        let expr = expr.trim();
        if run_for <= Duration::zero() {
            return Err(WindowError::RunFor(expr.to_owned()));
        }
        let schedules = translate_cron(expr)?
            .iter()
            .map(|s| {
                cron::Schedule::from_str(s).map_err(|e| WindowError::CronField {
                    expr: expr.to_owned(),
                    field: "whole",
                    text: s.clone(),
                    problem: format!("was rejected by the cron library ({e})"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let origin = DateTime::from_timestamp(946_684_800, 0).expect("2000-01-01"); // 2000-01-01
        if schedules.iter().all(|s| s.after(&origin).next().is_none()) {
            return Err(WindowError::CronNever(expr.to_owned()));
        }
        Ok(CronRuns { expr: expr.to_owned(), zone, run_for, schedules })
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The zone whose wall clock the expression is read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// How long each run lasts.
    pub fn run_for(&self) -> Duration {
        self.run_for
    }

    /// The first fire on the wall clock strictly after `local`.
    fn next_fire_local(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        let carrier = local.and_utc();
        self.schedules.iter().filter_map(|s| s.after(&carrier).next()).map(|d| d.naive_utc()).min()
    }

    /// The first run start strictly after `after`.
    pub fn next_start_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Wall clock → instant is monotone (gaps collapse to one instant, repeats take the
        // first), so fires at or before `after`'s own reading start at or before `after`; only
        // fires later on the wall clock can start later, and in a repeated hour a few of those
        // still map before `after` and are skipped.
        let mut local = wall(self.zone, after);
        loop {
            local = self.next_fire_local(local)?;
            let start = earliest(self.zone, local);
            if start > after {
                return Some(start);
            }
        }
    }

    /// The latest run start at or before `at`.
    pub fn last_start_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // In the second pass of a repeated hour, fires later on the wall clock than `at`'s
        // reading may have started earlier in time; look that far ahead.
        let fell_back = offset_secs(self.zone, at - REPEAT_MARGIN) > offset_secs(self.zone, at);
        let local = wall(self.zone, at).with_nanosecond(0).expect("0 ns is valid")
            + Duration::seconds(1)
            + if fell_back { REPEAT_MARGIN } else { Duration::zero() };
        let carrier = local.and_utc();
        self.schedules
            .iter()
            .filter_map(|s| {
                s.after(&carrier).rev().map(|d| earliest(self.zone, d.naive_utc())).find(|&start| start <= at)
            })
            .max()
    }

    /// Whether a run is going on at `at`.
    pub fn is_running(&self, at: DateTime<Utc>) -> bool {
        self.next_start_after(at - self.run_for).is_some_and(|s| s <= at)
    }

    /// `at` when a run is going on then, else the start of the next run.
    pub fn next_running(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_running(at) { Some(at) } else { self.next_start_after(at) }
    }

    /// The first instant at or after `at` with no run going on, or `until` if that comes first.
    pub fn stops_at(&self, at: DateTime<Utc>, until: DateTime<Utc>) -> DateTime<Utc> {
        let Some(mut end) = self.last_start_at_or_before(at).map(|s| s + self.run_for) else {
            return at.min(until);
        };
        if end <= at {
            return at.min(until);
        }
        // Runs that start before the current one ends extend it.
        while end < until {
            match self.last_start_at_or_before(end) {
                Some(s) if s + self.run_for > end => end = s + self.run_for,
                _ => return end,
            }
        }
        until
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;

    fn one(expr: &str) -> String {
        let v = translate_cron(expr).unwrap();
        assert_eq!(v.len(), 1, "{expr} → {v:?}");
        v.into_iter().next().unwrap()
    }

    #[test]
    fn a_plain_expression_gains_a_seconds_field() {
        assert_eq!(one("0 9 * * *"), "0 0 9 * * *");
        assert_eq!(one("  30   17 * *   * "), "0 30 17 * * *");
    }

    #[test]
    fn sunday_is_both_0_and_7_and_becomes_1() {
        assert_eq!(one("0 9 * * 0"), "0 0 9 * * 1");
        assert_eq!(one("0 9 * * 7"), "0 0 9 * * 1");
        assert_eq!(one("0 9 * * sun"), "0 0 9 * * 1");
        assert_eq!(one("0 9 * * SUNDAY"), "0 0 9 * * 1");
        assert_eq!(one("0 9 * * 6,7"), "0 0 9 * * 1,7");
        assert_eq!(one("0 9 * * 0-7"), "0 0 9 * * *");
        assert_eq!(one("0 9 * * 5-7"), "0 0 9 * * 1,6-7");
    }

    #[test]
    fn weekday_ranges_by_name_and_number_shift_by_one() {
        assert_eq!(one("0 9 * * mon-fri"), "0 0 9 * * 2-6");
        assert_eq!(one("0 9 * * 1-5"), "0 0 9 * * 2-6");
        assert_eq!(one("0 9 * * Mon-Fri"), "0 0 9 * * 2-6");
        assert_eq!(one("0 9 * * sat"), "0 0 9 * * 7");
        assert_eq!(one("0 9 * * mon,wed,fri"), "0 0 9 * * 2,4,6");
        assert_eq!(one("0 9 * * 1-5/2"), "0 0 9 * * 2,4,6");
    }

    #[test]
    fn a_weekday_range_may_wrap_past_saturday() {
        assert_eq!(one("0 9 * * fri-mon"), "0 0 9 * * 1-2,6-7");
        assert_eq!(one("0 9 * * sat-sun"), "0 0 9 * * 1,7");
        assert_eq!(one("0 9 * * 5-1"), "0 0 9 * * 1-2,6-7");
    }

    #[test]
    fn steps_lists_and_ranges_expand_to_explicit_sets() {
        assert_eq!(one("*/15 * * * *"), "0 0,15,30,45 * * * *");
        assert_eq!(one("5/20 8-17 * * *"), "0 5,25,45 8-17 * * *");
        assert_eq!(one("0,30 9-11,14 * * *"), "0 0,30 9-11,14 * * *");
        assert_eq!(one("0 */6 * * *"), "0 0 0,6,12,18 * * *");
        assert_eq!(one("0 9 */2 * *"), "0 0 9 1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31 * *");
        assert_eq!(one("0 9 1 jan,jul *"), "0 0 9 1 1,7 *");
        assert_eq!(one("0 9 1 mar-may *"), "0 0 9 1 3-5 *");
        assert_eq!(one("0-59 * * * *"), "0 * * * * *");
    }

    #[test]
    fn both_day_fields_restricted_means_either_as_in_standard_cron() {
        assert_eq!(
            translate_cron("0 9 1,15 * mon").unwrap(),
            vec!["0 0 9 1,15 * *".to_owned(), "0 0 9 * * 2".to_owned()]
        );
        // A field starting with `*` is not "restricted" for this rule, as in Vixie cron.
        assert_eq!(translate_cron("0 9 */2 * mon").unwrap().len(), 1);
    }

    #[test]
    fn macros_expand_to_their_five_fields() {
        assert_eq!(one("@daily"), "0 0 0 * * *");
        assert_eq!(one("@weekly"), "0 0 0 * * 1");
        assert_eq!(one("@hourly"), "0 0 * * * *");
        assert_eq!(one("@Yearly"), "0 0 0 1 1 *");
        assert_eq!(
            translate_cron("@reboot").unwrap_err().to_string(),
            "cron `@reboot` is not a schedule (expected 5 fields, or @yearly, @monthly, @weekly, @daily or @hourly)"
        );
    }

    #[test]
    fn the_wrong_number_of_fields_is_an_error_that_lists_them() {
        assert_eq!(
            translate_cron("0 9 * *").unwrap_err().to_string(),
            "cron `0 9 * *`: expected 5 fields (minute hour day-of-month month day-of-week), found 4"
        );
        assert!(matches!(translate_cron("0 0 9 * * 1"), Err(WindowError::CronFieldCount { found: 6, .. })));
        assert!(matches!(translate_cron(""), Err(WindowError::CronFieldCount { found: 0, .. })));
    }

    #[test]
    fn bad_fields_name_the_field_the_text_and_the_allowed_values() {
        let msg = |e: &str| translate_cron(e).unwrap_err().to_string();
        assert_eq!(msg("61 9 * * *"), "cron `61 9 * * *`: `61` in the minute field is out of range (expected 0-59)");
        assert_eq!(msg("0 24 * * *"), "cron `0 24 * * *`: `24` in the hour field is out of range (expected 0-23)");
        assert_eq!(msg("0 9 0 * *"), "cron `0 9 0 * *`: `0` in the day-of-month field is out of range (expected 1-31)");
        assert_eq!(
            msg("0 9 * 13 *"),
            "cron `0 9 * 13 *`: `13` in the month field is out of range (expected 1-12 or jan-dec)"
        );
        assert_eq!(
            msg("0 9 * * 8"),
            "cron `0 9 * * 8`: `8` in the day-of-week field is out of range (expected 0-7 (0 and 7 are Sunday) or sun-sat)"
        );
        assert_eq!(
            msg("0 9 * * funday"),
            "cron `0 9 * * funday`: `funday` in the day-of-week field is not a value (expected 0-7 (0 and 7 are Sunday) or sun-sat)"
        );
        assert!(msg("*/0 * * * *").contains("`*/0` in the minute field has a bad step"));
        assert!(msg("0 17-9 * * *").contains("`17-9` in the hour field starts after it ends"));
        assert!(msg("0 9,,10 * * *").contains("`` in the hour field is not a value"));
        assert!(msg("0 9 ? * mon").contains("`?` in the day-of-month field is not a value"));
        assert!(msg("0 9 L * *").contains("`L` in the day-of-month field"));
        assert!(msg("0 9 * * mon#2").contains("`mon#2`"));
    }

    #[test]
    fn every_translation_is_accepted_by_the_cron_crate() {
        for e in ["0 9 * * mon-fri", "*/7 3-22/3 1,15,31 feb-nov/2 fri-tue", "0 9 1 * 0", "@monthly"] {
            for s in translate_cron(e).unwrap() {
                cron::Schedule::from_str(&s).unwrap_or_else(|err| panic!("{e} → {s}: {err}"));
            }
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn runs_start_at_fire_times_in_the_campaign_zone_and_last_run_for() {
        let runs = CronRuns::parse("0 9 * * mon-fri", New_York, Duration::hours(8)).unwrap();
        // Fri 2026-03-06 09:00 EST = 14:00 UTC; next is Mon 2026-03-09 09:00 EDT = 13:00 UTC.
        assert_eq!(runs.next_start_after(utc("2026-03-06T12:00:00Z")), Some(utc("2026-03-06T14:00:00Z")));
        assert_eq!(runs.next_start_after(utc("2026-03-06T14:00:00Z")), Some(utc("2026-03-09T13:00:00Z")));
        assert!(runs.is_running(utc("2026-03-06T14:00:00Z")));
        assert!(runs.is_running(utc("2026-03-06T21:59:59Z")));
        assert!(!runs.is_running(utc("2026-03-06T22:00:00Z")));
        assert!(!runs.is_running(utc("2026-03-07T15:00:00Z")), "Saturday");
        assert_eq!(
            runs.stops_at(utc("2026-03-06T15:00:00Z"), utc("2027-01-01T00:00:00Z")),
            utc("2026-03-06T22:00:00Z")
        );
        assert_eq!(runs.next_running(utc("2026-03-07T15:00:00Z")), Some(utc("2026-03-09T13:00:00Z")));
        assert_eq!(runs.last_start_at_or_before(utc("2026-03-08T00:00:00Z")), Some(utc("2026-03-06T14:00:00Z")));
    }

    #[test]
    fn overlapping_runs_join_up() {
        let runs = CronRuns::parse("0 * * * *", New_York, Duration::minutes(90)).unwrap();
        let until = utc("2026-06-02T00:00:00Z");
        assert_eq!(runs.stops_at(utc("2026-06-01T10:15:00Z"), until), until);
        let runs = CronRuns::parse("0 9,10 * * *", New_York, Duration::minutes(60)).unwrap();
        // 09:00 EDT = 13:00 UTC; the 10:00 run starts as the 09:00 one ends.
        assert_eq!(runs.stops_at(utc("2026-06-01T13:30:00Z"), until), utc("2026-06-01T15:00:00Z"));
    }

    #[test]
    fn a_fire_time_skipped_by_spring_forward_fires_right_after_the_gap() {
        let runs = CronRuns::parse("30 2 * * *", New_York, Duration::hours(1)).unwrap();
        assert_eq!(runs.next_start_after(utc("2026-03-08T00:00:00Z")), Some(utc("2026-03-08T07:00:00Z")));
        assert_eq!(runs.next_start_after(utc("2026-03-08T07:00:00Z")), Some(utc("2026-03-09T06:30:00Z")));
    }

    #[test]
    fn a_fire_time_repeated_by_fall_back_fires_once() {
        let runs = CronRuns::parse("30 1 * * *", New_York, Duration::minutes(10)).unwrap();
        // 01:30 EDT = 05:30 UTC; the repeated 01:30 EST (06:30 UTC) does not fire.
        assert_eq!(runs.next_start_after(utc("2026-11-01T00:00:00Z")), Some(utc("2026-11-01T05:30:00Z")));
        assert_eq!(runs.next_start_after(utc("2026-11-01T05:30:00Z")), Some(utc("2026-11-02T06:30:00Z")));
        assert!(!runs.is_running(utc("2026-11-01T06:35:00Z")));
        assert_eq!(runs.last_start_at_or_before(utc("2026-11-01T06:35:00Z")), Some(utc("2026-11-01T05:30:00Z")));
        let every = CronRuns::parse("*/20 * * * *", New_York, Duration::minutes(5)).unwrap();
        // At 01:10 EST (second pass) the last start was 01:40 EDT = 05:40 UTC: the repeated
        // 01:00, 01:20, 01:40 do not fire again; the next start is 02:00 EST = 07:00 UTC.
        assert_eq!(every.last_start_at_or_before(utc("2026-11-01T06:10:00Z")), Some(utc("2026-11-01T05:40:00Z")));
        assert!(!every.is_running(utc("2026-11-01T06:04:59Z")));
        assert_eq!(every.next_start_after(utc("2026-11-01T05:40:00Z")), Some(utc("2026-11-01T07:00:00Z")));
    }

    #[test]
    fn an_expression_that_never_fires_or_a_non_positive_run_is_an_error() {
        assert_eq!(
            CronRuns::parse("0 9 30 2 *", New_York, Duration::hours(1)).unwrap_err(),
            WindowError::CronNever("0 9 30 2 *".into())
        );
        assert!(matches!(CronRuns::parse("0 9 * * *", New_York, Duration::zero()), Err(WindowError::RunFor(_))));
        assert!(CronRuns::parse("0 9 30 2 mon", New_York, Duration::hours(1)).is_ok(), "Mondays still fire");
    }
}
