//! The window maths: is a recipient open at an instant, when does it next open, when does it close.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use super::WeeklyHours;
use super::cron::CronRuns;
use super::hours::{DAY_SECS, end_of_day_secs};
use super::zone::{earliest, earliest_on, offset_secs, transition_in, wall};
use crate::compliance::{Region, RuleSet};
use smallvec::SmallVec;

/// An operator's emergency blackout (`switchboard blackout add`): nobody in `region`, or in
/// `zone`, is dialled in `[start, until)`, whatever else allows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Blackout {
    pub id: i64,
    pub region: Option<Region>,
    pub zone: Option<Tz>,
    pub start: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub reason: String,
}

impl Blackout {
    /// Whether it covers a recipient in these zones and regions (at some time).
    pub fn covers(&self, r: &Recipient<'_>) -> bool {
        self.region.is_some_and(|g| r.regions.contains(&g)) || self.zone.is_some_and(|z| r.zones.contains(&z))
    }
}

/// Who is called, as the window sees them: every zone and every region (state, province) they
/// may be in. Open means open in every one of them.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub zones: &'a [Tz],
    pub regions: &'a [Region],
}

impl<'a> Recipient<'a> {
    /// A recipient known only by zones (no region rules apply).
    pub fn zones(zones: &'a [Tz]) -> Self {
        Recipient { zones, regions: &[] }
    }
}

/// A day's open spans (seconds after midnight), sorted and disjoint; a few at most.
type Spans = SmallVec<[(u32, u32); 4]>;

/// How far ahead [`DialWindow::next_opening`] and [`DialWindow::closes_at`] look (two years,
/// counted from the campaign start when that is later): beyond it a window is taken as never
/// opening / never closing. Keeps every call bounded whatever the schedule.
pub const SEARCH_HORIZON_DAYS: i64 = 732;

/// The daemon's hard guard: never dial outside `[earliest, latest)` recipient local time,
/// whatever a campaign says. `latest` = `00:00` means the end of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compliance {
    pub earliest: NaiveTime,
    pub latest: NaiveTime,
}

impl Default for Compliance {
    /// 08:00–21:00, the US TCPA calling hours.
    fn default() -> Self {
        Compliance {
            earliest: NaiveTime::from_hms_opt(8, 0, 0).expect("valid time"),
            latest: NaiveTime::from_hms_opt(21, 0, 0).expect("valid time"),
        }
    }
}

impl std::fmt::Display for Compliance {
    /// `08:00-21:00`, as a [`super::TimeRange`] writes it (`24:00` for a `latest` of `00:00`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (lo, hi) = (self.earliest.num_seconds_from_midnight(), end_of_day_secs(self.latest));
        match super::TimeRange::from_secs(lo, hi) {
            Some(r) => write!(f, "{r}"),
            None => write!(f, "{}-{}", self.earliest.format("%H:%M"), self.latest.format("%H:%M")),
        }
    }
}

/// Everything that decides whether a recipient may be dialled at an instant.
#[derive(Debug, Clone)]
pub struct DialWindow {
    pub hours: WeeklyHours,
    /// Recipient local dates on which nobody is called.
    pub blackout_dates: BTreeSet<NaiveDate>,
    /// First instant of the campaign (inclusive).
    pub start: Option<DateTime<Utc>>,
    /// End of the campaign (exclusive).
    pub end: Option<DateTime<Utc>>,
    pub cron: Option<CronRuns>,
    pub compliance: Compliance,
    /// The state rules, for a telemarketing campaign (`None`: federal hours only).
    pub state_rules: Option<Arc<RuleSet>>,
    /// Emergency blackouts in force or ahead.
    pub blackouts: Arc<[Blackout]>,
}

impl DialWindow {
    /// A window with these hours under this guard, and no blackouts, start, end or cron.
    pub fn new(hours: WeeklyHours, compliance: Compliance) -> Self {
        DialWindow {
            hours,
            blackout_dates: BTreeSet::new(),
            start: None,
            end: None,
            cron: None,
            compliance,
            state_rules: None,
            blackouts: Arc::from([]),
        }
    }

    /// Open at `at` for a recipient whose plausible zones are `zones`: open only when open in
    /// every zone (the "strictest" policy; callers pass one zone for the others). Empty `zones`
    /// is closed.
    pub fn is_open(&self, zones: &[Tz], at: DateTime<Utc>) -> bool {
        self.is_open_for(&Recipient::zones(zones), at)
    }

    /// [`DialWindow::is_open`] for a recipient with regions: the state rules of every region
    /// (for a telemarketing campaign) and the blackouts of every region and zone apply too.
    pub fn is_open_for(&self, r: &Recipient<'_>, at: DateTime<Utc>) -> bool {
        !r.zones.is_empty()
            && self.in_campaign(at)
            && self.blackout_until(r, at).is_none()
            && r.zones.iter().all(|&z| self.zone_open(z, r.regions, at))
            && self.cron.as_ref().is_none_or(|c| c.is_running(at))
    }

    /// The earliest instant `>= from` at which [`DialWindow::is_open`] holds; `None` when it
    /// never will within [`SEARCH_HORIZON_DAYS`] of `max(from, start)` (past `end`, no hours,
    /// zones whose hours never overlap, …). Exact to the nanosecond at every boundary.
    pub fn next_opening(&self, zones: &[Tz], from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_opening_for(&Recipient::zones(zones), from)
    }

