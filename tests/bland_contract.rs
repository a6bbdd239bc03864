//! Contract tests for the Bland client: against wiremock serving the vendor's example bodies
//! (`tests/fixtures/bland/`), and against the simulator, whose webhook signature is recomputed
//! here with `hmac` + `sha2` directly.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard::bland::{
    AnalyzeRequest, AnsweredBy, BlandClientConfig, BlandError, CallStatus, Client, ListCallsQuery, QueueStatus,
    RetryPolicy, SendCallRequest, TransientKind, parse_webhook,
};
use switchboard::secret::Secret;
use switchboard::sim::{OutcomeMix, SimConfig, Simulator, WebhookRecorder};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-CONTRACT-KEY";
const ENCRYPTED: &str = "enc-test-BYOT-KEY";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/bland/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_fixture(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_attempts: 3,
        max_elapsed: None,
        jitter: false,
        max_retry_after: Duration::from_millis(500),
    }
}

fn config(base: &str) -> BlandClientConfig {
    let mut c = BlandClientConfig::new(base, Secret::new(KEY));
    c.encrypted_key = Some(Secret::new(ENCRYPTED));
    c.retry = fast_retry();
    c.connect_timeout = Duration::from_secs(2);
    c.request_timeout = Duration::from_secs(5);
    c
}

fn client(base: &str) -> Client {
    Client::new(config(base)).unwrap()
}

fn json_response(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.into_bytes(), "application/json")
}

fn send_request() -> SendCallRequest {
    let Value::Object(call) = json!({
        "task": "You are Maya from Acme. Call Dana about policy P-1.",
        "voice": "maya",
        "max_duration": 5,
        "temperature": "0.9",
        "background_track": "office",
        "pronunciation_guide": [{"word": "Acme", "pronunciation": "ack-me"}],
    }) else {
        unreachable!()
    };
    SendCallRequest::from_call_table(
        call,
        "+12223334444",
        json!({"switchboard": {"attempt_id": "a-1"}}),
        Some("https://hooks.example/bland".into()),
    )
    .unwrap()
}

/// Asserts neither secret shows in an error's text or debug output.
fn assert_no_secret(err: &BlandError) {
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(KEY), "API key leaked: {text}");
        assert!(!text.contains(ENCRYPTED), "encrypted_key leaked: {text}");
    }
}

async fn request_count(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

// ---------------------------------------------------------------------------------------------
// Against wiremock with the vendor's bodies

#[tokio::test]
async fn send_call_posts_the_typed_body_with_both_keys_and_reads_the_vendor_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls"))
        .and(header("authorization", KEY))
        .and(header("encrypted_key", ENCRYPTED))
        .and(body_partial_json(json!({"phone_number": "+12223334444"})))
        .respond_with(json_response(200, fixture("send_call_success.json")))
        .expect(1)
        .mount(&server)
        .await;

    let resp = client(&server.uri()).send_call(&send_request()).await.unwrap();

    assert_eq!(resp.call_id, "9d404c1b-6a23-4426-953a-a52c392ff8f1");
    assert_eq!(resp.batch_id, None);
    assert_eq!(resp.message.as_deref(), Some("Call successfully queued."));
    let sent: Value = serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent["metadata"], json!({"switchboard": {"attempt_id": "a-1"}}));
    assert_eq!(sent["webhook"], "https://hooks.example/bland");
    assert_eq!(sent["temperature"], "0.9", "unknown fields pass through untouched");
    assert_eq!(sent["background_track"], "office");
    assert_eq!(sent["pronunciation_guide"][0]["word"], "Acme");
    assert_eq!(sent["max_duration"], 5.0);
}

#[tokio::test]
async fn send_call_reads_the_simple_success_without_message_or_batch() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls"))
        .respond_with(json_response(200, fixture("send_call_success_simple.json")))
        .mount(&server)
        .await;
    let resp = client(&server.uri()).send_call(&send_request()).await.unwrap();
    assert_eq!(resp.call_id, "9d404c1b-6a23-4426-953a-a52c392ff8f1");
    assert_eq!(resp.message, None);
}

