//! The window maths: is a recipient open at an instant, when does it next open, when does it close.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::WeeklyHours;
use super::cron::CronRuns;

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
}
