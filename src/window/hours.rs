//! Weekly dialing hours: time-of-day ranges, weekday sets and the per-weekday table parsed from a
//! campaign's `[schedule] hours`. Pure parsing; the instant maths lives in `dial`.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveTime, Timelike, Weekday};

use super::WindowError;

/// Seconds in a day: the end of a range that ends at `24:00`.
pub(crate) const DAY_SECS: u32 = 86_400;

/// A half-open time-of-day range `[start, end)` in a recipient's local (wall-clock) time.
///
/// `end` may be the end of the day, written `24:00`; `NaiveTime` cannot hold 24:00, so it is
/// stored as `00:00` — unambiguous because an end must be after its start. Use
/// [`TimeRange::end_secs`] or the `Display` impl (`09:00-24:00`) rather than reading `end` raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl TimeRange {
    /// A range from seconds after midnight, `end_secs` up to [`DAY_SECS`]; `None` unless
    /// `start_secs < end_secs <= DAY_SECS`.
    pub fn from_secs(start_secs: u32, end_secs: u32) -> Option<Self> {
        if start_secs >= end_secs || end_secs > DAY_SECS {
            return None;
        }
        let time = |s: u32| NaiveTime::from_num_seconds_from_midnight_opt(s % DAY_SECS, 0);
        Some(TimeRange { start: time(start_secs)?, end: time(end_secs)? })
    }

    /// Seconds after midnight at which the range opens.
    pub fn start_secs(&self) -> u32 {
        self.start.num_seconds_from_midnight()
    }

    /// Seconds after midnight at which the range closes; 86 400 for `24:00`.
    pub fn end_secs(&self) -> u32 {
        end_of_day_secs(self.end)
    }

    /// Whether a wall-clock time of day lies in `[start, end)`.
    pub fn contains(&self, time: NaiveTime) -> bool {
        let s = time.num_seconds_from_midnight();
        self.start_secs() <= s && s < self.end_secs()
    }
}

/// A time used as the end of a span: `00:00` means the end of the day.
pub(crate) fn end_of_day_secs(t: NaiveTime) -> u32 {
    match t.num_seconds_from_midnight() {
        0 => DAY_SECS,
        s => s,
    }
}

fn fmt_secs(f: &mut fmt::Formatter<'_>, secs: u32) -> fmt::Result {
    write!(f, "{:02}:{:02}", secs / 3600, secs / 60 % 60)?;
    if !secs.is_multiple_of(60) {
        write!(f, ":{:02}", secs % 60)?;
    }
    Ok(())
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_secs(f, self.start_secs())?;
        f.write_str("-")?;
        fmt_secs(f, self.end_secs())
    }
}

/// `H:MM` or `HH:MM`, 00:00 to 24:00, as seconds after midnight.
fn parse_time_of_day(text: &str) -> Result<u32, WindowError> {
    let bad = || WindowError::BadTime(text.to_owned());
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || h.len() > 2 || !digits(m) || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

impl FromStr for TimeRange {
    type Err = WindowError;

    /// `HH:MM-HH:MM` (an en dash works too); the end may be `24:00` and must be after the start.
    fn from_str(s: &str) -> Result<Self, WindowError> {
        let text = s.trim();
        let (a, b) = text
            .split_once('-')
            .or_else(|| text.split_once('–'))
            .ok_or_else(|| WindowError::BadRange(text.to_owned()))?;
        let (start, end) = (parse_time_of_day(a.trim())?, parse_time_of_day(b.trim())?);
        TimeRange::from_secs(start, end).ok_or_else(|| WindowError::EmptyRange(text.to_owned()))
    }
}

const WEEK: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

/// The lower-case three-letter name used in messages and `Display`.
pub(crate) fn short_name(day: Weekday) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day.num_days_from_monday() as usize]
}

fn weekday_from_name(name: &str) -> Option<Weekday> {
    let day = match name.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tues" | "tuesday" => Weekday::Tue,
        "wed" | "weds" | "wednesday" => Weekday::Wed,
        "thu" | "thur" | "thurs" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => return None,
    };
    Some(day)
}

/// A weekday set: `mon-fri`, `sat`, `mon,wed,fri`, `fri-mon` (a range wraps past Sunday), full
/// names too, case-insensitive. Days come back in the order written; a day named twice is an error.
pub fn parse_weekdays(key: &str) -> Result<Vec<Weekday>, WindowError> {
    let mut days = Vec::with_capacity(7);
    for item in key.split(',') {
        let item = item.trim();
        let day = |name: &str| weekday_from_name(name.trim()).ok_or_else(|| WindowError::BadWeekday(item.to_owned()));
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (day(a)?, day(b)?),
            None => (day(item)?, day(item)?),
        };
        let mut d = first;
        loop {
            if days.contains(&d) {
                return Err(WindowError::DayTwice(short_name(d).to_owned()));
            }
            days.push(d);
            if d == last {
                break;
            }
            d = d.succ();
        }
    }
    Ok(days)
}