#[tokio::test]
async fn a_validation_error_is_permanent_keeps_blands_errors_and_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls"))
        .respond_with(json_response(400, fixture("send_call_validation_error.json")))
        .mount(&server)
        .await;

    let err = client(&server.uri()).send_call(&send_request()).await.unwrap_err();

    let BlandError::Permanent { status, body, .. } = &err else { panic!("expected permanent, got {err:?}") };
    assert_eq!(*status, 400);
    assert_eq!(body.message.as_deref(), Some("Invalid parameters"));
    assert_eq!(
        body.errors,
        vec![
            "Missing required parameter: phone_number.",
            "Missing required parameter: task.",
            "Phone number must be a string or number.",
            "Task must be a string."
        ]
    );
    assert!(!err.is_retryable() && !err.is_ambiguous_send());
    assert!(err.to_string().contains("Task must be a string."));
    assert_eq!(request_count(&server).await, 1);
    assert_no_secret(&err);
}

#[tokio::test]
async fn the_code_and_details_error_shape_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls"))
        .respond_with(json_response(400, fixture("error_code_details.json")))
        .mount(&server)
        .await;
    let err = client(&server.uri()).send_call(&send_request()).await.unwrap_err();
    let BlandError::Permanent { body, .. } = &err else { panic!("expected permanent, got {err:?}") };
    assert_eq!(body.code.as_deref(), Some("invalid_parameter"));
    assert_eq!(body.message.as_deref(), Some("Invalid phone number format"));
    assert_eq!(body.details.as_ref().unwrap()["expected"], "E.164 format (e.g., +15551234567)");
}

#[tokio::test]
async fn call_details_in_the_current_shape_are_read_field_by_field() {
    let server = MockServer::start().await;
    let id = "c8a3e4f2-5b1d-4c9e-8f7a-2d6b0e1f3a45";
    Mock::given(method("GET"))
        .and(path(format!("/v1/calls/{id}")))
        .and(header("authorization", KEY))
        .respond_with(json_response(200, fixture("call_details_new.json")))
        .mount(&server)
        .await;

    let d = client(&server.uri()).call_details(id).await.unwrap();

    assert_eq!(d.call_id, id);
    assert_eq!(d.to.as_deref(), Some("+12223334444"));
    assert_eq!(d.completed, Some(true));
    assert_eq!(d.queue_status, Some(QueueStatus::Complete));
    assert_eq!(d.status, Some(CallStatus::Completed));
    assert_eq!(d.answered_by, Some(AnsweredBy::Human));
    assert_eq!(d.call_length_minutes, Some(2.35));
    assert_eq!(d.duration_secs(), Some(141.0));
    assert_eq!(d.price, Some(0.2115));
    assert_eq!(d.call_ended_by.as_deref(), Some("USER"));
    assert_eq!(d.transcripts.len(), 3);
    assert_eq!(d.transcripts[2].user, "agent-action");
    assert_eq!(d.transcripts[0].id.as_deref(), Some("101"));
    assert_eq!(d.analysis, Some(json!({"wants_renewal": true})));
    assert_eq!(d.started_at.unwrap().to_rfc3339(), "2026-03-09T14:00:09+00:00");
    let raw = json_fixture("call_details_new.json");
    assert_eq!(d.metadata, raw["metadata"], "metadata is kept verbatim");
    assert_eq!(d.raw, raw, "the raw answer, unknown fields included, is kept");
    assert!(d.is_final());
}

