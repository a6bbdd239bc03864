//! Cap arithmetic over the dialing ledger: how many calls a campaign and the account may still
//! place now, given the dials of the last minute, hour and day and the calls still open.
//!
//! The ledger is rebuilt from the attempts table when the daemon starts and then kept in step
//! with every attempt it commits, so a restart never resets a cap and a tick costs no scan of
//! a day of attempts. Windows are sliding: "per hour" means in the 60 minutes before now.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::config::Limits;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Caps; `None` is no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    pub per_minute: Option<u32>,
    pub per_hour: Option<u32>,
    pub per_day: Option<u32>,
    pub concurrent: Option<u32>,
}

/// Dials counted in each sliding window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Used {
    pub minute: u32,
    pub hour: u32,
    pub day: u32,
}

impl Caps {
    /// A campaign's caps, from its `[limits]`: the one place a campaign's limits become caps.
    pub fn from_limits(limits: &Limits) -> Self {
        Self {
            per_minute: limits.calls_per_minute,
            per_hour: limits.calls_per_hour,
            per_day: limits.calls_per_day,
            concurrent: limits.max_concurrent,
        }
    }

    /// How many more calls fit now: the tightest cap's headroom (`u32::MAX` when uncapped).
    pub fn allowance(&self, used: Used, open: u32) -> u32 {
        self.headroom(used, open).map(|(_, room)| room).min().unwrap_or(u32::MAX)
    }

    /// Each cap that is set, with its headroom now: the cap less what it counts.
    pub fn headroom(&self, used: Used, open: u32) -> impl Iterator<Item = (Cap, u32)> + use<> {
        [
            (Cap::PerMinute, self.per_minute, used.minute),
            (Cap::PerHour, self.per_hour, used.hour),
            (Cap::PerDay, self.per_day, used.day),
            (Cap::Concurrent, self.concurrent, open),
        ]
        .into_iter()
        .filter_map(|(cap, limit, counted)| limit.map(|l| (cap, l.saturating_sub(counted))))
    }
}

/// The dials a [`crate::store::CapUsage`] counted (several daemons: every daemon's, from the
/// database rather than this daemon's ledger).
impl From<crate::store::CapUsage> for Used {
    fn from(u: crate::store::CapUsage) -> Self {
        Used { minute: u.minute, hour: u.hour, day: u.day }
    }
}

/// One of the [`Caps`], named as in the `[limits]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cap {
    PerMinute,
    PerHour,
    PerDay,
    Concurrent,
}

impl Cap {
    pub const fn as_str(self) -> &'static str {
        match self {
            Cap::PerMinute => "calls_per_minute",
            Cap::PerHour => "calls_per_hour",
            Cap::PerDay => "calls_per_day",
            Cap::Concurrent => "max_concurrent",
        }
    }
}

/// Dial times of the last day, for the account and per campaign (kept as milliseconds: the
/// window arithmetic is integer arithmetic on sorted queues).
#[derive(Debug, Default)]
pub struct Ledger {
    account: VecDeque<i64>,
    campaigns: HashMap<String, VecDeque<i64>>,
}

impl Ledger {
    /// From the attempts table's dials, oldest first.
    pub fn from_dials(dials: impl IntoIterator<Item = (String, DateTime<Utc>)>) -> Self {
        let mut ledger = Ledger::default();
        for (campaign, at) in dials {
            ledger.record(&campaign, at);
        }
        ledger
    }

    /// Takes back one dial of `campaign` at `at` (a send proven never placed): the cap's room
    /// comes back at once, as it would after a restart, which counts only placed attempts.
    pub fn forget(&mut self, campaign: &str, at: DateTime<Utc>) {
        let at = at.timestamp_millis();
        let remove = |times: &mut VecDeque<i64>| {
            let i = times.partition_point(|t| *t < at);
            if times.get(i) == Some(&at) {
                times.remove(i);
            }
        };
        remove(&mut self.account);
        if let Some(times) = self.campaigns.get_mut(campaign) {
            remove(times);
        }
    }

    pub fn record(&mut self, campaign: &str, at: DateTime<Utc>) {
        let at = at.timestamp_millis();
        insert_sorted(&mut self.account, at);
        insert_sorted(self.campaigns.entry(campaign.to_string()).or_default(), at);
    }

