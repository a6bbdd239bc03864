//! Recurring legal holidays: the rule that gives a holiday's date in any year (a fixed date,
//! the nth or last weekday of a month, a day relative to Easter), the state's rule for a holiday
//! that falls on a weekend, and the dates on which a holiday closes dialling. Pure calendar
//! arithmetic; the texts parsed here come from `data/state_rules.toml` and the daemon config.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use smallvec::SmallVec;

/// The largest shift, in days, a holiday rule may add to its base date, so that a holiday of
/// one year always lands within a year of it (what [`Holiday::occurs_on`] relies on).
const MAX_OFFSET_DAYS: i16 = 60;

/// How a holiday's date is found in a given year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolidayDate {
    /// The same month and day every year (`01-01`); a 29 February exists in leap years only.
    Fixed { month: u32, day: u32 },
    /// The nth (1-5) given weekday of a month (`3rd mon jan`), then `offset` days
    /// (`1st mon nov+1`: the Tuesday after the first Monday of November); no date in a year
    /// whose month has no such weekday.
    Nth { n: u8, weekday: Weekday, month: u32, offset: i16 },
    /// The last given weekday of a month (`last mon may`), then `offset` days.
    Last { weekday: Weekday, month: u32, offset: i16 },
    /// Easter Sunday (Gregorian) plus `offset` days: `easter-2` is Good Friday, `easter-47`
    /// Mardi Gras.
    Easter { offset: i16 },
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const ORDINALS: [&str; 5] = ["1st", "2nd", "3rd", "4th", "5th"];

fn weekday_name(d: Weekday) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][d.num_days_from_monday() as usize]
}

/// A holiday text that cannot be used; `Display` names the text and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HolidayError {
    #[error(
        "`{0}` is not a holiday date (expected MM-DD such as 12-25, an nth weekday such as \"3rd mon jan\" or \"last mon may\" with an optional +N/-N days, or easter, easter-2, easter+1)"
    )]
    BadDate(String),
    #[error("`{0}`: a holiday may be moved at most {MAX_OFFSET_DAYS} days from its base date")]
    OffsetTooLarge(String),
    #[error(
        "`{0}` is not an observed-date rule (expected none, or a comma-separated list of sat-fri, sat-mon, sun-mon, monday)"
    )]
    BadObserved(String),
    #[error("`{0}` is not a year filter (expected all, even or odd)")]
    BadYears(String),
}

/// Splits a trailing `+N` / `-N` day offset off `text`.
fn split_offset(text: &str) -> Result<(&str, i16), HolidayError> {
    let bad = || HolidayError::BadDate(text.to_owned());
    match text.rfind(['+', '-']) {
        Some(i) if i > 0 && text[i + 1..].bytes().all(|b| b.is_ascii_digit()) && i + 1 < text.len() => {
            let n: i16 = text[i + 1..].parse().map_err(|_| bad())?;
            if n > MAX_OFFSET_DAYS {
                return Err(HolidayError::OffsetTooLarge(text.to_owned()));
            }
            Ok((text[..i].trim_end(), if &text[i..=i] == "-" { -n } else { n }))
        }
        _ => Ok((text, 0)),
    }
}

impl FromStr for HolidayDate {
    type Err = HolidayError;

