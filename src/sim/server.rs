//! The simulator's HTTP side: the axum routes, the shared call table, webhook delivery and the
//! send log writer.
//!
//! Requests pass one gate (latency, key, storms, request rate, injected 5xx) and reach a handler
//! that takes the call-table lock only for the moment it reads or inserts. Calls are not ticked:
//! their state is rendered from their plan and the time elapsed ([`super::plan::render`]), and
//! only calls with a `webhook` get a task, which sleeps until the call ends and then POSTs the
//! signed details.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use super::config::SimConfig;
use super::limits::{Limits, retry_after_secs};
use super::plan::{self, CallRecord, Rng, SimOutcome, draw, plan_call, render};
use super::validate::{normalise_phone, validate_send};
use super::{SentCall, SimAnalyzeRequest, SimCall};
use crate::bland::{SIGNATURE_HEADER, sign};

const FAIL_STREAM: u64 = 1;
const PLACED_STREAM: u64 = 2;
const STARTING_BALANCE: f64 = 1000.0;
/// What one analyze request costs (Bland documents about 0.003 base + 0.0015 per call).
pub(crate) const ANALYZE_PRICE_USD: f64 = 0.0045;
const DEFAULT_FROM: &str = "+14155550100";

pub(crate) struct Shared {
    pub cfg: SimConfig,
    base_instant: Instant,
    base_wall: DateTime<Utc>,
    state: Mutex<CallTable>,
    limits: Option<Mutex<Limits>>,
    storms: Mutex<Vec<(Instant, Instant)>>,
    requests: AtomicU64,
    /// Every `/analyze` request received, in order.
    analyze_log: Mutex<Vec<SimAnalyzeRequest>>,
    /// How many of the next `/analyze` requests answer 500 (a test's outage).
    analyze_failures: AtomicU64,
    log: Option<mpsc::UnboundedSender<SentCall>>,
    http: reqwest::Client,
    shutdown: watch::Receiver<bool>,
}

/// Calls in send order (boxed, so growing the list moves pointers, not records), with indexes
/// by call id and by number.
#[derive(Default)]
struct CallTable {
    // Boxed on purpose: at a million calls, regrowing a Vec of whole records would copy hundreds
    // of megabytes while the table lock is held.
    #[allow(clippy::vec_box)]
    calls: Vec<Box<Entry>>,
    by_id: HashMap<String, usize>,
    by_number: HashMap<String, Vec<usize>>,
}

