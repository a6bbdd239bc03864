//! The rendering: names, types, help and labels as Prometheus expects them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::dispatcher::ledger::Cap;
use crate::metrics::db::Spend;
use crate::store::JobState;

/// `# TYPE` lines: metric name → type.
fn types(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, ty) = l.split_once(' ').unwrap();
            (name.to_string(), ty.to_string())
        })
        .collect()
}

fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
}

fn every_metric() -> Metrics {
    let m = Metrics::new();
    m.call_placed("spring");
    m.call_placed("spring");
    m.outcome_recorded("spring", Outcome::Voicemail);
    m.send_error(SendError::RateLimited);
    m.retry_scheduled("spring");
    m.reconciled(Reconciled::Found, 2);
    m.webhook(WebhookResult::Applied, Duration::from_millis(3));
    m.webhook(WebhookResult::BadSignature, Duration::from_micros(200));
    m.analysis_request(AnalysisRequest::Answered);
    m.bland_request(Endpoint::SendCall, Duration::from_millis(120), Some(200));
    m.bland_request(Endpoint::SendCall, Duration::from_millis(80), Some(429));
    m.bland_request(Endpoint::CallDetails, Duration::from_secs(2), None);
    m.set_db_gauges(Arc::new(DbGauges {
        jobs: vec![("spring".into(), JobState::Queued, 7), ("spring".into(), JobState::Done, 3)],
        calls: vec![("spring".into(), "voicemail", 1), ("spring".into(), "in_call", 1)],
        in_flight: vec![("spring".into(), 1)],
        headroom: vec![("spring".into(), Cap::PerMinute, 28), ("spring".into(), Cap::Concurrent, 9)],
        account_headroom: vec![(Cap::PerDay, 4998)],
        spend: vec![("spring".into(), Spend::Calls, 0.27), ("spring".into(), Spend::Analysis, 0.02)],
    }));
    m
}

#[test]
fn every_metric_is_named_typed_and_documented_by_prometheus_conventions() {
    let text = every_metric().render();
    let expected = [
        ("switchboard_calls_dispatched_total", "counter"),
        ("switchboard_call_outcomes_total", "counter"),
        ("switchboard_send_errors_total", "counter"),
        ("switchboard_bland_rate_limited_total", "counter"),
        ("switchboard_retries_scheduled_total", "counter"),
        ("switchboard_reconciliations_total", "counter"),
        ("switchboard_webhooks_total", "counter"),
        ("switchboard_analysis_requests_total", "counter"),
        ("switchboard_webhook_duration_seconds", "histogram"),
        ("switchboard_bland_request_duration_seconds", "histogram"),
        ("switchboard_bland_key", "gauge"),
        ("switchboard_jobs", "gauge"),
        ("switchboard_attempts", "gauge"),
        ("switchboard_calls_in_flight", "gauge"),
        ("switchboard_cap_headroom", "gauge"),
        ("switchboard_account_cap_headroom", "gauge"),
        ("switchboard_spend_usd", "gauge"),
    ];
    let found = types(&text);
    for (name, ty) in expected {
        assert_eq!(found.get(name).map(String::as_str), Some(ty), "{name} in:\n{text}");
        let help = format!("# HELP {name} ");
        assert!(text.lines().any(|l| l.starts_with(&help) && l.ends_with('.')), "no HELP for {name}:\n{text}");
    }
    assert_eq!(found.len(), expected.len(), "unexpected families: {found:?}");
    for (name, ty) in &found {
        assert!(name.starts_with("switchboard_"), "{name}");
        assert_eq!(ty == "counter", name.ends_with("_total"), "{name} is a {ty}");
    }
}