    fn from_str(s: &str) -> Result<Self, HolidayError> {
        let text = s.trim().to_ascii_lowercase();
        let bad = || HolidayError::BadDate(s.trim().to_owned());
        if let Some(rest) = text.strip_prefix("easter") {
            if rest.is_empty() {
                return Ok(HolidayDate::Easter { offset: 0 });
            }
            let (head, offset) = split_offset(&text)?;
            return if head == "easter" && offset != 0 { Ok(HolidayDate::Easter { offset }) } else { Err(bad()) };
        }
        // MM-DD (the '-' there is not an offset: the text is all digits and one dash).
        if let Some((m, d)) = text.split_once('-')
            && m.len() == 2
            && d.len() == 2
            && m.bytes().chain(d.bytes()).all(|b| b.is_ascii_digit())
        {
            let (month, day): (u32, u32) = (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
            // Any leap year validates the day of the month.
            NaiveDate::from_ymd_opt(2000, month, day).ok_or_else(bad)?;
            return Ok(HolidayDate::Fixed { month, day });
        }
        let (head, offset) = split_offset(&text)?;
        let words: Vec<&str> = head.split_whitespace().collect();
        let [ordinal, weekday, month] = words[..] else { return Err(bad()) };
        let weekday = weekday.parse::<Weekday>().map_err(|_| bad())?;
        let month = MONTHS.iter().position(|m| *m == month).ok_or_else(bad)? as u32 + 1;
        if ordinal == "last" {
            return Ok(HolidayDate::Last { weekday, month, offset });
        }
        let n = ORDINALS.iter().position(|o| *o == ordinal).ok_or_else(bad)? as u8 + 1;
        Ok(HolidayDate::Nth { n, weekday, month, offset })
    }
}

fn fmt_offset(f: &mut fmt::Formatter<'_>, offset: i16) -> fmt::Result {
    match offset {
        0 => Ok(()),
        o if o > 0 => write!(f, "+{o}"),
        o => write!(f, "{o}"),
    }
}

impl fmt::Display for HolidayDate {
    /// The text it parses from, in canonical form: `01-01`, `3rd mon jan`, `easter-2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HolidayDate::Fixed { month, day } => write!(f, "{month:02}-{day:02}"),
            HolidayDate::Nth { n, weekday, month, offset } => {
                write!(f, "{} {} {}", ORDINALS[usize::from(n - 1)], weekday_name(weekday), MONTHS[month as usize - 1])?;
                fmt_offset(f, offset)
            }
            HolidayDate::Last { weekday, month, offset } => {
                write!(f, "last {} {}", weekday_name(weekday), MONTHS[month as usize - 1])?;
                fmt_offset(f, offset)
            }
            HolidayDate::Easter { offset } => {
                f.write_str("easter")?;
                fmt_offset(f, offset)
            }
        }
    }
}

fn shift(date: NaiveDate, days: i64) -> Option<NaiveDate> {
    if days >= 0 {
        date.checked_add_days(Days::new(days as u64))
    } else {
        date.checked_sub_days(Days::new(days.unsigned_abs()))
    }
}

impl HolidayDate {
    /// The date in `year` (before any weekend observance); `None` when the year has none
    /// (29 February of a common year, a 5th Monday a month lacks).
    pub fn in_year(&self, year: i32) -> Option<NaiveDate> {
        match *self {
            HolidayDate::Fixed { month, day } => NaiveDate::from_ymd_opt(year, month, day),
            HolidayDate::Nth { n, weekday, month, offset } => {
                let d = NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)?;
                shift(d, i64::from(offset))
            }
            HolidayDate::Last { weekday, month, offset } => {
                let first_of_next = if month == 12 {
                    NaiveDate::from_ymd_opt(year + 1, 1, 1)?
                } else {
                    NaiveDate::from_ymd_opt(year, month + 1, 1)?
                };
                let last = first_of_next.pred_opt()?;
                let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
                shift(last, i64::from(offset) - i64::from(back))
            }
            HolidayDate::Easter { offset } => shift(easter(year)?, i64::from(offset)),
        }
    }
}

/// Easter Sunday of a Gregorian year, by the Anonymous Gregorian algorithm (Meeus/Jones/
/// Butcher); `None` outside the years chrono can represent.
pub fn easter(year: i32) -> Option<NaiveDate> {
    let y = year;
    let a = y.rem_euclid(19);
    let (b, c) = (y.div_euclid(100), y.rem_euclid(100));
    let (d, e) = (b.div_euclid(4), b.rem_euclid(4));
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let (i, k) = (c.div_euclid(4), c.rem_euclid(4));
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let n = h + l - 7 * m + 114;
    NaiveDate::from_ymd_opt(year, (n / 31) as u32, (n % 31 + 1) as u32)
}

