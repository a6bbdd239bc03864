//! `/metrics`, `/healthz` and `/readyz` of the real `switchboard serve` binary against the Bland
//! simulator, and the same counters kept by the library's parts on the harness's manual clock.
//!
//! What the counters must say is taken from the simulator's own record (its sends, its webhook
//! deliveries, its analysis requests) and from the database, never from switchboard's metrics
//! themselves. The whole text must parse as Prometheus text, and no label may carry a phone
//! number or an id. Every wait polls a condition under a deadline.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use common::TestEnv;
use common::eventually_showing;
use common::harness::{Harness, at};
use common::process::Running;
use prometheus_parse::{LineInfo, Scrape, Value};
use switchboard::analysis::{AnalysisWorker, Work};
use switchboard::bland::{BlandClientConfig, Client, RetryPolicy};
use switchboard::clock::Clock;
use switchboard::dispatcher::Dispatcher;
use switchboard::metrics::db::{DbSource, Spend};
use switchboard::metrics::{DbGauges, Metrics};
use switchboard::outcomes::{Outcomes, OutcomesConfig};
use switchboard::secret::Secret;
use switchboard::sim::{ANALYZE_PRICE_USD, OutcomeMix, SimConfig, SimHandle, Simulator};
use switchboard::store::{AttemptState, Outcome};

const API_KEY: &str = "sk-metrics-test-51c0e2";
const WEBHOOK_SECRET: &str = "whsec-metrics-test-7a3d";

// -------------------------------------------------------------------------------------------
// Reading the text

/// The scrape, checked line by line: every line is a HELP, a TYPE or a sample whose value is a
/// number; then parsed whole.
fn parse(text: &str) -> Scrape {
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { .. } | LineInfo::Type { .. } => {}
            LineInfo::Sample { value, timestamp: None, .. } => {
                let ok = value.parse::<f64>().is_ok() || matches!(value, "+Inf" | "-Inf" | "NaN");
                assert!(ok, "not a number in `{line}`");
            }
            other => panic!("`{line}` is not Prometheus text ({other:?})"),
        }
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("the whole text parses")
}

/// The value of the sample `name` whose labels include `labels` (all such samples summed);
/// `None` when there is none.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .filter_map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

