//! The dispatcher: claims due jobs, checks windows and caps, commits each attempt as `dialing`
//! and only then sends it to Bland, and records what Bland answered.

pub mod engine;
pub mod ledger;
pub mod plan;
