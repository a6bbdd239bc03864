//! Local wall-clock time ↔ instants in one IANA zone, with the DST rules the window module
//! promises: a wall time skipped by spring-forward resolves to the first real instant after the
//! gap; a wall time repeated by fall-back resolves to its first occurrence unless asked for both.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use super::hours::DAY_SECS;

/// The recipient's wall-clock reading at `at`.
pub(crate) fn wall(zone: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    zone.from_utc_datetime(&at.naive_utc()).naive_local()
}

/// UTC offset in seconds in force at `at`.
pub(crate) fn offset_secs(zone: Tz, at: DateTime<Utc>) -> i32 {
    zone.offset_from_utc_datetime(&at.naive_utc()).fix().local_minus_utc()
}

/// The first instant at which the wall clock reads `local` — or, when `local` is skipped by a
/// spring-forward gap, the first instant after the gap.
pub(crate) fn earliest(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    resolutions(zone, local).0
}

/// Every instant at which the wall clock reads `local`: the first, and for a time repeated by
/// fall-back the second; a skipped time gives the first instant after the gap.
pub(crate) fn resolutions(zone: Tz, local: NaiveDateTime) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(x) => (x.to_utc(), None),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.to_utc(), b.to_utc());
            (a.min(b), Some(a.max(b)))
        }
        LocalResult::None => (gap_end(zone, local), None),
    }
}

/// [`earliest`] for `secs` after midnight of `date`; 86 400 is the next midnight.
pub(crate) fn earliest_on(zone: Tz, date: NaiveDate, secs: u32) -> DateTime<Utc> {
    earliest(zone, at_secs(date, secs))
}

/// `date` + `secs` as a naive date-time; `secs` up to 86 400 (the next midnight).
pub(crate) fn at_secs(date: NaiveDate, secs: u32) -> NaiveDateTime {
    date.and_hms_opt(0, 0, 0).expect("midnight exists") + Duration::seconds(i64::from(secs.min(DAY_SECS)))
}

/// The first instant whose wall-clock reading is at or after `local`, for a `local` inside a
/// gap. tzdb transitions fall on whole seconds, so a binary search on seconds is exact.
fn gap_end(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut step = Duration::hours(1);
    let (lo, hi) = loop {
        let lo = match zone.from_local_datetime(&(local - step)) {
            LocalResult::Single(x) => Some(x.to_utc()),
            LocalResult::Ambiguous(a, b) => Some(a.to_utc().max(b.to_utc())),
            LocalResult::None => None,
        };
        let hi = match zone.from_local_datetime(&(local + step)) {
            LocalResult::Single(x) => Some(x.to_utc()),
            LocalResult::Ambiguous(a, b) => Some(a.to_utc().min(b.to_utc())),
            LocalResult::None => None,
        };
        if let (Some(lo), Some(hi)) = (lo, hi) {
            break (lo.timestamp(), hi.timestamp());
        }
        if step > Duration::days(4) {
            // No real zone has a gap this long; read the time as UTC rather than loop forever.
            return local.and_utc();
        }
        step = step * 2;
    };
    let reads_at_least = |ts: i64| DateTime::from_timestamp(ts, 0).is_some_and(|x| wall(zone, x) >= local);
    let (mut lo, mut hi) = (lo, hi);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reads_at_least(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0).expect("timestamp from a valid instant")
}

/// The instant in `(from, to)` at which the UTC offset changes, when the offsets at `from` and
/// just before `to` differ. Assumes at most one transition in the span (true for any one day in
/// tzdb's current rules).
pub(crate) fn transition_in(zone: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let before = offset_secs(zone, from);
    let (mut lo, mut hi) = (from.timestamp(), to.timestamp() - 1);
    if hi <= lo || offset_secs(zone, DateTime::from_timestamp(hi, 0)?) == before {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_secs(zone, DateTime::from_timestamp(mid, 0)?) == before {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::{Los_Angeles, New_York};

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }
    fn naive(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    #[test]
    fn a_skipped_wall_time_resolves_to_the_end_of_the_gap() {
        // 2026-03-08 02:00 EST → 03:00 EDT, at 07:00 UTC.
        assert_eq!(earliest(New_York, naive("2026-03-08T02:30:00")), utc("2026-03-08T07:00:00Z"));
        assert_eq!(earliest(New_York, naive("2026-03-08T02:00:00")), utc("2026-03-08T07:00:00Z"));
        assert_eq!(earliest(New_York, naive("2026-03-08T03:00:00")), utc("2026-03-08T07:00:00Z"));
        assert_eq!(earliest(New_York, naive("2026-03-08T01:59:59")), utc("2026-03-08T06:59:59Z"));
    }

    #[test]
    fn a_repeated_wall_time_has_two_resolutions_and_the_first_is_earliest() {
        // 2026-11-01 02:00 EDT → 01:00 EST, at 06:00 UTC.
        let (a, b) = resolutions(New_York, naive("2026-11-01T01:30:00"));
        assert_eq!(a, utc("2026-11-01T05:30:00Z"));
        assert_eq!(b, Some(utc("2026-11-01T06:30:00Z")));
        assert_eq!(resolutions(New_York, naive("2026-11-01T02:00:00")), (utc("2026-11-01T07:00:00Z"), None));
    }

    #[test]
    fn transitions_are_found_to_the_second_and_only_when_the_offset_changes() {
        let day = |d: &str| {
            let d: NaiveDate = d.parse().unwrap();
            (earliest_on(Los_Angeles, d, 0), earliest_on(Los_Angeles, d, DAY_SECS))
        };
        let (a, b) = day("2026-03-08");
        assert_eq!(transition_in(Los_Angeles, a, b), Some(utc("2026-03-08T10:00:00Z")));
        let (a, b) = day("2026-11-01");
        assert_eq!(transition_in(Los_Angeles, a, b), Some(utc("2026-11-01T09:00:00Z")));
        let (a, b) = day("2026-11-02");
        assert_eq!(transition_in(Los_Angeles, a, b), None);
    }
}