/// Dialing hours per weekday: for each day, sorted, non-overlapping, non-touching ranges of the
/// recipient's wall-clock time. A day without ranges is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyHours {
    days: [Vec<TimeRange>; 7],
}

impl Default for WeeklyHours {
    /// Every day, 09:00-20:00: a conservative default inside the US TCPA hours. The compliance
    /// guard still applies on top of it.
    fn default() -> Self {
        let range = TimeRange::from_secs(9 * 3600, 20 * 3600).expect("09:00 is before 20:00");
        WeeklyHours { days: std::array::from_fn(|_| vec![range]) }
    }
}

impl WeeklyHours {
    /// No hours at all: a window that never opens.
    pub fn closed() -> Self {
        WeeklyHours { days: Default::default() }
    }

    /// Keys are weekday sets (see [`parse_weekdays`]), values one or more ranges
    /// `"09:00-12:00, 13:00-17:00"`. Days not named are closed. A day given twice, or two
    /// overlapping ranges, is an error; ranges that touch (`09:00-12:00, 12:00-13:00`) are merged.
    pub fn parse<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, WindowError> {
        let mut hours = WeeklyHours::closed();
        let mut given = [false; 7];
        for (key, value) in entries {
            let days = parse_weekdays(key)?;
            let ranges = parse_ranges(value)?;
            if ranges.is_empty() {
                return Err(WindowError::NoRanges { key: key.trim().to_owned() });
            }
            for day in days {
                let i = day.num_days_from_monday() as usize;
                if std::mem::replace(&mut given[i], true) {
                    return Err(WindowError::DayTwice(short_name(day).to_owned()));
                }
                hours.days[i] = ranges.clone();
            }
        }
        Ok(hours)
    }

    /// Sets one day's ranges (sorted, checked and merged as in [`WeeklyHours::parse`]).
    pub fn set(&mut self, day: Weekday, ranges: &[TimeRange]) -> Result<(), WindowError> {
        self.days[day.num_days_from_monday() as usize] = normalise(ranges.to_vec())?;
        Ok(())
    }

    /// The day's ranges, sorted and non-overlapping; empty when closed all day.
    pub fn ranges(&self, day: Weekday) -> &[TimeRange] {
        &self.days[day.num_days_from_monday() as usize]
    }

    /// Whether no day has any range.
    pub fn is_closed(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }

    /// The first range (Monday first) that is not inside `[earliest, latest]`, the compliance
    /// hours, if any. `latest` = `00:00` means the end of the day.
    pub fn outside(&self, earliest: NaiveTime, latest: NaiveTime) -> Option<(Weekday, TimeRange)> {
        let (lo, hi) = (earliest.num_seconds_from_midnight(), end_of_day_secs(latest));
        WEEK.iter().find_map(|&day| {
            self.ranges(day).iter().find(|r| r.start_secs() < lo || r.end_secs() > hi).map(|r| (day, *r))
        })
    }
}

fn parse_ranges(value: &str) -> Result<Vec<TimeRange>, WindowError> {
    let ranges = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<TimeRange>, _>>()?;
    normalise(ranges)
}

/// Sorts, rejects overlaps, merges ranges that touch.
fn normalise(mut ranges: Vec<TimeRange>) -> Result<Vec<TimeRange>, WindowError> {
    ranges.sort_by_key(TimeRange::start_secs);
    let mut out: Vec<TimeRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(prev) if r.start_secs() < prev.end_secs() => {
                return Err(WindowError::Overlap { first: prev.to_string(), second: r.to_string() });
            }
            Some(prev) if r.start_secs() == prev.end_secs() => prev.end = r.end,
            _ => out.push(r),
        }
    }
    Ok(out)
}

