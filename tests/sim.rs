//! The simulator's behaviours, driven over HTTP: limits with `Retry-After`, determinism, stops,
//! webhook faults (late `answered_by`, duplicates, drops, receiver failures), injected 5xx,
//! storms, the send log and the ground-truth records.

mod common;

use std::time::Duration;

use common::eventually;

use serde_json::{Value, json};
use switchboard::bland::{
    AnalyzeRequest, AnsweredBy, BlandClientConfig, BlandError, Client, ListCallsQuery, RetryPolicy, SendCallRequest,
    parse_webhook, verify_signature,
};
use switchboard::secret::Secret;
use switchboard::sim::{OutcomeMix, SimConfig, SimHandle, SimOutcome, Simulator, StormWindow, WebhookRecorder};

const KEY: &str = "sk-sim";

fn only(outcome: SimOutcome) -> OutcomeMix {
    let w = |o| if o == outcome { 1.0 } else { 0.0 };
    OutcomeMix {
        human: w(SimOutcome::Human),
        voicemail: w(SimOutcome::Voicemail),
        no_answer: w(SimOutcome::NoAnswer),
        busy: w(SimOutcome::Busy),
        failed: w(SimOutcome::Failed),
    }
}

/// Unlimited, fast, keyed; tests change what they exercise.
fn base() -> SimConfig {
    SimConfig {
        api_key: Some(Secret::new(KEY)),
        webhook_secret: Some(Secret::new("whsec")),
        speed: 2000.0,
        requests_per_minute: 0,
        max_concurrent: 0,
        ..SimConfig::default()
    }
}

fn client(sim: &SimHandle) -> Client {
    let mut c = BlandClientConfig::new(sim.base_url(), Secret::new(KEY));
    c.retry = RetryPolicy::none();
    Client::new(c).unwrap()
}

fn call(phone: &str, webhook: Option<String>) -> SendCallRequest {
    let Value::Object(table) = json!({"task": "Say hello.", "answered_by_enabled": true}) else { unreachable!() };
    SendCallRequest::from_call_table(table, phone, json!({"attempt": phone}), webhook).unwrap()
}

fn number(i: usize) -> String {
    format!("+1222555{i:04}")
}

async fn raw_get(sim: &SimHandle, path: &str) -> reqwest::Response {
    reqwest::Client::new().get(format!("{}{path}", sim.base_url())).header("authorization", KEY).send().await.unwrap()
}

