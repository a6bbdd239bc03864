//! `switchboard demo`: a whole campaign against the built-in Bland simulator, on a scratch
//! database, in well under a minute — every production code path, nothing to set up.
//!
//! The example campaign and recipients (`config/`) are imported (their deliberate mistakes show
//! the rejects report), a few hundred more recipients across US time zones are added, and the
//! real daemon (dispatcher, webhook receiver, poller) runs against the simulator until the
//! campaign completes. Time runs fast: a [`ScaledClock`] starts on a weekday morning in New York
//! and runs `SPEED` times real time, and the simulator's calls run at the same speed, so retry
//! delays and dialing windows behave exactly as they would over a real day.
//!
//! The daemon's HTTP server listens on a loopback port of its own, so the dashboard (and the
//! control API, open to local users as any loopback daemon without a token) can be watched while
//! the demo runs; with `--serve` it stays up after the campaign completes ([`Serving`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::campaigns::{self, CampaignSummary};
use crate::clock::{Clock, ScaledClock};
use crate::config::DaemonConfig;
use crate::daemon::{DaemonParts, serve};
use crate::import::{ImportOptions, ImportSummary, import_file};
use crate::secret::Secret;
use crate::sim::{SimConfig, SimHandle, Simulator};
use crate::store::{CampaignAction, CampaignState, JobState, Outcome, Store};

pub const EXAMPLE_CAMPAIGN: &str = include_str!("../config/campaign.example.toml");
pub const EXAMPLE_RECIPIENTS: &str = include_str!("../config/recipients.example.csv");

/// Simulated seconds per real second.
pub const SPEED: f64 = 3000.0;

/// What the demo changes in the example campaign, each with why: (from, to, why).
pub const SPEC_CHANGES: &[(&str, &str, &str)] = &[
    ("start = \"2026-12-01T09:00:00-05:00\"\n", "", "no start date: the campaign runs on the demo's clock"),
    ("end = \"2027-03-01T00:00:00-05:00\"\n", "", "no end date: likewise"),
    (
        "calls_per_minute = 30",
        "calls_per_minute = 60",
        "60 calls a minute instead of 30: a day of dialling fits in seconds",
    ),
    (
        "delays = [\"2h\", \"1d\"]",
        "delays = [\"30m\", \"2h\"]",
        "retries after 30 min and 2 h instead of 2 h and 1 day",
    ),
];

/// The example campaign with the demo's changes ([`SPEC_CHANGES`]).
fn demo_spec() -> String {
    SPEC_CHANGES.iter().fold(EXAMPLE_CAMPAIGN.to_string(), |spec, (from, to, _)| spec.replace(from, to))
}

/// When the demo's clock starts: Tuesday 2026-12-01, 07:30 in New York. Nobody may be called
/// yet; the windows then open zone by zone, New York at 09:00, Honolulu five hours later.
pub const DEMO_START: &str = "2026-12-01T12:30:00Z";

/// What the demo reports as it runs.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A line to print as it is.
    Note(String),
    /// The campaign at a simulated instant: recipients with no call ahead of `total`.
    Campaign { at: DateTime<Utc>, settled: i64, total: i64, line: String },
}

/// Valid numbers in area codes across the US zones (and Hawaii and Alaska).
const AREAS: &[&str] = &["212", "617", "305", "312", "713", "303", "602", "415", "206", "808", "907"];

fn demo_recipients(extra: usize) -> String {
    let mut csv = EXAMPLE_RECIPIENTS.to_string();
    for i in 0..extra {
        let area = AREAS[i % AREAS.len()];
        csv.push_str(&format!("Guest{i},Demo,{area}-555-{:04},P-{:04},\n", 1000 + i, 2000 + i));
    }
    csv
}

