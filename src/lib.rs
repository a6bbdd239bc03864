//! switchboard: runs large outbound AI phone-call campaigns on the Bland AI API.
//!
//! The binary (`src/main.rs`) only parses the command line and calls [`cli::run`]; everything
//! else lives here, one module per component of `DESIGN.md`.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod api;
pub mod bland;
pub mod campaigns;
pub mod cli;
pub mod clock;
pub mod compliance;
pub mod config;
pub mod csv_safe;
pub mod daemon;
pub mod demo;
pub mod dispatcher;
pub mod dnc;
pub mod export;
pub mod files;
pub mod import;
pub mod metrics;
pub mod outcomes;
pub mod phone;
pub mod progress;
pub mod report;
pub mod secret;
pub mod sim;
pub mod store;
pub mod template;
pub mod waiting;
pub mod window;