#[test]
fn samples_carry_their_labels_and_values() {
    let text = every_metric().render();
    let want = [
        ("switchboard_calls_dispatched_total{campaign=\"spring\"}", "2"),
        ("switchboard_call_outcomes_total{campaign=\"spring\",outcome=\"voicemail\"}", "1"),
        ("switchboard_send_errors_total{class=\"rate_limited\"}", "1"),
        ("switchboard_send_errors_total{class=\"key_refused\"}", "0"),
        ("switchboard_bland_rate_limited_total{endpoint=\"send_call\"}", "1"),
        ("switchboard_bland_rate_limited_total{endpoint=\"me\"}", "0"),
        ("switchboard_retries_scheduled_total{campaign=\"spring\"}", "1"),
        ("switchboard_reconciliations_total{result=\"found\"}", "2"),
        ("switchboard_reconciliations_total{result=\"requeued\"}", "0"),
        ("switchboard_webhooks_total{result=\"applied\"}", "1"),
        ("switchboard_webhooks_total{result=\"bad_signature\"}", "1"),
        ("switchboard_webhooks_total{result=\"too_large\"}", "0"),
        ("switchboard_analysis_requests_total{result=\"answered\"}", "1"),
        ("switchboard_webhook_duration_seconds_count", "2"),
        ("switchboard_bland_request_duration_seconds_count{endpoint=\"send_call\"}", "2"),
        ("switchboard_bland_request_duration_seconds_count{endpoint=\"call_details\"}", "1"),
        ("switchboard_bland_request_duration_seconds_bucket{endpoint=\"call_details\",le=\"+Inf\"}", "1"),
        ("switchboard_bland_key{state=\"accepted\"}", "1"),
        ("switchboard_bland_key{state=\"refused\"}", "0"),
        ("switchboard_jobs{campaign=\"spring\",state=\"queued\"}", "7"),
        ("switchboard_attempts{campaign=\"spring\",outcome=\"in_call\"}", "1"),
        ("switchboard_calls_in_flight{campaign=\"spring\"}", "1"),
        ("switchboard_cap_headroom{campaign=\"spring\",cap=\"calls_per_minute\"}", "28"),
        ("switchboard_cap_headroom{campaign=\"spring\",cap=\"max_concurrent\"}", "9"),
        ("switchboard_account_cap_headroom{cap=\"calls_per_day\"}", "4998"),
        ("switchboard_spend_usd{campaign=\"spring\",kind=\"calls\"}", "0.27"),
        ("switchboard_spend_usd{campaign=\"spring\",kind=\"analysis\"}", "0.02"),
    ];
    for (series, value) in want {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
    assert!(sample(&text, "switchboard_cap_headroom{campaign=\"spring\",cap=\"calls_per_hour\"}").is_none());
    let le: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("switchboard_bland_request_duration_seconds_bucket{endpoint=\"send_call\""))
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect();
    assert!(le.windows(2).all(|w| w[0] < w[1]) && le[0] <= 0.005 && le.last() == Some(&f64::INFINITY), "{le:?}");
}

#[test]
fn the_key_is_unchecked_until_bland_answers_then_whatever_it_last_said() {
    let m = Metrics::new();
    assert_eq!(m.key_state(), KeyState::Unchecked);
    assert_eq!(sample(&m.render(), "switchboard_bland_key{state=\"unchecked\"}"), Some("1"));
    m.bland_request(Endpoint::Me, Duration::ZERO, Some(401));
    assert_eq!(m.key_state(), KeyState::Refused);
    m.bland_request(Endpoint::CallDetails, Duration::ZERO, Some(503));
    m.bland_request(Endpoint::CallDetails, Duration::ZERO, None);
    assert_eq!(m.key_state(), KeyState::Refused, "an answer that says nothing of the key changes nothing");
    m.bland_request(Endpoint::SendCall, Duration::ZERO, Some(200));
    assert_eq!(m.key_state(), KeyState::Accepted);
}

#[test]
fn a_metrics_handle_is_shared_and_a_default_one_is_its_own() {
    let daemon = Metrics::new();
    let clone = daemon.clone();
    clone.call_placed("c");
    assert!(daemon.render().contains("switchboard_calls_dispatched_total{campaign=\"c\"} 1"));
    assert!(!Metrics::default().render().contains("campaign=\"c\""));
}
