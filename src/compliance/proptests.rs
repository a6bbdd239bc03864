//! Property tests of the rule engine against brute-force oracles written independently of it:
//! holidays by a day-by-day predicate (Easter by Gauss's algorithm rather than the anonymous
//! Gregorian one), day spans minute by minute, the rolling cap by counting over the whole call
//! history, and overrides by comparing every minute with the built-in rules.

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Utc, Weekday};
use proptest::prelude::*;

use super::*;

// ---- oracles -------------------------------------------------------------------------------

/// Easter Sunday by Gauss's algorithm, with its two exceptions.
fn gauss_easter(y: i32) -> NaiveDate {
    let (a, b, c) = (y % 19, y % 4, y % 7);
    let k = y / 100;
    let p = (13 + 8 * k) / 25;
    let q = k / 4;
    let m = (15 - p + k - q).rem_euclid(30);
    let n = (4 + k - q).rem_euclid(7);
    let d = (19 * a + m) % 30;
    let e = (2 * b + 4 * c + 6 * d + n) % 7;
    if d == 29 && e == 6 {
        return NaiveDate::from_ymd_opt(y, 4, 19).unwrap();
    }
    if d == 28 && e == 6 && (11 * m + 11) % 30 < 19 {
        return NaiveDate::from_ymd_opt(y, 4, 18).unwrap();
    }
    NaiveDate::from_ymd_opt(y, 3, 22).unwrap() + Days::new((d + e) as u64)
}

fn add(date: NaiveDate, days: i64) -> NaiveDate {
    date + Duration::days(days)
}

fn years_allow(years: Years, year: i32) -> bool {
    match years {
        Years::All => true,
        Years::Even => year % 2 == 0,
        Years::Odd => year % 2 != 0,
    }
}

/// Whether `x` is the holiday's own date, by looking only at `x` and its neighbours.
fn is_actual(h: &Holiday, x: NaiveDate) -> bool {
    match h.date {
        HolidayDate::Fixed { month, day } => x.month() == month && x.day() == day && years_allow(h.years, x.year()),
        HolidayDate::Nth { n, weekday, month, offset } => {
            let base = add(x, -i64::from(offset));
            base.weekday() == weekday
                && base.month() == month
                && (base.day() - 1) / 7 + 1 == u32::from(n)
                && years_allow(h.years, base.year())
        }
        HolidayDate::Last { weekday, month, offset } => {
            let base = add(x, -i64::from(offset));
            base.weekday() == weekday
                && base.month() == month
                && add(base, 7).month() != month
                && years_allow(h.years, base.year())
        }
        HolidayDate::Easter { offset } => {
            let base = add(x, -i64::from(offset));
            base == gauss_easter(base.year()) && years_allow(h.years, base.year())
        }
    }
}

/// Whether the holiday closes `x`: its own date, or a weekend date it is observed from.
fn oracle_occurs(h: &Holiday, x: NaiveDate) -> bool {
    let obs = h.observed.to_string();
    let has = |part: &str| obs.split(',').any(|p| p == part);
    let actual = |days: i64| is_actual(h, add(x, days));
    actual(0)
        || (x.weekday() == Weekday::Fri && has("sat-fri") && actual(1))
        || (x.weekday() == Weekday::Mon && (has("sat-mon") || has("monday")) && actual(-2))
        || (x.weekday() == Weekday::Mon && (has("sun-mon") || has("monday")) && actual(-1))
        || (x.weekday() == Weekday::Mon && has("monday") && (1..=4).any(actual))
}

/// Whether the state rules allow minute `minute` of `date` for a recipient in `regions`.
fn oracle_allows(rules: &RuleSet, regions: &[Region], date: NaiveDate, minute: u32) -> bool {
    regions.iter().all(|&r| {
        let Some(s) = rules.state(r) else { return true };
        let in_hours = s.hours.as_ref().is_none_or(|h| {
            h.hours.ranges(date.weekday()).iter().any(|t| t.start_secs() <= minute * 60 && minute * 60 < t.end_secs())
        });
        let holiday = s.holidays.as_ref().is_some_and(|hs| hs.holidays.iter().any(|h| oracle_occurs(h, date)));
        in_hours && !holiday
    })
}

// ---- strategies ----------------------------------------------------------------------------

fn weekday() -> impl Strategy<Value = Weekday> {
    (0u8..7).prop_map(|i| {
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun]
            [usize::from(i)]
    })
}

fn holiday_date() -> impl Strategy<Value = HolidayDate> {
    prop_oneof![
        (1u32..=12, 1u32..=31)
            .prop_filter("a real day", |&(m, d)| NaiveDate::from_ymd_opt(2000, m, d).is_some())
            .prop_map(|(month, day)| HolidayDate::Fixed { month, day }),
        (1u8..=5, weekday(), 1u32..=12, -10i16..=10).prop_map(|(n, weekday, month, offset)| HolidayDate::Nth {
            n,
            weekday,
            month,
            offset
        }),
        (weekday(), 1u32..=12, -10i16..=10).prop_map(|(weekday, month, offset)| HolidayDate::Last {
            weekday,
            month,
            offset
        }),
        (-60i16..=60).prop_map(|offset| HolidayDate::Easter { offset }),
    ]
}

fn observed() -> impl Strategy<Value = Observed> {
    prop_oneof![
        Just("none"),
        Just("sat-fri"),
        Just("sun-mon"),
        Just("sat-fri,sun-mon"),
        Just("sat-fri,sat-mon,sun-mon"),
        Just("monday"),
        Just("sat-mon")
    ]
    .prop_map(|s| s.parse().unwrap())
}