impl CallTable {
    fn get(&self, id: &str) -> Option<&Entry> {
        self.by_id.get(id).map(|&i| &*self.calls[i])
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Entry> {
        self.by_id.get(id).map(|&i| &mut *self.calls[i])
    }
}

struct Entry {
    rec: CallRecord,
    created: Instant,
    /// When the call ends on its own, in real time (the concurrency slot is held until then).
    planned_end: Instant,
    stop: Option<Arc<Notify>>,
    deliveries: u32,
    dropped: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn new(
        cfg: SimConfig,
        log: Option<mpsc::UnboundedSender<SentCall>>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, reqwest::Error> {
        let base_instant = Instant::now();
        let storms = cfg.storms.iter().map(|w| (base_instant + w.after, base_instant + w.after + w.length)).collect();
        let limits = Limits::new(cfg.requests_per_minute, cfg.max_concurrent);
        let http = reqwest::Client::builder()
            .timeout(cfg.webhook_timeout)
            .user_agent("switchboard-sim (Bland simulator)")
            .build()?;
        Ok(Self {
            limits: (!limits.is_unlimited()).then(|| Mutex::new(limits)),
            storms: Mutex::new(storms),
            base_instant,
            base_wall: Utc::now(),
            state: Mutex::new(CallTable::default()),
            requests: AtomicU64::new(0),
            analyze_log: Mutex::default(),
            analyze_failures: AtomicU64::new(0),
            log,
            http,
            shutdown,
            cfg,
        })
    }

    fn wall(&self, at: Instant) -> DateTime<Utc> {
        self.base_wall + chrono::Duration::from_std(at.saturating_duration_since(self.base_instant)).unwrap_or_default()
    }

    fn sim_secs(&self, created: Instant, now: Instant) -> f64 {
        now.saturating_duration_since(created).as_secs_f64() * self.cfg.speed
    }

    fn real(&self, sim_secs: f64) -> Duration {
        Duration::from_secs_f64((sim_secs / self.cfg.speed).max(0.0))
    }

    pub fn add_storm(&self, length: Duration) {
        let now = Instant::now();
        lock(&self.storms).push((now, now + length));
    }

    /// The checks every API request passes, in Bland's order of concern.
    async fn gate(&self, headers: &HeaderMap, inject_failure: bool) -> Result<(), Response> {
        if !self.cfg.latency.is_zero() {
            tokio::time::sleep(self.cfg.latency).await;
        }
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("").trim();
        let authorised = match &self.cfg.api_key {
            Some(key) => given == key.expose(),
            None => !given.is_empty(),
        };
        if !authorised {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                json!({"status": "error", "message": "Unauthorized: missing or invalid API key (send it as the `authorization` header)."}),
            ));
        }
        let now = Instant::now();
        let storm_left = {
            let storms = lock(&self.storms);
            storms.iter().filter(|(from, to)| *from <= now && now < *to).map(|(_, to)| *to - now).max()
        };
        if let Some(left) = storm_left {
            return Err(self.too_many(left, "Rate limit exceeded. Please slow down."));
        }
        if let Some(limits) = &self.limits {
            let admitted = lock(limits).admit_request(now);
            if let Err(wait) = admitted {
                return Err(self.too_many(wait, "Rate limit exceeded: too many requests per minute for this API key."));
            }
        }
        if inject_failure && self.fail_draw() {
            return Err(internal_error());
        }
        Ok(())
    }

    fn fail_draw(&self) -> bool {
        if self.cfg.fail_rate <= 0.0 {
            return false;
        }
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        draw(self.cfg.seed, FAIL_STREAM, n) < self.cfg.fail_rate
    }

    fn too_many(&self, wait: Duration, message: &str) -> Response {
        let mut resp = error(StatusCode::TOO_MANY_REQUESTS, json!({"status": "error", "message": message}));
        if self.cfg.retry_after_header {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(wait)));
        }
        resp
    }

    fn truth(&self, e: &Entry, now: Instant) -> SimCall {
        let fin = e.rec.final_state();
        let t = self.sim_secs(e.created, now);
        SimCall {
            call_id: e.rec.plan.call_id.clone(),
            phone_number: e.rec.to.clone(),
            metadata: e.rec.metadata(),
            created_at: e.rec.created_at,
            outcome: e.rec.plan.outcome,
            status: fin.status.to_string(),
            answered_by: fin.answered_by.map(str::to_string),
            call_length_minutes: fin.call_length_minutes(),
            price: fin.price,
            ends_at: e.rec.created_at + chrono::Duration::from_std(self.real(fin.end_s)).unwrap_or_default(),
            completed: t >= fin.end_s,
            stopped: e.rec.stopped_at_s.is_some(),
            webhook: e.rec.webhook.clone(),
            webhook_deliveries: e.deliveries,
            webhook_dropped: e.dropped,
            opted_out: e.rec.plan.opt_out,
            details: render(&e.rec, t, self.cfg.speed),
        }
    }

    pub fn calls(&self) -> Vec<SimCall> {
        let now = Instant::now();
        let table = lock(&self.state);
        table.calls.iter().map(|e| self.truth(e, now)).collect()
    }

    pub fn call(&self, id: &str) -> Option<SimCall> {
        let now = Instant::now();
        let table = lock(&self.state);
        table.get(id).map(|e| self.truth(e, now))
    }

    pub fn fail_next_analyze_requests(&self, n: u64) {
        self.analyze_failures.store(n, Ordering::SeqCst);
    }

    pub fn analyze_requests(&self) -> Vec<SimAnalyzeRequest> {
        lock(&self.analyze_log).clone()
    }

    /// What `/analyze` answers for the call with `questions` once it has ended, whatever the
    /// time now: `None` for a call it never placed.
    pub fn analysis_answers(&self, id: &str, questions: &[(String, String)]) -> Option<Vec<Value>> {
        let table = lock(&self.state);
        table.get(id).map(|e| analysis_answers(e, questions))
    }

    pub fn sends(&self) -> Vec<SentCall> {
        let table = lock(&self.state);
        table.calls.iter().map(|e| sent_call(e)).collect()
    }
}

