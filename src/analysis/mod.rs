//! AI analysis of finished calls: each human-answered call of a campaign with `[analysis]`
//! `goal` and `questions` is asked them once with `POST /v1/calls/{id}/analyze`, and the answers
//! and the price Bland returns are stored in `call_analyses` (one row per call and question set),
//! where the report and the export read them.
//!
//! Lifecycle of a row: the outcome writer inserts it `pending` in the transaction that records
//! the call's human outcome (`store/outcomes.rs`), so no restart can lose it; the daemon's
//! [`AnalysisWorker`] (`worker.rs`) claims due rows for a lease, asks Bland with no transaction
//! open, and records the answer (`done`), a retry time (still `pending`, with backoff), or a
//! failure (`failed`, with the reason). `switchboard analyze` (`run.rs`) writes rows for a
//! question set of its own (or the campaign's) and drives the same worker step over them.
//!
//! The spend limit, `[analysis] max_spend_usd`, caps what a campaign's analyses cost in all:
//! before each claim the sum of the prices recorded plus the estimate (`decide.rs`: the mean
//! recorded price, or Bland's documented rate before any) of every request in flight and of the
//! next one must stay under it. When it is reached the remaining rows become `failed` with the
//! reason (visible in the report and the export), rather than wait for ever: the limit of a
//! started campaign cannot change, and an operator who wants more can re-run them with
//! `switchboard analyze`, whose `--questions` file may carry a limit of its own.
//!
//! Requests share the account's request budget with the dispatcher (the same limiter as
//! sends) and take at most `[analysis] request_share` of it, so analysis neither exceeds the
//! account's rate nor starves the dispatcher.

pub mod decide;
mod questions;
pub mod run;
mod worker;

pub use questions::QuestionSet;
pub use worker::{AnalysisConfig, AnalysisWorker, StepReport, Work};
