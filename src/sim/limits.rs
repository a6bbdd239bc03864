//! The account limits the simulator enforces: API requests per minute (a sliding window, as a
//! per-key limit behaves) and calls in progress at once. Pure bookkeeping over instants the
//! caller passes in; a refusal says how long until a slot frees, which becomes `Retry-After`.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct Limits {
    requests_per_minute: usize,
    recent: VecDeque<Instant>,
    max_concurrent: usize,
    /// (real end instant, call sequence number) of calls still in progress.
    active: BTreeSet<(Instant, u64)>,
}

impl Limits {
    /// 0 means unlimited for either.
    pub fn new(requests_per_minute: u32, max_concurrent: u32) -> Self {
        Self {
            requests_per_minute: requests_per_minute as usize,
            recent: VecDeque::with_capacity(requests_per_minute.min(100_000) as usize),
            max_concurrent: max_concurrent as usize,
            active: BTreeSet::new(),
        }
    }

    pub fn is_unlimited(&self) -> bool {
        self.requests_per_minute == 0 && self.max_concurrent == 0
    }

    /// Counts one API request, or says how long until the window has room.
    pub fn admit_request(&mut self, now: Instant) -> Result<(), Duration> {
        if self.requests_per_minute == 0 {
            return Ok(());
        }
        while let Some(&oldest) = self.recent.front() {
            if now.duration_since(oldest) >= MINUTE {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() >= self.requests_per_minute {
            let oldest = *self.recent.front().expect("full window is not empty");
            return Err(MINUTE - now.duration_since(oldest));
        }
        self.recent.push_back(now);
        Ok(())
    }

    /// Whether one more call may start now, or how long until one in progress ends.
    pub fn check_call(&mut self, now: Instant) -> Result<(), Duration> {
        if self.max_concurrent == 0 {
            return Ok(());
        }
        while let Some(&(end, seq)) = self.active.first() {
            if end <= now {
                self.active.remove(&(end, seq));
            } else {
                break;
            }
        }
        match self.active.first() {
            Some(&(end, _)) if self.active.len() >= self.max_concurrent => Err(end - now),
            _ => Ok(()),
        }
    }

    /// Records a started call that will end at `end` unless stopped.
    pub fn start_call(&mut self, end: Instant, seq: u64) {
        if self.max_concurrent > 0 {
            self.active.insert((end, seq));
        }
    }

    /// A call ended early (stopped): its slot frees now.
    pub fn end_call(&mut self, end: Instant, seq: u64) {
        self.active.remove(&(end, seq));
    }
}

/// `Retry-After` in whole seconds, rounded up so a client that obeys it is not refused again.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_window_slides_and_says_when_it_frees() {
        let t0 = Instant::now();
        let mut l = Limits::new(3, 0);
        for i in 0..3 {
            assert!(l.admit_request(t0 + Duration::from_secs(i)).is_ok());
        }
        assert_eq!(l.admit_request(t0 + Duration::from_secs(10)), Err(Duration::from_secs(50)));
        assert!(l.admit_request(t0 + Duration::from_secs(60)).is_ok());
        assert!(l.admit_request(t0 + Duration::from_secs(60)).is_err());
    }

    #[test]
    fn concurrent_calls_free_their_slot_at_their_end_or_when_stopped() {
        let t0 = Instant::now();
        let mut l = Limits::new(0, 2);
        let s = Duration::from_secs;
        l.check_call(t0).unwrap();
        l.start_call(t0 + s(30), 1);
        l.check_call(t0).unwrap();
        l.start_call(t0 + s(10), 2);
        assert_eq!(l.check_call(t0 + s(4)), Err(s(6)));
        assert!(l.check_call(t0 + s(10)).is_ok());
        l.start_call(t0 + s(50), 3);
        assert!(l.check_call(t0 + s(11)).is_err());
        l.end_call(t0 + s(30), 1);
        assert!(l.check_call(t0 + s(11)).is_ok());
    }

    #[test]
    fn zero_means_unlimited() {
        let t0 = Instant::now();
        let mut l = Limits::new(0, 0);
        assert!(l.is_unlimited());
        for i in 0..1000 {
            l.admit_request(t0).unwrap();
            l.check_call(t0).unwrap();
            l.start_call(t0 + Duration::from_secs(100), i);
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