#[tokio::test]
async fn call_details_in_the_older_shape_are_read_too() {
    let server = MockServer::start().await;
    let id = "9d404c1b-6a23-4426-953a-a52c392ff8f1";
    Mock::given(method("GET"))
        .and(path(format!("/v1/calls/{id}")))
        .respond_with(json_response(200, fixture("call_details_old.json")))
        .mount(&server)
        .await;

    let d = client(&server.uri()).call_details(id).await.unwrap();

    assert_eq!(d.call_id, id);
    assert_eq!(d.to.as_deref(), Some("+15551234567"));
    assert_eq!(d.call_length_minutes, Some(2.0));
    assert_eq!(d.duration_secs(), Some(120.0));
    assert_eq!(d.status, Some(CallStatus::Completed));
    assert_eq!(d.transcripts.len(), 2);
    assert_eq!(d.transcripts[1].user, "human");
    assert_eq!(d.transcripts[1].text, "Hi, I need someone to fix my leaking faucet.");
    assert!(d.transcripts[0].created_at.is_some());
    assert!(d.updated_at.is_some());
    assert_eq!(d.metadata, Value::Null);
    assert!(d.is_final());
}

#[tokio::test]
async fn list_calls_sends_the_filters_and_reads_the_current_shape() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/calls"))
        .and(query_param("to_number", "+12223334444"))
        .and(query_param("start_date", "2026-03-09"))
        .and(query_param("limit", "100"))
        .respond_with(json_response(200, fixture("list_calls_new.json")))
        .expect(1)
        .mount(&server)
        .await;

    let list = client(&server.uri())
        .list_calls(&ListCallsQuery {
            to_number: Some("+12223334444".into()),
            start_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 9),
            limit: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();

    assert_eq!(list.total_count, Some(9000));
    assert_eq!(list.count, 2);
    assert_eq!(list.calls[0].answered_by, Some(AnsweredBy::Voicemail));
    assert_eq!(list.calls[0].queue_status, Some(QueueStatus::Complete));
    assert_eq!(list.calls[1].call_id, "48213", "a numeric id becomes a string");
    assert_eq!(list.calls[1].call_length_minutes, None);
    assert!(list.calls[1].created_at.is_some());
    assert!(!list.calls[1].is_final());
}

#[tokio::test]
async fn list_calls_reads_the_older_shape() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/calls"))
        .respond_with(json_response(200, fixture("list_calls_old.json")))
        .mount(&server)
        .await;
    let list = client(&server.uri()).list_calls(&ListCallsQuery::default()).await.unwrap();
    assert_eq!(list.total_count, Some(42));
    assert_eq!(list.count, 1);
    assert_eq!(list.calls[0].to.as_deref(), Some("+15551234567"));
    assert_eq!(list.calls[0].call_length_minutes, Some(2.0));
}

#[tokio::test]
async fn the_event_shaped_webhook_example_is_read_as_call_details() {
    let d = parse_webhook(fixture("webhook_event.json").as_bytes()).unwrap();
    assert_eq!(d.call_id, "9d404c1b-6a23-4426-953a-a52c392ff8f1");
    assert_eq!(d.event.as_deref(), Some("call.completed"));
    assert_eq!(d.status, Some(CallStatus::Completed));
    assert_eq!(d.call_length_minutes, Some(2.0));
}

#[tokio::test]
async fn a_401_is_permanent_says_what_to_check_and_never_shows_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .respond_with(json_response(401, r#"{"status":"error","message":"Invalid API key"}"#.into()))
        .mount(&server)
        .await;
    let err = client(&server.uri()).me().await.unwrap_err();
    assert!(matches!(err, BlandError::Permanent { status: 401, .. }), "{err:?}");
    assert!(err.to_string().contains("BLAND_API_KEY"), "{err}");
    assert_eq!(request_count(&server).await, 1, "a 401 is not retried");
    assert_no_secret(&err);
}

#[tokio::test]
async fn a_429_with_retry_after_seconds_beyond_the_bound_is_handed_back_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/calls/x"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
        .mount(&server)
        .await;
    let err = client(&server.uri()).call_details("x").await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)), "{err:?}");
    assert!(err.is_retryable() && !err.is_ambiguous_send());
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn a_429_with_an_http_date_is_read_as_the_wait_until_then() {
    let server = MockServer::start().await;
    let at = chrono::Utc::now() + chrono::Duration::hours(1);
    Mock::given(method("GET"))
        .and(path("/v1/calls/x"))
        .respond_with(
            ResponseTemplate::new(429).insert_header("Retry-After", at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
        )
        .mount(&server)
        .await;
    let err = client(&server.uri()).call_details("x").await.unwrap_err();
    let wait = err.retry_after().expect("a wait from the date");
    assert!(wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600), "{wait:?}");
}

