//! Three `switchboard serve` processes on one PostgreSQL database, dialling one campaign through
//! the simulator's faults (a 429 storm, 5xx answers, dropped and duplicated webhooks), while the
//! test kills one with SIGKILL, stops another (SIGSTOP) past its lease and wakes it, and
//! terminates every database connection. Judged from the simulator's own record: no attempt sent
//! twice, no number dialled twice, no more calls at once than `max_concurrent`, none outside the
//! recipients' window, and every call's outcome recorded in the database.
//! (`--features postgres-test`, with `SWITCHBOARD_TEST_PG` naming a server; `.ci/run` starts one.)

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use common::TestEnv;
use common::process::Running;
use switchboard::secret::Secret;
use switchboard::sim::{SimConfig, SimHandle, Simulator, StormWindow};
use switchboard::store::{AttemptState, JobState, Store};

const API_KEY: &str = "sk-chaos-test-0c1d2e";
const WEBHOOK_SECRET: &str = "whsec-chaos-test-7a8b9c";
const RECIPIENTS: usize = 120;
const MAX_CONCURRENT: usize = 20;
const PER_MINUTE: usize = 100;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One daemon's directory and config: the shared database, its own address, and the address
/// webhooks are sent to (`hook_port`: in production a load balancer in front of every daemon;
/// here the one daemon the test neither kills nor stops — the others' calls are settled there).
fn node_env(url: &str, sim: &SimHandle, port: u16, hook_port: u16) -> TestEnv {
    let env = TestEnv::new();
    let text = format!(
        r#"
[store]
url = {url:?}
lease = "12s"
[bland]
base_url = "{sim}"
requests_per_minute = 1000000
connect_timeout = "1s"
request_timeout = "2s"
[account]
calls_per_minute = 1000000
calls_per_hour = 10000000
calls_per_day = 100000000
max_concurrent = 1000000
[http]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{hook_port}"
[dispatcher]
idle_tick = "100ms"
reconcile_after = "3s"
reconcile_answered_after = "1s"
min_backoff = "200ms"
max_backoff = "1s"
poll_margin = "1s"
[outcomes]
poll_interval = "2s"
tick = "200ms"
answered_by_grace = "1s"
"#,
        sim = sim.base_url(),
    );
    std::fs::write(&env.config, text).unwrap();
    env
}

fn start(env: &TestEnv, name: &str) -> Running {
    Running::start(
        env,
        &["serve"],
        &[("BLAND_API_KEY", API_KEY), ("BLAND_WEBHOOK_SECRET", WEBHOOK_SECRET)],
        &format!("{name}.log"),
    )
}