/// What the demo did, for the CLI to print.
#[derive(Debug)]
pub struct DemoReport {
    pub db: PathBuf,
    pub import: ImportSummary,
    pub rejects: String,
    /// The campaign as it ended.
    pub summary: CampaignSummary,
    /// Its report (`switchboard report`).
    pub report: crate::report::Report,
    /// Its results as CSV (`switchboard export`), one row per recipient.
    pub results: PathBuf,
    pub results_rows: u64,
    pub sim_calls: usize,
    pub sim_numbers: usize,
    pub mismatches: usize,
    pub simulated: chrono::Duration,
    pub real: StdDuration,
    /// The dashboard the daemon served while the campaign ran (`http://127.0.0.1:PORT/`).
    pub dashboard: String,
}

/// The daemon's task and the switch that stops it.
struct Daemon {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Daemon {
    /// Stops the daemon and waits for it (it closes the store).
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("daemon task")?
    }
}

/// The demo's daemon and simulator, left running after the campaign (`demo --serve`): the
/// dashboard and the API stay up until [`Serving::stop`].
pub struct Serving {
    daemon: Daemon,
    sim: SimHandle,
}

impl Serving {
    pub async fn stop(self) -> anyhow::Result<()> {
        self.daemon.stop().await?;
        self.sim.shutdown().await;
        Ok(())
    }
}