/// Every label value of every sample, but the histograms' bucket bounds.
fn label_values(text: &str) -> Vec<String> {
    let label = regex::Regex::new(r#"(\w+)="((?:[^"\\]|\\.)*)""#).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| label.captures_iter(l).map(|c| (c[1].to_string(), c[2].to_string())).collect::<Vec<_>>())
        .filter(|(k, _)| k != "le")
        .map(|(_, v)| v)
        .collect()
}

/// No label carries a phone number (`+1…`, or ten digits and more), a UUID (attempt ids, the
/// simulator's call ids) or a bare number (job ids).
fn assert_no_ids_in_labels(text: &str) {
    let phone = regex::Regex::new(r"\+\d|\d{10}").unwrap();
    let uuid = regex::Regex::new(r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    for v in label_values(text) {
        assert!(!phone.is_match(&v), "a phone number in a label: `{v}`");
        assert!(!uuid.is_match(&v), "an id in a label: `{v}`");
        assert!(v.is_empty() || !v.chars().all(|c| c.is_ascii_digit()), "a numeric id in a label: `{v}`");
    }
}

// -------------------------------------------------------------------------------------------
// The real daemon

fn sim_config() -> SimConfig {
    SimConfig {
        api_key: Some(Secret::new(API_KEY)),
        webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
        requests_per_minute: 0,
        max_concurrent: 0,
        speed: 600.0,
        ..SimConfig::default()
    }
}

/// The daemon's config: the simulator as Bland, Bland told to post webhooks to `port`, the
/// account's caps far out of the way.
fn write_config(env: &TestEnv, sim: &SimHandle, port: u16) {
    let text = format!(
        "[store]\npath = {db:?}\n[bland]\nbase_url = \"{url}\"\nrequests_per_minute = 1000000\n\
         [http]\npublic_url = \"http://127.0.0.1:{port}\"\n\
         [account]\ncalls_per_minute = 1000000\ncalls_per_hour = 10000000\ncalls_per_day = 100000000\n\
         max_concurrent = 1000000\n",
        db = env.db.display().to_string(),
        url = sim.base_url(),
    );
    std::fs::write(&env.config, text).unwrap();
}

/// Creates, fills (`n` recipients where it is mid-afternoon) and starts campaign `id`.
fn launch(env: &TestEnv, id: &str, n: usize) {
    let spec = format!(
        "id = \"{id}\"\nname = \"Metrics {id}\"\n[call]\ntask = \"Hello {{{{first_name}}}}\"\n\
         [schedule]\nzone_policy = \"column\"\nhours = {{ \"mon-sun\" = \"08:00-21:00\" }}\n\
         [retry]\nmax_attempts = 1\n[limits]\ncalls_per_day = 1000\n"
    );
    assert_eq!(env.campaign(&spec), id);
    let zone = common::open_nanp_zone();
    let csv: String = std::iter::once("first_name,phone,timezone\n".to_string())
        .chain((0..n).map(|i| format!("R{i},415-555-{:04},{zone}\n", 2000 + i)))
        .collect();
    let csv = env.write(&format!("{id}.csv"), csv);
    env.ok(["import", id, common::path_str(&csv)]);
    env.ok(["campaign", "start", id]);
}

/// A free loopback port for the daemon, so Bland can be told where to post before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn get(addr: &str, path: &str) -> (u16, String, String) {
    let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = r.status().as_u16();
    let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, content_type, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaigns_counters_match_what_bland_saw_and_the_text_parses_with_no_ids_in_labels() {
    const N: usize = 8;
    let sim = Simulator::start(sim_config()).await.unwrap();
    let env = TestEnv::new();
    let port = free_port();
    write_config(&env, &sim, port);
    launch(&env, "spring", N);
    let store = env.store().await;
    let envs = [("BLAND_API_KEY", API_KEY), ("BLAND_WEBHOOK_SECRET", WEBHOOK_SECRET)];
    let daemon = Running::start(&env, &["serve", "--listen", &format!("127.0.0.1:{port}")], &envs, "serve.log");
    let addr = daemon.addr.clone();

    // Every call placed, ended, and its webhook acknowledged and counted.
    let delivered = || sim.calls().iter().map(|c| c.webhook_deliveries).sum::<u32>();
    let scrape = eventually_showing(
        "every call's webhook is applied and counted",
        Duration::from_secs(60),
        async || {
            let (status, _, text) = get(&addr, "/metrics").await;
            assert_eq!(status, 200, "{text}");
            let s = parse(&text);
            let applied = value(&s, "switchboard_webhooks_total", &[("result", "applied")])?;
            let all_ended = sim.calls().len() == N && sim.calls().iter().all(|c| c.completed);
            (all_ended && applied == N as f64 && delivered() == N as u32).then_some(s)
        },
        async || format!("{} sends, {} deliveries; log:\n{}", sim.sends().len(), delivered(), daemon.log()),
    )
    .await;

    // Calls placed = the simulator's sends; each counted under its campaign, no send failed.
    let sends = sim.sends().len() as f64;
    assert_eq!(sends, N as f64);
    assert_eq!(value(&scrape, "switchboard_calls_dispatched_total", &[("campaign", "spring")]), Some(sends));
    assert_eq!(value(&scrape, "switchboard_send_errors_total", &[]), Some(0.0), "no send failed");
    assert_eq!(value(&scrape, "switchboard_bland_rate_limited_total", &[]), Some(0.0));
    assert_eq!(value(&scrape, "switchboard_retries_scheduled_total", &[]), None, "max_attempts = 1");
    // Webhooks applied = deliveries, nothing else happened to them.
    assert_eq!(value(&scrape, "switchboard_webhooks_total", &[]), Some(f64::from(delivered())));
    assert_eq!(value(&scrape, "switchboard_webhook_duration_seconds_count", &[]), Some(f64::from(delivered())));
    // The outcomes recorded are the database's, outcome by outcome.
    let counts = store.call_counts("spring").await.unwrap();
    for o in Outcome::ALL {
        let counted =
            value(&scrape, "switchboard_call_outcomes_total", &[("campaign", "spring"), ("outcome", o.as_str())]);
        assert_eq!(counted.unwrap_or(0.0), counts.outcome(*o) as f64, "{o}");
    }
    assert_eq!(value(&scrape, "switchboard_call_outcomes_total", &[]), Some(sends));
    // One request per send (the send client does not retry), and the key checked once at start.
    let requests =
        |endpoint| value(&scrape, "switchboard_bland_request_duration_seconds_count", &[("endpoint", endpoint)]);
    assert_eq!(requests("send_call"), Some(sends));
    assert_eq!(requests("me"), Some(1.0));
    assert_eq!(value(&scrape, "switchboard_bland_key", &[("state", "accepted")]), Some(1.0));

    // The database's gauges (read at most every few seconds): every job done, nothing in
    // flight, the account's daily cap less the calls placed, the calls' spend as Bland priced it.
    let spent: f64 = sim.calls().iter().map(|c| c.price).sum();
    let text = eventually_showing(
        "the database's gauges show the finished campaign",
        Duration::from_secs(30),
        async || {
            let (_, _, text) = get(&addr, "/metrics").await;
            let s = parse(&text);
            let done = value(&s, "switchboard_jobs", &[("campaign", "spring"), ("state", "done")])?
                + value(&s, "switchboard_jobs", &[("campaign", "spring"), ("state", "failed")])?;
            let idle = value(&s, "switchboard_calls_in_flight", &[("campaign", "spring")])? == 0.0;
            (done == N as f64 && idle).then_some(text)
        },
        async || get(&addr, "/metrics").await.2,
    )
    .await;
    let s = parse(&text);
    assert_eq!(value(&s, "switchboard_jobs", &[("campaign", "spring")]), Some(N as f64));
    assert_eq!(value(&s, "switchboard_account_cap_headroom", &[("cap", "calls_per_day")]), Some(100_000_000.0 - sends));
    let call_spend = value(&s, "switchboard_spend_usd", &[("campaign", "spring"), ("kind", "calls")]).unwrap();
    assert!((call_spend - spent).abs() < 1e-6, "spend {call_spend} but the simulator charged {spent}");
    assert_eq!(value(&s, "switchboard_spend_usd", &[("campaign", "spring"), ("kind", "analysis")]), Some(0.0));

    // No phone number or id anywhere in the labels, nor any recipient's number in the text.
    assert_no_ids_in_labels(&text);
    for job in store.job_records(Some("spring")).await.unwrap() {
        assert!(!text.contains(&job.phone.as_str()[2..]), "a number in /metrics:\n{text}");
    }
    for call in sim.calls() {
        assert!(!text.contains(&call.call_id), "a call id in /metrics");
    }

    // Health: the process answers, and it is ready.
    let (status, content_type, _) = get(&addr, "/metrics").await;
    assert_eq!((status, content_type.as_str()), (200, "text/plain; version=0.0.4; charset=utf-8"));
    assert_eq!(get(&addr, "/healthz").await.0, 200);
    let (status, _, body) = get(&addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["bland_key"], "accepted");
    assert_eq!(ready["migrations"], "ok");
    store.close().await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_naming_the_key_once_bland_refuses_it_while_healthz_stays_200() {
    let sim = Simulator::start(sim_config()).await.unwrap();
    let env = TestEnv::new();
    let port = free_port();
    write_config(&env, &sim, port);
    launch(&env, "refused", 2);
    let envs = [("BLAND_API_KEY", "sk-not-the-simulators-key"), ("BLAND_WEBHOOK_SECRET", WEBHOOK_SECRET)];
    let daemon = Running::start(&env, &["serve", "--listen", &format!("127.0.0.1:{port}")], &envs, "refused.log");
    let addr = daemon.addr.clone();

    let body = eventually_showing(
        "/readyz says the key was refused",
        Duration::from_secs(30),
        async || {
            let (status, _, body) = get(&addr, "/readyz").await;
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            (json["bland_key"] == "refused").then(|| {
                assert_eq!(status, 503, "{body}");
                json
            })
        },
        async || daemon.log(),
    )
    .await;
    assert_eq!(body["ready"], false);
    assert_eq!(body["not_ready"], serde_json::json!(["bland_key"]), "the database and its schema are fine");
    assert_eq!(body["database"], "ok");
    assert_eq!(get(&addr, "/healthz").await.0, 200, "the process is up all the same");

    // The refused sends are counted as such, and nothing was placed.
    let scrape = eventually_showing(
        "the refused send is counted",
        Duration::from_secs(30),
        async || {
            let s = parse(&get(&addr, "/metrics").await.2);
            (value(&s, "switchboard_send_errors_total", &[("class", "key_refused")])? >= 1.0).then_some(s)
        },
        async || daemon.log(),
    )
    .await;
    assert_eq!(value(&scrape, "switchboard_bland_key", &[("state", "refused")]), Some(1.0));
    assert_eq!(value(&scrape, "switchboard_calls_dispatched_total", &[]), None);
    assert!(sim.sends().is_empty());
    daemon.stop().await;
}

// -------------------------------------------------------------------------------------------
// The library's parts on the manual clock: retries and analyses

fn client(h: &Harness, metrics: &Metrics, retry: RetryPolicy) -> Client {
    let mut c = BlandClientConfig::new(h.sim.base_url(), Secret::new(common::harness::API_KEY));
    c.retry = retry;
    c.metrics = metrics.clone();
    Client::new(c).unwrap()
}

#[tokio::test]
async fn retries_outcomes_and_analyses_are_counted_as_the_simulator_saw_them() {
    let mix = OutcomeMix { human: 0.4, voicemail: 0.3, no_answer: 0.2, busy: 0.1, failed: 0.0 };
    let sim =
        SimConfig { seed: 11, speed: 3000.0, requests_per_minute: 0, max_concurrent: 0, mix, ..SimConfig::default() };
    let h = Harness::new(at("2026-06-02T13:00:00Z"), sim).await;
    let spec = "id = \"autumn\"\nname = \"Autumn\"\n[call]\ntask = \"Hello {{first_name}}\"\nmax_duration = 1\n\
                [schedule]\ntimezone = \"America/New_York\"\nhours = { \"mon-sun\" = \"08:00-21:00\" }\n\
                [retry]\nmax_attempts = 2\non = [\"voicemail\", \"no_answer\", \"busy\"]\ndelays = [\"10m\"]\n\
                [analysis]\ngoal = \"Renewal\"\nquestions = [[\"Will they renew?\", \"boolean\"]]\n";
    let csv: String = std::iter::once("first_name,phone\n".to_string())
        .chain((0..30).map(|i| format!("R{i},212-555-{:04}\n", 3000 + i)))
        .collect();
    let campaign = h.campaign(spec, &csv).await;

    let metrics = Metrics::new();
    let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
    let dispatcher = Dispatcher::new(
        h.store.clone(),
        client(&h, &metrics, RetryPolicy::none()),
        clock.clone(),
        h.dispatch_cfg.clone(),
    )
    .await
    .unwrap()
    .with_metrics(metrics.clone());
    let fast = RetryPolicy {
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let outcomes = Outcomes::new(
        h.store.clone(),
        client(&h, &metrics, fast),
        clock.clone(),
        OutcomesConfig::from_daemon(&h.config),
    )
    .with_metrics(metrics.clone());
    h.drive_to_completion(&dispatcher, &outcomes, &campaign).await;
    h.clock.advance(chrono::Duration::minutes(5));
    let analyst = AnalysisWorker::new(
        h.store.clone(),
        client(&h, &metrics, RetryPolicy::none()),
        clock.clone(),
        h.analysis_config(8),
        Work::Daemon,
    )
    .with_metrics(metrics.clone());
    common::harness::drain(&analyst).await;

    let db = DbSource::new(h.store.clone(), h.config.compliance(), h.dispatch_cfg.account);
    metrics.set_db_gauges(Arc::new(DbGauges::read(&db, h.now()).await.unwrap()));
    let text = metrics.render();
    let s = parse(&text);
    assert_no_ids_in_labels(&text);

    // Sends: every one the simulator took, counted once; one request each.
    let sends = h.sim.sends().len() as f64;
    assert!(sends > 30.0, "some calls were retried ({sends} sends)");
    assert_eq!(value(&s, "switchboard_calls_dispatched_total", &[("campaign", "autumn")]), Some(sends));
    let requests = |endpoint| value(&s, "switchboard_bland_request_duration_seconds_count", &[("endpoint", endpoint)]);
    assert_eq!(requests("send_call"), Some(sends));
    // Outcomes: one per call, as the database recorded them.
    let counts = h.store.call_counts(&campaign).await.unwrap();
    let counted: BTreeMap<&str, f64> = Outcome::ALL
        .iter()
        .filter_map(|o| Some((o.as_str(), value(&s, "switchboard_call_outcomes_total", &[("outcome", o.as_str())])?)))
        .collect();
    let recorded: BTreeMap<&str, f64> =
        counts.by_outcome.iter().filter(|(_, n)| **n > 0).map(|(o, n)| (o.as_str(), *n as f64)).collect();
    assert_eq!(counted, recorded);
    assert_eq!(counted.values().sum::<f64>(), sends);
    // Retries: each job that was dialled twice had one scheduled (max_attempts = 2).
    let second_tries = h.store.attempt_records(Some(&campaign)).await.unwrap();
    let second_tries = second_tries.iter().filter(|a| a.attempt_no == 2 && a.state != AttemptState::NotSent).count();
    assert!(second_tries > 0);
    assert_eq!(value(&s, "switchboard_retries_scheduled_total", &[("campaign", "autumn")]), Some(second_tries as f64));
    // Analyses: one request per human call, as the simulator answered them.
    let asked = h.sim.analyze_requests();
    let answered = asked.iter().filter(|r| r.answered).count() as f64;
    assert!(answered > 0.0);
    assert_eq!(value(&s, "switchboard_analysis_requests_total", &[("result", "answered")]), Some(answered));
    assert_eq!(requests("analyze_call"), Some(asked.len() as f64));
    // Spend: the simulator's prices for the calls, its flat price per analysis.
    let mut by_kind: HashMap<&str, f64> = HashMap::new();
    for kind in [Spend::Calls, Spend::Analysis] {
        by_kind.insert(
            kind.as_str(),
            value(&s, "switchboard_spend_usd", &[("campaign", "autumn"), ("kind", kind.as_str())]).unwrap(),
        );
    }
    let call_prices: f64 = h.sim.calls().iter().map(|c| c.price).sum();
    assert!((by_kind["calls"] - call_prices).abs() < 1e-6, "{by_kind:?} vs {call_prices}");
    assert!((by_kind["analysis"] - answered * ANALYZE_PRICE_USD).abs() < 1e-6, "{by_kind:?}");
    // The finished campaign's jobs, all of them, and no headroom gauge (it no longer runs).
    assert_eq!(value(&s, "switchboard_jobs", &[("campaign", "autumn")]), Some(30.0));
    assert_eq!(value(&s, "switchboard_cap_headroom", &[]), None);
}
