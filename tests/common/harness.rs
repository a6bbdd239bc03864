//! A whole switchboard in the test process: a temp database, the Bland simulator on a loopback
//! port, the dispatcher and the outcome tracker on an injected clock.
#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use switchboard::analysis::decide::RetrySchedule;
use switchboard::analysis::{AnalysisConfig, AnalysisWorker, StepReport, Work};
use switchboard::bland::{BlandClientConfig, Client, RetryPolicy};
use switchboard::campaigns;
use switchboard::clock::{Clock, ManualClock};
use switchboard::config::DaemonConfig;
use switchboard::dispatcher::engine::{Dispatcher, DispatcherConfig};
use switchboard::import::{ImportOptions, import_file};
use switchboard::outcomes::{Outcomes, OutcomesConfig};
use switchboard::secret::Secret;
use switchboard::sim::{SimConfig, SimHandle, Simulator};
use switchboard::store::{CampaignAction, Store};
use tempfile::TempDir;

pub const API_KEY: &str = "sk-test-key";

/// How long [`Harness::drive`] may take in real time before it calls the campaign stuck: a
/// deadline for a test that hangs, not a pace. A drive through a night to the next day's window
/// (`compliance::a_person_who_asks_not_to_be_called_again_…`: ~1,490 one-minute rounds) takes
/// ~30 s alone on the 2-core VM and went past 60 s beside the rest of its binary's tests in CI.
const DRIVE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(180);

pub struct Harness {
    pub dir: TempDir,
    pub store: Store,
    pub sim: SimHandle,
    pub clock: ManualClock,
    pub config: DaemonConfig,
    pub dispatch_cfg: DispatcherConfig,
}

