//! Hardening of the daemon's edges, each through the real binary (or the real client) on
//! loopback: compliance hours that cannot be widened by accident, no secrets in campaign specs or
//! on the simulator's command line, no redirects followed, unsigned webhooks only on loopback,
//! HTTP server limits against idle and slow clients, replayed webhooks stored once, `/metrics`
//! cached, and a Bland that cannot be reached said so in the log. Every wait polls a condition
//! under a deadline.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::process::{Running, run_bounded};
use common::{TestEnv, eventually};
use switchboard::bland::{BlandClientConfig, Client, RetryPolicy, SIGNATURE_HEADER, sign};
use switchboard::secret::Secret;
use switchboard::store::Store;

const API_KEY: &str = "sk-hardening-test-7d1e";
const WEBHOOK_SECRET: &str = "whsec-hardening-test-90ab";

/// `switchboard serve` on a free loopback port with the key and secret (and `envs`).
fn serve(env: &TestEnv, envs: &[(&str, &str)], log_name: &str) -> Running {
    let mut all = vec![("BLAND_API_KEY", API_KEY), ("BLAND_WEBHOOK_SECRET", WEBHOOK_SECRET)];
    all.extend_from_slice(envs);
    Running::start(env, &["serve", "--listen", "127.0.0.1:0"], &all, log_name)
}

/// Runs `switchboard ARGS` with `envs`, at most 20 s; (exit code, stdout, stderr).
async fn bounded(env: &TestEnv, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = env.command();
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run_bounded(cmd, Duration::from_secs(20)).await
}

/// One HTTP/1.1 request on a fresh connection; the status code, or `None` when no answer came
/// within `within`.
fn http_get(addr: &str, path: &str, within: Duration) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(within)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text))
}

fn write_config(env: &TestEnv, extra: &str) {
    let text = format!("[store]\npath = {:?}\n{extra}\n", env.db.display().to_string());
    std::fs::write(&env.config, text).unwrap();
}

// -------------------------------------------------------------------------------------------
// 1. Compliance hours

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliance_hours_outside_the_federal_guard_are_refused_at_load_unless_widened_on_purpose_and_loudly() {
    let env = TestEnv::new();
    write_config(&env, "");
    // Refused before anything starts, naming the key and the way out.
    let (code, stdout, stderr) = bounded(
        &env,
        &["serve", "--listen", "127.0.0.1:0"],
        &[("BLAND_API_KEY", API_KEY), ("SWITCHBOARD_COMPLIANCE__EARLIEST", "07:00")],
    )
    .await;
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("compliance.earliest") && stderr.contains("allow_outside_federal_hours"), "{stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
    let (code, _, stderr) = bounded(
        &env,
        &["serve", "--listen", "127.0.0.1:0"],
        &[("BLAND_API_KEY", API_KEY), ("SWITCHBOARD_COMPLIANCE__MAX_CALLS_PER_NUMBER_PER_DAY", "50")],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("compliance.max_calls_per_number_per_day"), "{stderr}");

    // Widened on purpose: it starts, warns, and says which guard is in force.
    let daemon = serve(
        &env,
        &[
            ("SWITCHBOARD_COMPLIANCE__EARLIEST", "07:00"),
            ("SWITCHBOARD_COMPLIANCE__ALLOW_OUTSIDE_FEDERAL_HOURS", "true"),
        ],
        "widened.log",
    );
    let log = daemon.stop().await;
    let warned = log.lines().find(|l| l.contains("allow_outside_federal_hours")).unwrap_or_default();
    assert!(warned.contains("WARN"), "the widened guard is a warning at start:\n{log}");
    let guard = log.lines().find(|l| l.contains("compliance guard")).unwrap_or_default();
    assert!(guard.contains("INFO") && guard.contains("earliest=07:00") && guard.contains("latest=21:00"), "{log}");

    // An unquoted time in the environment works as documented; no warning when not widened.
    let daemon = serve(&env, &[("SWITCHBOARD_COMPLIANCE__EARLIEST", "09:00")], "narrowed.log");
    let log = daemon.stop().await;
    let guard = log.lines().find(|l| l.contains("compliance guard")).unwrap_or_default();
    assert!(guard.contains("earliest=09:00") && guard.contains("max_calls_per_number_per_day=3"), "{log}");
    assert!(!log.contains("allow_outside_federal_hours"), "{log}");

    // The shipped default config documents the new key.
    let default = env.ok(["config", "default"]).stdout;
    assert!(default.contains("# allow_outside_federal_hours = false"), "{default}");
}