/// A state's rule for a holiday that falls on a weekend (or, `monday`, on any weekday): the
/// extra date it is kept on. The holiday's own date stays closed too — the statutes move the
/// legal holiday, but closing both only narrows the window, never widens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observed(u8);

impl Observed {
    const SAT_FRI: u8 = 1;
    const SAT_MON: u8 = 2;
    const SUN_MON: u8 = 4;
    const WEEK_MONDAY: u8 = 8;
    const NAMES: [(u8, &'static str); 4] = [
        (Self::SAT_FRI, "sat-fri"),
        (Self::SAT_MON, "sat-mon"),
        (Self::SUN_MON, "sun-mon"),
        (Self::WEEK_MONDAY, "monday"),
    ];

    /// No observance: only the date itself.
    pub const NONE: Observed = Observed(0);

    /// Saturday → Friday and Sunday → Monday, the federal rule and most states'.
    pub const SAT_FRI_SUN_MON: Observed = Observed(Self::SAT_FRI | Self::SUN_MON);

    /// The extra dates (at most two) on which a holiday dated `date` is kept.
    fn extra_dates(self, date: NaiveDate) -> SmallVec<[NaiveDate; 2]> {
        let mut out = SmallVec::new();
        let has = |bit: u8| self.0 & bit != 0;
        let from_monday = i64::from(date.weekday().num_days_from_monday());
        match date.weekday() {
            Weekday::Sat => {
                if has(Self::SAT_FRI) {
                    out.extend(shift(date, -1));
                }
                if has(Self::SAT_MON) || has(Self::WEEK_MONDAY) {
                    out.extend(shift(date, 2));
                }
            }
            Weekday::Sun if has(Self::SUN_MON) || has(Self::WEEK_MONDAY) => out.extend(shift(date, 1)),
            Weekday::Sun | Weekday::Mon => {}
            _ if has(Self::WEEK_MONDAY) => out.extend(shift(date, -from_monday)),
            _ => {}
        }
        out
    }
}

impl FromStr for Observed {
    type Err = HolidayError;

    fn from_str(s: &str) -> Result<Self, HolidayError> {
        let text = s.trim().to_ascii_lowercase();
        if text == "none" {
            return Ok(Observed::NONE);
        }
        let mut bits = 0;
        for part in text.split(',').map(str::trim) {
            let (bit, _) = Self::NAMES
                .iter()
                .find(|(_, n)| *n == part)
                .ok_or_else(|| HolidayError::BadObserved(s.trim().to_owned()))?;
            bits |= bit;
        }
        Ok(Observed(bits))
    }
}

impl fmt::Display for Observed {
    /// `none`, or the parts joined by commas (`sat-fri,sun-mon`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        let names: Vec<&str> = Self::NAMES.iter().filter(|(b, _)| self.0 & b != 0).map(|(_, n)| *n).collect();
        f.write_str(&names.join(","))
    }
}

/// Which years a holiday exists in (Election Day: even years only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Years {
    #[default]
    All,
    Even,
    Odd,
}

impl Years {
    fn contains(self, year: i32) -> bool {
        match self {
            Years::All => true,
            Years::Even => year % 2 == 0,
            Years::Odd => year % 2 != 0,
        }
    }
}

impl FromStr for Years {
    type Err = HolidayError;
    fn from_str(s: &str) -> Result<Self, HolidayError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "all" => Ok(Years::All),
            "even" => Ok(Years::Even),
            "odd" => Ok(Years::Odd),
            _ => Err(HolidayError::BadYears(s.trim().to_owned())),
        }
    }
}

impl fmt::Display for Years {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Years::All => "all",
            Years::Even => "even",
            Years::Odd => "odd",
        })
    }
}

/// A recurring legal holiday on which no telemarketing call is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub name: String,
    pub date: HolidayDate,
    pub observed: Observed,
    pub years: Years,
}