/// Steps `worker` until a step claims nothing; the steps' totals.
pub async fn drain(worker: &AnalysisWorker) -> StepReport {
    let mut total = StepReport::default();
    loop {
        let r = worker.step().await.unwrap();
        total.claimed += r.claimed;
        total.answered += r.answered;
        total.retried += r.retried;
        total.failed += r.failed;
        total.stopped += r.stopped;
        if r.claimed == 0 {
            return total;
        }
    }
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

impl Harness {
    /// A harness whose clock starts at `start`, with the simulator configured by `sim`.
    pub async fn new(start: DateTime<Utc>, sim: SimConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = super::test_store(dir.path()).await;
        Self::build(dir, start, sim, store).await
    }

    /// A harness on a store of the test's own.
    pub async fn with_store(start: DateTime<Utc>, sim: SimConfig, store: Store) -> Self {
        Self::build(tempfile::tempdir().unwrap(), start, sim, store).await
    }

    async fn build(dir: tempfile::TempDir, start: DateTime<Utc>, sim: SimConfig, store: Store) -> Self {
        let sim = Simulator::start(SimConfig { api_key: Some(Secret::new(API_KEY)), ..sim }).await.unwrap();
        let mut config = DaemonConfig::defaults();
        config.bland.base_url = sim.base_url();
        let mut dispatch_cfg = DispatcherConfig::from_daemon(&config);
        dispatch_cfg.reconcile_after = Duration::zero();
        Self { dir, store, sim, clock: ManualClock::new(start), config, dispatch_cfg }
    }

    /// A new connection to the harness's database, as a restarted daemon opens it.
    pub async fn reopen(&self) -> Store {
        Store::open_url(self.store.url(), false).await.unwrap()
    }

    /// The harness's database as `--db` names it (a SQLite path or a PostgreSQL URL).
    pub fn db_arg(&self) -> String {
        self.store.url().to_string()
    }

    pub fn client(&self, retry: RetryPolicy) -> Client {
        let mut c = BlandClientConfig::new(self.sim.base_url(), Secret::new(API_KEY));
        c.retry = retry;
        Client::new(c).unwrap()
    }

    pub async fn dispatcher(&self) -> Dispatcher {
        let clock: Arc<dyn Clock> = Arc::new(self.clock.clone());
        Dispatcher::new(self.store.clone(), self.client(RetryPolicy::none()), clock, self.dispatch_cfg.clone())
            .await
            .unwrap()
    }

    pub fn outcomes(&self) -> Outcomes {
        let clock: Arc<dyn Clock> = Arc::new(self.clock.clone());
        let retry = RetryPolicy {
            min_delay: std::time::Duration::from_millis(1),
            max_delay: std::time::Duration::from_millis(5),
            ..RetryPolicy::default()
        };
        Outcomes::new(self.store.clone(), self.client(retry), clock, OutcomesConfig::from_daemon(&self.config))
    }

    /// Creates, fills and starts a campaign; returns its id.
    pub async fn campaign(&self, text: &str, csv: &str) -> String {
        let spec = campaigns::save(&self.store, &self.config, "spec.toml", text, self.now()).await.unwrap().spec;
        let file = self.dir.path().join(format!("{}.csv", spec.id));
        std::fs::write(&file, csv).unwrap();
        import_file(&self.store, &spec, &file, &ImportOptions::default(), self.clock.now()).await.unwrap();
        campaigns::apply(&self.store, spec.id.as_str(), CampaignAction::Start, self.now()).await.unwrap();
        spec.id.to_string()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Drives running campaigns on the manual clock: a dispatcher step, a poller round, then —
    /// the simulator living in real time — a wait until every call placed so far has ended at
    /// the simulator with its final answered_by, then one minute on; until `done` says so
    /// (`what` names it in the timeout's message).
    pub async fn drive(
        &self,
        dispatcher: &Dispatcher,
        outcomes: &Outcomes,
        what: &str,
        done: impl AsyncFnMut(&Harness) -> bool,
    ) {
        self.drive_every(Duration::minutes(1), dispatcher, outcomes, what, done).await;
    }

    /// [`Harness::drive`] with the clock moving `tick` a round.
    pub async fn drive_every(
        &self,
        tick: Duration,
        dispatcher: &Dispatcher,
        outcomes: &Outcomes,
        what: &str,
        mut done: impl AsyncFnMut(&Harness) -> bool,
    ) {
        let deadline = std::time::Instant::now() + DRIVE_DEADLINE;
        let step = async || {
            dispatcher.step().await.unwrap();
            outcomes.poll_once().await.unwrap();
            if done(self).await {
                return Some(());
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            super::eventually("the simulator's calls end", left, async || {
                self.sim
                    .calls()
                    .iter()
                    .all(|c| c.completed && c.details["answered_by"] == serde_json::json!(c.answered_by))
                    .then_some(())
            })
            .await;
            self.clock.advance(tick);
            None
        };
        super::eventually_showing(what, DRIVE_DEADLINE, step, async || {
            format!("switchboard's clock at {}", self.now())
        })
        .await;
    }

    /// The analysis worker's settings for tests: `batch` at a time, retries after 1 s up to
    /// 30 s, 20 tries, its own pace unlimited.
    pub fn analysis_config(&self, batch: u32) -> AnalysisConfig {
        AnalysisConfig {
            batch,
            tick: std::time::Duration::from_millis(1),
            lease: Duration::minutes(10),
            retry: RetrySchedule {
                max_tries: 20,
                min_backoff: Duration::seconds(1),
                max_backoff: Duration::seconds(30),
            },
            requests_per_minute: None,
            compliance: self.config.compliance(),
        }
    }

    /// An analysis worker as the daemon runs it, on this clock and `store`.
    pub fn analysis_worker(&self, store: Store, batch: u32, work: Work) -> AnalysisWorker {
        let clock: Arc<dyn Clock> = Arc::new(self.clock.clone());
        AnalysisWorker::new(store, self.client(RetryPolicy::none()), clock, self.analysis_config(batch), work)
    }

    /// [`Harness::drive`] until the campaign is completed.
    pub async fn drive_to_completion(&self, dispatcher: &Dispatcher, outcomes: &Outcomes, campaign: &str) {
        self.drive(dispatcher, outcomes, "the campaign completes", async |h| {
            h.store.campaign(campaign).await.unwrap().state == switchboard::store::CampaignState::Completed
        })
        .await;
    }
}
