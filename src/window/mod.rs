//! Dialing windows: when may a recipient be called? Pure functions of the campaign's schedule,
//! the recipient's plausible time zones and an instant — this module never reads the clock.
//!
//! Data enters as text from a campaign spec's `[schedule]` (weekly hours, cron, parsed here into
//! [`WeeklyHours`] and [`CronRuns`]) and the daemon's `[compliance]` hours ([`Compliance`]); the
//! config module assembles them into a [`DialWindow`]. Data leaves as answers: [`DialWindow::is_open`],
//! [`DialWindow::next_opening`], [`DialWindow::closes_at`].
//!
//! Semantics, all checked per recipient zone:
//! - Weekly hours and the compliance guard are wall-clock rules: an instant is inside a range
//!   `[start, end)` when the recipient's clock shows a time in it, on a weekday with that range.
//!   The guard is intersected with the hours, so no campaign can widen it.
//! - DST: a spring-forward gap contains no wall-clock time, so nothing is dialled "in" it; a range
//!   starting inside the gap opens at the first real instant after it. Every wall-clock time
//!   counts once: in the repeated hour of a fall-back only the first pass can be dialled (the
//!   second pass is closed even inside a range), matching cron, which fires once there too.
//! - Blackout dates are the recipient's local dates; `start`/`end` are instants (`[start, end)`);
//!   cron runs are instants `[fire, fire + run_for)`, fire times read in the campaign's zone.
//! - A recipient with several plausible zones is open only when open in every one.
//! - Without `[schedule] hours` a campaign dials every day 09:00-20:00 ([`WeeklyHours::default`]).
//! - `next_opening` / `closes_at` look at most [`SEARCH_HORIZON_DAYS`] (two years) ahead, so every
//!   call is bounded; beyond that a window counts as never opening / never closing.
//!
//! Cost per call (release build, `examples/window_speed.rs`): `is_open` ~35-160 ns,
//! `next_opening` ~0.4-1.2 µs, `closes_at` ~1.5 µs; nothing is allocated per call.

mod cron;
mod dial;
mod hours;
mod zone;

pub use cron::{CronRuns, translate_cron};
pub use dial::{Blackout, Compliance, DialWindow, Recipient, SEARCH_HORIZON_DAYS};
pub use hours::{TimeRange, WeeklyHours, parse_weekdays};

/// A schedule text that cannot be used. Every message names the offending text and what is
/// expected; callers add the file, line and key.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum WindowError {
    #[error("`{0}` is not a time of day (expected HH:MM, 00:00–24:00)")]
    BadTime(String),
    #[error("`{0}` is not a time range (expected HH:MM-HH:MM, e.g. 09:00-17:00)")]
    BadRange(String),
    #[error("`{0}`: the end must be after the start")]
    EmptyRange(String),
    #[error("`{0}` is not a weekday (expected mon, tue, wed, thu, fri, sat, sun or a range like mon-fri)")]
    BadWeekday(String),
    #[error("`{0}` is given twice")]
    DayTwice(String),
    #[error("`{key}` has no time ranges (expected e.g. \"09:00-17:00\"; leave a day out to keep it closed)")]
    NoRanges { key: String },
    #[error("`{first}` and `{second}` overlap")]
    Overlap { first: String, second: String },
    #[error("cron `{expr}`: expected 5 fields (minute hour day-of-month month day-of-week), found {found}")]
    CronFieldCount { expr: String, found: usize },
    #[error("cron `{expr}`: `{text}` in the {field} field {problem}")]
    CronField { expr: String, field: &'static str, text: String, problem: String },
    #[error("cron `{0}` is not a schedule (expected 5 fields, or @yearly, @monthly, @weekly, @daily or @hourly)")]
    CronMacro(String),
    #[error("cron `{0}` never fires (no date matches it)")]
    CronNever(String),
    #[error("cron `{0}`: each run must last longer than zero")]
    RunFor(String),
}
