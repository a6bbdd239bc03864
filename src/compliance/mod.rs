//! Compliance: the state telemarketing rules switchboard applies on top of the federal
//! 08:00–21:00 guard, as data and as pure functions of that data.
//!
//! Data enters from two files compiled into the binary — `data/area_codes.tsv` (NANP area code
//! → region, from libphonenumber) and `data/state_rules.toml` (per state: weekly hours, legal
//! holidays with their observed dates, rolling frequency caps, each citing its statute) — and
//! from the daemon config's `[compliance.states]`, which may only narrow the rules
//! ([`RuleSet::with_overrides`]). Answers leave as values: the [`Region`]s of a number or a
//! CSV `state` cell, the open wall-clock spans of a recipient-local date ([`RuleSet::day_spans`],
//! with the reason when closed), the frequency cap ([`RuleSet::frequency_cap`]) and whether the
//! calls already made leave room under it ([`rolling_cap_allows`]). Nothing here reads a clock,
//! a file or the database.
//!
//! Semantics worth knowing:
//! - Hours and holidays are wall-clock rules on the recipient's calendar; the window maths
//!   (`crate::window`) turns spans into instants per zone, DST included.
//! - A recipient in several regions (CSV state and area code disagree, an area code spanning
//!   provinces) gets every region's rules: spans intersect, caps combine to the strictest.
//! - A holiday closes its own date and its observed date (Saturday → Friday, Sunday → Monday,
//!   as each statute says). Where a statute left a choice (a holiday only in some counties,
//!   "Central Standard Time"), the stricter reading is taken and noted in the data file.
//! - Every attempt should record [`RuleSet::version`], which changes with the data file and
//!   with the config's overrides.

mod cap;
mod holiday;
pub mod opt_out;
mod overrides;
mod region;
mod rules;

#[cfg(test)]
mod proptests;

pub use cap::{FrequencyCap, rolling_cap_allows, rolling_cap_next_allowed};
pub use holiday::{Holiday, HolidayDate, HolidayError, Observed, Years, easter};
pub use overrides::{CapOverride, OverrideError, StateOverride, StateOverrides};
pub use region::{Region, RegionError};
pub use rules::{
    CapRule, Citation, Closed, DaySpans, HolidayRule, HoursRule, MAX_RANGES_PER_DAY, RULES_DATA, RawHoliday, RuleSet,
    RulesError, Span, StateRules,
};
