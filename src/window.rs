//! (stub until the window module lands; signatures are the contract)
#![allow(unused_variables, dead_code)]
use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum WindowError {
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

pub fn parse_weekdays(key: &str) -> Result<Vec<Weekday>, WindowError> {
    todo!()
}

#[derive(Debug, Clone, Default)]
pub struct WeeklyHours;
impl WeeklyHours {
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, WindowError> {
        todo!()
    }
    pub fn ranges(&self, day: Weekday) -> &[TimeRange] {
        todo!()
    }
    pub fn outside(&self, earliest: NaiveTime, latest: NaiveTime) -> Option<(Weekday, TimeRange)> {
        todo!()
    }
}
pub fn translate_cron(expr: &str) -> Result<String, WindowError> {
    todo!()
}
#[derive(Debug, Clone)]
pub struct CronRuns;
impl CronRuns {
    pub fn parse(expr: &str, zone: Tz, run_for: chrono::Duration) -> Result<Self, WindowError> {
        todo!()
    }
}
#[derive(Debug, Clone, Copy)]
pub struct Compliance {
    pub earliest: NaiveTime,
    pub latest: NaiveTime,
}
#[derive(Debug, Clone)]
pub struct DialWindow {
    pub hours: WeeklyHours,
    pub blackout_dates: BTreeSet<NaiveDate>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub cron: Option<CronRuns>,
    pub compliance: Compliance,
}
impl std::str::FromStr for TimeRange {
    type Err = WindowError;
    fn from_str(s: &str) -> Result<Self, WindowError> {
        todo!()
    }
}
impl DialWindow {
    pub fn is_open(&self, zones: &[Tz], at: DateTime<Utc>) -> bool {
        todo!()
    }
    pub fn next_opening(&self, zones: &[Tz], from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        todo!()
    }
}
