//! `switchboard serve`: the daemon. It wires the store, the Bland clients, the dispatcher, the
//! outcome poller and the HTTP server (webhook receiver, health, metrics) together and runs them
//! until the shutdown signal; then it stops claiming, lets the sends in flight finish (each is
//! bounded by the request timeout) and returns. Attempts a hard stop leaves `dialing` are
//! reconciled by the next start before anything new is sent.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use governor::{Quota, RateLimiter};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use crate::bland::{BlandClientConfig, Client, RetryPolicy};
use crate::clock::Clock;
use crate::config::DaemonConfig;
use crate::dispatcher::engine::{Dispatcher, DispatcherConfig};
use crate::outcomes::{Outcomes, OutcomesConfig, WebhookAuth, webhook_router};
use crate::secret::Secret;
use crate::store::Store;

/// Everything the daemon needs from outside: the caller decides the clock, the listener and
/// when to stop.
pub struct DaemonParts {
    pub config: DaemonConfig,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub api_key: Secret,
    pub webhook_secret: Option<Secret>,
    pub dispatcher: DispatcherConfig,
    pub outcomes: OutcomesConfig,
    /// Sends are not retried by the client (the dispatcher slows the whole account on a 429);
    /// lookups are, with this policy.
    pub retry: RetryPolicy,
}

impl DaemonParts {
    /// The usual parts for a config: real tuning, default retries.
    pub fn new(
        config: DaemonConfig,
        store: Store,
        clock: Arc<dyn Clock>,
        api_key: Secret,
        webhook_secret: Option<Secret>,
    ) -> Self {
        let dispatcher = DispatcherConfig::from_daemon(&config);
        let outcomes = OutcomesConfig::from_daemon(&config);
        Self { config, store, clock, api_key, webhook_secret, dispatcher, outcomes, retry: RetryPolicy::default() }
    }
}

/// One daemon per database: an exclusive lock on `<database>.lock`, held while the daemon runs
/// and released by the operating system however the process ends (`kill -9` included). Two
/// daemons on one database would each reconcile the other's sends in flight.
#[derive(Debug)]
pub struct DaemonLock {
    _file: std::fs::File,
}

impl DaemonLock {
    pub fn acquire(db: &Path) -> anyhow::Result<Self> {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = crate::files::private()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the daemon lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another switchboard daemon is already running on {} (it holds {}); stop it first: \
                 one daemon per database",
                db.display(),
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock the daemon lock {}", path.display()))
            }
        }
    }
}

/// Builds the two Bland clients, sharing one request budget (`requests_per_minute`).
fn clients(parts: &DaemonParts) -> anyhow::Result<(Client, Client)> {
    let rpm =
        NonZeroU32::new(parts.config.bland.requests_per_minute).context("requests_per_minute must be positive")?;
    let budget = Arc::new(RateLimiter::direct(Quota::per_minute(rpm)));
    let make = |retry: RetryPolicy| -> anyhow::Result<Client> {
        let mut c = BlandClientConfig::new(parts.config.bland.base_url.clone(), parts.api_key.clone());
        c.connect_timeout = parts.config.bland.connect_timeout.to_std().unwrap_or_default();
        c.request_timeout = parts.config.bland.request_timeout.to_std().unwrap_or_default();
        c.retry = retry;
        c.rate_limiter = Some(budget.clone());
        Client::new(c).context("building the Bland client")
    };
    Ok((make(RetryPolicy::none())?, make(parts.retry.clone())?))
}

/// How the webhook receiver checks deliveries; `None`: no receiver. Bland is told to post
/// webhooks only when `[http] public_url` is set, and then a receiver without a secret to check
/// signatures with is refused unless the operator explicitly allows unsigned webhooks.
pub fn webhook_auth(secret: Option<&Secret>, config: &DaemonConfig) -> anyhow::Result<Option<WebhookAuth>> {
    let auth = match (secret, config.http.allow_unsigned_webhooks) {
        (Some(secret), _) => Some(WebhookAuth::Secret(secret.clone())),
        (None, true) => Some(WebhookAuth::Unsigned),
        (None, false) => None,
    };
    if auth.is_none() && config.http.public_url.is_some() {
        anyhow::bail!(
            "[http] public_url is set but there is no webhook secret to check Bland's signatures with: \
             set BLAND_WEBHOOK_SECRET (or [bland] webhook_secret_file), or set [http] allow_unsigned_webhooks = true"
        );
    }
    Ok(auth)
}

/// Runs the daemon on `listener` until `shutdown` turns true.
pub async fn serve(parts: DaemonParts, listener: TcpListener, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let auth = webhook_auth(parts.webhook_secret.as_ref(), &parts.config)?;
    if matches!(auth, Some(WebhookAuth::Unsigned)) {
        tracing::warn!("accepting UNSIGNED webhooks ([http] allow_unsigned_webhooks = true)");
    }
    let (send_client, api_client) = clients(&parts)?;
    let dispatcher = Arc::new(
        Dispatcher::new(parts.store.clone(), send_client, parts.clock.clone(), parts.dispatcher.clone()).await?,
    );
    let outcomes =
        Arc::new(Outcomes::new(parts.store.clone(), api_client, parts.clock.clone(), parts.outcomes.clone()));

    let mut app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(parts.store.clone());
    match auth {
        Some(auth) => app = app.merge(webhook_router(outcomes.clone(), auth)),
        None => info!("no webhook secret: outcomes come from polling only"),
    }
    let addr: SocketAddr = listener.local_addr()?;
    info!(%addr, "switchboard daemon listening");

    // Attempts a crash left `dialing` are settled before anything new is sent.
    let settled = dispatcher.reconcile().await?;
    if settled != Default::default() {
        info!(?settled, "reconciled attempts left from the last run");
    }

    let server = {
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        })
    };
    let dispatch = {
        let (d, stop) = (dispatcher.clone(), shutdown.clone());
        tokio::spawn(async move { d.run(stop).await })
    };
    let poll = {
        let (o, stop) = (outcomes.clone(), shutdown.clone());
        tokio::spawn(async move { o.run_poller(stop).await })
    };
    dispatch.await.context("dispatcher task")?;
    poll.await.context("poller task")?;
    server.await.context("http task")?.context("http server")?;
    parts.store.close().await;
    info!("switchboard daemon stopped");
    Ok(())
}

/// Prometheus text: jobs by campaign and state, attempts by outcome.
async fn metrics(State(store): State<Store>) -> Result<String, (axum::http::StatusCode, String)> {
    let err = |e: crate::store::StoreError| (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let mut out = String::new();
    out.push_str("# HELP switchboard_jobs Jobs by campaign and state.\n# TYPE switchboard_jobs gauge\n");
    let campaigns = store.campaigns().await.map_err(err)?;
    for c in &campaigns {
        let counts = store.job_counts(&c.id).await.map_err(err)?;
        for (state, n) in counts.iter() {
            let _ = writeln!(out, "switchboard_jobs{{campaign=\"{}\",state=\"{state}\"}} {n}", c.id);
        }
    }
    out.push_str(
        "# HELP switchboard_attempts Calls dialled by campaign and outcome.\n# TYPE switchboard_attempts gauge\n",
    );
    for c in &campaigns {
        for (outcome, n) in store.call_counts(&c.id).await.map_err(err)?.by_name() {
            let _ = writeln!(out, "switchboard_attempts{{campaign=\"{}\",outcome=\"{outcome}\"}} {n}", c.id);
        }
    }
    Ok(out)
}
