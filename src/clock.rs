//! Time, injected. Every decision that depends on "now" asks a [`Clock`], so tests can run a
//! week of campaign in seconds and cross DST boundaries on purpose.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// The source of "now" for everything that decides by time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock lock poisoned") = to;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().expect("clock lock poisoned");
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock poisoned")
    }
}

/// A clock that starts at a chosen instant, runs `factor` times faster than real time, and can
/// skip idle stretches: the demo runs days of campaign in seconds through production code.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    start: DateTime<Utc>,
    origin: std::time::Instant,
    factor: f64,
    skipped_ms: Arc<std::sync::atomic::AtomicI64>,
}

impl ScaledClock {
    pub fn new(start: DateTime<Utc>, factor: f64) -> Self {
        Self { start, origin: std::time::Instant::now(), factor, skipped_ms: Arc::default() }
    }

    /// Jumps forward to `to` (never backward); clones jump too.
    pub fn skip_to(&self, to: DateTime<Utc>) {
        let ahead = (to - self.now()).num_milliseconds();
        if ahead > 0 {
            self.skipped_ms.fetch_add(ahead, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let real = self.origin.elapsed().as_secs_f64() * self.factor;
        let skipped = self.skipped_ms.load(std::sync::atomic::Ordering::SeqCst);
        self.start + Duration::microseconds((real * 1e6) as i64) + Duration::milliseconds(skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_time() {
        let start = DateTime::parse_from_rfc3339("2026-03-08T06:00:00Z").unwrap().to_utc();
        let clock = ManualClock::new(start);
        let twin = clock.clone();
        assert_eq!(clock.now(), start);
        twin.advance(Duration::hours(2));
        assert_eq!(clock.now(), start + Duration::hours(2));
    }
}

/// How the CLI shows an instant: in UTC, or in the zone the operator asked for (`--tz`), with
/// the zone's abbreviation either way (`2026-12-01 09:00 EST`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shown(pub Option<chrono_tz::Tz>);

impl Shown {
    pub fn at(&self, t: DateTime<Utc>) -> String {
        match self.0 {
            Some(zone) => t.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z").to_string(),
            None => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

#[cfg(test)]
mod shown_tests {
    use super::*;

    #[test]
    fn an_instant_is_shown_in_utc_or_in_the_zone_asked_for_with_its_abbreviation() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T14:00:00Z").unwrap().to_utc();
        assert_eq!(Shown(None).at(t), "2026-12-01 14:00 UTC");
        assert_eq!(Shown(Some(chrono_tz::America::New_York)).at(t), "2026-12-01 09:00 EST");
        assert_eq!(Shown(Some(chrono_tz::Pacific::Honolulu)).at(t), "2026-12-01 04:00 HST");
    }
}

/// A point in time on the command line (`--since`, `--until`): an RFC 3339 instant (`2026-06-01T09:00:00-04:00`) or a date (`2026-06-01`, read
/// as its first instant in UTC).
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.to_utc());
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!(
        "`{text}` is not a time: expected RFC 3339 (2026-06-01T09:00:00-04:00, 2026-06-01T13:00:00Z) or a date (2026-06-01, midnight UTC)"
    ))
}
