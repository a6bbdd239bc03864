//! Rolling frequency caps ("no more than three calls to a person in any 24 hours on the same
//! subject"): the cap itself and the pure check against the times of the calls already made.
//! The caller (the dispatcher) fetches those times from the attempts ledger; nothing here reads
//! a clock or a database.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use smallvec::SmallVec;

use crate::config::format_duration;

/// At most `calls` calls to one number within any window of `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrequencyCap {
    calls: u32,
    window: Duration,
}

impl FrequencyCap {
    /// `None` unless `calls >= 1` and `window > 0`.
    pub fn new(calls: u32, window: Duration) -> Option<FrequencyCap> {
        (calls >= 1 && window > Duration::zero()).then_some(FrequencyCap { calls, window })
    }

    pub fn calls(&self) -> u32 {
        self.calls
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether every call sequence this cap allows is allowed by `other` too: no more calls,
    /// over a window at least as long (any window of `other`'s length lies inside one of ours).
    pub fn is_within(&self, other: &FrequencyCap) -> bool {
        self.calls <= other.calls && self.window >= other.window
    }

    /// One cap at least as strict as both: the fewer calls over the longer window.
    pub fn strictest(self, other: FrequencyCap) -> FrequencyCap {
        FrequencyCap { calls: self.calls.min(other.calls), window: self.window.max(other.window) }
    }
}

impl fmt::Display for FrequencyCap {
    /// `3 calls per 24h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.calls == 1 { "call" } else { "calls" };
        // Statutes speak of hours ("24-hour period"): whole hours print as hours.
        let secs = self.window.num_seconds();
        if secs % 3600 == 0 && self.window.subsec_nanos() == 0 {
            write!(f, "{} {noun} per {}h", self.calls, secs / 3600)
        } else {
            write!(f, "{} {noun} per {}", self.calls, format_duration(self.window))
        }
    }
}

/// The earliest time a call still counts against the cap at `now`: a call exactly one window
/// before `now` still counts (the strict reading of "within 24 hours").
fn window_start(now: DateTime<Utc>, cap: FrequencyCap) -> DateTime<Utc> {
    now - cap.window
}

/// Whether one more call may be made at `now` under `cap`, given the times of the calls already
/// made to the number (any order; calls older than the window are ignored, and a time after
/// `now` — clock skew between daemons — counts).
pub fn rolling_cap_allows(previous_calls: &[DateTime<Utc>], now: DateTime<Utc>, cap: FrequencyCap) -> bool {
    let start = window_start(now, cap);
    let counted = previous_calls.iter().filter(|&&t| t >= start).count();
    counted < cap.calls as usize
}

/// The earliest instant `>= now` at which [`rolling_cap_allows`] holds, with no further call
/// made in between: `now` when a call is allowed now, else just after the oldest counted call
/// that must leave the window does.
pub fn rolling_cap_next_allowed(
    previous_calls: &[DateTime<Utc>],
    now: DateTime<Utc>,
    cap: FrequencyCap,
) -> DateTime<Utc> {
    let start = window_start(now, cap);
    let mut counted: SmallVec<[DateTime<Utc>; 8]> = previous_calls.iter().copied().filter(|&t| t >= start).collect();
    let limit = cap.calls as usize;
    if counted.len() < limit {
        return now;
    }
    counted.sort_unstable();
    // The oldest `len - limit + 1` calls must leave the window; the last of them leaves once
    // the window starts after it.
    let must_leave = counted[counted.len() - limit];
    must_leave + cap.window + Duration::nanoseconds(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64, m: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::hours(h) + Duration::minutes(m)
    }

    fn three_a_day() -> FrequencyCap {
        FrequencyCap::new(3, Duration::hours(24)).unwrap()
    }

    #[test]
    fn three_calls_within_a_day_block_the_fourth() {
        let cap = three_a_day();
        let calls = [t(0, 0), t(5, 0), t(10, 0)];
        assert!(rolling_cap_allows(&calls[..2], t(10, 0), cap));
        assert!(!rolling_cap_allows(&calls, t(11, 0), cap));
        // A call exactly 24 h ago still counts; a nanosecond later it does not.
        assert!(!rolling_cap_allows(&calls, t(24, 0), cap));
        assert!(rolling_cap_allows(&calls, t(24, 0) + Duration::nanoseconds(1), cap));
    }

    #[test]
    fn the_next_allowed_time_is_just_after_the_oldest_call_leaves_the_window() {
        let cap = three_a_day();
        let calls = [t(10, 0), t(0, 0), t(5, 0)];
        assert_eq!(rolling_cap_next_allowed(&calls, t(11, 0), cap), t(24, 0) + Duration::nanoseconds(1));
        assert_eq!(rolling_cap_next_allowed(&calls[..2], t(11, 0), cap), t(11, 0));
        // Five counted calls under a cap of three: the third oldest must leave.
        let many = [t(1, 0), t(2, 0), t(3, 0), t(4, 0), t(5, 0)];
        assert_eq!(rolling_cap_next_allowed(&many, t(6, 0), cap), t(27, 0) + Duration::nanoseconds(1));
    }

    #[test]
    fn old_calls_are_ignored_and_future_ones_count() {
        let cap = three_a_day();
        assert!(rolling_cap_allows(&[t(0, 0), t(1, 0), t(2, 0)], t(30, 0), cap));
        assert!(!rolling_cap_allows(&[t(29, 0), t(31, 0), t(32, 0)], t(30, 0), cap));
    }

    #[test]
    fn caps_compare_and_combine_by_strictness() {
        let (a, b) = (three_a_day(), FrequencyCap::new(5, Duration::hours(72)).unwrap());
        assert!(!a.is_within(&b) && !b.is_within(&a));
        let s = a.strictest(b);
        assert_eq!((s.calls(), s.window()), (3, Duration::hours(72)));
        assert!(s.is_within(&a) && s.is_within(&b));
        assert_eq!(a.to_string(), "3 calls per 24h");
        assert_eq!(FrequencyCap::new(1, Duration::minutes(90)).unwrap().to_string(), "1 call per 1h30m");
        assert!(FrequencyCap::new(0, Duration::hours(1)).is_none());
        assert!(FrequencyCap::new(1, Duration::zero()).is_none());
    }
}
