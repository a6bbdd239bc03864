//! How fast the dispatcher may go: each campaign's `calls_per_minute` smoothed by a token bucket
//! (`governor`, on the injected clock), and the account-wide slowdown after Bland answers 429.
//! The caps' hour and day counts are the ledger's (`ledger.rs`); this file only spreads the
//! allowance over time. A campaign's pacer is made when its plan is (re)read and kept with it;
//! the slowdown is one instant for the whole account, read by every step before it claims.

use std::num::NonZeroU32;
use std::sync::Arc;
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

pub(super) type Pacer = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    PacingClock,
    governor::middleware::NoOpMiddleware<StdDuration>,
>;

/// A token bucket for `per_minute` calls, or `None` when pacing is off or the campaign sets no
/// per-minute limit.
pub(super) fn pacer(pacing: bool, per_minute: Option<u32>, clock: Arc<dyn Clock>) -> Option<Arc<Pacer>> {
    let per_minute = NonZeroU32::new(per_minute.filter(|_| pacing)?).expect("limits are positive");
    // A burst of a tenth of a minute's calls: smooth, but not one at a time.
    let burst = NonZeroU32::new((per_minute.get() / 10).max(1)).expect("at least one");
    let quota = Quota::per_minute(per_minute).allow_burst(burst);
    Some(Arc::new(RateLimiter::direct_with_clock(quota, PacingClock(clock))))
}

/// How many of `room` calls the pacer lets out now (each one takes a token).
pub(super) fn permitted(pacer: Option<&Pacer>, room: u32) -> u32 {
    let Some(pacer) = pacer else { return room };
    let mut permitted = 0;
    while permitted < room && pacer.check().is_ok() {
        permitted += 1;
    }
    permitted
}

impl Dispatcher {
    /// Whether a 429 still holds every send back at `now`.
    pub(super) fn slowed_down(&self, now: DateTime<Utc>) -> bool {
        self.lock().not_before.is_some_and(|t| t > now)
    }

    /// Slows the whole account down after a 429: until `Retry-After`, else by exponential
    /// backoff. Returns when sends may resume; one slowdown however many sends saw the 429.
    pub(super) fn slow_down(&self, retry_after: Option<StdDuration>, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut state = self.lock();
        state.consecutive_429 += 1;
        let wait =
            retry_after.and_then(|d| Duration::from_std(d).ok()).unwrap_or_else(|| self.backoff(state.consecutive_429));
        let resume = now + wait;
        if state.not_before.is_none_or(|t| t < resume) {
            state.not_before = Some(resume);
            warn!(wait_ms = wait.num_milliseconds(), "Bland answered 429: the account slows down");
        }
        state.not_before.unwrap_or(resume)
    }

    /// Bland took a call: the next 429 starts the backoff from the beginning.
    pub(super) fn reset_backoff(&self) {
        self.lock().consecutive_429 = 0;
    }

    /// The wait after the `consecutive`-th failure in a row: doubling from `min_backoff` up to
    /// `max_backoff`, with jitter.
    pub(super) fn backoff(&self, consecutive: u32) -> Duration {
        let exp = self.cfg.min_backoff * 2i32.saturating_pow(consecutive.saturating_sub(1).min(16));
        let capped = exp.min(self.cfg.max_backoff);
        // Full jitter on the upper half, so many daemons (or restarts) do not retry in lockstep.
        let half = capped.num_milliseconds() / 2;
        let jitter = if half > 0 { rand::random_range(0..=half) } else { 0 };
        Duration::milliseconds(half + jitter)
    }
}