fn sent_call(e: &Entry) -> SentCall {
    let mut request = e.rec.request_map();
    SentCall {
        at: e.rec.created_at,
        call_id: e.rec.plan.call_id.clone(),
        phone_number: e.rec.to.clone(),
        metadata: request.get("metadata").cloned().unwrap_or(Value::Null),
        request: Value::Object(std::mem::take(&mut request)),
        byot: e.rec.byot,
    }
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn internal_error() -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, json!({"status": "error", "message": "Internal server error."}))
}

fn invalid(errors: Vec<String>) -> Response {
    error(StatusCode::BAD_REQUEST, json!({"status": "error", "message": "Invalid parameters", "errors": errors}))
}

fn not_found(message: &str) -> Response {
    error(StatusCode::NOT_FOUND, json!({"status": "error", "message": message}))
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/calls", post(send_call).get(list_calls))
        .route("/v1/calls/active/stop", post(stop_all))
        .route("/v1/calls/{id}", get(call_details))
        .route("/v1/calls/{id}/stop", post(stop_call))
        .route("/v1/calls/{id}/analyze", post(analyze_call))
        .route("/v1/batches/{id}/analyze", post(analyze_batch))
        .route("/v1/me", get(me))
        .fallback(|| async { not_found("No such endpoint in the Bland simulator.") })
        .with_state(shared)
}

type Shr = State<Arc<Shared>>;

async fn send_call(State(s): Shr, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(resp) = s.gate(&headers, false).await {
        return resp;
    }
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        return invalid(vec!["Request body must be valid JSON.".into()]);
    };
    let valid = match validate_send(&parsed) {
        Ok(v) => v,
        Err(errors) => return invalid(errors),
    };
    // An injected 5xx on send happens before or after the call is placed, as a real outage can:
    // the dispatcher must reconcile, not re-send.
    let (fail, placed_anyway) = if s.fail_draw() {
        let n = s.requests.load(Ordering::Relaxed);
        (true, draw(s.cfg.seed, PLACED_STREAM, n) < 0.5)
    } else {
        (false, false)
    };
    if fail && !placed_anyway {
        return internal_error();
    }
    let now = Instant::now();
    let mut limits = s.limits.as_ref().map(|l| lock(l));
    if let Some(limits) = limits.as_deref_mut()
        && let Err(wait) = limits.check_call(now)
    {
        return s.too_many(wait, "Rate limit exceeded: too many concurrent calls for this account.");
    }
    let byot = headers.contains_key("encrypted_key");
    let from = parsed.get("from").and_then(Value::as_str).unwrap_or(DEFAULT_FROM).to_string();
    let (call_id, planned_end, stop, webhook, sent) = {
        let mut table = lock(&s.state);
        let nth = table.by_number.get(&valid.to).map_or(0, Vec::len) as u64;
        let seq = table.calls.len();
        let plan = plan_call(&s.cfg, &valid.to, nth, valid.max_duration, valid.answered_by_enabled);
        let call_id = plan.call_id.clone();
        let planned_end = now + s.real(plan.end_s);
        let stop = valid.webhook.as_ref().map(|_| Arc::new(Notify::new()));
        let entry = Entry {
            rec: CallRecord {
                seq: seq as u64,
                plan,
                to: valid.to.clone(),
                from,
                created_at: s.wall(now),
                request: Box::from(&body[..]),
                webhook: valid.webhook.clone(),
                answered_by_enabled: valid.answered_by_enabled,
                max_duration_min: valid.max_duration,
                record: valid.record,
                byot,
                stopped_at_s: None,
            },
            created: now,
            planned_end,
            stop: stop.clone(),
            deliveries: 0,
            dropped: false,
        };
        if let Some(limits) = limits.as_deref_mut() {
            limits.start_call(planned_end, entry.rec.seq);
        }
        let sent = s.log.as_ref().map(|_| SentCall {
            at: entry.rec.created_at,
            call_id: call_id.clone(),
            phone_number: valid.to.clone(),
            metadata: valid.metadata,
            request: Value::Null,
            byot,
        });
        table.by_id.insert(call_id.clone(), seq);
        table.by_number.entry(valid.to).or_default().push(seq);
        table.calls.push(Box::new(entry));
        (call_id, planned_end, stop, valid.webhook, sent)
    };
    drop(limits);
    if let (Some(log), Some(sent)) = (&s.log, sent) {
        // The writer outlives the server; a send after shutdown has nowhere to go.
        let _ = log.send(sent);
    }
    if let (Some(_), Some(stop)) = (webhook, stop) {
        tokio::spawn(deliver_webhooks(s.clone(), call_id.clone(), planned_end, stop));
    }
    if fail {
        return internal_error();
    }
    (
        StatusCode::OK,
        axum::Json(json!({
            "status": "success",
            "message": "Call successfully queued.",
            "call_id": call_id,
            "batch_id": null,
        })),
    )
        .into_response()
}

