//! A webhook receiver for tests: listens on a loopback port, records every POST (raw body bytes
//! and the signature header) and answers with a status the test chooses. It checks nothing, so a
//! test verifies signatures itself, independently of the code under test.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::{mpsc, watch};

/// One POST as received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedWebhook {
    pub path: String,
    /// `X-Webhook-Signature`, if sent.
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl RecordedWebhook {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

struct RecorderState {
    status: AtomicU16,
    all: Mutex<Vec<RecordedWebhook>>,
    tx: mpsc::UnboundedSender<RecordedWebhook>,
}

/// A running receiver; dropped or [`shutdown`](Self::shutdown) to stop.
pub struct WebhookRecorder {
    addr: SocketAddr,
    state: Arc<RecorderState>,
    rx: mpsc::UnboundedReceiver<RecordedWebhook>,
    stop: watch::Sender<bool>,
}

impl WebhookRecorder {
    /// Listens on `127.0.0.1:0`; answers 200 until told otherwise.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(RecorderState { status: AtomicU16::new(200), all: Mutex::new(Vec::new()), tx });
        let app = Router::new().route("/{*path}", post(record)).with_state(state.clone());
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
        });
        Ok(Self { addr, state, rx, stop })
    }

    /// A URL on this receiver; any path is accepted and recorded.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// The status later deliveries get (e.g. 500 to make the sender retry).
    pub fn respond_with(&self, status: u16) {
        self.state.status.store(status, Ordering::Relaxed);
    }

    /// The next delivery not yet taken, waiting at most `within`.
    pub async fn next(&mut self, within: Duration) -> Option<RecordedWebhook> {
        tokio::time::timeout(within, self.rx.recv()).await.ok().flatten()
    }

    /// Every delivery so far, in arrival order.
    pub fn received(&self) -> Vec<RecordedWebhook> {
        self.state.all.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for WebhookRecorder {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn record(
    State(state): State<Arc<RecorderState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let hook = RecordedWebhook {
        path: uri.path().to_string(),
        signature: text("x-webhook-signature"),
        content_type: text("content-type"),
        body: body.to_vec(),
    };
    state.all.lock().unwrap_or_else(|p| p.into_inner()).push(hook.clone());
    let _ = state.tx.send(hook);
    StatusCode::from_u16(state.status.load(Ordering::Relaxed)).unwrap_or(StatusCode::OK)
}
