//! A Bland API simulator, for tests, benchmarks and dry runs — never a production path.
//!
//! It serves the endpoints and answer shapes of `shared/bland-api.md` over loopback HTTP (axum):
//! send call (validated like Bland, 400 with an `errors` list), call details, list calls with
//! filters, stop one / all, analyze (answers drawn from the call's seed, a fixed price, every
//! request recorded), `/v1/me`; it checks the `authorization` key and enforces a
//! request rate and a concurrent-call limit with 429 + `Retry-After`. Each accepted call gets a
//! deterministic fate from the seed (human, voicemail, no answer, busy, failed; length, price,
//! late `answered_by`, duplicate or dropped webhooks) and, when it ends in simulated time
//! (`speed` × real time), its details are POSTed to its `webhook`, signed like Bland signs them.
//! Faults can be injected: 5xx (on send, half after the call was placed), latency, 429 storms.
//!
//! Requests enter over HTTP; what leaves is the HTTP answers, the webhooks, an optional JSON-lines
//! log of accepted sends, and — for tests — [`SimHandle::sends`] and [`SimHandle::calls`], the
//! simulator's ground truth to compare an orchestrator's database against, call for call.

mod config;
mod limits;
mod plan;
mod recorder;
mod server;
mod validate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use config::{OutcomeMix, SimArgs, SimConfig, SimConfigError, StormWindow};
pub use plan::SimOutcome;
/// The price of every `/analyze` answer, in USD.
pub const ANALYZE_PRICE_USD: f64 = server::ANALYZE_PRICE_USD;
pub use recorder::{RecordedWebhook, WebhookRecorder};

use server::Shared;

/// One accepted send call: what was really dialled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentCall {
    /// When the simulator accepted it.
    pub at: DateTime<Utc>,
    pub call_id: String,
    /// E.164, as the simulator normalised it.
    pub phone_number: String,
    /// As sent (`Null` when absent).
    pub metadata: Value,
    /// The whole request body as received.
    pub request: Value,
    /// Whether an `encrypted_key` header came with it.
    pub byot: bool,
}

/// The simulator's truth about one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimCall {
    pub call_id: String,
    pub phone_number: String,
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
    /// What the line did (before any stop).
    pub outcome: SimOutcome,
    /// The final `status` the call has or will have (`completed`, `no-answer`, `busy`,
    /// `failed`, `canceled`).
    pub status: String,
    /// The final `answered_by` (only with `answered_by_enabled`).
    pub answered_by: Option<String>,
    pub call_length_minutes: f64,
    pub price: f64,
    /// When the call ends (or ended), real time.
    pub ends_at: DateTime<Utc>,
    /// Whether it has ended by now.
    pub completed: bool,
    pub stopped: bool,
    pub webhook: Option<String>,
    /// Webhook POSTs the receiver acknowledged with 2xx (duplicates and late updates count).
    pub webhook_deliveries: u32,
    /// The webhook was dropped on purpose (`--drop-webhooks`).
    pub webhook_dropped: bool,
    /// The person asked not to be called again (`--opt-outs`).
    pub opted_out: bool,
    /// The call details as `GET /v1/calls/{id}` would answer now.
    pub details: Value,
}

/// One `POST /v1/calls/{id}/analyze` the simulator received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimAnalyzeRequest {
    pub call_id: String,
    pub goal: Option<String>,
    /// As asked (empty when the body could not be read).
    pub questions: Vec<(String, String)>,
    /// Answered 200 with answers (not refused, rate-limited or failed by injection).
    pub answered: bool,
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Config(#[from] SimConfigError),
    #[error("cannot listen on {addr}: {source} (is another simulator already running there?)")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot open the send log {path}: {source}")]
    Log { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot build the webhook HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds `config.listen` (port 0 for a free one) and serves in the background until
    /// [`SimHandle::shutdown`].
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        config.validate()?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind { addr: config.listen, source })?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (log_tx, log_task) = match &config.log {
            Some(path) => {
                // Open now, so a bad path fails the start rather than the first send.
                crate::files::private()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| SimError::Log { path: path.clone(), source })?;
                let (tx, rx) = mpsc::unbounded_channel();
                let path = path.clone();
                let stop = shutdown_rx.clone();
                let task = tokio::spawn(async move {
                    if let Err(e) = server::write_log(&path, rx, stop).await {
                        tracing::error!(path = %path.display(), error = %e, "writing the simulator's send log failed");
                    }
                });
                (Some(tx), Some(task))
            }
            None => (None, None),
        };
        let shared = Arc::new(Shared::new(config, log_tx, shutdown_rx.clone())?);
        let app = server::router(shared.clone());
        let mut stop = shutdown_rx;
        let server = tokio::spawn(async move {
            // Answers go out at once (no Nagle delay behind the last unacknowledged segment), as
            // our own daemon's server sends them: the simulator must not slow the dispatcher.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        });
        tracing::info!(%addr, "Bland simulator listening");
        Ok(SimHandle { addr, shared, shutdown_tx, server, log_task })
    }
}

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    log_task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the base URL to give a Bland client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every accepted send, in order.
    pub fn sends(&self) -> Vec<SentCall> {
        self.shared.sends()
    }

    /// Every call's truth (final outcome, price, deliveries), in send order.
    pub fn calls(&self) -> Vec<SimCall> {
        self.shared.calls()
    }

    pub fn call(&self, call_id: &str) -> Option<SimCall> {
        self.shared.call(call_id)
    }

    /// Answers the next `n` `/analyze` requests with a 500 (an outage of the analysis service
    /// only), instead of whatever was set before.
    pub fn fail_next_analyze_requests(&self, n: u64) {
        self.shared.fail_next_analyze_requests(n);
    }

    /// Every `/analyze` request received, in order.
    pub fn analyze_requests(&self) -> Vec<SimAnalyzeRequest> {
        self.shared.analyze_requests()
    }

    /// The answers `/analyze` gives (gave, or will give once the call has ended) for this call
    /// and these questions: the simulator's record to check stored answers against. `None` for
    /// a call it never placed.
    pub fn analysis_answers(&self, call_id: &str, questions: &[(String, String)]) -> Option<Vec<Value>> {
        self.shared.analysis_answers(call_id, questions)
    }

    /// Answers every request 429 for `length`, starting now.
    pub fn start_rate_limit_storm(&self, length: Duration) {
        self.shared.add_storm(length);
    }

    /// Stops serving, cancels pending webhooks and flushes the send log.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "simulator server failed"),
            Err(e) => tracing::error!(error = %e, "simulator server task panicked"),
        }
        // The server has stopped, so the log writer has everything; it drains and flushes.
        if let Some(task) = self.log_task {
            let _ = task.await;
        }
    }
}

/// `switchboard sim`: serve until Ctrl-C or SIGTERM. Prints exactly one line to stdout,
/// `switchboard sim listening on http://ADDR`, once the port is bound.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let config = args.into_config()?;
    let handle = Simulator::start(config).await?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "switchboard sim listening on {}", handle.base_url())?;
        out.flush()?;
    }
    shutdown_signal().await;
    tracing::info!("shutting the simulator down");
    handle.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