impl WeeklyHours {
    /// Runs of consecutive days (Monday first) with the same ranges, as `(first, last)` day
    /// indexes: how `Display` groups them (`mon-fri 09:00-20:00`).
    fn runs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut i = 0;
        std::iter::from_fn(move || {
            if i >= 7 {
                return None;
            }
            let mut j = i;
            while j + 1 < 7 && self.days[j + 1] == self.days[i] {
                j += 1;
            }
            let run = (i, j);
            i = j + 1;
            Some(run)
        })
    }

    fn fmt_run(&self, f: &mut fmt::Formatter<'_>, (i, j): (usize, usize)) -> fmt::Result {
        f.write_str(short_name(WEEK[i]))?;
        if j > i {
            write!(f, "-{}", short_name(WEEK[j]))?;
        }
        if self.days[i].is_empty() {
            return f.write_str(" closed");
        }
        for (k, r) in self.days[i].iter().enumerate() {
            write!(f, "{}{r}", if k == 0 { " " } else { ", " })?;
        }
        Ok(())
    }

    /// The hours of `day` as [`Display`](fmt::Display) writes them, with the days that share
    /// them: `mon-fri 09:00-20:00` for a Tuesday, `sun closed` for a closed Sunday.
    pub fn describe_day(&self, day: Weekday) -> String {
        struct Run<'a>(&'a WeeklyHours, (usize, usize));
        impl fmt::Display for Run<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt_run(f, self.1)
            }
        }
        let d = day.num_days_from_monday() as usize;
        let run = self.runs().find(|&(i, j)| i <= d && d <= j).expect("every day is in a run");
        Run(self, run).to_string()
    }
}