    /// Dials in the windows ending at `now`, for one campaign or (None) the account.
    pub fn used(&mut self, campaign: Option<&str>, now: DateTime<Utc>) -> Used {
        let now = now.timestamp_millis();
        let times = match campaign {
            None => &mut self.account,
            Some(c) => match self.campaigns.get_mut(c) {
                Some(t) => t,
                None => return Used::default(),
            },
        };
        while times.front().is_some_and(|t| *t <= now - DAY) {
            times.pop_front();
        }
        let since = |window: i64| times.len() - times.partition_point(|t| *t <= now - window);
        Used { minute: since(MINUTE) as u32, hour: since(HOUR) as u32, day: times.len() as u32 }
    }
}

fn insert_sorted(times: &mut VecDeque<i64>, at: i64) {
    // Dials arrive in time order; an out-of-order one (clock step) still lands in place.
    let i = times.partition_point(|t| *t <= at);
    times.insert(i, at);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn the_tightest_cap_decides_and_no_caps_means_unlimited() {
        let caps = Caps { per_minute: Some(30), per_hour: Some(100), per_day: None, concurrent: Some(10) };
        assert_eq!(caps.allowance(Used { minute: 5, hour: 95, day: 500 }, 2), 5);
        assert_eq!(caps.allowance(Used { minute: 5, hour: 10, day: 500 }, 9), 1);
        assert_eq!(caps.allowance(Used { minute: 40, hour: 10, day: 0 }, 0), 0);
        assert_eq!(Caps::default().allowance(Used { minute: 9, hour: 9, day: 9 }, 9), u32::MAX);
    }

    #[test]
    fn headroom_lists_only_the_caps_that_are_set_each_less_what_it_counts() {
        let caps = Caps { per_minute: Some(30), per_hour: None, per_day: Some(100), concurrent: Some(10) };
        let room: Vec<(Cap, u32)> = caps.headroom(Used { minute: 5, hour: 95, day: 120 }, 2).collect();
        assert_eq!(room, [(Cap::PerMinute, 25), (Cap::PerDay, 0), (Cap::Concurrent, 8)]);
        assert_eq!(Caps::default().headroom(Used::default(), 0).count(), 0);
    }

    #[test]
    fn a_campaigns_limits_become_its_caps_and_absent_limits_no_cap() {
        let limits = Limits {
            calls_per_minute: Some(30),
            calls_per_hour: None,
            calls_per_day: Some(5000),
            max_concurrent: Some(10),
            max_spend_usd: None,
        };
        let caps = Caps::from_limits(&limits);
        assert_eq!(caps, Caps { per_minute: Some(30), per_hour: None, per_day: Some(5000), concurrent: Some(10) });
    }

    #[test]
    fn a_forgotten_dial_gives_its_room_back_to_the_campaign_and_the_account() {
        let mut ledger =
            Ledger::from_dials([("a".to_string(), t(1_000)), ("a".to_string(), t(2_000)), ("b".to_string(), t(2_000))]);
        ledger.forget("a", t(2_000));
        assert_eq!(ledger.used(Some("a"), t(3_000)).minute, 1);
        assert_eq!(ledger.used(Some("b"), t(3_000)).minute, 1, "another campaign's dial at the same time stays");
        assert_eq!(ledger.used(None, t(3_000)).minute, 2);
        ledger.forget("a", t(5_000)); // never recorded: nothing changes
        assert_eq!(ledger.used(None, t(3_000)).minute, 2);
    }

    #[test]
    fn windows_slide_and_old_dials_fall_out() {
        let now = 10 * DAY;
        let mut l = Ledger::from_dials([
            ("a".to_string(), t(now - DAY - 1)),
            ("a".to_string(), t(now - DAY + 1)),
            ("a".to_string(), t(now - HOUR + 1)),
            ("b".to_string(), t(now - MINUTE)),
            ("a".to_string(), t(now - 1)),
        ]);
        assert_eq!(l.used(Some("a"), t(now)), Used { minute: 1, hour: 2, day: 3 });
        assert_eq!(l.used(None, t(now)), Used { minute: 1, hour: 3, day: 4 });
        assert_eq!(l.used(Some("b"), t(now + 1)), Used { minute: 0, hour: 1, day: 1 });
        assert_eq!(l.used(Some("zzz"), t(now)), Used::default());
        assert_eq!(l.used(None, t(now + DAY)), Used { minute: 0, hour: 0, day: 0 });
    }

    #[test]
    fn a_dial_recorded_out_of_order_is_still_counted_in_its_window() {
        let mut l = Ledger::default();
        l.record("a", t(1_000_000));
        l.record("a", t(900_000));
        assert_eq!(l.used(Some("a"), t(1_000_000)).minute, 1);
        assert_eq!(l.used(Some("a"), t(1_000_000)).hour, 2);
    }
}