async fn call_details(State(s): Shr, headers: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    if let Err(resp) = s.gate(&headers, true).await {
        return resp;
    }
    let now = Instant::now();
    let table = lock(&s.state);
    match table.get(&id) {
        Some(e) => {
            let v = render(&e.rec, s.sim_secs(e.created, now), s.cfg.speed);
            drop(table);
            axum::Json(v).into_response()
        }
        None => not_found("Call not found."),
    }
}

async fn list_calls(State(s): Shr, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(resp) = s.gate(&headers, true).await {
        return resp;
    }
    let filter = match ListFilter::parse(&q) {
        Ok(f) => f,
        Err(errors) => return invalid(errors),
    };
    let now = Instant::now();
    let table = lock(&s.state);
    let candidates: Vec<&Entry> = match &filter.to_number {
        Some(n) => {
            table.by_number.get(n).map(|seqs| seqs.iter().map(|&i| &*table.calls[i]).collect()).unwrap_or_default()
        }
        None => table.calls.iter().map(|e| &**e).collect(),
    };
    let mut matched: Vec<Value> = candidates
        .into_iter()
        .filter(|e| filter.from_number.as_ref().is_none_or(|f| *f == e.rec.from))
        .filter_map(|e| {
            let v = render(&e.rec, s.sim_secs(e.created, now), s.cfg.speed);
            filter.matches(e, &v).then_some(v)
        })
        .collect();
    drop(table);
    if !filter.ascending {
        matched.reverse();
    }
    let total = matched.len();
    let start = filter.from.unwrap_or(0).min(total);
    let end = filter.to.unwrap_or(total).clamp(start, total);
    let calls: Vec<Value> = matched
        .into_iter()
        .skip(start)
        .take((end - start).min(filter.limit))
        .map(|mut v| {
            // Bland leaves transcripts out of lists: they are large.
            if let Some(m) = v.as_object_mut() {
                m.remove("transcripts");
                m.remove("concatenated_transcript");
            }
            v
        })
        .collect();
    axum::Json(json!({"total_count": total, "count": calls.len(), "calls": calls})).into_response()
}

/// The list-calls filters, parsed once.
struct ListFilter {
    to_number: Option<String>,
    from_number: Option<String>,
    batch_id: Option<String>,
    campaign_id: Option<String>,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    created_on: Option<NaiveDate>,
    completed: Option<bool>,
    answered_by: Option<String>,
    inbound: Option<bool>,
    duration_gt: Option<f64>,
    duration_lt: Option<f64>,
    limit: usize,
    from: Option<usize>,
    to: Option<usize>,
    ascending: bool,
}