impl fmt::Display for WeeklyHours {
    /// `mon-fri 09:00-20:00; sat 10:00-14:00`, or `closed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for run in self.runs().filter(|&(i, _)| !self.days[i].is_empty()) {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            self.fmt_run(f, run)?;
        }
        if first {
            f.write_str("closed")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn a_time_range_parses_with_one_or_two_digit_hours_and_spaces() {
        let r: TimeRange = " 9:00 - 17:30 ".parse().unwrap();
        assert_eq!((r.start, r.end), (t(9, 0), t(17, 30)));
        assert_eq!(r.to_string(), "09:00-17:30");
        let r: TimeRange = "08:00–21:00".parse().unwrap();
        assert_eq!((r.start_secs(), r.end_secs()), (8 * 3600, 21 * 3600));
    }

    #[test]
    fn a_range_may_end_at_24_00_meaning_the_end_of_the_day() {
        let r: TimeRange = "20:00-24:00".parse().unwrap();
        assert_eq!(r.end_secs(), DAY_SECS);
        assert_eq!(r.to_string(), "20:00-24:00");
        assert!(r.contains(NaiveTime::from_hms_opt(23, 59, 59).unwrap()));
        assert!(!r.contains(t(0, 0)));
        assert!(r.contains(t(20, 0)));
        assert!(!r.contains(NaiveTime::from_hms_opt(19, 59, 59).unwrap()));
    }

    #[test]
    fn bad_times_name_the_offending_text() {
        let e = "09:00-25:00".parse::<TimeRange>().unwrap_err();
        assert_eq!(e.to_string(), "`25:00` is not a time of day (expected HH:MM, 00:00–24:00)");
        for bad in ["9-17:00", "09:0-10:00", "09:60-10:00", "24:30-24:40", "a:00-10:00", "-1:00-2:00"] {
            assert!(matches!(bad.parse::<TimeRange>(), Err(WindowError::BadTime(_))), "{bad}");
        }
        assert_eq!(
            "0900".parse::<TimeRange>().unwrap_err().to_string(),
            "`0900` is not a time range (expected HH:MM-HH:MM, e.g. 09:00-17:00)"
        );
    }

    #[test]
    fn a_range_must_end_after_it_starts() {
        let e = "9:00-8:00".parse::<TimeRange>().unwrap_err();
        assert_eq!(e.to_string(), "`9:00-8:00`: the end must be after the start");
        assert!(matches!("10:00-10:00".parse::<TimeRange>(), Err(WindowError::EmptyRange(_))));
        assert!(matches!("24:00-24:00".parse::<TimeRange>(), Err(WindowError::EmptyRange(_))));
    }

    #[test]
    fn weekday_sets_accept_ranges_lists_full_names_and_any_case() {
        use Weekday::*;
        assert_eq!(parse_weekdays("mon-fri").unwrap(), vec![Mon, Tue, Wed, Thu, Fri]);
        assert_eq!(parse_weekdays("sat").unwrap(), vec![Sat]);
        assert_eq!(parse_weekdays("Mon, WED ,fri").unwrap(), vec![Mon, Wed, Fri]);
        assert_eq!(parse_weekdays("fri-mon").unwrap(), vec![Fri, Sat, Sun, Mon]);
        assert_eq!(parse_weekdays("Tuesday-Thursday").unwrap(), vec![Tue, Wed, Thu]);
        assert_eq!(parse_weekdays("sun-sat").unwrap().len(), 7);
        assert_eq!(parse_weekdays("mon-tue,sat-sun").unwrap(), vec![Mon, Tue, Sat, Sun]);
    }

    #[test]
    fn unknown_and_repeated_weekdays_are_errors_that_name_them() {
        assert_eq!(
            parse_weekdays("funday").unwrap_err().to_string(),
            "`funday` is not a weekday (expected mon, tue, wed, thu, fri, sat, sun or a range like mon-fri)"
        );
        assert_eq!(parse_weekdays("mon-xyz").unwrap_err(), WindowError::BadWeekday("mon-xyz".into()));
        assert_eq!(parse_weekdays("").unwrap_err(), WindowError::BadWeekday("".into()));
        assert_eq!(parse_weekdays("sat,sat").unwrap_err().to_string(), "`sat` is given twice");
        assert_eq!(parse_weekdays("mon-fri,wednesday").unwrap_err(), WindowError::DayTwice("wed".into()));
    }

    #[test]
    fn weekly_hours_parse_several_ranges_per_day_and_leave_other_days_closed() {
        let h = WeeklyHours::parse([("mon-fri", "13:00-17:00, 09:00-12:00"), ("sat", "10:00-14:00")]).unwrap();
        let expect: Vec<TimeRange> = vec!["09:00-12:00".parse().unwrap(), "13:00-17:00".parse().unwrap()];
        assert_eq!(h.ranges(Weekday::Wed), &expect[..]);
        assert_eq!(h.ranges(Weekday::Sat), &["10:00-14:00".parse().unwrap()][..]);
        assert!(h.ranges(Weekday::Sun).is_empty());
        assert_eq!(h.to_string(), "mon-fri 09:00-12:00, 13:00-17:00; sat 10:00-14:00");
    }

    #[test]
    fn a_day_is_described_with_the_days_that_share_its_hours() {
        let h = WeeklyHours::parse([("mon-fri", "09:00-12:00, 13:00-17:00"), ("sat", "10:00-14:00")]).unwrap();
        assert_eq!(h.describe_day(Weekday::Mon), "mon-fri 09:00-12:00, 13:00-17:00");
        assert_eq!(h.describe_day(Weekday::Fri), "mon-fri 09:00-12:00, 13:00-17:00");
        assert_eq!(h.describe_day(Weekday::Sat), "sat 10:00-14:00");
        assert_eq!(h.describe_day(Weekday::Sun), "sun closed");
        assert_eq!(WeeklyHours::default().describe_day(Weekday::Wed), "mon-sun 09:00-20:00");
    }

    #[test]
    fn a_day_given_under_two_keys_is_an_error() {
        let e = WeeklyHours::parse([("mon-fri", "09:00-17:00"), ("fri-sat", "10:00-12:00")]).unwrap_err();
        assert_eq!(e.to_string(), "`fri` is given twice");
    }

    #[test]
    fn overlapping_ranges_are_an_error_and_touching_ones_merge() {
        let e = WeeklyHours::parse([("mon", "09:00-12:00, 11:00-13:00")]).unwrap_err();
        assert_eq!(e.to_string(), "`09:00-12:00` and `11:00-13:00` overlap");
        let h = WeeklyHours::parse([("mon", "12:00-13:00,09:00-12:00")]).unwrap();
        assert_eq!(h.ranges(Weekday::Mon), &["09:00-13:00".parse().unwrap()][..]);
    }

    #[test]
    fn a_key_without_ranges_is_an_error() {
        let e = WeeklyHours::parse([("sun", " , ")]).unwrap_err();
        assert_eq!(e, WindowError::NoRanges { key: "sun".into() });
        assert!(e.to_string().contains("leave a day out"));
    }

    #[test]
    fn the_default_is_every_day_nine_to_eight() {
        let h = WeeklyHours::default();
        for day in WEEK {
            assert_eq!(h.ranges(day), &["09:00-20:00".parse().unwrap()][..]);
        }
        assert_eq!(h.to_string(), "mon-sun 09:00-20:00");
        assert_eq!(WeeklyHours::closed().to_string(), "closed");
        assert!(WeeklyHours::closed().is_closed() && !h.is_closed());
    }

    #[test]
    fn outside_finds_the_first_range_beyond_the_compliance_hours() {
        let h = WeeklyHours::parse([("mon-fri", "09:00-20:00"), ("sat", "07:30-12:00")]).unwrap();
        assert_eq!(h.outside(t(8, 0), t(21, 0)), Some((Weekday::Sat, "07:30-12:00".parse().unwrap())));
        assert_eq!(h.outside(t(7, 0), t(21, 0)), None);
        assert_eq!(h.outside(t(7, 0), t(19, 59)).map(|x| x.0), Some(Weekday::Mon));
        let late = WeeklyHours::parse([("sun", "20:00-24:00")]).unwrap();
        assert!(late.outside(t(8, 0), t(21, 0)).is_some());
        assert_eq!(late.outside(t(8, 0), t(0, 0)), None, "00:00 as latest is the end of the day");
    }
}