// -------------------------------------------------------------------------------------------
// 2. No secret in a campaign spec

#[test]
fn a_campaign_spec_with_a_byot_encrypted_key_is_refused_without_echoing_it() {
    let env = TestEnv::new();
    let spec = env.write(
        "byot.toml",
        "id = \"byot\"\nname = \"BYOT\"\n[call]\ntask = \"Hello\"\nencrypted_key = \"enc-SECRET-4411\"\n",
    );
    let r = env.run(["campaign", "create", common::path_str(&spec)]);
    assert_eq!(r.code, 2, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("call.encrypted_key") && r.stderr.contains("daemon"), "{}", r.stderr);
    assert!(!r.stderr.contains("SECRET-4411") && !r.stdout.contains("SECRET-4411"), "{}", r.stderr);
    assert!(env.run(["campaign", "show", "byot"]).code != 0, "nothing was stored");
}

// -------------------------------------------------------------------------------------------
// 3. No redirects

#[tokio::test]
async fn the_bland_client_follows_no_redirect_and_its_error_names_status_and_location() {
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let elsewhere = MockServer::start().await;
    Mock::given(any()).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&elsewhere).await;
    let bland = MockServer::start().await;
    let location = format!("{}/v1/me", elsewhere.uri());
    Mock::given(any())
        .respond_with(ResponseTemplate::new(302).insert_header("location", location.as_str()))
        .mount(&bland)
        .await;
    let mut config = BlandClientConfig::new(bland.uri(), Secret::new(API_KEY));
    config.retry = RetryPolicy::none();
    let client = Client::new(config).unwrap();

    let err = client.me().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("302") && text.contains(&location), "{text}");
    assert!(!err.is_retryable(), "not retried: {text}");
    // A POST redirected after the server acted on it may have placed a call: a send answered
    // so is looked up before the number is dialled again, never re-sent blindly.
    assert!(err.is_ambiguous_send() && !err.certainly_not_acted_on(), "{text}");
    assert!(elsewhere.received_requests().await.unwrap().is_empty(), "a redirect was followed (and the key with it)");
}

// -------------------------------------------------------------------------------------------
// 4. Unsigned webhooks only on loopback

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_webhooks_are_refused_before_listening_unless_the_listen_address_is_loopback() {
    let env = TestEnv::new();
    // Never bound: refused at config load.
    write_config(&env, "[http]\nlisten = \"0.0.0.0:0\"\nallow_unsigned_webhooks = true");
    let (code, stdout, stderr) = bounded(&env, &["serve"], &[("BLAND_API_KEY", API_KEY)]).await;
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("http.allow_unsigned_webhooks") && stderr.contains("loopback"), "{stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
    // Nor through `--listen`: the address checked is the one that would be bound.
    write_config(&env, "[http]\nlisten = \"127.0.0.1:0\"\nallow_unsigned_webhooks = true");
    let (code, stdout, stderr) =
        bounded(&env, &["serve", "--listen", "0.0.0.0:0"], &[("BLAND_API_KEY", API_KEY)]).await;
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("loopback") && !stdout.contains("listening"), "{stderr}");
    // On loopback it is still allowed (for a machine's own tests), with its warning.
    write_config(&env, "[http]\nlisten = \"127.0.0.1:0\"\nallow_unsigned_webhooks = true");
    let daemon = Running::start(&env, &["serve"], &[("BLAND_API_KEY", API_KEY)], "unsigned.log");
    assert!(daemon.stop().await.contains("UNSIGNED"));
}