    /// [`DialWindow::next_opening`] for a recipient with regions (see [`DialWindow::is_open_for`]).
    pub fn next_opening_for(&self, r: &Recipient<'_>, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let zones = r.zones;
        if zones.is_empty() {
            return None;
        }
        // Each constraint can say where it next holds; jumping to that point never overshoots
        // the common answer (every constraint holds there), and each jump moves forward to a
        // boundary, so this ends after a few jumps per boundary crossed.
        let mut t = self.start.map_or(from, |s| s.max(from));
        let limit = t + Duration::days(SEARCH_HORIZON_DAYS);
        'jump: loop {
            if t > limit || self.end.is_some_and(|e| t >= e) {
                return None;
            }
            if let Some(until) = self.blackout_until(r, t) {
                t = until;
                continue 'jump;
            }
            for &z in zones {
                let n = self.zone_next_open(z, r.regions, t, limit)?;
                if n > t {
                    t = n;
                    continue 'jump;
                }
            }
            if let Some(c) = &self.cron {
                let n = c.next_running(t)?;
                if n > t {
                    t = n;
                    continue 'jump;
                }
            }
            return Some(t);
        }
    }

    /// The first instant `>= at` at which [`DialWindow::is_open`] is false: `Some(at)` when
    /// already closed, `None` when it stays open for the whole search horizon.
    pub fn closes_at(&self, zones: &[Tz], at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.closes_at_for(&Recipient::zones(zones), at)
    }

    /// [`DialWindow::closes_at`] for a recipient with regions (see [`DialWindow::is_open_for`]).
    pub fn closes_at_for(&self, r: &Recipient<'_>, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.is_open_for(r, at) {
            return Some(at);
        }
        let limit = at + Duration::days(SEARCH_HORIZON_DAYS);
        let mut close = self.end.map_or(limit, |e| e.min(limit));
        for b in self.blackouts.iter().filter(|b| b.start > at && b.until > b.start && b.covers(r)) {
            close = close.min(b.start);
        }
        for &z in r.zones {
            close = self.zone_next_closed(z, r.regions, at, close);
        }
        if let Some(c) = &self.cron {
            close = c.stops_at(at, close);
        }
        (close < limit || self.end == Some(close)).then_some(close)
    }

    /// The open span that `at` falls in on the recipient's clock in `zone`: the local weekday
    /// and that day's weekly range cut to the compliance hours (`tue`, `09:00-20:00`); `None`
    /// when the clock then shows a time outside every span. What an audit shows as "the window
    /// that allowed the call" (blackouts, start, end and cron are [`DialWindow::is_open`]'s).
    pub fn span_at(&self, zone: Tz, at: DateTime<Utc>) -> Option<(Weekday, super::TimeRange)> {
        self.span_at_for(zone, &[], at)
    }

    /// [`DialWindow::span_at`] with the state rules of `regions` cutting the span too.
    pub fn span_at_for(&self, zone: Tz, regions: &[Region], at: DateTime<Utc>) -> Option<(Weekday, super::TimeRange)> {
        let local = wall(zone, at);
        let date = local.date();
        let secs = local.time().num_seconds_from_midnight();
        let (start, end) = self.spans(date, regions).into_iter().find(|&(s, e)| s <= secs && secs < e)?;
        Some((date.weekday(), super::TimeRange::from_secs(start, end)?))
    }

    /// The end of the blackout covering the recipient at `at` (the latest, when several
    /// overlap), or `None`.
    fn blackout_until(&self, r: &Recipient<'_>, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.blackouts.iter().filter(|b| b.start <= at && at < b.until && b.covers(r)).map(|b| b.until).max()
    }

    fn in_campaign(&self, at: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| at >= s) && self.end.is_none_or(|e| at < e)
    }

    /// Whether `secs` (after midnight) on `date` is inside an open span for `regions`.
    fn in_span(&self, date: NaiveDate, regions: &[Region], secs: u32) -> bool {
        let (lo, hi) = self.guard();
        if secs < lo || secs >= hi {
            return false;
        }
        let weekly = self.hours.ranges(date.weekday()).iter().any(|r| r.start_secs() <= secs && secs < r.end_secs());
        weekly && self.state_day(regions, date).is_none_or(|d| d.contains(secs))
    }

    /// The open spans of `date` for a recipient in `regions`, as (start, end) seconds after
    /// midnight: the weekly ranges of its weekday, cut to the compliance hours and, for a
    /// telemarketing campaign, to the regions' state rules of that date (hours, Sunday bans,
    /// holidays).
    fn spans(&self, date: NaiveDate, regions: &[Region]) -> Spans {
        let (lo, hi) = self.guard();
        let weekly = self
            .hours
            .ranges(date.weekday())
            .iter()
            .map(move |r| (r.start_secs().max(lo), r.end_secs().min(hi)))
            .filter(|(s, e)| s < e);
        let Some(state) = self.state_day(regions, date) else {
            return weekly.collect();
        };
        let mut out = Spans::new();
        for (s, e) in weekly {
            for span in state.spans() {
                let (a, b) = (s.max(span.start), e.min(span.end));
                if a < b {
                    out.push((a, b));
                }
            }
        }
        out
    }

    /// The state rules' spans of `date` for `regions`, when any rules apply.
    fn state_day<'r>(&'r self, regions: &[Region], date: NaiveDate) -> Option<crate::compliance::DaySpans<'r>> {
        match &self.state_rules {
            Some(rules) if !regions.is_empty() => Some(rules.day_spans(regions, date)),
            _ => None,
        }
    }

    fn guard(&self) -> (u32, u32) {
        (self.compliance.earliest.num_seconds_from_midnight(), end_of_day_secs(self.compliance.latest))
    }

    fn blacked_out(&self, date: NaiveDate) -> bool {
        !self.blackout_dates.is_empty() && self.blackout_dates.contains(&date)
    }

    /// Hours, compliance and blackouts in one zone.
    fn zone_open(&self, zone: Tz, regions: &[Region], at: DateTime<Utc>) -> bool {
        let local = wall(zone, at);
        let date = local.date();
        self.in_span(date, regions, local.time().num_seconds_from_midnight())
            && !self.blacked_out(date)
            // Every wall-clock time counts once: the second pass of a fall-back's repeated
            // hour is closed.
            && earliest(zone, local) == at
    }

    /// The earliest instant `>= t` (and `<= limit`) at which the zone is open. The zone opens
    /// only where the clock first reaches a span's start (the end of the gap for a skipped
    /// start) or where a fall-back's repeated stretch ends, so those are the only candidates.
    fn zone_next_open(
        &self,
        zone: Tz,
        regions: &[Region],
        t: DateTime<Utc>,
        limit: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if self.zone_open(zone, regions, t) {
            return Some(t);
        }
        // From the day before: a fall-back across midnight can bring yesterday's clock back.
        let mut date = wall(zone, t).date().pred_opt()?;
        let mut midnight = earliest_on(zone, date, 0);
        let mut best: Option<DateTime<Utc>> = None;
        // Every candidate of `date` is at or after its first midnight (resolution is monotone).
        while midnight <= limit && best.is_none_or(|b| midnight <= b) {
            let next_midnight = earliest_on(zone, date, DAY_SECS);
            if !self.blacked_out(date) {
                let repeat_ends = transition_in(zone, midnight, next_midnight).and_then(|tr| {
                    let back = offset_secs(zone, tr - Duration::seconds(1)) - offset_secs(zone, tr);
                    (back > 0).then(|| tr + Duration::seconds(i64::from(back)))
                });
                let candidates = self
                    .spans(date, regions)
                    .into_iter()
                    .map(|(start, _)| earliest_on(zone, date, start))
                    .chain(repeat_ends);
                for x in candidates {
                    if x > t && best.is_none_or(|b| x < b) && self.zone_open(zone, regions, x) {
                        best = Some(x);
                    }
                }
            }
            date = date.succ_opt()?;
            midnight = next_midnight;
        }
        best.filter(|&b| b <= limit)
    }

    /// The earliest instant `>= t` at which the zone is closed, or `until` if none comes before.
    /// The zone closes only where the clock first reaches a span's end (the next midnight for a
    /// span ending at 24:00, which also covers blackouts and weekday changes) or where the UTC
    /// offset changes (a fall-back's repeated stretch begins).
    fn zone_next_closed(&self, zone: Tz, regions: &[Region], t: DateTime<Utc>, until: DateTime<Utc>) -> DateTime<Utc> {
        if !self.zone_open(zone, regions, t) {
            return t.min(until);
        }
        let Some(mut date) = wall(zone, t).date().pred_opt() else {
            return until;
        };
        let mut best = until;
        let mut midnight = earliest_on(zone, date, 0);
        while midnight <= best {
            let next_midnight = earliest_on(zone, date, DAY_SECS);
            let candidates = self
                .spans(date, regions)
                .into_iter()
                .map(|(_, end)| earliest_on(zone, date, end))
                .chain(transition_in(zone, midnight, next_midnight));
            for x in candidates {
                if x > t && x < best && !self.zone_open(zone, regions, x) {
                    best = x;
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
            midnight = next_midnight;
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::TimeRange;
    use chrono::NaiveDateTime;
    use chrono_tz::America::{Chicago, Los_Angeles, New_York, Phoenix};
    use chrono_tz::Pacific::Honolulu;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A wall-clock time that exists exactly once in `zone`.
    fn local(zone: Tz, s: &str) -> DateTime<Utc> {
        let n: NaiveDateTime = s.parse().unwrap();
        zone.from_local_datetime(&n).single().unwrap().to_utc()
    }

    fn hours(entries: &[(&str, &str)]) -> WeeklyHours {
        WeeklyHours::parse(entries.iter().copied()).unwrap()
    }

    fn window(entries: &[(&str, &str)]) -> DialWindow {
        DialWindow::new(hours(entries), Compliance::default())
    }

    /// A guard that allows the whole day, to reach the DST hours around 01:00-03:00.
    fn all_day() -> Compliance {
        Compliance { earliest: NaiveTime::MIN, latest: NaiveTime::MIN }
    }

    use chrono::TimeZone;

    #[test]
    fn a_recipient_is_open_inside_hours_and_closed_outside() {
        let w = window(&[("mon-fri", "09:00-20:00"), ("sat", "10:00-14:00")]);
        let ny = [New_York];
        assert!(w.is_open(&ny, local(New_York, "2026-06-01T09:00:00")));
        assert!(w.is_open(&ny, local(New_York, "2026-06-01T19:59:59")));
        assert!(!w.is_open(&ny, local(New_York, "2026-06-01T08:59:59")));
        assert!(!w.is_open(&ny, local(New_York, "2026-06-01T20:00:00")));
        assert!(w.is_open(&ny, local(New_York, "2026-06-06T13:00:00")), "Saturday");
        assert!(!w.is_open(&ny, local(New_York, "2026-06-06T14:00:00")));
        assert!(!w.is_open(&ny, local(New_York, "2026-06-07T12:00:00")), "Sunday");
        assert!(!w.is_open(&[Los_Angeles], local(New_York, "2026-06-01T10:00:00")), "07:00 in LA");
    }

    #[test]
    fn the_compliance_guard_cuts_campaign_hours_that_reach_beyond_it() {
        let w = window(&[("mon-sun", "06:00-23:30")]);
        let ny = [New_York];
        assert!(!w.is_open(&ny, local(New_York, "2026-06-01T07:59:59")));
        assert!(w.is_open(&ny, local(New_York, "2026-06-01T08:00:00")));
        assert!(!w.is_open(&ny, local(New_York, "2026-06-01T21:00:00")));
        assert_eq!(
            w.next_opening(&ny, local(New_York, "2026-06-01T05:00:00")),
            Some(local(New_York, "2026-06-01T08:00:00"))
        );
        assert_eq!(
            w.closes_at(&ny, local(New_York, "2026-06-01T12:00:00")),
            Some(local(New_York, "2026-06-01T21:00:00"))
        );
    }

    #[test]
    fn a_stricter_guard_narrows_the_default_hours() {
        let guard = Compliance {
            earliest: NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            latest: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
        };
        let w = DialWindow::new(WeeklyHours::default(), guard);
        let ny = [New_York];
        assert_eq!(
            w.next_opening(&ny, local(New_York, "2026-06-07T09:00:00")),
            Some(local(New_York, "2026-06-07T10:00:00"))
        );
        assert_eq!(
            w.closes_at(&ny, local(New_York, "2026-06-07T10:00:00")),
            Some(local(New_York, "2026-06-07T18:00:00"))
        );
    }

    #[test]
    fn the_span_at_an_instant_is_the_days_hours_cut_to_the_guard_on_the_recipients_clock() {
        let w = window(&[("mon-fri", "07:00-20:00"), ("sat", "10:00-14:00")]);
        let span = |zone, s| w.span_at(zone, local(zone, s)).map(|(d, r)| format!("{d} {r}"));
        // Campaign 07:00 cut to the guard's 08:00.
        assert_eq!(span(New_York, "2026-06-02T08:00:00").as_deref(), Some("Tue 08:00-20:00"));
        assert_eq!(span(New_York, "2026-06-06T13:59:59").as_deref(), Some("Sat 10:00-14:00"));
        assert_eq!(span(New_York, "2026-06-02T07:30:00"), None, "inside the campaign's hours, outside the guard");
        assert_eq!(span(New_York, "2026-06-07T12:00:00"), None, "Sunday is closed");
        // The same instant is Tuesday evening in Los Angeles and Wednesday in New York's small hours.
        let at = local(Los_Angeles, "2026-06-02T19:00:00");
        assert_eq!(w.span_at(Los_Angeles, at).map(|(d, r)| format!("{d} {r}")).as_deref(), Some("Tue 08:00-20:00"));
        assert_eq!(w.span_at(New_York, at), None);
        assert_eq!(Compliance::default().to_string(), "08:00-21:00");
        assert_eq!(all_day().to_string(), "00:00-24:00");
    }

    #[test]
    fn blackout_dates_are_the_recipients_local_dates() {
        let mut w = window(&[("mon-sun", "09:00-20:00")]);
        // 2026-12-25 01:00 UTC is still Dec 24, 17:00, in Los Angeles.
        let at = utc("2026-12-25T01:00:00Z");
        w.blackout_dates.insert("2026-12-25".parse().unwrap());
        assert!(w.is_open(&[Los_Angeles], at));
        w.blackout_dates.insert("2026-12-24".parse().unwrap());
        assert!(!w.is_open(&[Los_Angeles], at));
        assert_eq!(w.next_opening(&[Los_Angeles], at), Some(local(Los_Angeles, "2026-12-26T09:00:00")));
        assert_eq!(
            w.closes_at(&[Los_Angeles], local(Los_Angeles, "2026-12-23T19:00:00")),
            Some(local(Los_Angeles, "2026-12-23T20:00:00"))
        );
    }

    #[test]
    fn start_and_end_bound_the_campaign_as_instants() {
        let mut w = window(&[("mon-sun", "09:00-20:00")]);
        w.start = Some(utc("2026-06-01T15:30:00Z"));
        w.end = Some(utc("2026-06-03T14:00:00Z"));
        let ny = [New_York];
        assert!(!w.is_open(&ny, utc("2026-06-01T15:29:59Z")));
        assert!(w.is_open(&ny, utc("2026-06-01T15:30:00Z")));
        assert_eq!(w.next_opening(&ny, utc("2026-05-01T00:00:00Z")), Some(utc("2026-06-01T15:30:00Z")));
        assert!(w.is_open(&ny, utc("2026-06-03T13:59:59Z")));
        assert!(!w.is_open(&ny, utc("2026-06-03T14:00:00Z")));
        assert_eq!(w.closes_at(&ny, utc("2026-06-03T13:00:00Z")), Some(utc("2026-06-03T14:00:00Z")));
        assert_eq!(w.next_opening(&ny, utc("2026-06-03T14:00:00Z")), None, "past the end");
        // A start far in the future is still found: the horizon counts from the start.
        w.start = Some(utc("2029-06-01T15:30:00Z"));
        w.end = None;
        assert_eq!(w.next_opening(&ny, utc("2026-01-01T00:00:00Z")), Some(utc("2029-06-01T15:30:00Z")));
    }

    #[test]
    fn no_zones_or_no_hours_never_open() {
        let w = window(&[("mon-sun", "09:00-20:00")]);
        let at = local(New_York, "2026-06-01T12:00:00");
        assert!(!w.is_open(&[], at));
        assert_eq!(w.next_opening(&[], at), None);
        assert_eq!(w.closes_at(&[], at), Some(at));
        let closed = DialWindow::new(WeeklyHours::closed(), Compliance::default());
        assert_eq!(closed.next_opening(&[New_York], at), None);
        // Hours that lie wholly outside the guard never open either.
        assert_eq!(window(&[("mon-sun", "21:00-23:00")]).next_opening(&[New_York], at), None);
    }

    #[test]
    fn next_opening_is_the_instant_itself_when_open_and_skips_closed_days() {
        let w = window(&[("mon-fri", "09:00-12:00, 13:00-17:00")]);
        let ny = [New_York];
        let noonish = local(New_York, "2026-06-05T10:17:03");
        assert_eq!(w.next_opening(&ny, noonish), Some(noonish));
        assert_eq!(
            w.next_opening(&ny, local(New_York, "2026-06-05T12:00:00")),
            Some(local(New_York, "2026-06-05T13:00:00"))
        );
        assert_eq!(
            w.next_opening(&ny, local(New_York, "2026-06-05T17:00:00")),
            Some(local(New_York, "2026-06-08T09:00:00")),
            "Friday evening → Monday"
        );
        assert_eq!(w.closes_at(&ny, noonish), Some(local(New_York, "2026-06-05T12:00:00")));
    }

    #[test]
    fn closes_at_follows_hours_through_midnight_and_is_none_when_never_closing() {
        let mut w = DialWindow::new(hours(&[("sat", "20:00-24:00"), ("sun", "00:00-02:00")]), all_day());
        let ny = [New_York];
        assert_eq!(
            w.closes_at(&ny, local(New_York, "2026-06-06T22:00:00")),
            Some(local(New_York, "2026-06-07T02:00:00"))
        );
        w.blackout_dates.insert("2026-06-07".parse().unwrap());
        assert_eq!(
            w.closes_at(&ny, local(New_York, "2026-06-06T22:00:00")),
            Some(local(New_York, "2026-06-07T00:00:00"))
        );
        let mut always = DialWindow::new(hours(&[("mon-sun", "00:00-24:00")]), all_day());
        let at = utc("2026-06-01T00:00:00Z");
        assert_eq!(always.closes_at(&[Phoenix], at), None);
        always.end = Some(utc("2027-06-01T00:00:00Z"));
        assert_eq!(always.closes_at(&[Phoenix], at), Some(utc("2027-06-01T00:00:00Z")));
        // An end beyond the search horizon is not looked for.
        always.end = Some(utc("2030-01-01T00:00:00Z"));
        assert_eq!(always.closes_at(&[Phoenix], at), None);
        let closed_at = local(New_York, "2026-06-06T19:00:00");
        assert_eq!(w.closes_at(&ny, closed_at), Some(closed_at), "already closed");
    }

    const US_DST: [Tz; 3] = [New_York, Chicago, Los_Angeles];

    #[test]
    fn usual_hours_follow_the_wall_clock_across_spring_forward() {
        let w = window(&[("mon-sun", "09:00-20:00")]);
        for zone in US_DST {
            let z = [zone];
            let sat_open = local(zone, "2026-03-07T09:00:00");
            let sun_open = local(zone, "2026-03-08T09:00:00");
            // Standard time on Saturday, daylight time on Sunday: an hour less in between.
            assert_eq!(sun_open - sat_open, Duration::hours(23), "{zone}");
            assert_eq!(w.next_opening(&z, local(zone, "2026-03-07T20:00:00")), Some(sun_open), "{zone}");
            assert_eq!(w.next_opening(&z, local(zone, "2026-03-08T01:00:00")), Some(sun_open), "{zone}");
            assert!(!w.is_open(&z, sun_open - Duration::seconds(1)), "{zone}");
            assert_eq!(w.closes_at(&z, sun_open), Some(local(zone, "2026-03-08T20:00:00")), "{zone}");
            assert_eq!(w.closes_at(&z, sat_open), Some(local(zone, "2026-03-07T20:00:00")), "{zone}");
        }
    }

    #[test]
    fn a_range_starting_in_the_skipped_hour_opens_at_the_first_instant_after_the_gap() {
        let w = DialWindow::new(hours(&[("sun", "02:30-05:00")]), all_day());
        // The gap is 02:00-03:00 local: 07:00 UTC in New York, 08:00 in Chicago, 10:00 in LA.
        for (zone, gap_end) in [
            (New_York, "2026-03-08T07:00:00Z"),
            (Chicago, "2026-03-08T08:00:00Z"),
            (Los_Angeles, "2026-03-08T10:00:00Z"),
        ] {
            let z = [zone];
            let gap_end = utc(gap_end);
            assert_eq!(w.next_opening(&z, local(zone, "2026-03-08T00:00:00")), Some(gap_end), "{zone}");
            assert!(!w.is_open(&z, gap_end - Duration::seconds(1)), "{zone}: 01:59:59 local");
            assert!(w.is_open(&z, gap_end), "{zone}: 03:00 local");
            // Two real hours, 03:00-05:00, not two and a half.
            assert_eq!(w.closes_at(&z, gap_end), Some(gap_end + Duration::hours(2)), "{zone}");
        }
    }

    #[test]
    fn a_range_wholly_inside_the_skipped_hour_does_not_open_that_day() {
        let w = DialWindow::new(hours(&[("sun", "02:00-03:00")]), all_day());
        for zone in US_DST {
            let z = [zone];
            let next = w.next_opening(&z, local(zone, "2026-03-08T00:00:00"));
            assert_eq!(next, Some(local(zone, "2026-03-15T02:00:00")), "{zone}");
            let mut t = local(zone, "2026-03-08T00:00:00");
            while t < local(zone, "2026-03-08T06:00:00") {
                assert!(!w.is_open(&z, t), "{zone} {t}");
                t += Duration::seconds(59);
            }
        }
    }

    #[test]
    fn usual_hours_follow_the_wall_clock_across_fall_back() {
        let w = window(&[("mon-sun", "09:00-20:00")]);
        for zone in US_DST {
            let z = [zone];
            let sat_open = local(zone, "2026-10-31T09:00:00");
            let sun_open = local(zone, "2026-11-01T09:00:00");
            assert_eq!(sun_open - sat_open, Duration::hours(25), "{zone}");
            assert_eq!(w.next_opening(&z, local(zone, "2026-10-31T20:00:00")), Some(sun_open), "{zone}");
            assert_eq!(w.closes_at(&z, sun_open), Some(local(zone, "2026-11-01T20:00:00")), "{zone}");
            assert_eq!(w.closes_at(&z, sun_open).unwrap() - sun_open, Duration::hours(11), "{zone}");
        }
    }

    #[test]
    fn the_repeated_hour_of_fall_back_is_dialled_only_once() {
        // New York: 02:00 EDT (06:00 UTC) becomes 01:00 EST; 01:00-02:00 happens twice.
        let w = DialWindow::new(hours(&[("sun", "00:00-03:00")]), all_day());
        let ny = [New_York];
        let first_pass = utc("2026-11-01T05:15:00Z"); // 01:15 EDT
        let second_pass = utc("2026-11-01T06:15:00Z"); // 01:15 EST
        assert!(w.is_open(&ny, first_pass));
        assert!(!w.is_open(&ny, second_pass));
        assert_eq!(w.closes_at(&ny, utc("2026-11-01T04:00:00Z")), Some(utc("2026-11-01T06:00:00Z")));
        assert_eq!(w.next_opening(&ny, second_pass), Some(utc("2026-11-01T07:00:00Z")), "02:00 EST");
        assert_eq!(w.closes_at(&ny, utc("2026-11-01T07:00:00Z")), Some(utc("2026-11-01T08:00:00Z")));

        // A range ending inside the repeated hour closes at its first 01:30 and stays closed.
        let w = DialWindow::new(hours(&[("sun", "00:00-01:30")]), all_day());
        assert_eq!(w.closes_at(&ny, utc("2026-11-01T04:00:00Z")), Some(utc("2026-11-01T05:30:00Z")));
        assert_eq!(w.next_opening(&ny, utc("2026-11-01T05:30:00Z")), Some(local(New_York, "2026-11-08T00:00:00")));
        // A range starting inside it opens once, at the first 01:30.
        let w = DialWindow::new(hours(&[("sun", "01:30-03:00")]), all_day());
        assert_eq!(w.next_opening(&ny, utc("2026-11-01T04:00:00Z")), Some(utc("2026-11-01T05:30:00Z")));
        assert_eq!(w.closes_at(&ny, utc("2026-11-01T05:30:00Z")), Some(utc("2026-11-01T06:00:00Z")));
        assert_eq!(w.next_opening(&ny, utc("2026-11-01T06:00:00Z")), Some(utc("2026-11-01T07:00:00Z")));
    }

    #[test]
    fn zones_without_dst_keep_their_utc_times_across_the_us_transitions() {
        let w = window(&[("mon-sun", "09:00-20:00")]);
        for (zone, opens, closes) in [(Phoenix, 16, 3), (Honolulu, 19, 6)] {
            for day in ["2026-03-07", "2026-03-08", "2026-03-09", "2026-10-31", "2026-11-01", "2026-11-02"] {
                let d: NaiveDate = day.parse().unwrap();
                let open = d.and_hms_opt(opens, 0, 0).unwrap().and_utc();
                let close = d.succ_opt().unwrap().and_hms_opt(closes, 0, 0).unwrap().and_utc();
                assert_eq!(w.next_opening(&[zone], open - Duration::hours(5)), Some(open), "{zone} {day}");
                assert_eq!(w.closes_at(&[zone], open), Some(close), "{zone} {day}");
            }
        }
    }

    #[test]
    fn a_recipient_in_two_zones_is_open_only_when_open_in_both() {
        let w = window(&[("mon-sat", "09:00-20:00")]);
        let both = [New_York, Los_Angeles];
        // Summer: 09:00 PDT = 12:00 EDT = 16:00 UTC; 20:00 EDT = 00:00 UTC.
        assert!(!w.is_open(&both, utc("2026-06-01T15:59:59Z")));
        assert!(w.is_open(&[New_York], utc("2026-06-01T15:59:59Z")));
        assert_eq!(w.next_opening(&both, utc("2026-06-01T13:00:00Z")), Some(utc("2026-06-01T16:00:00Z")));
        assert_eq!(w.closes_at(&both, utc("2026-06-01T16:00:00Z")), Some(utc("2026-06-02T00:00:00Z")));
        // The zone order does not matter.
        let rev = [Los_Angeles, New_York];
        assert_eq!(w.next_opening(&rev, utc("2026-06-01T13:00:00Z")), Some(utc("2026-06-01T16:00:00Z")));
        // Spring-forward weekend: Saturday in standard time, Monday in daylight time; Sunday closed.
        assert!(w.is_open(&both, utc("2026-03-07T00:00:00Z")), "Friday 19:00 EST / 16:00 PST");
        assert_eq!(w.next_opening(&both, utc("2026-03-07T05:00:00Z")), Some(utc("2026-03-07T17:00:00Z")));
        assert_eq!(w.closes_at(&both, utc("2026-03-07T17:00:00Z")), Some(utc("2026-03-08T01:00:00Z")));
        assert_eq!(w.next_opening(&both, utc("2026-03-08T01:00:00Z")), Some(utc("2026-03-09T16:00:00Z")));
        // Fall-back weekend: Saturday in daylight time, Monday in standard time.
        assert_eq!(w.next_opening(&both, utc("2026-10-31T00:00:00Z")), Some(utc("2026-10-31T16:00:00Z")));
        assert_eq!(w.next_opening(&both, utc("2026-11-01T00:00:00Z")), Some(utc("2026-11-02T17:00:00Z")));
        assert_eq!(w.closes_at(&both, utc("2026-11-02T17:00:00Z")), Some(utc("2026-11-03T01:00:00Z")));
        // Hours that never overlap across the two zones never open.
        let short = window(&[("mon-sun", "09:00-10:00")]);
        assert_eq!(short.next_opening(&both, utc("2026-06-01T00:00:00Z")), None);
    }

    #[test]
    fn cron_runs_narrow_the_window_to_each_run() {
        let mut w = window(&[("mon-sun", "09:00-20:00")]);
        w.cron = Some(CronRuns::parse("0 9 * * mon-fri", New_York, Duration::hours(8)).unwrap());
        // Run 09:00-17:00 EDT = 13:00-21:00 UTC; LA opens 09:00 PDT = 16:00 UTC.
        assert_eq!(w.next_opening(&[New_York], utc("2026-06-01T00:00:00Z")), Some(utc("2026-06-01T13:00:00Z")));
        assert_eq!(w.closes_at(&[New_York], utc("2026-06-01T13:00:00Z")), Some(utc("2026-06-01T21:00:00Z")));
        assert_eq!(w.next_opening(&[Los_Angeles], utc("2026-06-01T00:00:00Z")), Some(utc("2026-06-01T16:00:00Z")));
        assert_eq!(w.closes_at(&[Los_Angeles], utc("2026-06-01T16:00:00Z")), Some(utc("2026-06-01T21:00:00Z")));
        assert!(!w.is_open(&[New_York], utc("2026-06-06T15:00:00Z")), "no run on Saturday");
        assert_eq!(w.next_opening(&[New_York], utc("2026-06-05T21:00:00Z")), Some(utc("2026-06-08T13:00:00Z")));
    }

    mod property {
        use super::*;
        use chrono_tz::{America, Asia, Australia, Europe};
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};

        const ZONES: [Tz; 12] = [
            New_York,
            Chicago,
            America::Denver,
            Los_Angeles,
            Phoenix,
            Honolulu,
            America::Anchorage,
            America::Santiago,
            Europe::London,
            Australia::Lord_Howe,
            Asia::Kolkata,
            America::Havana,
        ];
        const CRONS: [&str; 6] =
            ["0 9 * * mon-fri", "*/30 * * * *", "0 1,2,3 * * *", "30 2 * * *", "15 */2 * * sat,sun", "0 10 1,15 * tue"];

        /// Range edges, half of them in the small hours where DST transitions happen.
        fn random_edge(rng: &mut StdRng) -> u32 {
            const SMALL_HOURS: [u32; 12] = [0, 15, 30, 60, 75, 90, 120, 150, 180, 210, 240, 1440];
            if rng.random_bool(0.5) {
                SMALL_HOURS[rng.random_range(0..SMALL_HOURS.len())] * 60
            } else {
                rng.random_range(0..=96u32) * 15 * 60
            }
        }

        fn random_window(rng: &mut StdRng) -> DialWindow {
            let mut hours = WeeklyHours::closed();
            for day in 0..7 {
                if rng.random_bool(0.2) {
                    continue;
                }
                let mut edges: Vec<u32> = (0..2 * rng.random_range(1..=2)).map(|_| random_edge(rng)).collect();
                edges.sort_unstable();
                edges.dedup();
                let ranges: Vec<TimeRange> =
                    edges.chunks(2).filter_map(|c| TimeRange::from_secs(c[0], *c.get(1)?)).collect();
                let day = Weekday::try_from(day as u8).unwrap();
                hours.set(day, &ranges).unwrap();
            }
            let compliance = match rng.random_range(0..4) {
                0 => Compliance::default(),
                1 | 2 => all_day(),
                _ => Compliance {
                    earliest: NaiveTime::from_hms_opt(rng.random_range(0..6), 30, 0).unwrap(),
                    latest: NaiveTime::from_hms_opt(rng.random_range(18..24), 0, 0).unwrap(),
                },
            };
            let mut w = DialWindow::new(hours, compliance);
            for _ in 0..rng.random_range(0..4) {
                let d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(rng.random_range(0..365));
                w.blackout_dates.insert(d);
            }
            let base = utc("2026-01-01T00:00:00Z");
            if rng.random_bool(0.2) {
                w.start = Some(base + Duration::seconds(rng.random_range(0..365 * 86_400)));
            }
            if rng.random_bool(0.2) {
                w.end = Some(base + Duration::seconds(rng.random_range(0..400 * 86_400)));
            }
            if rng.random_bool(0.25) {
                let expr = CRONS[rng.random_range(0..CRONS.len())];
                let zone = ZONES[rng.random_range(0..ZONES.len())];
                let run_for = Duration::minutes(rng.random_range(10..600));
                w.cron = Some(CronRuns::parse(expr, zone, run_for).unwrap());
            }
            w
        }

        /// The UTC-offset changes of `zone` in 2026.
        fn transitions_2026(zone: Tz) -> Vec<DateTime<Utc>> {
            let mut out = Vec::new();
            let mut d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
            while d.year() == 2026 {
                let (a, b) = (earliest_on(zone, d, 0), earliest_on(zone, d, DAY_SECS));
                out.extend(transition_in(zone, a, b));
                d = d.succ_opt().unwrap();
            }
            out
        }

        /// Mostly within 36 h of a DST transition of one of `zones`, else anywhere in 2026.
        fn random_instant(rng: &mut StdRng, zones: &[Tz]) -> DateTime<Utc> {
            let nanos = Duration::nanoseconds(rng.random_range(0..1_000_000_000));
            let near = transitions_2026(zones[rng.random_range(0..zones.len())]);
            if !near.is_empty() && rng.random_bool(0.75) {
                near[rng.random_range(0..near.len())]
                    + Duration::seconds(rng.random_range(-36 * 3600..36 * 3600))
                    + nanos
            } else {
                utc("2026-01-01T00:00:00Z") + Duration::seconds(rng.random_range(0..365 * 86_400)) + nanos
            }
        }

        /// Sample instants from `from` to `to` (exclusive): every minute for the first three
        /// days, every 17 minutes after that (to keep a debug-build test fast).
        fn samples(from: DateTime<Utc>, to: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> {
            let dense_until = from + Duration::days(3);
            std::iter::successors(Some(from), move |&t| {
                Some(t + if t < dense_until { Duration::minutes(1) } else { Duration::minutes(17) })
            })
            .take_while(move |&t| t < to)
        }

        #[test]
        fn next_opening_and_closes_at_agree_with_is_open_at_sampled_instants() {
            let mut rng = StdRng::seed_from_u64(0x5EED_D1A1);
            let (mut opened, mut never, mut closed) = (0, 0, 0);
            for case in 0..400 {
                let w = random_window(&mut rng);
                let n_zones = rng.random_range(1..=3);
                let zones: Vec<Tz> = (0..n_zones).map(|_| ZONES[rng.random_range(0..ZONES.len())]).collect();
                let from = random_instant(&mut rng, &zones);
                let ctx = || format!("case {case}: zones {zones:?} from {from} window {w:?}");
                match w.next_opening(&zones, from) {
                    Some(t) => {
                        opened += 1;
                        assert!(t >= from, "{}", ctx());
                        assert!(w.is_open(&zones, t), "not open at next_opening {t}; {}", ctx());
                        if t - from >= Duration::seconds(1) {
                            let just_before = t - Duration::seconds(1);
                            assert!(!w.is_open(&zones, just_before), "open at {just_before}, before {t}; {}", ctx());
                        }
                        for s in samples(from, t) {
                            assert!(!w.is_open(&zones, s), "open at {s}, before next_opening {t}; {}", ctx());
                        }
                        match w.closes_at(&zones, t) {
                            Some(c) => {
                                closed += 1;
                                assert!(c > t, "{}", ctx());
                                assert!(!w.is_open(&zones, c), "open at closes_at {c}; {}", ctx());
                                if c - t >= Duration::seconds(1) {
                                    let just_before = c - Duration::seconds(1);
                                    assert!(
                                        w.is_open(&zones, just_before),
                                        "closed at {just_before}, before {c}; {}",
                                        ctx()
                                    );
                                }
                                for s in samples(t, c) {
                                    assert!(w.is_open(&zones, s), "closed at {s}, before closes_at {c}; {}", ctx());
                                }
                            }
                            None => {
                                for s in samples(t, t + Duration::days(30)) {
                                    assert!(w.is_open(&zones, s), "closed at {s} but closes_at is None; {}", ctx());
                                }
                            }
                        }
                    }
                    None => {
                        never += 1;
                        for s in samples(from, from + Duration::days(60)) {
                            assert!(!w.is_open(&zones, s), "open at {s} but next_opening is None; {}", ctx());
                        }
                    }
                }
            }
            // The generator must exercise every branch, or the test proves little.
            assert!(opened > 200 && never > 10 && closed > 150, "{opened} {never} {closed}");
        }

        /// States whose rules differ in every way the data has: narrower hours (FL, OK, WA),
        /// weekday-only and Saturday hours (RI), Sunday bans and holidays with observed dates
        /// (AL, LA, RI, UT, MS), and states without rules (CA, NY).
        const REGIONS: [&str; 11] = ["FL", "OK", "WA", "RI", "AL", "LA", "UT", "MS", "CA", "NY", "MD"];

        fn random_regions(rng: &mut StdRng) -> Vec<Region> {
            let mut regions: Vec<Region> = (0..rng.random_range(0..=2))
                .map(|_| Region::parse(REGIONS[rng.random_range(0..REGIONS.len())]).unwrap())
                .collect();
            regions.sort();
            regions.dedup();
            regions
        }

        /// A random window with the built-in state rules and up to two blackouts (a region of
        /// [`REGIONS`] or a zone of [`ZONES`], hours to days long, in 2026).
        fn random_window_with_rules(rng: &mut StdRng) -> DialWindow {
            let mut w = random_window(rng);
            w.state_rules = Some(Arc::new(RuleSet::builtin().clone()));
            let blackouts: Vec<Blackout> = (0..rng.random_range(0..=2))
                .map(|id| {
                    let start = utc("2026-01-01T00:00:00Z") + Duration::seconds(rng.random_range(0..365 * 86_400));
                    let (region, zone) = if rng.random_bool(0.5) {
                        (Some(Region::parse(REGIONS[rng.random_range(0..REGIONS.len())]).unwrap()), None)
                    } else {
                        (None, Some(ZONES[rng.random_range(0..ZONES.len())]))
                    };
                    let until = start + Duration::minutes(rng.random_range(30..5 * 1440));
                    Blackout { id, region, zone, start, until, reason: "test".into() }
                })
                .collect();
            w.blackouts = Arc::from(blackouts);
            w
        }

        /// The decision, worked out the slow way: in every zone, the wall clock there must be
        /// inside the guard, a weekly range of its weekday, and every region's state spans of
        /// that date, on no campaign blackout date and on the first pass of a repeated hour;
        /// no blackout may cover the recipient; the campaign must be running (start, end, cron).
        fn oracle(w: &DialWindow, r: &Recipient<'_>, at: DateTime<Utc>) -> bool {
            let rules = w.state_rules.as_deref().unwrap();
            let (lo, hi) = w.guard();
            let zone_ok = |zone: Tz| {
                let local = wall(zone, at);
                let secs = local.time().num_seconds_from_midnight();
                let date = local.date();
                let weekly =
                    w.hours.ranges(date.weekday()).iter().any(|x| x.start_secs() <= secs && secs < x.end_secs());
                let state = r.regions.is_empty() || rules.day_spans(r.regions, date).contains(secs);
                secs >= lo
                    && secs < hi
                    && weekly
                    && state
                    && !w.blackout_dates.contains(&date)
                    && earliest(zone, local) == at
            };
            !r.zones.is_empty()
                && w.start.is_none_or(|s| at >= s)
                && w.end.is_none_or(|e| at < e)
                && !w.blackouts.iter().any(|b| b.start <= at && at < b.until && b.covers(r))
                && r.zones.iter().all(|&z| zone_ok(z))
                && w.cron.as_ref().is_none_or(|c| c.is_running(at))
        }

        #[test]
        fn the_decision_with_state_rules_and_blackouts_equals_the_slow_oracle_through_dst_and_holidays() {
            let mut rng = StdRng::seed_from_u64(0x57A7E);
            let mut open = 0;
            for case in 0..300 {
                let w = random_window_with_rules(&mut rng);
                let zones: Vec<Tz> =
                    (0..rng.random_range(1..=2)).map(|_| ZONES[rng.random_range(0..ZONES.len())]).collect();
                let regions = random_regions(&mut rng);
                let r = Recipient { zones: &zones, regions: &regions };
                let from = random_instant(&mut rng, &zones);
                // Two days minute by minute from a random instant (DST weekends are likely).
                for t in (0..2 * 1440).map(|m| from + Duration::minutes(m)) {
                    let (got, want) = (w.is_open_for(&r, t), oracle(&w, &r, t));
                    assert_eq!(got, want, "case {case}: at {t}, zones {zones:?}, regions {regions:?}, window {w:?}");
                    open += usize::from(got);
                }
            }
            assert!(open > 10_000, "the cases must open often enough to test: {open}");
        }

        #[test]
        fn next_opening_and_closes_at_agree_with_is_open_under_state_rules_and_blackouts() {
            let mut rng = StdRng::seed_from_u64(0x5EED_57A7);
            let (mut opened, mut never) = (0, 0);
            for case in 0..250 {
                let w = random_window_with_rules(&mut rng);
                let zones: Vec<Tz> =
                    (0..rng.random_range(1..=2)).map(|_| ZONES[rng.random_range(0..ZONES.len())]).collect();
                let regions = random_regions(&mut rng);
                let r = Recipient { zones: &zones, regions: &regions };
                let from = random_instant(&mut rng, &zones);
                let ctx = || format!("case {case}: zones {zones:?} regions {regions:?} from {from} window {w:?}");
                match w.next_opening_for(&r, from) {
                    Some(t) => {
                        opened += 1;
                        assert!(t >= from && w.is_open_for(&r, t), "not open at next_opening {t}; {}", ctx());
                        for s in samples(from, t) {
                            assert!(!w.is_open_for(&r, s), "open at {s}, before next_opening {t}; {}", ctx());
                        }
                        if let Some(c) = w.closes_at_for(&r, t) {
                            assert!(c > t && !w.is_open_for(&r, c), "open at closes_at {c}; {}", ctx());
                            for s in samples(t, c) {
                                assert!(w.is_open_for(&r, s), "closed at {s}, before closes_at {c}; {}", ctx());
                            }
                        }
                    }
                    None => {
                        never += 1;
                        for s in samples(from, from + Duration::days(60)) {
                            assert!(!w.is_open_for(&r, s), "open at {s} but next_opening is None; {}", ctx());
                        }
                    }
                }
            }
            assert!(opened > 120 && never > 5, "{opened} {never}");
        }
    }
}
