//! Why a campaign is not dialling: its recipients still to call, split into those dialable now,
//! those waiting for their window (by zone, with the next opening on their own clock), for the
//! campaign's start, for a retry, and whether a cap holds the dialable ones back (and which).
//!
//! A pure function of what the store counts (queued and waiting jobs by zone, from the job
//! counters; dials in the last minute, hour and day; calls in flight), the campaign's window and
//! the caps, at `now`: `campaign show`, the API and the dashboard all read it.

use chrono::{DateTime, DurationRound, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::compliance::Region;
use crate::dispatcher::ledger::{Caps, Used};
use crate::store::JobState;
use crate::window::{DialWindow, Recipient};

/// Jobs of one state, set of zones and set of regions (the job counters' rows).
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneJobs {
    pub zones: Vec<Tz>,
    /// The states (provinces) whose rules apply to them.
    pub regions: Vec<Region>,
    pub state: JobState,
    pub jobs: i64,
}

/// What the caps have been asked for lately, for one campaign and for the account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub campaign: Used,
    pub campaign_open: u32,
    pub account: Used,
    pub account_open: u32,
}

/// The recipients still to call, by why they are or are not being called now.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Queue {
    /// Queued in a zone open now (the dispatcher claims them as the caps allow).
    pub dialable_now: i64,
    /// The same by zone set, most recipients first: the zones open now.
    pub open_zones: Vec<ZoneOpen>,
    /// Queued in zones closed now, by zone set, soonest opening first.
    pub waiting_for_window: Vec<ZoneWait>,
    /// Queued, but the campaign's start is ahead (all of them, whatever their zone).
    pub waiting_for_start: i64,
    /// Waiting for a retry's delay to pass.
    pub waiting_for_retry: i64,
    /// The cap that holds the dialable ones back now, if one does: `campaign calls_per_minute`,
    /// `account max_concurrent`, … (the first of them that is full).
    pub held_by_cap: Option<String>,
    /// When every queued recipient will have had their next call at the caps and windows in
    /// force ([`forecast`]); `None` if not within the forecast's horizon.
    pub forecast_finish: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ZoneOpen {
    /// The zones (`|`-joined), each open now.
    pub zones: String,
    pub jobs: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ZoneWait {
    /// The zones (`|`-joined) in all of which the recipients must be open.
    pub zones: String,
    /// The states (provinces, `|`-joined) whose rules apply too; empty when none is known.
    pub regions: String,
    pub jobs: i64,
    /// When they may next be called (`None`: never again, e.g. past the campaign's end).
    pub next_opening: Option<DateTime<Utc>>,
    /// The same, on the clock of the first zone (`2026-06-02 09:00 HST`).
    pub next_opening_local: Option<String>,
}

/// The queue of a running campaign at `now`.
pub fn queue(
    window: &DialWindow,
    rows: &[ZoneJobs],
    campaign_caps: &Caps,
    account_caps: &Caps,
    usage: &Usage,
    now: DateTime<Utc>,
) -> Queue {
    let mut q = Queue::default();
    let queued = rows.iter().filter(|r| r.state == JobState::Queued);
    q.waiting_for_retry = rows.iter().filter(|r| r.state == JobState::RetryWait).map(|r| r.jobs).sum();
    if let Some(start) = window.start.filter(|s| *s > now) {
        q.waiting_for_start = queued.map(|r| r.jobs).sum();
        q.forecast_finish = forecast(window, rows, &[*campaign_caps, *account_caps], start);
        return q;
    }
    for r in queued {
        let names: Vec<&str> = r.zones.iter().map(|z| z.name()).collect();
        let key = names.join("|");
        let recipient = Recipient { zones: &r.zones, regions: &r.regions };
        if window.is_open_for(&recipient, now) {
            q.dialable_now += r.jobs;
            match q.open_zones.iter_mut().find(|o| o.zones == key) {
                Some(o) => o.jobs += r.jobs,
                None => q.open_zones.push(ZoneOpen { zones: key, jobs: r.jobs }),
            }
            continue;
        }
        let next = window.next_opening_for(&recipient, now);
        let local = match (next, r.zones.first()) {
            (Some(t), Some(zone)) => Some(t.with_timezone(zone).format("%Y-%m-%d %H:%M %Z").to_string()),
            _ => None,
        };
        let regions = Region::joined(&r.regions);
        match q.waiting_for_window.iter_mut().find(|w| w.zones == key && w.regions == regions) {
            Some(w) => w.jobs += r.jobs,
            None => q.waiting_for_window.push(ZoneWait {
                zones: key,
                regions,
                jobs: r.jobs,
                next_opening: next,
                next_opening_local: local,
            }),
        }
    }
    q.open_zones.sort_by(|a, b| (b.jobs, &a.zones).cmp(&(a.jobs, &b.zones)));
    q.waiting_for_window.sort_by(|a, b| {
        (a.next_opening.is_none(), a.next_opening, &a.zones, &a.regions).cmp(&(
            b.next_opening.is_none(),
            b.next_opening,
            &b.zones,
            &b.regions,
        ))
    });
    q.forecast_finish = forecast(window, rows, &[*campaign_caps, *account_caps], now);
    if q.dialable_now > 0 {
        q.held_by_cap = full_cap("campaign", campaign_caps, usage.campaign, usage.campaign_open)
            .or_else(|| full_cap("account", account_caps, usage.account, usage.account_open));
    }
    q
}

/// The first cap with no room left, named as in the config.
fn full_cap(whose: &str, caps: &Caps, used: Used, open: u32) -> Option<String> {
    [
        ("calls_per_minute", caps.per_minute, used.minute),
        ("calls_per_hour", caps.per_hour, used.hour),
        ("calls_per_day", caps.per_day, used.day),
        ("max_concurrent", caps.concurrent, open),
    ]
    .into_iter()
    .find(|(_, cap, n)| cap.is_some_and(|c| *n >= c))
    .map(|(name, cap, n)| format!("{whose} {name} ({n} of {})", cap.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{Compliance, WeeklyHours};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn window(start: Option<DateTime<Utc>>) -> DialWindow {
        let hours = WeeklyHours::parse([("mon-sun", "09:00-20:00")]).unwrap();
        DialWindow { start, ..DialWindow::new(hours, Compliance::default()) }
    }

    fn rows() -> Vec<ZoneJobs> {
        let z = |n: &str| -> Vec<Tz> { n.split('|').map(|z| z.parse().unwrap()).collect() };
        vec![
            ZoneJobs { regions: vec![], zones: z("America/New_York"), state: JobState::Queued, jobs: 100 },
            ZoneJobs { regions: vec![], zones: z("Pacific/Honolulu"), state: JobState::Queued, jobs: 40 },
            ZoneJobs { regions: vec![], zones: z("America/Los_Angeles"), state: JobState::Queued, jobs: 30 },
            ZoneJobs { regions: vec![], zones: z("America/New_York"), state: JobState::RetryWait, jobs: 7 },
        ]
    }

    #[test]
    fn queued_recipients_split_by_whether_their_zone_is_open_with_the_next_opening_on_their_clock() {
        // 14:00 UTC on a Monday in June: 10:00 in New York, 07:00 in Los Angeles, 04:00 in Honolulu.
        let q = queue(
            &window(None),
            &rows(),
            &Caps::default(),
            &Caps::default(),
            &Usage::default(),
            t("2026-06-01T14:00:00Z"),
        );
        assert_eq!((q.dialable_now, q.waiting_for_retry, q.waiting_for_start), (100, 7, 0));
        let waits: Vec<(&str, i64, Option<&str>)> =
            q.waiting_for_window.iter().map(|w| (w.zones.as_str(), w.jobs, w.next_opening_local.as_deref())).collect();
        assert_eq!(
            waits,
            vec![
                ("America/Los_Angeles", 30, Some("2026-06-01 09:00 PDT")),
                ("Pacific/Honolulu", 40, Some("2026-06-01 09:00 HST")),
            ]
        );
        assert_eq!(q.waiting_for_window[0].next_opening, Some(t("2026-06-01T16:00:00Z")));
        assert_eq!(q.open_zones, vec![ZoneOpen { zones: "America/New_York".into(), jobs: 100 }]);
        assert_eq!(q.held_by_cap, None);
    }

    #[test]
    fn before_the_start_every_queued_recipient_waits_for_it() {
        let q = queue(
            &window(Some(t("2026-06-02T00:00:00Z"))),
            &rows(),
            &Caps::default(),
            &Caps::default(),
            &Usage::default(),
            t("2026-06-01T14:00:00Z"),
        );
        assert_eq!((q.waiting_for_start, q.dialable_now, q.waiting_for_retry), (170, 0, 7));
        assert!(q.waiting_for_window.is_empty());
    }

    #[test]
    fn a_full_cap_is_named_campaign_first_then_account() {
        let campaign = Caps { per_minute: Some(30), per_hour: Some(1000), ..Caps::default() };
        let account = Caps { concurrent: Some(10), ..Caps::default() };
        let now = t("2026-06-01T14:00:00Z");
        let usage = |minute, open| Usage {
            campaign: Used { minute, hour: minute, day: minute },
            campaign_open: open,
            account: Used { minute, hour: minute, day: minute },
            account_open: open,
        };
        let held = |u: Usage| queue(&window(None), &rows(), &campaign, &account, &u, now).held_by_cap;
        assert_eq!(held(usage(29, 3)), None);
        assert_eq!(held(usage(30, 3)).as_deref(), Some("campaign calls_per_minute (30 of 30)"));
        assert_eq!(held(usage(5, 10)).as_deref(), Some("account max_concurrent (10 of 10)"));
    }
}

/// The furthest a forecast looks ahead.
pub const FORECAST_HORIZON_DAYS: i64 = 60;

/// When the queued recipients will all have had their next call, at the caps and windows in
/// force: a minute-by-minute simulation from `now` in which each minute's allowance (the
/// tightest of the per-minute cap and what the sliding hour and day caps have left) goes to the
/// recipients whose window is open in that minute, jumping over minutes in which none is. `None`
/// when that is not within [`FORECAST_HORIZON_DAYS`] (or never: past the campaign's end).
///
/// What it leaves out, on purpose: the concurrency caps (they depend on how long calls last),
/// retries still to come, and pacing's smoothing within a minute.
pub fn forecast(window: &DialWindow, rows: &[ZoneJobs], caps: &[Caps], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Simulation::new(window, rows, caps, now).run(true)
}

/// The state of a forecast: recipients left by zone set, and the dials of the last day by minute.
struct Simulation<'a> {
    window: &'a DialWindow,
    left: Vec<(Vec<Tz>, Vec<Region>, i64)>,
    per_minute: Option<i64>,
    per_hour: Option<i64>,
    per_day: Option<i64>,
    /// Dials in each of the last 1,440 minutes, oldest first.
    recent: std::collections::VecDeque<i64>,
    minute: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl<'a> Simulation<'a> {
    fn new(window: &'a DialWindow, rows: &[ZoneJobs], caps: &[Caps], now: DateTime<Utc>) -> Self {
        let tightest = |f: fn(&Caps) -> Option<u32>| caps.iter().filter_map(f).min().map(i64::from);
        let mut left: Vec<(Vec<Tz>, Vec<Region>, i64)> = Vec::new();
        for r in rows.iter().filter(|r| r.state == JobState::Queued && r.jobs > 0) {
            match left.iter_mut().find(|(z, g, _)| *z == r.zones && *g == r.regions) {
                Some((_, _, n)) => *n += r.jobs,
                None => left.push((r.zones.clone(), r.regions.clone(), r.jobs)),
            }
        }
        let minute = now.duration_trunc(chrono::Duration::minutes(1)).unwrap_or(now);
        Self {
            window,
            left,
            per_minute: tightest(|c| c.per_minute),
            per_hour: tightest(|c| c.per_hour),
            per_day: tightest(|c| c.per_day),
            recent: std::iter::repeat_n(0, 1440).collect(),
            minute,
            end: minute + chrono::Duration::days(FORECAST_HORIZON_DAYS),
        }
    }

    /// Runs to the end; `jump` skips minutes in which no zone is open (the forecast), without it
    /// every minute is walked (the tests' oracle).
    fn run(mut self, jump: bool) -> Option<DateTime<Utc>> {
        let mut last = None;
        while self.left.iter().any(|(_, _, n)| *n > 0) {
            if self.minute >= self.end {
                return None;
            }
            let open: Vec<usize> = (0..self.left.len())
                .filter(|i| {
                    let (zones, regions, n) = &self.left[*i];
                    *n > 0 && self.window.is_open_for(&Recipient { zones, regions }, self.minute)
                })
                .collect();
            if open.is_empty() && jump {
                let next = (self.left.iter().filter(|(_, _, n)| *n > 0))
                    .filter_map(|(zones, regions, _)| {
                        self.window.next_opening_for(&Recipient { zones, regions }, self.minute)
                    })
                    .min()?;
                let skipped = (next - self.minute).num_minutes().max(1);
                self.advance(skipped.min(1441));
                self.minute = next.duration_trunc(chrono::Duration::minutes(1)).unwrap_or(next).max(self.minute);
                continue;
            }
            let hour: i64 = self.recent.iter().rev().take(59).sum();
            let day: i64 = self.recent.iter().rev().take(1439).sum();
            let mut room = [self.per_minute, self.per_hour.map(|c| c - hour), self.per_day.map(|c| c - day)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(i64::MAX)
                .max(0);
            let mut dialled = 0;
            for i in open {
                let n = self.left[i].2.min(room);
                self.left[i].2 -= n;
                room -= n;
                dialled += n;
            }
            if dialled > 0 {
                last = Some(self.minute);
            }
            self.recent.pop_front();
            self.recent.push_back(dialled);
            self.minute += chrono::Duration::minutes(1);
        }
        last.map(|t| t + chrono::Duration::minutes(1))
    }

    /// `minutes` minutes without dials.
    fn advance(&mut self, minutes: i64) {
        for _ in 0..minutes.min(1440) {
            self.recent.pop_front();
            self.recent.push_back(0);
        }
    }
}

#[cfg(test)]
mod forecast_tests {
    use super::*;
    use crate::window::{Compliance, WeeklyHours};
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn window(hours: &str) -> DialWindow {
        let hours = WeeklyHours::parse([("mon-fri", hours)]).unwrap();
        DialWindow::new(hours, Compliance::default())
    }

    fn rows(spec: &[(&str, i64)]) -> Vec<ZoneJobs> {
        spec.iter()
            .map(|(z, n)| ZoneJobs {
                zones: vec![z.parse().unwrap()],
                regions: vec![],
                state: JobState::Queued,
                jobs: *n,
            })
            .collect()
    }

    #[test]
    fn an_open_zone_at_a_per_minute_cap_finishes_after_queue_over_cap_minutes() {
        let caps = [Caps { per_minute: Some(30), ..Caps::default() }];
        // Monday 10:00 in New York, 300 recipients at 30 a minute: ten minutes.
        let end =
            forecast(&window("09:00-20:00"), &rows(&[("America/New_York", 300)]), &caps, t("2026-06-01T14:00:00Z"));
        assert_eq!(end, Some(t("2026-06-01T14:10:00Z")));
    }

    #[test]
    fn a_closed_zone_waits_for_its_opening_and_an_hour_cap_stretches_the_day() {
        // 100 in Honolulu (opens 09:00 HST = 19:00 UTC) at 60/min but 120/hour: 60 at 19:00,
        // 60 more an hour later would exceed 100: the last 40 go at 20:00.
        let caps = [Caps { per_minute: Some(60), per_hour: Some(60), ..Caps::default() }];
        let end =
            forecast(&window("09:00-20:00"), &rows(&[("Pacific/Honolulu", 100)]), &caps, t("2026-06-01T14:00:00Z"));
        assert_eq!(end, Some(t("2026-06-01T20:01:00Z")));
    }

    #[test]
    fn nothing_left_is_finished_now_and_a_queue_past_the_horizon_is_none() {
        let caps = [Caps { per_minute: Some(1), per_day: Some(1), ..Caps::default() }];
        assert_eq!(forecast(&window("09:00-20:00"), &[], &caps, t("2026-06-01T14:00:00Z")), None);
        let far =
            forecast(&window("09:00-20:00"), &rows(&[("America/New_York", 100)]), &caps, t("2026-06-01T14:00:00Z"));
        assert_eq!(far, None, "one a day for 100 days is past the horizon");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Jumping over closed minutes changes nothing: the forecast equals the walk of every minute.
        #[test]
        fn the_forecast_equals_a_minute_by_minute_walk(
            ny in 0i64..400, hnl in 0i64..400, la in 0i64..400,
            per_minute in 1u32..50, per_hour in prop::option::of(30u32..600), per_day in prop::option::of(200u32..3000),
            start_minute in 0i64..(7 * 1440),
        ) {
            let now = t("2026-06-01T00:00:00Z") + chrono::Duration::minutes(start_minute);
            let caps = [Caps { per_minute: Some(per_minute), per_hour, per_day, concurrent: None }];
            let rows = rows(&[("America/New_York", ny), ("Pacific/Honolulu", hnl), ("America/Los_Angeles", la)]);
            let w = window("09:00-17:00");
            let fast = forecast(&w, &rows, &caps, now);
            let walked = Simulation::new(&w, &rows, &caps, now).run(false);
            prop_assert_eq!(fast, walked);
        }
    }
}