impl ListFilter {
    fn parse(q: &HashMap<String, String>) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let text = |k: &str| q.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut parse_as = |k: &str, what: &str, ok: &dyn Fn(&str) -> bool| -> Option<String> {
            let v = text(k)?;
            if ok(&v) {
                Some(v)
            } else {
                errors.push(format!("{k} must be {what}."));
                None
            }
        };
        let date = |v: &str| NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok();
        let boolean = |v: &str| matches!(v, "true" | "false");
        let float = |v: &str| v.parse::<f64>().is_ok();
        let uint = |v: &str| v.parse::<usize>().is_ok();
        let start_date = parse_as("start_date", "a date (YYYY-MM-DD)", &date);
        let end_date = parse_as("end_date", "a date (YYYY-MM-DD)", &date);
        let created_on = parse_as("created_at", "a date (YYYY-MM-DD)", &date);
        let completed = parse_as("completed", "true or false", &boolean);
        let inbound = parse_as("inbound", "true or false", &boolean);
        let ascending = parse_as("ascending", "true or false", &boolean);
        let duration_gt = parse_as("duration_gt", "a number", &float);
        let duration_lt = parse_as("duration_lt", "a number", &float);
        let limit = parse_as("limit", "a whole number", &uint);
        let from = parse_as("from", "a whole number", &uint);
        let to = parse_as("to", "a whole number", &uint);
        if !errors.is_empty() {
            return Err(errors);
        }
        let d = |v: Option<String>| v.and_then(|v| NaiveDate::parse_from_str(&v, "%Y-%m-%d").ok());
        let b = |v: Option<String>| v.map(|v| v == "true");
        let f = |v: Option<String>| v.and_then(|v| v.parse::<f64>().ok());
        let u = |v: Option<String>| v.and_then(|v| v.parse::<usize>().ok());
        let to_number = text("to_number").map(|n| normalise_phone(&n).unwrap_or(n));
        Ok(Self {
            to_number,
            from_number: text("from_number").map(|n| normalise_phone(&n).unwrap_or(n)),
            batch_id: text("batch_id"),
            campaign_id: text("campaign_id"),
            start_date: d(start_date),
            end_date: d(end_date),
            created_on: d(created_on),
            completed: b(completed),
            answered_by: text("answered_by"),
            inbound: b(inbound),
            duration_gt: f(duration_gt),
            duration_lt: f(duration_lt),
            limit: u(limit).unwrap_or(1000).min(1000),
            from: u(from),
            to: u(to),
            ascending: b(ascending).unwrap_or(false),
        })
    }

    fn matches(&self, e: &Entry, v: &Value) -> bool {
        let day = e.rec.created_at.date_naive();
        let length = v["call_length"].as_f64().unwrap_or(0.0);
        // Simulated calls belong to no batch or campaign and are all outbound.
        self.batch_id.is_none()
            && self.campaign_id.is_none()
            && self.inbound != Some(true)
            && self.start_date.is_none_or(|d| day >= d)
            && self.end_date.is_none_or(|d| day <= d)
            && self.created_on.is_none_or(|d| day == d)
            && self.completed.is_none_or(|c| v["completed"] == c)
            && self.answered_by.as_ref().is_none_or(|a| v["answered_by"].as_str() == Some(a.as_str()))
            && self.duration_gt.is_none_or(|x| length > x)
            && self.duration_lt.is_none_or(|x| length < x)
    }
}

/// Ends one call now (if still going); returns whether it was going.
fn stop_entry(s: &Shared, e: &mut Entry, now: Instant) -> Option<(Instant, u64)> {
    let t = s.sim_secs(e.created, now);
    if t >= e.rec.end_s() {
        return None;
    }
    e.rec.stopped_at_s = Some(t);
    if let Some(n) = &e.stop {
        n.notify_one();
    }
    Some((e.planned_end, e.rec.seq))
}

