//! Configuration: the daemon config (`switchboard.toml`) and campaign specs (`campaign.toml`).
//!
//! Text enters here once, from a file (and, for the daemon, `SWITCHBOARD_*` environment
//! overrides), and leaves as validated types; nothing past this module re-checks a field. Errors
//! name the file, the line and column, the key, and what was expected. This module never touches
//! the database.

pub mod campaign;
pub mod daemon;
mod duration;
mod located;

pub use campaign::{
    AnalysisSpec, CampaignId, CampaignSpec, ComplianceSpec, DEFAULT_OPT_OUT_PHRASES, Limits, Outcome, Purpose,
    RetrySpec, ScheduleSpec, ZonePolicy,
};
pub use daemon::DaemonConfig;
pub use duration::{format_duration, parse_duration};
pub use located::ConfigError;