impl Holiday {
    /// The dates that the holiday of `year` closes, ascending: its own date and its observed
    /// date, if different (which may fall in the year before or after: a Saturday 1 January is
    /// kept on Friday 31 December). Empty when the holiday has no date that year.
    pub fn observed_dates(&self, year: i32) -> SmallVec<[NaiveDate; 3]> {
        let mut out = SmallVec::new();
        if !self.years.contains(year) {
            return out;
        }
        let Some(date) = self.date.in_year(year) else {
            return out;
        };
        out.push(date);
        for extra in self.observed.extra_dates(date) {
            if !out.contains(&extra) {
                out.push(extra);
            }
        }
        out.sort_unstable();
        out
    }

    /// Whether `date` is closed by this holiday (of its own year or of a neighbouring one).
    pub fn occurs_on(&self, date: NaiveDate) -> bool {
        let y = date.year();
        (y - 1..=y + 1).any(|year| self.observed_dates(year).contains(&date))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn holiday(date: &str, observed: &str) -> Holiday {
        Holiday {
            name: "h".into(),
            date: date.parse().unwrap(),
            observed: observed.parse().unwrap(),
            years: Years::All,
        }
    }

    #[test]
    fn easter_matches_the_known_dates() {
        let known = [
            (1818, 3, 22),
            (1943, 4, 25),
            (1961, 4, 2),
            (2000, 4, 23),
            (2008, 3, 23),
            (2011, 4, 24),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2028, 4, 16),
            (2029, 4, 1),
            (2030, 4, 21),
            (2038, 4, 25),
            (2285, 3, 22),
        ];
        for (y, m, day) in known {
            assert_eq!(easter(y), Some(d(y, m, day)), "Easter {y}");
        }
    }