fn free_slots(s: &Shared, slots: &[(Instant, u64)]) {
    if let Some(limits) = &s.limits {
        let mut limits = lock(limits);
        for (end, seq) in slots {
            limits.end_call(*end, *seq);
        }
    }
}

async fn stop_call(State(s): Shr, headers: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    if let Err(resp) = s.gate(&headers, true).await {
        return resp;
    }
    let now = Instant::now();
    let slot = {
        let mut table = lock(&s.state);
        let Some(e) = table.get_mut(&id) else {
            return not_found("SID not found for the given c_id.");
        };
        stop_entry(&s, e, now)
    };
    free_slots(&s, slot.as_slice());
    axum::Json(json!({"status": "success", "message": "Call ended successfully."})).into_response()
}

async fn stop_all(State(s): Shr, headers: HeaderMap) -> Response {
    if let Err(resp) = s.gate(&headers, true).await {
        return resp;
    }
    let now = Instant::now();
    let slots: Vec<(Instant, u64)> = {
        let mut table = lock(&s.state);
        let s = &*s;
        table.calls.iter_mut().filter_map(|e| stop_entry(s, e, now)).collect()
    };
    free_slots(&s, &slots);
    axum::Json(json!({
        "status": "success",
        "message": "Stopping active calls. This may take some time...",
        "num_calls": slots.len(),
    }))
    .into_response()
}

/// The questions of an analyze body (`goal` is checked but the simulator's answers ignore it).
fn parse_analyze(body: &[u8]) -> Result<Vec<(String, String)>, Vec<String>> {
    let v: Value = serde_json::from_slice(body).map_err(|_| vec!["Request body must be valid JSON.".into()])?;
    let mut errors = Vec::new();
    if !v.get("goal").is_some_and(Value::is_string) {
        errors.push("Missing required parameter: goal.".into());
    }
    let mut questions = Vec::new();
    match v.get("questions") {
        Some(Value::Array(items)) => {
            for q in items {
                match q.as_array().map(Vec::as_slice) {
                    Some([Value::String(text), Value::String(ty)]) => {
                        questions.push((text.clone(), ty.clone()));
                    }
                    Some([Value::String(text)]) => questions.push((text.clone(), "string".into())),
                    _ => errors.push("Each question must be an array of [question, answer type].".into()),
                }
            }
        }
        _ => errors.push("Missing required parameter: questions.".into()),
    }
    if errors.is_empty() { Ok(questions) } else { Err(errors) }
}

/// The answers of a finished call: a conversation with a person answers every question (from
/// the call's seed, so the same call and questions always get the same answers); a voicemail
/// only says it was one; anything else answers nothing.
fn analysis_answers(e: &Entry, questions: &[(String, String)]) -> Vec<Value> {
    let fin = e.rec.final_state();
    let mut rng = Rng::new(e.rec.plan.answer_seed ^ 0x5EED);
    questions
        .iter()
        .map(|(q, ty)| match (fin.connected, e.rec.plan.outcome) {
            (true, SimOutcome::Human) => plan::answer(ty, q, &mut rng),
            (true, SimOutcome::Voicemail) if ty.to_ascii_lowercase().contains("voicemail") => {
                json!("voicemail")
            }
            _ => Value::Null,
        })
        .collect()
}

async fn analyze_call(State(s): Shr, headers: HeaderMap, UrlPath(id): UrlPath<String>, body: Bytes) -> Response {
    let mut seen = SimAnalyzeRequest { call_id: id.clone(), goal: None, questions: Vec::new(), answered: false };
    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        seen.goal = v.get("goal").and_then(Value::as_str).map(str::to_string);
    }
    if let Ok(q) = parse_analyze(&body) {
        seen.questions = q;
    }
    let resp = analyze_answer(&s, &headers, &id, &body).await;
    seen.answered = resp.status().is_success();
    lock(&s.analyze_log).push(seen);
    resp
}