#[tokio::test]
async fn requests_above_the_per_minute_rate_get_429_with_retry_after() {
    let sim = Simulator::start(SimConfig { requests_per_minute: 3, ..base() }).await.unwrap();
    for _ in 0..3 {
        assert_eq!(raw_get(&sim, "/v1/me").await.status(), 200);
    }
    let refused = raw_get(&sim, "/v1/me").await;
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((55..=60).contains(&wait), "{wait}");
    let err = client(&sim).me().await.unwrap_err();
    assert!(matches!(err, BlandError::RateLimited { retry_after: Some(_), .. }), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_send_above_the_concurrent_limit_gets_429_until_a_call_ends() {
    let sim = Simulator::start(SimConfig { max_concurrent: 2, speed: 1.0, mix: only(SimOutcome::Human), ..base() })
        .await
        .unwrap();
    let c = client(&sim);
    let first = c.send_call(&call(&number(1), None)).await.unwrap();
    c.send_call(&call(&number(2), None)).await.unwrap();

    let err = c.send_call(&call(&number(3), None)).await.unwrap_err();
    let wait = err.retry_after().expect("Retry-After on a concurrency 429");
    assert!(wait >= Duration::from_secs(1), "{wait:?}");
    assert_eq!(sim.sends().len(), 2);

    c.stop_call(&first.call_id).await.unwrap();
    c.send_call(&call(&number(3), None)).await.unwrap();
    assert_eq!(sim.sends().len(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_gives_the_same_call_ids_and_outcomes() {
    async fn run(seed: u64) -> Vec<(String, SimOutcome)> {
        let sim = Simulator::start(SimConfig { seed, ..base() }).await.unwrap();
        let c = client(&sim);
        for i in 0..30 {
            c.send_call(&call(&number(i), None)).await.unwrap();
        }
        let calls = sim.calls();
        sim.shutdown().await;
        calls.into_iter().map(|c| (c.call_id, c.outcome)).collect()
    }
    let a = run(7).await;
    let b = run(7).await;
    let other = run(8).await;
    assert_eq!(a, b);
    assert_ne!(a, other);
    let kinds: std::collections::HashSet<_> = a.iter().map(|(_, o)| *o).collect();
    assert!(kinds.len() >= 3, "30 calls show a mix of outcomes: {kinds:?}");
}

#[tokio::test]
async fn a_stopped_call_ends_at_once_and_its_webhook_follows() {
    let sim = Simulator::start(SimConfig { speed: 1.0, mix: only(SimOutcome::Human), ..base() }).await.unwrap();
    let mut hooks = WebhookRecorder::start().await.unwrap();
    let c = client(&sim);
    let sent = c.send_call(&call(&number(1), Some(hooks.url("h")))).await.unwrap();

    c.stop_call(&sent.call_id).await.unwrap();
    let hook = hooks.next(Duration::from_secs(5)).await.expect("a webhook");

    let d = parse_webhook(&hook.body).unwrap();
    assert!(d.is_final());
    assert_eq!(d.status.unwrap().as_str(), "canceled");
    let truth = sim.call(&sent.call_id).unwrap();
    assert!(truth.stopped && truth.completed);
    assert_eq!(truth.status, "canceled");
    assert_eq!(truth.price, 0.015);
    sim.shutdown().await;
}

#[tokio::test]
async fn stop_all_ends_every_active_call() {
    let sim = Simulator::start(SimConfig { speed: 1.0, ..base() }).await.unwrap();
    let c = client(&sim);
    for i in 0..4 {
        c.send_call(&call(&number(i), None)).await.unwrap();
    }
    let stopped = c.stop_active_calls().await.unwrap();
    assert_eq!(stopped.num_calls, Some(4));
    assert!(sim.calls().iter().all(|c| c.completed && c.stopped));
    assert_eq!(c.stop_active_calls().await.unwrap().num_calls, Some(0));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_late_answered_by_arrives_in_a_second_webhook() {
    let sim = Simulator::start(SimConfig { mix: only(SimOutcome::Voicemail), late_answered_by_rate: 1.0, ..base() })
        .await
        .unwrap();
    let mut hooks = WebhookRecorder::start().await.unwrap();
    let sent = client(&sim).send_call(&call(&number(1), Some(hooks.url("h")))).await.unwrap();

    let first = hooks.next(Duration::from_secs(10)).await.expect("first");
    let second = hooks.next(Duration::from_secs(10)).await.expect("second");

    let first = parse_webhook(&first.body).unwrap();
    let second = parse_webhook(&second.body).unwrap();
    assert_eq!(first.call_id, sent.call_id);
    assert!(first.is_final());
    assert_eq!(first.answered_by, None);
    assert_eq!(second.answered_by, Some(AnsweredBy::Voicemail));
    eventually("the simulator counts both deliveries", Duration::from_secs(5), async || {
        (sim.call(&sent.call_id)?.webhook_deliveries == 2).then_some(())
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn duplicate_webhooks_carry_identical_signed_bodies() {
    let sim = Simulator::start(SimConfig { duplicate_webhook_rate: 1.0, ..base() }).await.unwrap();
    let mut hooks = WebhookRecorder::start().await.unwrap();
    client(&sim).send_call(&call(&number(1), Some(hooks.url("h")))).await.unwrap();
    let a = hooks.next(Duration::from_secs(10)).await.expect("first");
    let b = hooks.next(Duration::from_secs(10)).await.expect("duplicate");
    assert_eq!(a, b);
    assert!(verify_signature(&Secret::new("whsec"), &a.body, a.signature.as_deref().unwrap()));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_dropped_webhook_is_never_sent_but_polling_finds_the_outcome() {
    let sim = Simulator::start(SimConfig { drop_webhook_rate: 1.0, ..base() }).await.unwrap();
    let hooks = WebhookRecorder::start().await.unwrap();
    let c = client(&sim);
    let sent = c.send_call(&call(&number(1), Some(hooks.url("h")))).await.unwrap();

    let truth = eventually("the call's webhook is dropped", Duration::from_secs(10), async || {
        sim.call(&sent.call_id).filter(|t| t.webhook_dropped)
    })
    .await;

    assert!(truth.completed);
    assert!(hooks.received().is_empty());
    assert!(c.call_details(&sent.call_id).await.unwrap().is_final());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failing_receiver_gets_the_webhook_again() {
    let sim = Simulator::start(base()).await.unwrap();
    let mut hooks = WebhookRecorder::start().await.unwrap();
    hooks.respond_with(500);
    let sent = client(&sim).send_call(&call(&number(1), Some(hooks.url("h")))).await.unwrap();
    let refused = hooks.next(Duration::from_secs(10)).await.expect("first try");
    hooks.respond_with(200);
    let retried = hooks.next(Duration::from_secs(10)).await.expect("retry");
    assert_eq!(refused.body, retried.body);
    eventually("the simulator counts the one accepted delivery", Duration::from_secs(5), async || {
        (sim.call(&sent.call_id)?.webhook_deliveries == 1).then_some(())
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn event_shaped_webhooks_wrap_the_details() {
    let sim = Simulator::start(SimConfig { event_webhooks: true, ..base() }).await.unwrap();
    let mut hooks = WebhookRecorder::start().await.unwrap();
    let sent = client(&sim).send_call(&call(&number(1), Some(hooks.url("h")))).await.unwrap();
    let hook = hooks.next(Duration::from_secs(10)).await.expect("a webhook");
    assert_eq!(hook.json()["event"], "call.completed");
    let d = parse_webhook(&hook.body).unwrap();
    assert_eq!(d.call_id, sent.call_id);
    assert!(d.is_final());
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_failures_answer_500_and_some_failed_sends_were_placed_anyway() {
    let sim = Simulator::start(SimConfig { fail_rate: 1.0, ..base() }).await.unwrap();
    let c = client(&sim);
    let mut ambiguous = 0;
    for i in 0..40 {
        let err = c.send_call(&call(&number(i), None)).await.unwrap_err();
        assert_eq!(err.status(), Some(500));
        ambiguous += usize::from(err.is_ambiguous_send());
    }
    assert_eq!(ambiguous, 40);
    let placed = sim.sends().len();
    assert!((5..=35).contains(&placed), "about half placed, got {placed}");
    assert_eq!(raw_get(&sim, "/v1/me").await.status(), 500);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_storm_answers_429_for_its_length_with_or_without_retry_after() {
    let sim = Simulator::start(SimConfig {
        storms: vec![StormWindow { after: Duration::ZERO, length: Duration::from_secs(3600) }],
        ..base()
    })
    .await
    .unwrap();
    let resp = raw_get(&sim, "/v1/me").await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3600");
    sim.shutdown().await;

    let sim = Simulator::start(SimConfig { retry_after_header: false, ..base() }).await.unwrap();
    assert_eq!(raw_get(&sim, "/v1/me").await.status(), 200);
    sim.start_rate_limit_storm(Duration::from_secs(60));
    let resp = raw_get(&sim, "/v1/me").await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn list_filters_select_by_completion_and_order_and_page() {
    let sim = Simulator::start(SimConfig { speed: 1.0, ..base() }).await.unwrap();
    let c = client(&sim);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(c.send_call(&call(&number(i), None)).await.unwrap().call_id);
    }
    c.stop_call(&ids[1]).await.unwrap();

    let done = c.list_calls(&ListCallsQuery { completed: Some(true), ..Default::default() }).await.unwrap();
    let newest_two = c.list_calls(&ListCallsQuery { limit: Some(2), ..Default::default() }).await.unwrap();
    let oldest_first = c
        .list_calls(&ListCallsQuery { ascending: Some(true), from: Some(1), to: Some(3), ..Default::default() })
        .await
        .unwrap();
    let today = c
        .list_calls(&ListCallsQuery { created_at: Some(chrono::Utc::now().date_naive()), ..Default::default() })
        .await
        .unwrap();

    assert_eq!(done.count, 1);
    assert_eq!(done.calls[0].call_id, ids[1]);
    assert_eq!(newest_two.total_count, Some(5));
    assert_eq!(
        newest_two.calls.iter().map(|c| c.call_id.clone()).collect::<Vec<_>>(),
        vec![ids[4].clone(), ids[3].clone()]
    );
    assert_eq!(
        oldest_first.calls.iter().map(|c| c.call_id.clone()).collect::<Vec<_>>(),
        vec![ids[1].clone(), ids[2].clone()]
    );
    assert!(newest_two.calls.iter().all(|c| c.transcripts.is_empty()));
    assert_eq!(today.count, 5);
    let bad = raw_get(&sim, "/v1/calls?completed=maybe").await;
    assert_eq!(bad.status(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn analysis_answers_a_finished_conversation_and_refuses_a_running_one() {
    let req = AnalyzeRequest {
        goal: "renewal".into(),
        questions: vec![
            ("Will they renew?".into(), "boolean".into()),
            ("Who answered?".into(), "human or voicemail".into()),
        ],
    };
    // Real time: the call runs for at least half a minute.
    let slow = Simulator::start(SimConfig { speed: 1.0, ..base() }).await.unwrap();
    let sent = client(&slow).send_call(&call(&number(1), None)).await.unwrap();
    let running = client(&slow).analyze_call(&sent.call_id, &req).await;
    assert!(matches!(running, Err(BlandError::Permanent { status: 400, .. })), "{running:?}");
    slow.shutdown().await;

    let sim = Simulator::start(SimConfig { mix: only(SimOutcome::Human), ..base() }).await.unwrap();
    let c = client(&sim);
    let sent = c.send_call(&call(&number(1), None)).await.unwrap();
    eventually("the call completes", Duration::from_secs(10), async || sim.call(&sent.call_id).filter(|t| t.completed))
        .await;
    let answers = c.analyze_call(&sent.call_id, &req).await.unwrap().answers;
    assert!(answers[0].is_boolean());
    assert_eq!(answers[1], "human");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_account_balance_falls_by_the_price_of_finished_calls() {
    let sim = Simulator::start(base()).await.unwrap();
    let c = client(&sim);
    let before = c.me().await.unwrap();
    let sent = c.send_call(&call(&number(1), None)).await.unwrap();
    let truth = eventually("the call completes", Duration::from_secs(10), async || {
        sim.call(&sent.call_id).filter(|t| t.completed)
    })
    .await;
    let after = c.me().await.unwrap();
    assert_eq!(after.total_calls, Some(1));
    let spent = before.current_balance.unwrap() - after.current_balance.unwrap();
    assert!((spent - truth.price).abs() < 1e-9, "{spent} vs {}", truth.price);
    assert!(truth.price >= 0.015);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_send_log_holds_one_json_line_per_accepted_send() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sends.jsonl");
    let sim = Simulator::start(SimConfig { log: Some(log.clone()), ..base() }).await.unwrap();
    let c = client(&sim);
    for i in 0..3 {
        c.send_call(&call(&number(i), None)).await.unwrap();
    }
    let mut bad = call(&number(9), None);
    bad.phone_number = "12223334444".into();
    assert!(c.send_call(&bad).await.is_err());
    let sends = sim.sends();
    sim.shutdown().await;

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    for (line, sent) in lines.iter().zip(&sends) {
        assert_eq!(line["call_id"], sent.call_id);
        assert_eq!(line["phone_number"], sent.phone_number);
        assert_eq!(line["metadata"], sent.metadata);
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn the_ground_truth_matches_what_call_details_finally_say() {
    let sim = Simulator::start(base()).await.unwrap();
    let c = client(&sim);
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(c.send_call(&call(&number(i), None)).await.unwrap().call_id);
    }
    eventually("every call completes", Duration::from_secs(10), async || {
        sim.calls().iter().all(|t| t.completed).then_some(())
    })
    .await;
    for truth in sim.calls() {
        let d = c.call_details(&truth.call_id).await.unwrap();
        assert_eq!(d.status.unwrap().as_str(), truth.status);
        assert_eq!(d.answered_by.map(|a| a.as_str().to_string()), truth.answered_by);
        assert_eq!(d.price, Some(truth.price));
        assert_eq!(d.metadata, truth.metadata);
        assert_eq!(d.raw, truth.details);
    }
    assert_eq!(sim.calls().into_iter().map(|t| t.call_id).collect::<Vec<_>>(), ids);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_encrypted_key_header_is_noticed() {
    let sim = Simulator::start(base()).await.unwrap();
    let mut config = BlandClientConfig::new(sim.base_url(), Secret::new(KEY));
    config.encrypted_key = Some(Secret::new("enc"));
    Client::new(config).unwrap().send_call(&call(&number(1), None)).await.unwrap();
    client(&sim).send_call(&call(&number(2), None)).await.unwrap();
    let byot: Vec<bool> = sim.sends().iter().map(|s| s.byot).collect();
    assert_eq!(byot, vec![true, false]);
    sim.shutdown().await;
}