fn years() -> impl Strategy<Value = Years> {
    prop_oneof![Just(Years::All), Just(Years::Even), Just(Years::Odd)]
}

fn holiday() -> impl Strategy<Value = Holiday> {
    (holiday_date(), observed(), years()).prop_map(|(date, observed, years)| Holiday {
        name: "h".into(),
        date,
        observed,
        years,
    })
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (1950i32..2150, 1u32..=366).prop_filter_map("a real day", |(y, ord)| NaiveDate::from_yo_opt(y, ord))
}

fn regions() -> impl Strategy<Value = Vec<Region>> {
    let pool: Vec<Region> = ["AL", "FL", "LA", "MA", "MD", "MS", "NV", "OK", "RI", "SD", "UT", "WA", "CA", "TX"]
        .iter()
        .map(|c| Region::parse(c).unwrap())
        .collect();
    proptest::sample::subsequence(pool, 0..=3)
}

// ---- properties ----------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn holidays_agree_with_a_day_by_day_oracle(h in holiday(), year in 1951i32..2149) {
        let mut day = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
        while day.year() == year {
            prop_assert_eq!(h.occurs_on(day), oracle_occurs(&h, day), "{:?} on {}", h, day);
            day = day.succ_opt().unwrap();
        }
        // observed_dates lists exactly the closed dates of that year's holiday.
        for d in h.observed_dates(year) {
            prop_assert!(oracle_occurs(&h, d), "{:?}: {} listed but not closed", h, d);
        }
    }

    #[test]
    fn easter_agrees_with_gauss(year in 1583i32..4000) {
        prop_assert_eq!(easter(year), Some(gauss_easter(year)));
    }

    #[test]
    fn day_spans_agree_with_a_minute_by_minute_oracle(regions in regions(), date in date()) {
        let rules = RuleSet::builtin();
        let spans = rules.day_spans(&regions, date);
        let mut any = false;
        for minute in 0..1440 {
            let expect = oracle_allows(rules, &regions, date, minute);
            any |= expect;
            prop_assert_eq!(spans.contains(minute * 60), expect, "{:?} {} minute {}", regions, date, minute);
        }
        prop_assert_eq!(spans.is_closed(), !any);
        prop_assert_eq!(spans.closed_reason().is_some(), !any);
    }

    #[test]
    fn the_rolling_cap_agrees_with_a_naive_counter(
        calls in 1u32..=4,
        window_min in 1i64..=(48 * 60),
        mut attempts in proptest::collection::vec(0i64..20_000, 0..40),
    ) {
        attempts.sort_unstable();
        let cap = FrequencyCap::new(calls, Duration::minutes(window_min)).unwrap();
        let at = |m: i64| DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(m);
        let mut accepted: Vec<DateTime<Utc>> = Vec::new();
        for &m in &attempts {
            let now = at(m);
            let allowed = rolling_cap_allows(&accepted, now, cap);
            // Naive: count every earlier accepted call no more than one window old.
            let recent = accepted.iter().filter(|&&p| now - p <= cap.window()).count();
            prop_assert_eq!(allowed, recent < calls as usize);
            let next = rolling_cap_next_allowed(&accepted, now, cap);
            if allowed {
                prop_assert_eq!(next, now);
                accepted.push(now);
            } else {
                prop_assert!(next > now);
                prop_assert!(rolling_cap_allows(&accepted, next, cap));
                prop_assert!(!rolling_cap_allows(&accepted, next - Duration::nanoseconds(1), cap));
            }
        }
        // No closed window of the cap's length ever holds more than `calls` accepted calls.
        for &a in &accepted {
            let inside = accepted.iter().filter(|&&b| a <= b && b - a <= cap.window()).count();
            prop_assert!(inside <= calls as usize, "{} calls within {} of {}", inside, cap, a);
        }
    }

    #[test]
    fn overrides_never_widen_the_rules(
        state in proptest::sample::select(vec!["AL", "FL", "LA", "MA", "MD", "MS", "NV", "OK", "RI", "SD", "UT", "WA"]),
        days in proptest::collection::vec(proptest::option::of((6u32..=12, 16u32..=22)), 7),
        cap in proptest::option::of((1u32..=5, 12i64..=72)),
        dates in proptest::collection::vec(date(), 12),
    ) {
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let hours: std::collections::BTreeMap<String, String> = days
            .iter()
            .zip(names)
            .filter_map(|(d, name)| d.map(|(s, e)| (name.to_owned(), format!("{s:02}:00-{e:02}:00"))))
            .collect();
        let mut o = StateOverride { hours: (!hours.is_empty()).then_some(hours), ..Default::default() };
        if let Some((calls, per)) = cap {
            o.frequency_cap = Some(CapOverride::Cap { calls, per: format!("{per}h") });
        }
        let base = RuleSet::builtin();
        let region = Region::parse(state).unwrap();
        let overrides: StateOverrides = [(state.to_owned(), o)].into_iter().collect();
        if let Ok(narrowed) = base.with_overrides(&overrides) {
            for &date in &dates {
                let (n, b) = (narrowed.day_spans(&[region], date), base.day_spans(&[region], date));
                for minute in 0..1440 {
                    prop_assert!(!n.contains(minute * 60) || b.contains(minute * 60), "{} {} minute {}", state, date, minute);
                }
            }
            if let Some(bc) = base.frequency_cap(&[region]) {
                let nc = narrowed.frequency_cap(&[region]).expect("a cap is never dropped");
                prop_assert!(nc.is_within(&bc));
            }
        }
    }
}