// -------------------------------------------------------------------------------------------
// 5. The simulator's secrets

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_takes_its_secrets_from_the_environment_and_never_from_argv_or_help() {
    let env = TestEnv::new();
    let (code, _, stderr) = bounded(&env, &["sim", "--listen", "127.0.0.1:0", "--api-key", "sk-argv"], &[]).await;
    assert_eq!(code, 2, "a secret on the command line is refused: {stderr}");
    let (code, help, _) = bounded(&env, &["sim", "--help"], &[("BLAND_API_KEY", API_KEY)]).await;
    assert_eq!(code, 0);
    assert!(help.contains("BLAND_API_KEY") && help.contains("BLAND_WEBHOOK_SECRET"), "{help}");
    assert!(!help.contains(API_KEY), "help shows the key:\n{help}");

    let sim = Running::start(&env, &["sim", "--listen", "127.0.0.1:0"], &[("BLAND_API_KEY", API_KEY)], "sim.log");
    let me = |key: &str| {
        let mut s = TcpStream::connect(&sim.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET /v1/me HTTP/1.1\r\nHost: x\r\nauthorization: {key}\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text.split_whitespace().nth(1).unwrap().to_string()
    };
    assert_eq!(me("sk-some-other-key"), "401", "the key from the environment is required");
    assert_eq!(me(API_KEY), "200");
    let log = sim.stop().await;
    assert!(!log.contains(API_KEY), "{log}");
}

// -------------------------------------------------------------------------------------------
// 6. HTTP server limits

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_header_connections_are_dropped_in_bounded_time_while_healthz_keeps_answering() {
    let env = TestEnv::new();
    write_config(
        &env,
        "[http]\nheader_read_timeout = \"1s\"\nrequest_timeout = \"2s\"\nidle_timeout = \"2s\"\nmax_connections = 64",
    );
    let daemon = serve(&env, &[], "limits.log");
    const N: usize = 20;
    let idle: Vec<TcpStream> = (0..N).map(|_| TcpStream::connect(&daemon.addr).unwrap()).collect();
    // Slow-header clients trickle a byte at a time, so only the header deadline can end them.
    let slow: Vec<TcpStream> = (0..N)
        .map(|_| {
            let mut s = TcpStream::connect(&daemon.addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
            s
        })
        .collect();
    let opened = Instant::now();
    let mut open: Vec<TcpStream> = idle.into_iter().chain(slow).collect();
    for s in &open {
        s.set_nonblocking(true).unwrap();
    }
    let mut trickle = 0u8;
    let mut healthz_answers = 0;
    // Until every one of them is closed by the server: each round, a byte more from each slow
    // client, a check of which were closed, and /healthz.
    while !open.is_empty() {
        assert!(
            opened.elapsed() < Duration::from_secs(15),
            "{} connections still open after 15 s; log:\n{}",
            open.len(),
            daemon.log()
        );
        trickle = trickle.wrapping_add(1);
        open.retain_mut(|s| {
            let mut buf = [0u8; 512];
            match s.read(&mut buf) {
                Ok(0) => false, // closed
                Ok(_) => true,  // an error answer (408/400) before the close
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let _ = s.write(&[b'a' + trickle % 26]);
                    true
                }
                Err(_) => false, // reset
            }
        });
        let (status, _) = http_get(&daemon.addr, "/healthz", Duration::from_secs(2))
            .unwrap_or_else(|| panic!("/healthz did not answer within 2 s; log:\n{}", daemon.log()));
        assert_eq!(status, 200);
        healthz_answers += 1;
    }
    assert!(healthz_answers > 1, "/healthz was asked while the connections were open");
    let log = daemon.stop().await;
    assert!(!log.contains("ERROR"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_a_new_client_is_served_only_once_a_held_connection_is_closed() {
    let env = TestEnv::new();
    write_config(
        &env,
        "[http]\nheader_read_timeout = \"1s\"\nrequest_timeout = \"1s\"\nidle_timeout = \"1s\"\nmax_connections = 2",
    );
    let daemon = serve(&env, &[], "cap.log");
    let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(&daemon.addr).unwrap()).collect();
    // Served: the first /healthz answered only after the header timeout closed a held one.
    let asked = Instant::now();
    let (status, _) = http_get(&daemon.addr, "/healthz", Duration::from_secs(10)).expect("served within 10 s");
    let answered_after = asked.elapsed();
    assert_eq!(status, 200);
    assert!(
        answered_after >= Duration::from_millis(800),
        "answered after {answered_after:?}: the cap of 2 held connections did not hold it back"
    );
    for mut s in held {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(s.read(&mut [0u8; 64]).unwrap_or(0), 0, "held connections are closed");
    }
    let log = daemon.stop().await;
    assert!(log.contains("connection limit reached"), "{log}");
}

// -------------------------------------------------------------------------------------------
// 7. Replayed webhooks

async fn db_bytes(store: &Store) -> i64 {
    store.bytes_in_use().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_replays_of_a_signed_100kb_delivery_grow_the_database_by_kilobytes_not_megabytes() {
    let env = TestEnv::new();
    write_config(&env, "");
    let daemon = serve(&env, &[], "replay.log");
    let body = serde_json::to_vec(&serde_json::json!({
        "call_id": "replayed-call",
        "status": "completed",
        "completed": true,
        "transcript": "x".repeat(100_000),
    }))
    .unwrap();
    let signature = sign(&Secret::new(WEBHOOK_SECRET), &body);
    let http = reqwest::Client::new();
    let url = format!("http://{}/webhooks/bland", daemon.addr);
    let post = async || {
        let r = http
            .post(&url)
            .header(SIGNATURE_HEADER, &signature)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    post().await;
    let store = env.store().await;
    let before = db_bytes(&store).await;
    for _ in 0..50 {
        post().await;
    }
    let grown = db_bytes(&store).await - before;
    assert!(grown < 256 * 1024, "50 replays grew the database by {grown} bytes");
    let inbox = store.inbox_records(0).await.unwrap();
    let replayed: Vec<_> = inbox.iter().filter(|r| r.call_id.as_deref() == Some("replayed-call")).collect();
    let rows = replayed.len() as i64;
    let repeats = replayed.iter().map(|r| r.repeats).max().unwrap_or(0);
    assert_eq!((rows, repeats), (51, 50), "every delivery is recorded, its body once, its repeats counted");
    store.close().await;
    daemon.stop().await;
}

// -------------------------------------------------------------------------------------------
// 8. /metrics cached

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_from_a_cache_refreshed_within_seconds() {
    let env = TestEnv::new();
    write_config(&env, "");
    env.campaign(&common::SPEC.replace("test-campaign", "first"));
    let daemon = serve(&env, &[], "metrics.log");
    let scrape = || http_get(&daemon.addr, "/metrics", Duration::from_secs(10)).expect("/metrics answers").1;
    let started = Instant::now();
    assert!(scrape().contains("campaign=\"first\""));
    env.campaign(&common::SPEC.replace("test-campaign", "second"));
    let second_scrape = scrape();
    // Within the cache's 5 s the second scrape is the first one's answer (the database was not
    // counted again); a machine so slow that 5 s passed proves nothing either way.
    if started.elapsed() < Duration::from_secs(4) {
        assert!(!second_scrape.contains("campaign=\"second\""), "scraped without the cache:\n{second_scrape}");
    }
    eventually("the cache is refreshed", Duration::from_secs(15), async || {
        scrape().contains("campaign=\"second\"").then_some(())
    })
    .await;
    daemon.stop().await;
}

// -------------------------------------------------------------------------------------------
// 9. Bland unreachable

/// A fixed-offset zone where it is about noon now, so a campaign open 08:00–21:00 is open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_bland_cannot_be_reached_the_daemon_says_so_once_a_minute_with_the_reason() {
    let env = TestEnv::new();
    // A port nothing listens on: every send is refused at connect.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    write_config(
        &env,
        &format!(
            "[bland]\nbase_url = \"http://{closed}\"\nrequests_per_minute = 1000000\n\
             [account]\ncalls_per_minute = 1000000\ncalls_per_hour = 10000000\ncalls_per_day = 100000000\n\
             max_concurrent = 1000000\n[dispatcher]\nmin_backoff = \"10ms\"\nmax_backoff = \"50ms\""
        ),
    );
    let spec = "id = \"unreachable\"\nname = \"Unreachable\"\n[call]\ntask = \"Hello\"\n[schedule]\n\
                zone_policy = \"column\"\nhours = { \"mon-sun\" = \"08:00-21:00\" }\n";
    assert_eq!(env.campaign(spec), "unreachable");
    let zone = common::open_nanp_zone();
    let csv: String = std::iter::once("phone,timezone\n".to_string())
        .chain((0..10).map(|i| format!("212-555-{:04},{zone}\n", 1000 + i)))
        .collect();
    let csv = env.write("r.csv", csv);
    env.ok(["import", "unreachable", common::path_str(&csv)]);
    env.ok(["campaign", "start", "unreachable"]);
    let store = env.store().await;

    let daemon = serve(&env, &[], "unreachable.log");
    // Many sends fail (each requeued and tried again after a short backoff, under its attempt's
    // own id: the daemon's counter of unreachable sends counts them)…
    let voided = async || {
        let metrics =
            http_get(&daemon.addr, "/metrics", Duration::from_secs(10)).map(|(_, body)| body).unwrap_or_default();
        metrics
            .lines()
            .find(|l| l.starts_with("switchboard_send_errors_total") && l.contains("\"unreachable\""))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0) as usize
    };
    common::eventually_showing(
        "30 sends have failed",
        Duration::from_secs(30),
        async || (voided().await >= 30).then_some(()),
        async || format!("{} failed sends; log:\n{}", voided().await, daemon.log()),
    )
    .await;
    let log = daemon.stop().await;
    // …and the log says so once, with the reason, not once per send.
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("cannot reach Bland")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("WARN") && lines[0].contains("error="), "{}", lines[0]);
    store.close().await;
}