async fn analyze_answer(s: &Shared, headers: &HeaderMap, id: &str, body: &[u8]) -> Response {
    if let Err(resp) = s.gate(headers, true).await {
        return resp;
    }
    if s.analyze_failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return internal_error();
    }
    let questions = match parse_analyze(body) {
        Ok(q) => q,
        Err(errors) => return invalid(errors),
    };
    let now = Instant::now();
    let table = lock(&s.state);
    let Some(e) = table.get(id) else {
        return not_found("Call not found.");
    };
    if s.sim_secs(e.created, now) < e.rec.final_state().end_s {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"status": "error", "message": "Call is not complete yet: analyze it after it ends."}),
        );
    }
    let answers = analysis_answers(e, &questions);
    drop(table);
    axum::Json(json!({
        "status": "success",
        "message": "Successfully analyzed call",
        "answers": answers,
        "price": ANALYZE_PRICE_USD,
    }))
    .into_response()
}

async fn analyze_batch(State(s): Shr, headers: HeaderMap, UrlPath(_id): UrlPath<String>, body: Bytes) -> Response {
    if let Err(resp) = s.gate(&headers, true).await {
        return resp;
    }
    if let Err(errors) = parse_analyze(&body) {
        return invalid(errors);
    }
    // The simulator dispatches no Bland batches, so none can be found.
    not_found("Batch not found.")
}

