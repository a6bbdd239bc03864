//! `switchboard serve`: the daemon. It wires the store, the Bland clients, the dispatcher, the
//! outcome poller, the analysis worker, the inbox pruner and the HTTP server (webhook receiver,
//! control API, dashboard, health, metrics) together and runs them until the shutdown signal; then it stops claiming, lets
//! the requests in flight finish (each is bounded by the request timeout) and returns. Attempts a hard stop
//! leaves `dialing` are reconciled by the next start before anything new is sent.
//!
//! The HTTP server is exposed to whoever can reach `[http] listen` (Bland, when `public_url` is
//! set), so it runs its own accept loop with the `[http]` limits: at most `max_connections` at
//! once, a header within `header_read_timeout` (which also ends idle keep-alive connections), an
//! answer within `request_timeout`, and a connection on which nothing moves for `idle_timeout`
//! closed. Without them, idle and slow clients held connections forever, and at the file
//! descriptor limit `/healthz` stopped answering.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration as StdDuration;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use governor::{Quota, RateLimiter};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::analysis::{AnalysisConfig, AnalysisWorker, Work};
use crate::api::{ApiAuth, ApiState};
use crate::bland::{BlandClientConfig, BlandError, Client, RetryPolicy};
use crate::clock::Clock;
use crate::config::DaemonConfig;
use crate::config::daemon::{HttpSection, federal_hours};
use crate::dispatcher::engine::{Dispatcher, DispatcherConfig};
use crate::metrics::Metrics;
use crate::metrics::db::DbSource;
use crate::metrics::http::Monitor;
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
    /// BYOT accounts' `encrypted_key`, sent with every request to Bland.
    pub encrypted_key: Option<Secret>,
    /// The control API's bearer token; without one the API is served only on loopback.
    pub api_token: Option<Secret>,
    pub dispatcher: DispatcherConfig,
    pub outcomes: OutcomesConfig,
    pub analysis: AnalysisConfig,
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
        let analysis = AnalysisConfig::from_daemon(&config);
        Self {
            config,
            store,
            clock,
            api_key,
            webhook_secret,
            encrypted_key: None,
            api_token: None,
            dispatcher,
            outcomes,
            analysis,
            retry: RetryPolicy::default(),
        }
    }
}

/// One daemon per database: an exclusive lock on `<database>.lock`, held while the daemon runs
/// and released by the operating system however the process ends (`kill -9` included). Two
/// daemons on one database would each reconcile the other's sends in flight.
///
///
/// On PostgreSQL there is no such lock: several daemons share the database, each claiming and
/// sending under leases (see `store::nodes`).
#[derive(Debug)]
pub struct DaemonLock {
    _file: Option<std::fs::File>,
}

