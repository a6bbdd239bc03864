//! How fast the dispatcher may go: each campaign's `calls_per_minute` smoothed by a token bucket
//! (`governor`, on the injected clock), and the account-wide slowdown after Bland answers 429.
//! The caps' hour and day counts are the ledger's (`ledger.rs`); this file only spreads the
//! allowance over time. A campaign's pacer is made when its plan is (re)read and kept with it;
//! the slowdown is one instant for the whole account, read by every step before it claims.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use governor::{Quota, RateLimiter, clock::Clock as GovernorClock};
use tracing::warn;

use super::engine::Dispatcher;
use crate::clock::Clock;

/// Adapts the injected clock for governor, so pacing follows the same time as everything else.
#[derive(Clone)]
pub(super) struct PacingClock(Arc<dyn Clock>);

impl GovernorClock for PacingClock {
    type Instant = StdDuration;
    fn now(&self) -> StdDuration {
        let ms = self.0.now().timestamp_millis().max(0) as u64;
        StdDuration::from_millis(ms)
    }
}

type Bucket = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    PacingClock,
    governor::middleware::NoOpMiddleware<StdDuration>,
>;

/// A campaign's token bucket, and the tokens given back by sends that were never placed.
///
/// While the cap is fully used the bucket never refills past what the next calls take, so a
/// token spent on a send Bland never got (a refused connection, an ambiguous failure later
/// proven absent) would be lost to the campaign for good: one call of its allowance per such
/// send. (A 429's token is not refunded: see `Dispatcher::void_and_refund`.) The refund keeps pacing a spreading of the cap, never a cut of it; refunds are
/// bounded by the burst, so they cannot bunch calls more than the bucket itself may.
pub(super) struct Pacer {
    bucket: Bucket,
    refunds: AtomicU32,
    burst: u32,
}

impl Pacer {
    /// Takes one token: a refunded one first, else one from the bucket.
    fn take(&self) -> bool {
        self.refunds.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1)).is_ok()
            || self.bucket.check().is_ok()
    }

    /// Gives back the token of a send that was never placed.
    pub(super) fn refund(&self) {
        let _ = self.refunds.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| (r < self.burst).then_some(r + 1));
    }
}

/// A token bucket for `per_minute` calls, or `None` when pacing is off or the campaign sets no
/// per-minute limit.
pub(super) fn pacer(pacing: bool, per_minute: Option<u32>, clock: Arc<dyn Clock>) -> Option<Arc<Pacer>> {
    let per_minute = NonZeroU32::new(per_minute.filter(|_| pacing)?).expect("limits are positive");
    // A burst of a tenth of a minute's calls: smooth, but not one at a time.
    let burst = NonZeroU32::new((per_minute.get() / 10).max(1)).expect("at least one");
    let quota = Quota::per_minute(per_minute).allow_burst(burst);
    Some(Arc::new(Pacer {
        bucket: RateLimiter::direct_with_clock(quota, PacingClock(clock)),
        refunds: AtomicU32::new(0),
        burst: burst.get(),
    }))
}

/// How many of `room` calls the pacer lets out now (each one takes a token).
pub(super) fn permitted(pacer: Option<&Pacer>, room: u32) -> u32 {
    let Some(pacer) = pacer else { return room };
    let mut permitted = 0;
    while permitted < room && pacer.take() {
        permitted += 1;
    }
    permitted
}

/// The account's slowdown after 429s. Backoff grows once per *round*: the sends already in
/// flight when the first 429 came back are answered 429 too, and must not each double the wait
/// (one storm once pushed it from 0.8 s to 28.7 s within 3 ms). A round is over when the
/// slowdown has passed; the next 429 after that escalates, and a placed call resets it all.
#[derive(Debug, Default)]
pub(super) struct Slowdown {
    /// No sends before this.
    not_before: Option<DateTime<Utc>>,
    /// Rounds of 429s in a row.
    rounds: u32,
    /// The first 429 of the storm (none since Bland last placed a call), for the safety stop.
    storm_since: Option<DateTime<Utc>>,
}

impl Slowdown {
    pub(super) fn holds(&self, now: DateTime<Utc>) -> bool {
        self.not_before.is_some_and(|t| t > now)
    }

    /// A 429 at `now`: returns when sends may resume. `Retry-After` is honoured as given (never
    /// shortened by an earlier, shorter wait); without it the wait is `backoff(rounds)`.
    pub(super) fn on_429(
        &mut self,
        retry_after: Option<Duration>,
        now: DateTime<Utc>,
        backoff: impl FnOnce(u32) -> Duration,
    ) -> (DateTime<Utc>, bool) {
        self.storm_since.get_or_insert(now);
        let new_round = !self.holds(now);
        if new_round {
            self.rounds = self.rounds.saturating_add(1);
        }
        let wait = match retry_after {
            Some(d) => d,
            None if new_round => backoff(self.rounds),
            // Same round: the wait already set stands.
            None => Duration::zero(),
        };
        let resume = now.checked_add_signed(wait).unwrap_or(now);
        let extended = self.not_before.is_none_or(|t| t < resume);
        if extended {
            self.not_before = Some(resume);
        }
        (self.not_before.unwrap_or(resume), extended)
    }

    /// Bland placed a call: the storm is over; the next 429 starts from the first backoff.
    pub(super) fn reset(&mut self) {
        self.rounds = 0;
        self.storm_since = None;
    }