async fn me(State(s): Shr, headers: HeaderMap) -> Response {
    if let Err(resp) = s.gate(&headers, true).await {
        return resp;
    }
    let now = Instant::now();
    let (total, spent) = {
        let table = lock(&s.state);
        let spent: f64 = table
            .calls
            .iter()
            .filter_map(|e| {
                let fin = e.rec.final_state();
                (s.sim_secs(e.created, now) >= fin.end_s).then_some(fin.price)
            })
            .sum();
        (table.calls.len(), spent)
    };
    axum::Json(json!({
        "status": "active",
        "billing": {"current_balance": ((STARTING_BALANCE - spent) * 10_000.0).round() / 10_000.0, "refill_to": null},
        "total_calls": total,
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Webhooks

/// Waits for the call to end (or be stopped), then POSTs its details: once, twice (duplicate),
/// or not at all (dropped); with late `answered_by`, once more when it becomes known.
async fn deliver_webhooks(s: Arc<Shared>, call_id: String, planned_end: Instant, stop: Arc<Notify>) {
    let mut shutdown = s.shutdown.clone();
    tokio::select! {
        _ = tokio::time::sleep_until(planned_end) => {}
        _ = stop.notified() => {}
        _ = shutdown.changed() => return,
    }
    let Some(first) = webhook_snapshot(&s, &call_id, false) else {
        return;
    };
    if first.drop {
        if let Some(e) = lock(&s.state).get_mut(&call_id) {
            e.dropped = true;
        }
        return;
    }
    post_webhook(&s, &call_id, &first.url, &first.body).await;
    if first.duplicate {
        post_webhook(&s, &call_id, &first.url, &first.body).await;
    }
    if let Some(at) = first.answered_by_at {
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = shutdown.changed() => return,
        }
        if let Some(late) = webhook_snapshot(&s, &call_id, true) {
            post_webhook(&s, &call_id, &late.url, &late.body).await;
        }
    }
}

struct Snapshot {
    url: String,
    body: Vec<u8>,
    drop: bool,
    duplicate: bool,
    /// When the late `answered_by` becomes known, if it is not yet.
    answered_by_at: Option<Instant>,
}

/// The webhook body as of the call's end (`late`: as of when the late `answered_by` is known),
/// whatever the time now, so a delivery task that runs late still sends what Bland would have.
fn webhook_snapshot(s: &Shared, call_id: &str, late: bool) -> Option<Snapshot> {
    let table = lock(&s.state);
    let e = table.get(call_id)?;
    let end_s = e.rec.end_s();
    let delay = e.rec.plan.answered_by_delay_s.filter(|_| e.rec.final_state().answered_by.is_some());
    let t = match (late, delay) {
        (true, Some(d)) => end_s + d,
        _ => end_s,
    };
    let details = render(&e.rec, t, s.cfg.speed);
    let body = if s.cfg.event_webhooks {
        let at = e.rec.created_at + chrono::Duration::from_std(s.real(t)).unwrap_or_default();
        json!({
            "event": "call.completed",
            "call_id": e.rec.plan.call_id,
            "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": details,
        })
    } else {
        details
    };
    Some(Snapshot {
        url: e.rec.webhook.clone()?,
        body: serde_json::to_vec(&body).expect("JSON values always serialise"),
        drop: e.rec.plan.drop_webhook,
        duplicate: e.rec.plan.duplicate_webhook,
        answered_by_at: delay.filter(|_| !late).map(|d| e.created + s.real(end_s + d)),
    })
}

/// One delivery, tried up to three times (at least once, as Bland delivers).
async fn post_webhook(s: &Shared, call_id: &str, url: &str, body: &[u8]) {
    let signature = s.cfg.webhook_secret.as_ref().map(|k| sign(k, body));
    let mut shutdown = s.shutdown.clone();
    for (attempt, backoff_ms) in [(1, 200u64), (2, 1000), (3, 0)] {
        let mut req = s.http.post(url).header(header::CONTENT_TYPE, "application/json").body(body.to_vec());
        if let Some(sig) = &signature {
            req = req.header(SIGNATURE_HEADER, sig);
        }
        let outcome = tokio::select! {
            r = req.send() => r,
            _ = shutdown.changed() => return,
        };
        match outcome {
            Ok(resp) if resp.status().is_success() => {
                if let Some(e) = lock(&s.state).get_mut(call_id) {
                    e.deliveries += 1;
                }
                return;
            }
            Ok(resp) => {
                tracing::warn!(
                    call_id,
                    status = resp.status().as_u16(),
                    attempt,
                    "webhook receiver refused the delivery"
                );
            }
            Err(err) => {
                tracing::warn!(call_id, error = %err.without_url(), attempt, "webhook delivery failed");
            }
        }
        if backoff_ms > 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(backoff_ms)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Send log

/// Writes each accepted send as a JSON line through a buffer flushed every 200 ms (and at the
/// end), so the request path never waits on the disk. Ends when `shutdown` fires (after writing
/// what is queued) or every sender is gone.
pub(crate) async fn write_log(
    path: &Path,
    mut rx: mpsc::UnboundedReceiver<SentCall>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let file = crate::files::private().create(true).append(true).open(path)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut dirty = false;
    let write = |out: &mut std::io::BufWriter<std::fs::File>, sent: SentCall| {
        let line = json!({
            "time": sent.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "call_id": sent.call_id,
            "phone_number": sent.phone_number,
            "metadata": sent.metadata,
        });
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")
    };
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(sent) => {
                    write(&mut out, sent)?;
                    dirty = true;
                }
                None => break,
            },
            _ = tick.tick() => {
                if dirty {
                    out.flush()?;
                    dirty = false;
                }
            }
            _ = shutdown.wait_for(|s| *s) => {
                while let Ok(sent) = rx.try_recv() {
                    write(&mut out, sent)?;
                }
                break;
            }
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyze_bodies_need_a_goal_and_question_pairs() {
        let q = parse_analyze(br#"{"goal":"g","questions":[["Renew?","boolean"],["Why?"]]}"#).unwrap();
        assert_eq!(q[1], ("Why?".to_string(), "string".to_string()));
        let errors = parse_analyze(br#"{"questions":[[1,2]]}"#).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn list_filters_are_parsed_once_and_bad_ones_named() {
        let q: HashMap<String, String> = [("to_number", "222-333-4444"), ("completed", "true"), ("limit", "5")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let f = ListFilter::parse(&q).unwrap();
        assert_eq!(f.to_number.as_deref(), Some("+12223334444"));
        assert_eq!(f.completed, Some(true));
        assert_eq!(f.limit, 5);
        let bad: HashMap<String, String> = [("start_date", "03/08/2026"), ("completed", "yes")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let Err(errors) = ListFilter::parse(&bad) else { panic!("expected errors") };
        assert_eq!(errors.len(), 2);
    }
}