impl DaemonLock {
    /// The lock for the daemon's store: the file lock beside a SQLite database; none on
    /// PostgreSQL.
    pub fn acquire_for(store: &Store) -> anyhow::Result<Self> {
        match store.path() {
            Some(path) => Self::acquire(path),
            None => {
                info!(node = store.node(), "several daemons may share this PostgreSQL database; this one is a node");
                Ok(Self { _file: None })
            }
        }
    }

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
            Ok(()) => Ok(Self { _file: Some(file) }),
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

/// The daemon's Bland clients. All three take from one request budget
/// (`requests_per_minute`): the analysis worker's requests wait for the same limiter as sends.
struct Clients {
    /// Sends: no retries of their own (a 429 slows the whole account down).
    sends: Client,
    /// Lookups, polls and stops: retried by the client.
    api: Client,
    /// Analyses: no retries of their own either; the worker asks again on its schedule,
    /// through its share of the budget.
    analysis: Client,
    /// The control API's `cancel?stop_active=true`: retried like lookups.
    stops: Client,
}

/// Builds the Bland clients, sharing one request budget (`requests_per_minute`).
fn clients(parts: &DaemonParts, metrics: &Metrics) -> anyhow::Result<Clients> {
    let rpm =
        NonZeroU32::new(parts.config.bland.requests_per_minute).context("requests_per_minute must be positive")?;
    let budget = Arc::new(RateLimiter::direct(Quota::per_minute(rpm)));
    let make = |retry: RetryPolicy| -> anyhow::Result<Client> {
        let mut c = BlandClientConfig::new(parts.config.bland.base_url.clone(), parts.api_key.clone());
        c.connect_timeout = parts.config.bland.connect_timeout.to_std().unwrap_or_default();
        c.request_timeout = parts.config.bland.request_timeout.to_std().unwrap_or_default();
        c.retry = retry;
        c.encrypted_key = parts.encrypted_key.clone();
        c.rate_limiter = Some(budget.clone());
        c.metrics = metrics.clone();
        Client::new(c).context("building the Bland client")
    };
    Ok(Clients {
        sends: make(RetryPolicy::none())?,
        api: make(parts.retry.clone())?,
        analysis: make(RetryPolicy::none())?,
        stops: make(parts.retry.clone())?,
    })
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
    if matches!(auth, Some(WebhookAuth::Unsigned)) && !config.http.listen.ip().is_loopback() {
        anyhow::bail!(
            "[http] allow_unsigned_webhooks = true is allowed only when [http] listen is a loopback address, not {}: \
             set BLAND_WEBHOOK_SECRET (or [bland] webhook_secret_file) instead",
            config.http.listen
        );
    }
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
    let addr: SocketAddr = listener.local_addr()?;
    // Checked against the address actually bound: `--listen` may have moved it off loopback.
    let api_auth = ApiAuth::new(parts.api_token.as_ref(), addr).map_err(anyhow::Error::msg)?;
    if matches!(api_auth, ApiAuth::Open) {
        info!(%addr, "the control API has no token ([http] api_token_file, SWITCHBOARD_API_TOKEN): open to local users");
    }
    if matches!(auth, Some(WebhookAuth::Unsigned)) {
        // `--listen` may have moved the server off the configured loopback address.
        if !addr.ip().is_loopback() {
            anyhow::bail!(
                "[http] allow_unsigned_webhooks = true is allowed only on a loopback address, and the daemon was \
                 asked to listen on {addr}: set BLAND_WEBHOOK_SECRET (or [bland] webhook_secret_file) instead"
            );
        }
        warn!("accepting UNSIGNED webhooks ([http] allow_unsigned_webhooks = true)");
    }
    log_compliance_guard(&parts.config);
    let metrics = Metrics::new();
    let clients = clients(&parts, &metrics)?;
    let key_check = clients.sends.clone();
    let dispatcher = Arc::new(
        Dispatcher::new(parts.store.clone(), clients.sends, parts.clock.clone(), parts.dispatcher.clone())
            .await?
            .with_metrics(metrics.clone()),
    );
    let outcomes = Arc::new(
        Outcomes::new(parts.store.clone(), clients.api, parts.clock.clone(), parts.outcomes.clone())
            .with_metrics(metrics.clone()),
    );
    let analyst = Arc::new(
        AnalysisWorker::new(
            parts.store.clone(),
            clients.analysis,
            parts.clock.clone(),
            parts.analysis.clone(),
            Work::Daemon,
        )
        .with_metrics(metrics.clone()),
    );

    let watched = DbSource::new(parts.store.clone(), parts.config.compliance(), parts.dispatcher.account);
    let mut app = crate::metrics::http::router(Monitor::new(metrics.clone(), watched, parts.clock.clone()));
    let api = ApiState::new(parts.store.clone(), Arc::new(parts.config.clone()), parts.clock.clone(), clients.stops);
    app = app.merge(crate::api::router(api, api_auth)).merge(crate::api::pages());
    match auth {
        Some(auth) => app = app.merge(webhook_router(outcomes.clone(), auth)),
        None => info!("no webhook secret: outcomes come from polling only"),
    }
    // Unknown paths and methods answer as the API's errors do; set last, so that every route
    // merged above has it.
    let app = app.fallback(crate::api::no_route).method_not_allowed_fallback(crate::api::wrong_method);
    let limits = HttpLimits::from_config(&parts.config.http);
    info!(%addr, ?limits, "switchboard daemon listening");

    // Several daemons on PostgreSQL: calls Bland placed whose attempts the database lost (a
    // failover to a standby that missed the last commits) are written back before anything is
    // dialled, so that no number is called again for them. Not knowing is not dialling.
    if parts.store.is_shared() {
        use backon::Retryable;
        let retry = backon::ExponentialBuilder::default()
            .with_min_delay(StdDuration::from_secs(1))
            .with_max_delay(StdDuration::from_secs(30))
            .with_max_times(10)
            .with_jitter();
        let adopted = (|| dispatcher.recover_lost_calls(RECOVER_LOOKBACK))
            .retry(retry)
            .when(|e| matches!(e, crate::dispatcher::RecoverError::Bland(b) if b.is_retryable()))
            .notify(
                |e, wait| warn!(error = %e, ?wait, "cannot check Bland's recent calls yet; not dialling until it can"),
            )
            .await
            .context("checking Bland's calls of the last 15 minutes against the database before dialling")?;
        if adopted > 0 {
            warn!(adopted, "calls Bland placed that the database had lost were recorded (a failover?)");
        }
    }
    // Attempts a crash left `dialing` are settled before anything new is sent.
    let settled = dispatcher.reconcile().await?;
    if settled != Default::default() {
        info!(?settled, "reconciled attempts left from the last run");
    }
    // Human calls whose outcome was recorded without their pending analysis (before this
    // version, or while the campaign's spec could not be read) get it now.
    let queued = crate::analysis::run::catch_up(&parts.store, parts.config.compliance(), parts.clock.now()).await?;
    if queued > 0 {
        info!(queued, "analyses queued for human calls recorded without one");
    }

    let server = tokio::spawn(serve_http(listener, app, limits, shutdown.clone()));
    let key_checked = tokio::spawn(check_key(key_check, shutdown.clone()));
    let prune = {
        let (store, clock, stop) = (parts.store.clone(), parts.clock.clone(), shutdown.clone());
        let retention = parts.config.outcomes.inbox_retention;
        tokio::spawn(prune_inbox_periodically(store, clock, retention, stop))
    };
    // SQLite: the WAL is copied back into the database off the writers' path (`store::checkpoint`).
    let checkpoints = parts.store.checkpointer().await?.map(|c| tokio::spawn(c.run(shutdown.clone())));
    let dispatch = {
        let (d, stop) = (dispatcher.clone(), shutdown.clone());
        tokio::spawn(async move { d.run(stop).await })
    };
    let poll = {
        let (o, stop) = (outcomes.clone(), shutdown.clone());
        tokio::spawn(async move { o.run_poller(stop).await })
    };
    let analyse = {
        let (a, stop) = (analyst.clone(), shutdown.clone());
        tokio::spawn(async move { a.run(stop).await })
    };
    dispatch.await.context("dispatcher task")?;
    poll.await.context("poller task")?;
    analyse.await.context("analysis task")?;
    prune.await.context("inbox pruning task")?;
    if let Some(checkpoints) = checkpoints {
        checkpoints.await.context("checkpoint task")?;
    }
    server.await.context("http task")?;
    key_checked.await.context("key check task")?;
    parts.store.close().await;
    info!("switchboard daemon stopped");
    Ok(())
}

/// Logs the compliance guard in force, and loudly when the operator widened it beyond the
/// federal hours.
fn log_compliance_guard(config: &DaemonConfig) {
    let c = &config.compliance;
    let (earliest, latest) = (c.earliest.format("%H:%M").to_string(), c.latest.format("%H:%M").to_string());
    let (first, last) = federal_hours();
    if c.allow_outside_federal_hours {
        warn!(
            %earliest,
            %latest,
            wider_than_federal = c.earliest < first || c.latest > last,
            "[compliance] allow_outside_federal_hours = true: the calling-hours guard may go outside the US federal \
             08:00-21:00; make sure the law allows it for every call this daemon places"
        );
    }
    info!(
        %earliest,
        %latest,
        max_calls_per_number_per_day = c.max_calls_per_number_per_day,
        "compliance guard: no call outside these hours, recipient local time"
    );
}

/// Asks Bland about the API key once at start (`GET /v1/me`), so `/readyz` knows before the
/// first send; every later answer from Bland updates what it knows (see [`Metrics::key_state`]).
async fn check_key(client: Client, mut stop: watch::Receiver<bool>) {
    tokio::select! {
        checked = client.me() => match checked {
            Ok(_) => info!("Bland accepted the API key"),
            Err(BlandError::Permanent { status: 401 | 403, .. }) => {
                warn!("Bland refused the API key at start: /readyz says so until Bland accepts it")
            }
            Err(e) => warn!(error = %e, "cannot check the Bland API key at start; the next request to Bland will"),
        },
        _ = stopped(&mut stop) => {}
    }
}

/// Resolves once `stop` turns true (or its sender is gone), holding no borrow of it.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// How far back a starting daemon on PostgreSQL checks Bland's calls against the database
/// (`Dispatcher::recover_lost_calls`): far more than any replication lag a failover can lose.
const RECOVER_LOOKBACK: chrono::Duration = chrono::Duration::minutes(15);

/// How often the inbox is pruned; the first prune runs at start.
const PRUNE_EVERY: StdDuration = StdDuration::from_secs(3600);

/// Deletes inbox deliveries older than `retention`, at start and then hourly, until `stop`.
/// A failed prune is logged and tried again next time: the inbox is an audit record, not work.
async fn prune_inbox_periodically(
    store: Store,
    clock: Arc<dyn Clock>,
    retention: chrono::Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let cutoff = clock.now() - retention;
        // One daemon prunes (several on PostgreSQL): the leader.
        let leads = store.is_leader().await.unwrap_or(false);
        match if leads { store.prune_inbox(cutoff).await } else { Ok(Default::default()) } {
            Ok(p) if p.deliveries > 0 || p.bodies > 0 => {
                info!(deliveries = p.deliveries, bodies = p.bodies, %cutoff, "pruned the webhook inbox")
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "cannot prune the webhook inbox; trying again in an hour"),
        }
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

/// The `[http]` limits, as the server applies them.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub header_read_timeout: StdDuration,
    pub request_timeout: StdDuration,
    pub idle_timeout: StdDuration,
    pub max_connections: usize,
}

impl HttpLimits {
    pub fn from_config(http: &HttpSection) -> Self {
        let std = |d: chrono::Duration| d.to_std().unwrap_or_default();
        Self {
            header_read_timeout: std(http.header_read_timeout),
            request_timeout: std(http.request_timeout),
            idle_timeout: std(http.idle_timeout),
            max_connections: http.max_connections as usize,
        }
    }
}

/// How long a shutdown waits for requests in progress beyond their own timeout.
const SHUTDOWN_GRACE: StdDuration = StdDuration::from_secs(1);

/// Accepts connections on `listener` and serves `app` on each, within `limits`, until `stop`;
/// then closes idle connections and waits (bounded) for requests in progress.
async fn serve_http(listener: TcpListener, app: Router, limits: HttpLimits, mut stop: watch::Receiver<bool>) {
    let app = app.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut full_warned: Option<Instant> = None;
    loop {
        // At the cap the server stops accepting: the next client waits in the kernel's backlog
        // until a connection closes (the timeouts see to it that one does).
        if permits.available_permits() == 0 && full_warned.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            warn!(max_connections = limits.max_connections, "HTTP connection limit reached; new clients wait");
            full_warned = Some(Instant::now());
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = stopped(&mut stop) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors (or a connection reset before it was accepted):
                    // pause instead of spinning on an error that repeats until one closes.
                    warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(StdDuration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, app.clone(), limits, stop.clone(), permit));
    }
    // Every permit back means every connection has ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let wait = limits.request_timeout + SHUTDOWN_GRACE;
    if tokio::time::timeout(wait, permits.acquire_many(all)).await.is_err() {
        warn!("HTTP connections still open at shutdown were dropped");
    }
}

