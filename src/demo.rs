//! `switchboard demo`: the example campaign end to end on a scratch database, so a new operator
//! sees every step work with nothing set up.
//!
//! Today it creates the example campaign and imports the example recipients (with their
//! deliberate mistakes, to show the rejects report); dialing against the built-in simulator
//! joins it when the dispatcher lands.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;

use crate::config::{CampaignSpec, DaemonConfig};
use crate::import::{ImportOptions, import_file};
use crate::store::Store;

pub const EXAMPLE_CAMPAIGN: &str = include_str!("../config/campaign.example.toml");
pub const EXAMPLE_RECIPIENTS: &str = include_str!("../config/recipients.example.csv");

/// What the demo did, for the CLI to print.
#[derive(Debug)]
pub struct DemoReport {
    pub db: PathBuf,
    pub campaign_id: String,
    pub import: crate::import::ImportSummary,
    pub rejects: String,
    pub counts: std::collections::BTreeMap<String, i64>,
}

/// Runs the demo in `dir` (which must exist): a fresh database, the example campaign, the
/// example recipients.
pub async fn run(dir: &Path, config: &DaemonConfig) -> anyhow::Result<DemoReport> {
    let db = dir.join("demo.db");
    let store = Store::open(&db).await?;
    let spec = CampaignSpec::parse(
        "campaign.example.toml",
        EXAMPLE_CAMPAIGN,
        &config.compliance(),
    )?;
    let json = toml::from_str::<serde_json::Value>(EXAMPLE_CAMPAIGN)?.to_string();
    store
        .save_campaign(
            &spec,
            EXAMPLE_CAMPAIGN,
            &json,
            Utc::now().timestamp_millis(),
        )
        .await?;

    let csv = dir.join("recipients.csv");
    std::fs::write(&csv, EXAMPLE_RECIPIENTS).context("writing the example recipients")?;
    let opts = ImportOptions::default();
    let import = import_file(&store, &spec, &csv, &opts, Utc::now()).await?;
    let rejects = match &import.rejects_path {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => String::new(),
    };
    let counts = store.job_counts(spec.id.as_str()).await?;
    store.close().await;
    Ok(DemoReport {
        db,
        campaign_id: spec.id.to_string(),
        import,
        rejects,
        counts,
    })
}