/// Jobs not yet final.
async fn unsettled(store: &Store, campaign: &str) -> i64 {
    let c = store.job_counts(campaign).await.unwrap();
    c.get(JobState::Queued) + c.get(JobState::Dialing) + c.get(JobState::InCall) + c.get(JobState::RetryWait)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_daemons_through_kills_stalls_and_lost_connections_dial_each_number_once_within_every_cap() {
    let server = common::test_pg_server().expect("SWITCHBOARD_TEST_PG must name a PostgreSQL server");
    let url = common::new_pg_database(&server).await;
    let sim = Simulator::start(SimConfig {
        api_key: Some(Secret::new(API_KEY)),
        webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
        requests_per_minute: 0,
        max_concurrent: 0,
        speed: 600.0,
        seed: 17,
        fail_rate: 0.05,
        duplicate_webhook_rate: 0.2,
        drop_webhook_rate: 0.05,
        storms: vec![StormWindow { after: Duration::from_secs(2), length: Duration::from_secs(2) }],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let envs: Vec<TestEnv> = ports.iter().map(|&p| node_env(&url, &sim, p, ports[2])).collect();

    // The campaign, through the CLI on the shared database.
    let zone = common::open_nanp_zone();
    let spec = format!(
        "id = \"chaos\"\nname = \"Chaos\"\n[call]\ntask = \"Hello {{{{first_name}}}}\"\nmax_duration = 1\n\
         [schedule]\nzone_policy = \"column\"\nhours = {{ \"mon-sun\" = \"08:00-21:00\" }}\n\
         [limits]\nmax_concurrent = {MAX_CONCURRENT}\ncalls_per_minute = {PER_MINUTE}\n[retry]\nmax_attempts = 1\n"
    );
    assert_eq!(envs[0].campaign(&spec), "chaos");
    let csv = envs[0].write("r.csv", common::open_recipients(RECIPIENTS));
    envs[0].ok(["import", "chaos", common::path_str(&csv)]);
    envs[0].ok(["campaign", "start", "chaos"]);

    let mut nodes: Vec<Running> = envs.iter().enumerate().map(|(i, e)| start(e, &format!("node{i}"))).collect();
    let store = Store::open_url(&url.parse().unwrap(), true).await.unwrap();
    let within = Duration::from_secs(120);
    common::eventually("a tenth of the calls to be placed", within, async || {
        (sim.sends().len() >= RECIPIENTS / 10).then_some(())
    })
    .await;

    // kill -9 of one daemon in the middle of its work.
    nodes[0].kill9();
    // Another stalls past its lease (12 s) holding whatever it had claimed or reserved.
    nodes[1].signal("STOP");
    common::eventually_showing(
        "a third of the calls",
        within,
        async || (sim.sends().len() >= RECIPIENTS / 3).then_some(()),
        async || {
            let c = store.job_counts("chaos").await.unwrap();
            let log = nodes[2].log();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            format!("sends {}; jobs {c:?}; node2's log ends:\n{}", sim.sends().len(), tail.join("\n"))
        },
    )
    .await;
    // Every daemon loses its database connections at once.
    {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'switchboard' AND pid != pg_backend_pid() AND datname = current_database()",
        )
        .execute(&mut admin)
        .await
        .unwrap();
    }
    // The stalled one's lease has run out by now on the database's clock: let it wait past it,
    // then wake it; whatever it held is no longer its to send.
    let stalled_at = std::time::Instant::now();
    common::eventually("the stalled daemon's lease to run out", Duration::from_secs(30), async || {
        (stalled_at.elapsed() >= Duration::from_secs(13)).then_some(())
    })
    .await;
    nodes[1].signal("CONT");
    // The killed one comes back (a new node) while the others work.
    nodes[0] = start(&envs[0], "node0-again");

    common::eventually_showing(
        "every recipient to be settled",
        Duration::from_secs(180),
        async || (unsettled(&store, "chaos").await == 0).then_some(()),
        async || {
            let c = store.job_counts("chaos").await.unwrap();
            format!("jobs: {c:?}; sends: {}", sim.sends().len())
        },
    )
    .await;
    for node in nodes {
        node.stop().await;
    }

    // Judged from the simulator's record.
    let sends = sim.sends();
    let mut per_attempt: HashMap<String, usize> = HashMap::new();
    let mut per_number: HashMap<String, usize> = HashMap::new();
    for s in &sends {
        let id = s.metadata["switchboard_attempt_id"].as_str().expect("every send carries its attempt id");
        *per_attempt.entry(id.to_string()).or_default() += 1;
        *per_number.entry(s.phone_number.clone()).or_default() += 1;
    }
    let twice: Vec<_> = per_attempt.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "attempts sent twice: {twice:?}");
    let dialled_twice: Vec<_> = per_number.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dialled_twice.is_empty(), "numbers dialled twice: {dialled_twice:?}");
    // No more calls at once than the cap: the simulator's calls, from creation to end.
    let calls = sim.calls();
    let mut edges: Vec<(DateTime<Utc>, i32)> =
        calls.iter().flat_map(|c| [(c.created_at, 1), (c.ends_at, -1)]).collect();
    edges.sort();
    let (mut open, mut most) = (0, 0);
    for (_, d) in edges {
        open += d;
        most = most.max(open);
    }
    assert!(most as usize <= MAX_CONCURRENT, "{most} calls at once under max_concurrent = {MAX_CONCURRENT}");
    // No minute held more calls than the cap, by the simulator's clock (windows of 59 s: a
    // second is left for the sends' transit, the cap counting from the moment of dial).
    let mut at: Vec<DateTime<Utc>> = sends.iter().map(|s| s.at).collect();
    at.sort();
    let mut start = 0;
    for end in 0..at.len() {
        while at[end] - at[start] >= chrono::Duration::seconds(59) {
            start += 1;
        }
        assert!(
            end - start < PER_MINUTE,
            "{} calls within 59 s under calls_per_minute = {PER_MINUTE}",
            end - start + 1
        );
    }
    // Inside the window: every call began between 08:00 and 21:00 in the recipients' zone.
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    for s in &sends {
        let local = s.at.with_timezone(&tz);
        assert!((8..21).contains(&local.hour()), "a call at {local} local time");
    }
    // Every call the simulator placed has its outcome in the database, under its attempt.
    let attempts: HashMap<String, switchboard::store::AttemptRecord> =
        store.attempt_records(Some("chaos")).await.unwrap().into_iter().map(|a| (a.id.clone(), a)).collect();
    for c in &calls {
        let id = c.metadata["switchboard_attempt_id"].as_str().unwrap();
        let a = attempts.get(id).unwrap_or_else(|| panic!("the call {} has no attempt", c.call_id));
        assert_eq!(a.call_id.as_deref(), Some(c.call_id.as_str()));
        assert!(
            matches!(a.state, AttemptState::Ended | AttemptState::Failed) && a.outcome.is_some(),
            "the call {} has no outcome recorded: {a:?}",
            c.call_id
        );
    }
    // And every recipient was dialled: nobody was lost to a dead or stalled daemon.
    assert_eq!(per_number.len(), RECIPIENTS, "every recipient dialled once");
}