/// Runs the demo in `dir` (which must exist). With `keep_serving`, the daemon (its dashboard and
/// API) and the simulator are left running, and handed back to be stopped.
pub async fn run(
    dir: &Path,
    config: &DaemonConfig,
    recipients: usize,
    db: Option<&Path>,
    keep_serving: bool,
    progress: impl Fn(Progress),
) -> anyhow::Result<(DemoReport, Option<Serving>)> {
    let started = Instant::now();
    let db = db.map_or_else(|| dir.join("demo.db"), Path::to_path_buf);
    if db.exists() {
        anyhow::bail!("{} exists: the demo makes a database of its own (name a new file with --db)", db.display());
    }
    // Bound first, so that the dashboard's address is known before anything else happens.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding a loopback port")?;
    let addr = listener.local_addr()?;
    let dashboard = format!("http://{addr}/");
    progress(Progress::Note(format!("dashboard: {dashboard}")));
    let store = Store::open(&db).await?;
    let api_key = Secret::new("demo-api-key");
    let webhook_secret = Secret::new("demo-webhook-secret");

    let start: DateTime<Utc> = DateTime::parse_from_rfc3339(DEMO_START).expect("valid").to_utc();
    let clock = ScaledClock::new(start, SPEED);
    let sim = Simulator::start(SimConfig {
        api_key: Some(api_key.clone()),
        webhook_secret: Some(webhook_secret.clone()),
        seed: 42,
        speed: SPEED,
        late_answered_by_rate: 0.1,
        duplicate_webhook_rate: 0.1,
        drop_webhook_rate: 0.05,
        requests_per_minute: 0,
        max_concurrent: 0,
        ..SimConfig::default()
    })
    .await?;

    let spec =
        campaigns::save(&store, config, "campaign.example.toml (demo schedule)", &demo_spec(), clock.now()).await?.spec;
    let id = spec.id.as_str();
    let csv = dir.join("recipients.csv");
    std::fs::write(&csv, demo_recipients(recipients)).context("writing the demo recipients")?;
    let import = import_file(&store, &spec, &csv, &ImportOptions::default(), clock.now()).await?;
    let rejects = match &import.rejects_path {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        None => String::new(),
    };
    progress(Progress::Note(format!(
        "imported {} recipients; starting the daemon against the simulator",
        import.counts.accepted
    )));

    let mut daemon_config = config.clone();
    daemon_config.bland.base_url = sim.base_url();
    daemon_config.http.public_url = Some(format!("http://{addr}"));
    daemon_config.account.calls_per_minute = 600;
    // Bland's request budget is kept in real time; the demo's clock runs SPEED times faster.
    daemon_config.bland.requests_per_minute = (100.0 * SPEED) as u32;
    let fast = clock.clone();
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let mut parts = DaemonParts::new(daemon_config, store.clone(), clock.clone(), api_key, Some(webhook_secret));
    parts.dispatcher.reconcile_after = chrono::Duration::seconds(60);
    parts.outcomes.tick = StdDuration::from_millis(50);
    parts.dispatcher.idle_tick = StdDuration::from_millis(50);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let daemon = Daemon { stop, task: tokio::spawn(serve(parts, listener, stopped)) };

    campaigns::apply(&store, id, CampaignAction::Start, clock.now()).await?;
    let deadline = Instant::now() + StdDuration::from_secs(300);
    let mut last = String::new();
    loop {
        let summary = campaigns::summary(&store, config, id, clock.now()).await?;
        let c = &summary.counts;
        let line = format!(
            "{}  queued {}  in call {}  retry wait {}  done {}  failed {}",
            clock.now().with_timezone(&chrono_tz::America::New_York).format("%a %H:%M New York"),
            c.get(JobState::Queued),
            c.get(JobState::InCall) + c.get(JobState::Dialing),
            c.get(JobState::RetryWait),
            c.get(JobState::Done),
            c.get(JobState::Failed)
        );
        if line != last {
            let settled = c.total() - c.open();
            progress(Progress::Campaign { at: clock.now(), settled, total: c.total(), line: line.clone() });
            last = line;
        }
        if summary.state != CampaignState::Running || Instant::now() > deadline {
            break;
        }
        // Nights and retry delays with nothing in flight: skip ahead to the next due job.
        if let Some(next) = store.campaign_idle_until(id, clock.now()).await? {
            fast.skip_to(next);
        }
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    // The last human calls' [analysis] questions are asked after the campaign completes: let
    // the daemon finish them (a few seconds at most) so the report has every answer.
    if let Some(set) = spec.analysis.as_ref().and_then(crate::analysis::QuestionSet::of) {
        let deadline = Instant::now() + StdDuration::from_secs(30);
        while Instant::now() < deadline {
            let backlog = store.analysis_backlog(id, set.key()).await?;
            if backlog.pending == 0 && backlog.done + backlog.failed >= backlog.human_calls {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
    }
    // Unless it keeps serving, the daemon stops before the database is checked (every write it
    // had in hand is then committed); a completed campaign has none left either way.
    let daemon = if keep_serving {
        Some(daemon)
    } else {
        daemon.stop().await?;
        None
    };
    let store = if daemon.is_some() { store } else { Store::open(&db).await? };

    // Compare the database with the simulator's own record, call for call.
    let truth = sim.calls();
    let recorded: HashMap<String, Option<Outcome>> =
        store.attempt_records(Some(id)).await?.into_iter().filter_map(|a| Some((a.call_id?, a.outcome))).collect();
    let mismatches = truth
        .iter()
        .filter(|call| {
            let truth = serde_json::to_value(call.outcome).ok();
            let stored = recorded.get(&call.call_id).copied().flatten();
            stored.map(Outcome::as_str) != truth.as_ref().and_then(|v| v.as_str())
        })
        .count();
    let sim_numbers = truth.iter().map(|c| c.phone_number.clone()).collect::<std::collections::HashSet<_>>().len();
    let period = crate::store::Period::default();
    let results = dir.join("results.csv");
    let exported = crate::export::export(
        &store,
        config.compliance(),
        id,
        &crate::export::ExportOptions::default(),
        &crate::export::Destination::File(results.clone()),
    )
    .await?;
    let report = DemoReport {
        results,
        results_rows: exported.rows,
        report: crate::report::report(&store, config, id, period, clock.now()).await?,
        db,
        import,
        rejects,
        summary: campaigns::summary(&store, config, id, clock.now()).await?,
        sim_calls: truth.len(),
        sim_numbers,
        mismatches,
        simulated: clock.now() - start,
        real: started.elapsed(),
        dashboard,
    };
    let serving = match daemon {
        Some(daemon) => Some(Serving { daemon, sim }),
        None => {
            store.close().await;
            sim.shutdown().await;
            None
        }
    };
    Ok((report, serving))
}
