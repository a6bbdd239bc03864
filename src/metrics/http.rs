//! The daemon's monitoring endpoints: `/metrics` (Prometheus text), `/healthz` (the process
//! answers) and `/readyz` (the database answers, its schema is this binary's, and Bland took the
//! API key the last time it was asked).
//!
//! `/metrics` renders the in-memory counters and histograms at every scrape; the gauges read
//! from the database ([`DbGauges`]) are read at most once per [`DB_GAUGES_TTL`] and shared by
//! the scrapes in between, so a scraper (or many, or a loop) costs the database at most one set
//! of reads per period: counting the caps' dials of the last day and summing a live campaign's
//! call prices are not free. `/readyz` asks the database each time (two small queries).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::time::Instant;
use tracing::warn;

use super::db::DbSource;
use super::{DbGauges, KeyState, Metrics};
use crate::clock::Clock;

/// How long the database's gauges are served again before they are read anew.
pub const DB_GAUGES_TTL: Duration = Duration::from_secs(5);

/// What the monitoring endpoints read.
#[derive(Clone)]
pub struct Monitor {
    metrics: Metrics,
    db: Arc<DbSource>,
    clock: Arc<dyn Clock>,
    cache: Arc<Cached<Arc<DbGauges>>>,
}

impl Monitor {
    pub fn new(metrics: Metrics, db: DbSource, clock: Arc<dyn Clock>) -> Self {
        Self { metrics, db: Arc::new(db), clock, cache: Arc::new(Cached::new(DB_GAUGES_TTL)) }
    }
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router(monitor: Monitor) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(monitor)
}

/// `/metrics`: the registry, with the database's gauges from the cache. A database that cannot
/// be read fails the scrape (500): the gauges would otherwise be silently stale.
async fn metrics(State(m): State<Monitor>) -> Response {
    let read = m.cache.get_or_refresh(async || DbGauges::read(&m.db, m.clock.now()).await.map(Arc::new)).await;
    match read {
        Ok(gauges) => {
            m.metrics.set_db_gauges(gauges);
            ([(header::CONTENT_TYPE, super::CONTENT_TYPE)], m.metrics.render()).into_response()
        }
        Err(e) => {
            warn!(error = %e, "cannot read the database for /metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
    }
}

/// The checks `/readyz` makes, each `"ok"` (or the key's state) or what is wrong.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// The names of the checks that failed.
    pub not_ready: Vec<&'static str>,
    pub database: String,
    pub migrations: String,
    pub bland_key: &'static str,
}

impl Readiness {
    pub async fn check(db: &DbSource, metrics: &Metrics) -> Self {
        let mut not_ready = Vec::new();
        let database = match db.store.ping().await {
            Ok(()) => "ok".to_string(),
            Err(e) => {
                not_ready.push("database");
                format!("does not answer: {e}")
            }
        };
        let migrations = match db.store.migration_status().await {
            Ok(status) if status.is_current() => "ok".to_string(),
            Ok(status) => {
                not_ready.push("migrations");
                format!("not this binary's schema ({status})")
            }
            Err(e) => {
                not_ready.push("migrations");
                format!("cannot be read: {e}")
            }
        };
        let key = metrics.key_state();
        if key != KeyState::Accepted {
            not_ready.push("bland_key");
        }
        Readiness { ready: not_ready.is_empty(), not_ready, database, migrations, bland_key: key.as_str() }
    }
}

/// `/readyz`: 200 when every check passes, else 503; the body says which.
async fn readyz(State(m): State<Monitor>) -> Response {
    let r = Readiness::check(&m.db, &m.metrics).await;
    let status = if r.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(r)).into_response()
}

/// A value computed at most once per `ttl` and shared: callers that arrive while it is being
/// computed wait for that computation instead of starting their own.
pub(crate) struct Cached<T> {
    ttl: Duration,
    slot: tokio::sync::Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Cached<T> {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { ttl, slot: tokio::sync::Mutex::new(None) }
    }

    pub(crate) async fn get_or_refresh<E>(&self, compute: impl AsyncFnOnce() -> Result<T, E>) -> Result<T, E> {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = &*slot
            && at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let value = compute().await?;
        *slot = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    async fn scrape(cache: Arc<Cached<String>>, computed: Arc<AtomicU32>) -> String {
        cache
            .get_or_refresh(async || {
                let n = computed.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::task::yield_now().await;
                Ok::<_, ()>(format!("render {n}"))
            })
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_database_is_read_once_per_ttl_however_many_scrape_at_once() {
        let cache = Arc::new(Cached::new(DB_GAUGES_TTL));
        let computed = Arc::new(AtomicU32::new(0));
        let mut scrapes = tokio::task::JoinSet::new();
        for _ in 0..50 {
            scrapes.spawn(scrape(cache.clone(), computed.clone()));
        }
        let answers = scrapes.join_all().await;
        assert!(answers.iter().all(|a| a == "render 1"), "{answers:?}");
        assert_eq!(computed.load(Ordering::SeqCst), 1, "50 concurrent scrapes, one computation");
    }

    #[tokio::test]
    async fn a_stale_value_is_computed_again_and_a_failure_is_not_cached() {
        let stale_at_once = Arc::new(Cached::new(Duration::ZERO));
        let computed = Arc::new(AtomicU32::new(0));
        assert_eq!(scrape(stale_at_once.clone(), computed.clone()).await, "render 1");
        assert_eq!(scrape(stale_at_once, computed).await, "render 2");

        let cache: Cached<String> = Cached::new(DB_GAUGES_TTL);
        assert_eq!(cache.get_or_refresh(async || Err::<String, _>("db down")).await, Err("db down"));
        assert_eq!(cache.get_or_refresh(async || Ok::<_, &str>("ok".to_string())).await, Ok("ok".to_string()));
    }
}