/// Serves one connection until it ends, its idle timeout passes, or a shutdown finishes it.
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    limits: HttpLimits,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let activity = Activity::new();
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let conn = builder.serve_connection(io, TowerToHyperService::new(app));
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let idle_until = activity.last() + limits.idle_timeout;
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tokio::time::sleep_until(idle_until) => {
                if activity.last() + limits.idle_timeout <= Instant::now() {
                    return; // dropping the connection closes it
                }
            }
            _ = stopped(&mut stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// When a connection last moved a byte, shared between its stream and its watchdog.
#[derive(Clone)]
struct Activity {
    since: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Self { since: Instant::now(), last_ms: Arc::new(AtomicU64::new(0)) }
    }

    fn touch(&self) {
        self.last_ms.store(self.since.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.since + StdDuration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A stream that records when bytes move, for the idle timeout.
struct Watched {
    inner: TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Rate limit for warnings that would otherwise repeat on every event.
const LOG_EVERY: StdDuration = StdDuration::from_secs(60);

#[cfg(test)]
mod byot_tests {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::bland::ListCallsQuery;

    #[tokio::test]
    async fn a_byot_key_from_the_daemons_secrets_goes_with_every_request_and_nowhere_else() {
        let bland = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/calls"))
            .and(header("encrypted_key", "enc-from-env"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"total_count": 0, "calls": []})))
            .expect(3)
            .mount(&bland)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("b.db")).await.unwrap();
        let mut config = DaemonConfig::defaults();
        config.bland.base_url = bland.uri();
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let mut parts = DaemonParts::new(config, store, clock, Secret::new("sk"), None);
        parts.encrypted_key =
            parts.config.encrypted_key(|v| (v == "BLAND_ENCRYPTED_KEY").then(|| "enc-from-env".into())).unwrap();

        let clients = clients(&parts, &Metrics::default()).unwrap();

        for client in [clients.sends, clients.api, clients.analysis] {
            client.list_calls(&ListCallsQuery::default()).await.expect("the header matched");
        }
        assert!(!format!("{:?}", parts.encrypted_key).contains("enc-from-env"), "never in a debug print");
    }
}