    #[test]
    fn holiday_dates_parse_and_print_canonically() {
        for text in [
            "01-01",
            "12-25",
            "02-29",
            "3rd mon jan",
            "last mon may",
            "1st mon nov+1",
            "easter",
            "easter-2",
            "easter-47",
            "easter+1",
            "5th fri dec-3",
        ] {
            let parsed: HolidayDate = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!("3rd MON Jan".parse::<HolidayDate>().unwrap().to_string(), "3rd mon jan");
        assert_eq!(" easter - 2 ".trim().parse::<HolidayDate>().ok(), None);
    }

    #[test]
    fn bad_holiday_texts_name_themselves_and_what_is_expected() {
        for bad in [
            "13-01",
            "02-30",
            "1-1",
            "6th mon jan",
            "3rd mon janu",
            "3rd funday jan",
            "first mon jan",
            "easter*2",
            "xmas",
            "",
        ] {
            assert!(matches!(bad.parse::<HolidayDate>(), Err(HolidayError::BadDate(_))), "{bad:?}");
        }
        let e = "xmas".parse::<HolidayDate>().unwrap_err();
        assert!(e.to_string().starts_with("`xmas` is not a holiday date (expected MM-DD"), "{e}");
        assert_eq!("easter+61".parse::<HolidayDate>().unwrap_err(), HolidayError::OffsetTooLarge("easter+61".into()));
        assert!("sat-thu".parse::<Observed>().is_err());
        assert!("sometimes".parse::<Years>().is_err());
    }

    #[test]
    fn rules_give_the_expected_dates() {
        let on = |rule: &str, year| rule.parse::<HolidayDate>().unwrap().in_year(year);
        assert_eq!(on("3rd mon jan", 2026), Some(d(2026, 1, 19)));
        assert_eq!(on("last mon may", 2026), Some(d(2026, 5, 25)));
        assert_eq!(on("last mon may", 2027), Some(d(2027, 5, 31)));
        assert_eq!(on("4th thu nov", 2026), Some(d(2026, 11, 26)));
        assert_eq!(on("1st mon nov+1", 2026), Some(d(2026, 11, 3)), "US Election Day");
        assert_eq!(on("1st mon nov+1", 2027), Some(d(2027, 11, 2)));
        assert_eq!(on("easter-47", 2026), Some(d(2026, 2, 17)), "Mardi Gras");
        assert_eq!(on("easter-2", 2026), Some(d(2026, 4, 3)), "Good Friday");
        assert_eq!(on("02-29", 2026), None);
        assert_eq!(on("02-29", 2028), Some(d(2028, 2, 29)));
        assert_eq!(on("5th mon feb", 2026), None);
        assert_eq!(on("last sun dec", 2026), Some(d(2026, 12, 27)));
    }

    #[test]
    fn weekend_holidays_are_also_closed_on_their_observed_dates() {
        // 2026-07-04 is a Saturday, 2027-07-04 a Sunday, 2021-12-25 a Saturday.
        let july4 = holiday("07-04", "sat-fri,sun-mon");
        assert_eq!(july4.observed_dates(2026).as_slice(), [d(2026, 7, 3), d(2026, 7, 4)]);
        assert_eq!(july4.observed_dates(2027).as_slice(), [d(2027, 7, 4), d(2027, 7, 5)]);
        assert_eq!(july4.observed_dates(2025).as_slice(), [d(2025, 7, 4)], "a Friday");
        let ri = holiday("12-25", "sat-fri,sat-mon,sun-mon");
        assert_eq!(ri.observed_dates(2021).as_slice(), [d(2021, 12, 24), d(2021, 12, 25), d(2021, 12, 27)]);
        assert_eq!(holiday("07-04", "none").observed_dates(2026).as_slice(), [d(2026, 7, 4)]);
        assert_eq!(holiday("07-04", "sun-mon").observed_dates(2026).as_slice(), [d(2026, 7, 4)]);
    }

    #[test]
    fn a_saturday_new_years_day_is_kept_in_the_year_before() {
        // 2022-01-01 was a Saturday: observed Friday 2021-12-31.
        let ny = holiday("01-01", "sat-fri,sun-mon");
        assert_eq!(ny.observed_dates(2022).as_slice(), [d(2021, 12, 31), d(2022, 1, 1)]);
        assert!(ny.occurs_on(d(2021, 12, 31)));
        assert!(!ny.occurs_on(d(2020, 12, 31)), "2021-01-01 was a Friday");
    }

    #[test]
    fn the_monday_rule_moves_utahs_juneteenth_to_the_monday_of_its_week() {
        let j = holiday("06-19", "monday");
        assert_eq!(j.observed_dates(2026).as_slice(), [d(2026, 6, 15), d(2026, 6, 19)], "a Friday");
        assert_eq!(j.observed_dates(2027).as_slice(), [d(2027, 6, 19), d(2027, 6, 21)], "a Saturday");
        assert_eq!(j.observed_dates(2028).as_slice(), [d(2028, 6, 19)], "a Monday");
        assert_eq!(j.observed_dates(2022).as_slice(), [d(2022, 6, 19), d(2022, 6, 20)], "a Sunday");
    }

    #[test]
    fn a_year_filter_keeps_a_holiday_to_its_years() {
        let mut election = holiday("1st mon nov+1", "none");
        election.years = Years::Even;
        assert_eq!(election.observed_dates(2026).as_slice(), [d(2026, 11, 3)]);
        assert!(election.observed_dates(2027).is_empty());
        assert!(election.occurs_on(d(2026, 11, 3)) && !election.occurs_on(d(2027, 11, 2)));
    }

    #[test]
    fn observed_rules_print_as_they_parse() {
        for text in ["none", "sat-fri,sun-mon", "sat-fri,sat-mon,sun-mon", "monday", "sun-mon"] {
            assert_eq!(text.parse::<Observed>().unwrap().to_string(), text);
        }
        assert_eq!("sun-mon, sat-fri".parse::<Observed>().unwrap(), Observed::SAT_FRI_SUN_MON);
    }
}