#[tokio::test]
async fn a_429_without_retry_after_is_retried_with_backoff_until_it_passes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .respond_with(json_response(200, fixture("me.json")))
        .mount(&server)
        .await;
    let me = client(&server.uri()).me().await.unwrap();
    assert_eq!(me.current_balance, Some(245.51));
    assert_eq!(me.total_calls, Some(1832));
    assert_eq!(me.status.as_deref(), Some("active"));
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn a_429_that_never_passes_ends_as_rate_limited_after_the_attempt_budget() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/v1/me")).respond_with(ResponseTemplate::new(429)).mount(&server).await;
    let err = client(&server.uri()).me().await.unwrap_err();
    assert!(matches!(err, BlandError::RateLimited { retry_after: None, .. }), "{err:?}");
    assert_eq!(request_count(&server).await, 3);
}

#[tokio::test]
async fn send_call_is_retried_after_a_429_because_the_call_was_not_placed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/calls"))
        .respond_with(json_response(200, fixture("send_call_success.json")))
        .mount(&server)
        .await;
    let resp = client(&server.uri()).send_call(&send_request()).await.unwrap();
    assert_eq!(resp.call_id, "9d404c1b-6a23-4426-953a-a52c392ff8f1");
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn a_500_then_success_on_a_get_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/calls/9d404c1b-6a23-4426-953a-a52c392ff8f1"))
        .respond_with(json_response(500, r#"{"status":"error","message":"Internal server error."}"#.into()))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/calls/9d404c1b-6a23-4426-953a-a52c392ff8f1"))
        .respond_with(json_response(200, fixture("call_details_old.json")))
        .mount(&server)
        .await;
    let d = client(&server.uri()).call_details("9d404c1b-6a23-4426-953a-a52c392ff8f1").await.unwrap();
    assert_eq!(d.status, Some(CallStatus::Completed));
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn send_call_is_not_retried_on_a_500_and_says_the_call_may_exist() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls"))
        .respond_with(json_response(500, r#"{"status":"error","message":"Internal server error."}"#.into()))
        .mount(&server)
        .await;
    let err = client(&server.uri()).send_call(&send_request()).await.unwrap_err();
    assert!(matches!(err, BlandError::Transient { kind: TransientKind::Server, status: Some(500), .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(err.is_ambiguous_send());
    assert_eq!(request_count(&server).await, 1, "a 500 on send is never re-sent");
    assert_no_secret(&err);
}

#[tokio::test]
async fn send_call_is_not_retried_after_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls"))
        .respond_with(json_response(200, fixture("send_call_success.json")).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let mut c = config(&server.uri());
    c.request_timeout = Duration::from_millis(300);
    let err = Client::new(c).unwrap().send_call(&send_request()).await.unwrap_err();
    assert!(matches!(err, BlandError::Transient { kind: TransientKind::Timeout, .. }), "{err:?}");
    assert!(err.is_ambiguous_send());
    assert_eq!(request_count(&server).await, 1);
    assert_no_secret(&err);
}

#[tokio::test]
async fn send_call_retries_a_refused_connection_and_reports_it_as_not_placed() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = client(&format!("http://127.0.0.1:{port}")).send_call(&send_request()).await.unwrap_err();
    assert!(matches!(err, BlandError::Transient { kind: TransientKind::Connect, .. }), "{err:?}");
    assert!(!err.is_ambiguous_send());
    assert_no_secret(&err);
}

#[tokio::test]
async fn a_success_that_is_not_json_is_a_decode_error_and_ambiguous_for_send() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>ok</html>"))
        .mount(&server)
        .await;
    let err = client(&server.uri()).send_call(&send_request()).await.unwrap_err();
    assert!(matches!(err, BlandError::Decode { .. }), "{err:?}");
    assert!(err.is_ambiguous_send());
}

#[tokio::test]
async fn stop_analyze_and_account_endpoints_read_the_vendor_bodies() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls/abc/stop"))
        .respond_with(json_response(200, fixture("stop_call.json")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/calls/active/stop"))
        .respond_with(json_response(200, fixture("stop_active_calls.json")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/calls/abc/analyze"))
        .and(body_partial_json(json!({
            "goal": "Find out whether the customer will renew",
            "questions": [["Who answered the call?", "human or voicemail"]]
        })))
        .respond_with(json_response(200, fixture("analyze_call.json")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/batches/b-1/analyze"))
        .respond_with(json_response(
            200,
            r#"{"status":"success","message":"ok","answers":{"c-1":["human",true],"c-2":[null,null]},"credits_used":0.006}"#.into(),
        ))
        .mount(&server)
        .await;
    let c = client(&server.uri());

    let stop = c.stop_call("abc").await.unwrap();
    assert_eq!(stop.message.as_deref(), Some("Call ended successfully."));
    let all = c.stop_active_calls().await.unwrap();
    assert_eq!(all.num_calls, Some(12));
    let req = AnalyzeRequest {
        goal: "Find out whether the customer will renew".into(),
        questions: vec![("Who answered the call?".into(), "human or voicemail".into())],
    };
    let a = c.analyze_call("abc", &req).await.unwrap();
    assert_eq!(a.answers.len(), 4);
    assert_eq!(a.answers[3], json!(true));
    let b = c.analyze_batch("b-1", &req).await.unwrap();
    assert_eq!(b.answers["c-1"], vec![json!("human"), json!(true)]);
    assert_eq!(b.price, Some(0.006));
}

#[tokio::test]
async fn every_request_waits_for_the_shared_rate_budget() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .respond_with(json_response(200, fixture("me.json")))
        .mount(&server)
        .await;
    let budget = std::sync::Arc::new(governor::RateLimiter::direct(governor::Quota::per_hour(
        std::num::NonZeroU32::new(1).unwrap(),
    )));
    let mut c = config(&server.uri());
    c.rate_limiter = Some(budget.clone());
    let first = Client::new(c.clone()).unwrap();
    let second = Client::new(c).unwrap();

    first.me().await.unwrap();
    let blocked = tokio::time::timeout(Duration::from_millis(300), second.me()).await;

    assert!(blocked.is_err(), "the second client shares the spent budget and waits");
    assert_eq!(request_count(&server).await, 1);
}

// ---------------------------------------------------------------------------------------------
// Against the simulator

const SIM_KEY: &str = "sk-sim-key";
const HOOK_SECRET: &str = "whsec-contract";

async fn simulator(speed: f64) -> switchboard::sim::SimHandle {
    Simulator::start(SimConfig {
        api_key: Some(Secret::new(SIM_KEY)),
        webhook_secret: Some(Secret::new(HOOK_SECRET)),
        seed: 42,
        speed,
        mix: OutcomeMix { human: 1.0, voicemail: 0.0, no_answer: 0.0, busy: 0.0, failed: 0.0 },
        requests_per_minute: 0,
        max_concurrent: 0,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn sim_client(base: &str, key: &str) -> Client {
    let mut c = BlandClientConfig::new(base, Secret::new(key));
    c.retry = fast_retry();
    Client::new(c).unwrap()
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn the_simulator_accepts_a_send_and_answers_details_and_lists_with_metadata_verbatim() {
    // Slow enough that the call is still in progress while it is looked at.
    let sim = simulator(1.0).await;
    let c = sim_client(&sim.base_url(), SIM_KEY);
    let metadata = json!({
        "switchboard": {"attempt_id": "0b5f8c9e", "n": 3, "ratio": 0.25},
        "unicode": "Zoë — ☎", "list": [1, null, {"deep": true}]
    });
    let mut req = send_request();
    req.metadata = metadata.clone();
    req.webhook = None;

    let sent = c.send_call(&req).await.unwrap();
    let details = c.call_details(&sent.call_id).await.unwrap();
    let list =
        c.list_calls(&ListCallsQuery { to_number: Some("+12223334444".into()), ..Default::default() }).await.unwrap();
    let other =
        c.list_calls(&ListCallsQuery { to_number: Some("+13334445555".into()), ..Default::default() }).await.unwrap();

    assert_eq!(details.call_id, sent.call_id);
    assert_eq!(details.metadata, metadata);
    assert_eq!(details.to.as_deref(), Some("+12223334444"));
    assert!(!details.is_final());
    assert_eq!(list.total_count, Some(1));
    assert_eq!(list.calls[0].call_id, sent.call_id);
    assert_eq!(list.calls[0].metadata, metadata);
    assert_eq!(other.count, 0);
    let sends = sim.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].metadata, metadata);
    assert_eq!(sends[0].request["background_track"], "office");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_refuses_a_wrong_key_with_401() {
    let sim = simulator(60.0).await;
    let err = sim_client(&sim.base_url(), "sk-wrong").send_call(&send_request()).await.unwrap_err();
    assert!(matches!(err, BlandError::Permanent { status: 401, .. }), "{err:?}");
    assert!(!err.to_string().contains("sk-wrong"));
    assert!(sim.sends().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_refuses_a_bad_number_with_blands_400_shape() {
    let sim = simulator(60.0).await;
    let mut req = send_request();
    req.phone_number = "2223334444 ext. 123".into();
    let err = sim_client(&sim.base_url(), SIM_KEY).send_call(&req).await.unwrap_err();
    let BlandError::Permanent { status, body, .. } = &err else { panic!("expected permanent, got {err:?}") };
    assert_eq!(*status, 400);
    assert_eq!(body.message.as_deref(), Some("Invalid parameters"));
    assert_eq!(body.errors.len(), 1);
    assert!(body.errors[0].starts_with("Invalid phone number"), "{:?}", body.errors);
    assert!(sim.sends().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_posts_signed_details_to_the_webhook_when_the_call_ends() {
    let sim = simulator(2000.0).await;
    let mut hooks = WebhookRecorder::start().await.unwrap();
    let c = sim_client(&sim.base_url(), SIM_KEY);
    let mut req = send_request();
    req.webhook = Some(hooks.url("/webhooks/bland"));
    req.answered_by_enabled = Some(true);

    let sent = c.send_call(&req).await.unwrap();
    let hook = hooks.next(Duration::from_secs(10)).await.expect("a webhook within 10 s");

    assert_eq!(hook.path, "/webhooks/bland");
    assert_eq!(hook.content_type.as_deref(), Some("application/json"));
    let signature = hook.signature.clone().expect("a signature header");
    assert_eq!(signature, hmac_hex(HOOK_SECRET, &hook.body));
    assert_ne!(signature, hmac_hex("another-secret", &hook.body));
    let d = parse_webhook(&hook.body).unwrap();
    assert_eq!(d.call_id, sent.call_id);
    assert!(d.is_final());
    assert_eq!(d.answered_by, Some(AnsweredBy::Human));
    assert_eq!(d.metadata, json!({"switchboard": {"attempt_id": "a-1"}}));
    // The webhook body is what call details answer once the call is over.
    let polled = c.call_details(&sent.call_id).await.unwrap();
    assert_eq!(polled.raw, d.raw);
    sim.shutdown().await;
}
