//! The dispatcher: claims due jobs, decides for each with [`prepare`] (window, DNC, per-number
//! cap, templates) under the caps and pacing, commits each attempt as `dialing` and only then
//! sends it to Bland, records what Bland answered, and reconciles attempts whose fate a crash or
//! an ambiguous failure left unknown. One job per file:
//!
//! - `engine.rs`: [`Dispatcher`], its config, reports and shared state; the run loop.
//! - `step.rs`: the claim path (caps → claim → `prepare` → commit).
//! - `prepare.rs`: the pure decision for one claimed job.
//! - `send.rs`: parallel sends and recording Bland's answers.
//! - `pacing.rs`: per-campaign token buckets and the account's 429 backoff.
//! - `reconcile.rs`: lookups of unknown attempts; one proven absent is voided and its job
//!   queued again, to be sent through the claim path (one decision path, under every cap).
//! - `ledger.rs`: cap arithmetic over the dials of the last day.
//! - `plan.rs`: a campaign's parsed spec and window, cached; recipient zones.
//! - `metadata.rs`: what a call's `metadata` carries, written here and read back by outcomes.
//! - `safety.rs`: automatic safety stops (failures, answers collapsing, 429s that persist).
//! - `watch.rs`: campaign changes (operator actions) logged as the daemon notices them.
//!
//! The outcome tracker uses this module only through the re-exports below.

pub mod engine;
pub mod ledger;
pub mod metadata;
mod pacing;
pub mod plan;
pub mod prepare;
mod reconcile;
pub mod safety;
mod send;
mod step;
mod watch;

pub use engine::{Dispatcher, DispatcherConfig, ReconcileReport, StepReport};
pub use ledger::Caps;
pub use metadata::AttemptMetadata;
pub use plan::{CampaignPlan, PlanCache, recipient_zones};
pub use prepare::{Deferral, Facts, Prepared, prepare};
pub use reconcile::RecoverError;