    /// Since when Bland has answered only 429, if it does.
    pub(super) fn throttled_since(&self) -> Option<DateTime<Utc>> {
        self.storm_since
    }

    /// The storm goes on, but is counted from `now` (after a safety stop for it).
    pub(super) fn restart_storm_clock(&mut self, now: DateTime<Utc>) {
        if self.storm_since.is_some() {
            self.storm_since = Some(now);
        }
    }
}

impl Dispatcher {
    /// Whether a 429 still holds every send back at `now`.
    pub(super) fn slowed_down(&self, now: DateTime<Utc>) -> bool {
        self.lock().slowdown.holds(now)
    }

    /// Slows the whole account down after a 429 (see [`Slowdown`]); returns when sends may
    /// resume.
    pub(super) fn slow_down(&self, retry_after: Option<StdDuration>, now: DateTime<Utc>) -> DateTime<Utc> {
        let retry_after = retry_after.and_then(|d| Duration::from_std(d).ok());
        let mut state = self.lock();
        let (resume, extended) = state.slowdown.on_429(retry_after, now, |rounds| self.backoff(rounds));
        if extended {
            warn!(wait_ms = (resume - now).num_milliseconds(), "Bland answered 429: the account slows down");
        }
        resume
    }

    /// Bland took a call: the next 429 starts the backoff from the beginning.
    pub(super) fn reset_backoff(&self) {
        self.lock().slowdown.reset();
    }

    /// The wait after the `consecutive`-th failure in a row: doubling from `min_backoff` up to
    /// `max_backoff`, with jitter.
    pub(super) fn backoff(&self, consecutive: u32) -> Duration {
        backoff(self.cfg.min_backoff, self.cfg.max_backoff, consecutive)
    }
}

/// Doubling from `min` up to `max`, the `consecutive`-th time, with full jitter on the upper
/// half, so many daemons (or restarts) do not retry in lockstep.
fn backoff(min: Duration, max: Duration, consecutive: u32) -> Duration {
    let exp = min.checked_mul(2i32.saturating_pow(consecutive.saturating_sub(1).min(16))).unwrap_or(max);
    let capped = exp.min(max);
    let half = capped.num_milliseconds() / 2;
    let jitter = if half > 0 { rand::random_range(0..=half) } else { 0 };
    Duration::milliseconds(half + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + s, 0).unwrap()
    }

    const MIN: Duration = Duration::seconds(1);
    const MAX: Duration = Duration::seconds(60);

    #[test]
    fn a_refunded_token_lets_one_more_call_out_and_refunds_never_exceed_the_burst() {
        let clock = crate::clock::ManualClock::new(t(0));
        let pacer = pacer(true, Some(60), Arc::new(clock.clone())).expect("a capped campaign is paced");
        assert_eq!(permitted(Some(&pacer), 100), 6, "a burst of a tenth of a minute's calls");
        assert_eq!(permitted(Some(&pacer), 100), 0, "the bucket is empty");
        pacer.refund();
        assert_eq!(permitted(Some(&pacer), 100), 1, "one send never placed: one more call");
        for _ in 0..100 {
            pacer.refund();
        }
        assert_eq!(permitted(Some(&pacer), 100), 6, "refunds are bounded by the burst");
        clock.advance(Duration::seconds(1));
        assert_eq!(permitted(Some(&pacer), 100), 1, "and the bucket refills at its rate");
    }

    #[test]
    fn a_round_of_429s_from_sends_in_flight_backs_off_once() {
        let mut s = Slowdown::default();
        let b = |n| backoff(MIN, MAX, n);
        let (first, _) = s.on_429(None, t(0), b);
        assert!(first <= t(1), "the first round waits at most min_backoff: {first}");
        // Fifty more sends of the same batch come back 429 a few ms later.
        for _ in 0..50 {
            s.on_429(None, t(0), b);
        }
        assert!(s.not_before.unwrap() <= t(1), "one storm, one backoff: {:?}", s.not_before);
        // The next round (after the wait) escalates once.
        let (second, _) = s.on_429(None, t(2), b);
        assert!(second > t(2) && second <= t(4), "{second}");
        // A placed call ends the storm: back to the first step.
        s.reset();
        let (after, _) = s.on_429(None, t(10), b);
        assert!(after <= t(11), "{after}");
    }

    #[test]
    fn retry_after_is_honoured_and_never_shortened_by_a_later_shorter_one() {
        let mut s = Slowdown::default();
        let b = |n| backoff(MIN, MAX, n);
        assert_eq!(s.on_429(Some(Duration::seconds(30)), t(0), b).0, t(30));
        assert_eq!(s.on_429(Some(Duration::seconds(5)), t(1), b).0, t(30));
        assert!(s.holds(t(29)) && !s.holds(t(30)));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_huge_counts_do_not_overflow() {
        for n in [1, 2, 3, 7, 30, u32::MAX] {
            let d = backoff(MIN, MAX, n);
            let cap = MIN.checked_mul(1 << (n - 1).min(6)).unwrap().min(MAX);
            assert!(d >= cap / 2 && d <= cap, "round {n}: {d} not in [{}, {cap}]", cap / 2);
        }
        assert!(backoff(Duration::hours(1), Duration::hours(1), u32::MAX) <= Duration::hours(1));
    }
}
