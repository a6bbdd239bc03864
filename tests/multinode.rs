//! Several daemons on one PostgreSQL database (`--features postgres-test`, with
//! `SWITCHBOARD_TEST_PG` naming a server; `.ci/run` starts a throwaway one).
//!
//! - three dispatchers on one database, stepping at the same moments, keep every cap exact and
//!   dial each number once, through a `pg_terminate_backend` of every connection midway;
//! - a daemon that stalls past its lease never sends what it had reserved: another takes the
//!   attempts over and, as they were never sent, voids them and dials their numbers once;
//! - one leader at a time holds the singleton duties, and another takes over when it stops;
//! - `store copy` moves a finished SQLite campaign to PostgreSQL with every figure intact;
//! - an import on PostgreSQL (COPY) lands whole.
//!
//! The multi-process chaos run (three `serve` processes, kill -9, SIGSTOP) is in
//! `tests/chaos.rs`.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::harness::{Harness, at};
use switchboard::bland::RetryPolicy;
use switchboard::clock::Clock;
use switchboard::dispatcher::engine::Dispatcher;
use switchboard::dispatcher::ledger::Caps;
use switchboard::sim::SimConfig;
use switchboard::store::{AttemptState, JobState, NewAttempt, Store};

fn pg_server() -> String {
    common::test_pg_server()
        .expect("SWITCHBOARD_TEST_PG must name a PostgreSQL server for these tests (.ci/run starts one)")
}

fn open_sim() -> SimConfig {
    SimConfig { requests_per_minute: 0, max_concurrent: 0, ..SimConfig::default() }
}

/// `n` New York numbers (212), open 09:00–17:00 every day.
fn recipients(n: usize) -> String {
    let mut csv = String::from("phone\n");
    for i in 0..n {
        csv.push_str(&format!("212-555-{:04}\n", 1000 + i));
    }
    csv
}

/// A dispatcher of its own (another daemon) on `store`, sharing the harness's clock and simulator.
async fn node(h: &Harness, store: Store) -> Dispatcher {
    let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
    Dispatcher::new(store, h.client(RetryPolicy::none()), clock, h.dispatch_cfg.clone()).await.unwrap()
}

/// Ends every connection the daemons have to the database, as an operator's
/// `pg_terminate_backend` (or a failover) would.
async fn terminate_every_connection(admin: &Store) -> u64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin.url().to_string()).await.unwrap();
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'switchboard' AND pid != pg_backend_pid() AND datname = current_database()) t",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    n as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_daemons_keep_every_cap_exact_and_dial_each_number_once_through_lost_connections() {
    let _ = pg_server();
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), SimConfig { fail_rate: 0.1, seed: 3, ..open_sim() }).await;
    assert!(h.store.is_shared(), "the harness runs on PostgreSQL here");
    h.dispatch_cfg.account = Caps { per_minute: Some(25), per_hour: None, per_day: None, concurrent: Some(40) };
    // No outcomes are followed here: a call holds its slot for max_duration + this.
    h.dispatch_cfg.slot_margin = Duration::seconds(30);
    // The ledger's caps alone (the shared pacing is tested by tests/caps.rs on PostgreSQL): every
    // minute's 20 may go at once, so a cap counted by each daemon on its own would show.
    h.dispatch_cfg.pacing = false;
    let spec = "name = \"Shared\"\n[call]\ntask = \"Hello\"\nmax_duration = 1\n[schedule]\n\
                hours = { \"mon-sun\" = \"09:00-17:00\" }\n[limits]\ncalls_per_minute = 20\ncalls_per_hour = 150\n\
                max_concurrent = 30\n[retry]\nmax_attempts = 1\n";
    let campaign = h.campaign(spec, &recipients(400)).await;
    let nodes = [node(&h, h.store.clone()).await, node(&h, h.reopen().await).await, node(&h, h.reopen().await).await];

    let mut seen: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut most_open = 0;
    let mut killed = 0;
    for round in 0..150 {
        let now = h.now();
        if round == 40 {
            killed = terminate_every_connection(&h.store).await;
        }
        // The three step at the same moment; a step that meets a terminated connection fails
        // and is tried again next round, as the daemon's loop does.
        let (a, b, c) = tokio::join!(
            async { nodes[0].reconcile().await.and(nodes[0].step().await) },
            async { nodes[1].reconcile().await.and(nodes[1].step().await) },
            async { nodes[2].reconcile().await.and(nodes[2].step().await) },
        );
        if round != 40 {
            for r in [a, b, c] {
                r.unwrap();
            }
        }
        for s in h.sim.sends() {
            seen.entry(s.call_id).or_insert(now);
        }
        let open = h.store.usage(Some(&campaign), now).await.unwrap().open;
        most_open = most_open.max(open);
        h.clock.advance(Duration::seconds(5));
    }
    assert!(killed >= 3, "the connections of the three daemons were terminated ({killed})");

    let sends = h.sim.sends();
    let mut per_attempt: HashMap<String, usize> = HashMap::new();
    let mut per_number: HashMap<String, usize> = HashMap::new();
    for s in &sends {
        let id = s.metadata["switchboard_attempt_id"].as_str().unwrap().to_string();
        *per_attempt.entry(id).or_default() += 1;
        *per_number.entry(s.phone_number.clone()).or_default() += 1;
    }
    assert!(per_attempt.values().all(|&n| n == 1), "an attempt was sent twice");
    assert!(per_number.values().all(|&n| n == 1), "a number was dialled twice: {per_number:?}");
    // Each cap is held exactly and used fully: never over, and reached.
    let times: Vec<_> = seen.values().copied().collect();
    assert_eq!(common::busiest_minute(&times), 20, "calls_per_minute = 20");
    assert_eq!(most_open, 30, "max_concurrent = 30");
    // 12.5 minutes at up to 20 a minute: the hour's 150 are all placed, and not one more.
    assert_eq!(times.len(), 150, "calls_per_hour = 150");
    // Every attempt the database counts is one the simulator received, and none is left open.
    let counted: HashSet<String> = (h.store.attempt_records(Some(&campaign)).await.unwrap().into_iter())
        .filter(|a| a.state != AttemptState::NotSent && a.state != AttemptState::Dialing)
        .map(|a| a.id)
        .collect();
    let sent: HashSet<String> = per_attempt.into_keys().collect();
    assert!(counted.is_subset(&sent) && sent.is_subset(&counted.iter().cloned().chain(dialing(&h).await).collect()));
}

/// Attempts still `dialing` (their fate being settled).
async fn dialing(h: &Harness) -> Vec<String> {
    (h.store.attempt_records(None).await.unwrap().into_iter())
        .filter(|a| a.state == AttemptState::Dialing)
        .map(|a| a.id)
        .collect()
}

#[tokio::test]
async fn a_daemon_stalled_past_its_lease_never_sends_what_it_reserved() {
    let _ = pg_server();
    let h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    let spec = "name = \"Stall\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n\
                [retry]\nmax_attempts = 1\n";
    let campaign = h.campaign(spec, &recipients(5)).await;
    // Daemon A (a one-second lease) claims the five and commits their attempts, then stalls
    // (SIGSTOP) before sending any.
    let a = h.reopen().await.with_lease(Duration::seconds(1));
    let now = h.now();
    let claimed = a.claim_due(&campaign, now, 10).await.unwrap();
    assert_eq!(claimed.len(), 5);
    let attempts: Vec<NewAttempt> = claimed
        .iter()
        .map(|j| NewAttempt {
            id: uuid::Uuid::now_v7().to_string(),
            job_id: j.id,
            campaign_id: campaign.clone(),
            phone: j.phone.clone(),
            attempt_no: j.attempts + 1,
            expires_at: now + Duration::minutes(10),
            poll_at: now + Duration::minutes(5),
            reserved_usd: 0.1,
            rules_version: "test".into(),
        })
        .collect();
    let committed = a.commit_claims(&attempts, &[], now, None).await.unwrap();
    assert_eq!(committed.len(), 5);

    // Daemon B, the leader, finds A's lease expired (on the database's clock) and takes the
    // attempts over: never sent, they are voided and their jobs queued again.
    let b = node(&h, h.store.clone()).await;
    let report = common::eventually(
        "A's lease to expire and B to settle its attempts",
        std::time::Duration::from_secs(20),
        async || {
            let r = b.reconcile().await.unwrap();
            (r.requeued > 0).then_some(r)
        },
    )
    .await;
    assert_eq!(report.requeued, 5, "{report:?}");
    assert!(h.sim.sends().is_empty(), "nothing was sent while A stalled");

    // A wakes up and goes on with its send: the fence refuses every one.
    let ids: Vec<&str> = committed.iter().map(String::as_str).collect();
    assert!(a.start_sends(&ids).await.unwrap().is_empty(), "a stalled daemon's sends are fenced off");
    assert!(!a.record_not_sent(&committed[0], "late", now, now).await.unwrap(), "and so are its other writes");

    // B dials the five, once each.
    for _ in 0..3 {
        b.step().await.unwrap();
    }
    let sends = h.sim.sends();
    let numbers: HashSet<&str> = sends.iter().map(|s| s.phone_number.as_str()).collect();
    assert_eq!((sends.len(), numbers.len()), (5, 5), "each number dialled once");
    // Under the ids A had reserved: an attempt never sent is sent again under its own id.
    let sent: HashSet<String> =
        sends.iter().map(|s| s.metadata["switchboard_attempt_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(sent, committed.iter().cloned().collect::<HashSet<_>>());
}

#[tokio::test]
async fn one_leader_at_a_time_and_another_takes_over_when_it_stops() {
    let _ = pg_server();
    let h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    let a = h.reopen().await.with_lease(Duration::seconds(1));
    let b = h.reopen().await.with_lease(Duration::seconds(1));
    assert!(a.is_leader().await.unwrap(), "the first to ask leads");
    assert!(!b.is_leader().await.unwrap(), "a second does not while the lease runs");
    assert!(a.is_leader().await.unwrap(), "the leader renews its lease");
    let (holder, _) = b.lease_holder(switchboard::store::LEADER_LEASE).await.unwrap().unwrap();
    assert_eq!(holder, a.node());
    // A stops renewing (it died): once its lease has expired on the database's clock, B leads.
    common::eventually("B to take the lead", std::time::Duration::from_secs(20), async || {
        b.is_leader().await.unwrap().then_some(())
    })
    .await;
    assert!(!a.is_leader().await.unwrap(), "A, back, does not take it back while B renews");
}

#[tokio::test]
async fn store_copy_moves_a_finished_sqlite_campaign_to_postgresql_with_every_figure_intact() {
    let server = pg_server();
    // A campaign run to its end on SQLite, through the real binary's `store copy`.
    let env = common::TestEnv::new();
    let h = Harness::with_store(
        at("2026-06-01T14:00:00Z"),
        SimConfig { seed: 9, ..open_sim() },
        Store::open(&env.db).await.unwrap(),
    )
    .await;
    let spec = "name = \"Moving\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n\
                [retry]\nmax_attempts = 2\non = [\"no_answer\", \"voicemail\"]\ndelays = [\"10m\"]\n";
    let campaign = h.campaign(spec, &recipients(60)).await;
    let (dispatcher, outcomes) = (h.dispatcher().await, h.outcomes());
    h.drive_to_completion(&dispatcher, &outcomes, &campaign).await;
    env.ok(["dnc", "add", "+12125550199", "--reason", "asked"]);
    h.store.close().await;

    let url = common::new_pg_database(&server).await;
    let copied = env.ok(["store", "copy", "--from", common::path_str(&env.db), "--to", &url]);
    assert!(copied.stdout.contains("copied"), "{}", copied.stdout);
    let again = env.run(["store", "copy", "--from", common::path_str(&env.db), "--to", &url]);
    assert_ne!(again.code, 0, "a second copy into a database that holds campaigns is refused");
    assert!(again.stderr.contains("empty database"), "{}", again.stderr);

    // Every figure `campaign show --json` and `report --json` give is the same on both.
    let show = |db: &str| env.ok(["--db", db, "campaign", "show", &campaign, "--json"]).last_json();
    let report = |db: &str| env.ok(["--db", db, "report", &campaign, "--json"]).stdout;
    let sqlite = common::path_str(&env.db).to_string();
    let mut a = show(&sqlite);
    let mut b = show(&url);
    for v in [&mut a, &mut b] {
        v.as_object_mut().unwrap().remove("database");
    }
    assert_eq!(a, b);
    assert_eq!(figures(&report(&sqlite)), figures(&report(&url)));
    // And every row of the export, of recipients and of attempts (PostgreSQL's export builds
    // each recipient's JSON with its own functions: it must say exactly what SQLite's does).
    for extra in [&[][..], &["--attempts"]] {
        let export = |db: &str| {
            let mut args = vec!["--db", db, "export", campaign.as_str()];
            args.extend_from_slice(extra);
            env.ok(args).stdout
        };
        let (a, b) = (export(&sqlite), export(&url));
        assert!(a.lines().count() > 60, "{a}");
        assert_eq!(a, b, "export {extra:?}");
    }
    let dnc = env.ok(["--db", &url, "dnc", "list"]).stdout;
    assert!(dnc.contains("+12125550199"), "{dnc}");
}

/// A report's figures: its JSON without the time it was made, sums to a millionth (the two
/// databases add the same amounts in different orders).
fn figures(json: &str) -> serde_json::Value {
    fn round(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                *v = serde_json::json!((n.as_f64().unwrap() * 1e6).round() / 1e6);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(round),
            serde_json::Value::Object(o) => o.values_mut().for_each(round),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    v.as_object_mut().unwrap().remove("generated_at");
    round(&mut v);
    v
}

#[tokio::test]
async fn an_import_on_postgresql_lands_whole_and_a_duplicate_is_counted_once() {
    let _ = pg_server();
    let env = common::TestEnv::new();
    let url = common::new_pg_database(&pg_server()).await;
    std::fs::write(&env.config, format!("[store]\nurl = {url:?}\n")).unwrap();
    let id = env.campaign(common::SPEC);
    let mut csv = String::from("first_name,phone\n");
    for i in 0..3000 {
        csv.push_str(&format!("P{i},212-555-{:04}\n", i % 2500 + 1000));
    }
    csv.push_str("Quote \"\"q\"\",\"415-555-0100\"\n");
    let file = env.write("r.csv", csv);
    let out = env.ok(["import", &id, common::path_str(&file), "--json"]).last_json();
    assert_eq!(out["accepted"], 2501);
    assert_eq!(out["duplicates"], 500);
    let store = Store::open_url(&url.parse().unwrap(), false).await.unwrap();
    assert!(store.migration_status().await.unwrap().is_current(), "/readyz reads the PostgreSQL schema as current");
    let jobs = store.job_records(Some(&id)).await.unwrap();
    assert_eq!(jobs.len(), 2501);
    assert_eq!(store.job_counts(&id).await.unwrap().total(), 2501, "the counters count each job once");
}

#[tokio::test]
async fn after_a_failover_that_lost_the_last_attempts_the_daemon_finds_their_calls_at_bland_and_dials_none_again() {
    use sqlx::Connection;
    let _ = pg_server();
    let h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    let spec = "name = \"Failover\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n\
                [retry]\nmax_attempts = 1\n";
    let campaign = h.campaign(spec, &recipients(10)).await;
    let first = node(&h, h.store.clone()).await;
    first.step().await.unwrap();
    assert_eq!(h.sim.sends().len(), 10);

    // The primary fails; the standby it replicated to asynchronously never received the last
    // commits of four of those calls: their attempts are gone and their jobs still queued.
    let lost: Vec<String> = h
        .sim
        .sends()
        .iter()
        .take(4)
        .map(|s| s.metadata["switchboard_attempt_id"].as_str().unwrap().to_string())
        .collect();
    let mut db = sqlx::PgConnection::connect(&h.store.url().to_string()).await.unwrap();
    for id in &lost {
        let job: i64 = sqlx::query_scalar("DELETE FROM attempts WHERE id = $1 RETURNING job_id")
            .bind(id)
            .fetch_one(&mut db)
            .await
            .unwrap();
        sqlx::query("UPDATE jobs SET state = 'queued', attempts = attempts - 1 WHERE id = $1")
            .bind(job)
            .execute(&mut db)
            .await
            .unwrap();
    }

    // A daemon starting on the promoted standby checks Bland's recent calls before it dials.
    let after = node(&h, h.reopen().await).await;
    assert_eq!(after.recover_lost_calls(Duration::minutes(15)).await.unwrap(), 4, "the four lost calls are found");
    assert_eq!(after.recover_lost_calls(Duration::minutes(15)).await.unwrap(), 0, "and recorded once");
    for _ in 0..3 {
        after.reconcile().await.unwrap();
        after.step().await.unwrap();
        h.clock.advance(Duration::minutes(1));
    }
    let mut per_number: HashMap<String, usize> = HashMap::new();
    for s in h.sim.sends() {
        *per_number.entry(s.phone_number).or_default() += 1;
    }
    assert!(per_number.values().all(|&n| n == 1), "a number was dialled again after the failover: {per_number:?}");
    let records = h.store.attempt_records(Some(&campaign)).await.unwrap();
    for id in &lost {
        let a = records.iter().find(|a| &a.id == id).expect("the lost attempt is back");
        assert!(a.call_id.is_some(), "with its call: {a:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_states_frequency_cap_holds_when_four_daemons_dial_one_subject_at_the_same_moment() {
    let _ = pg_server();
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    h.dispatch_cfg.account = Caps::default();
    // The per-number daily cap far above Florida's 3 a day: the state's cap must hold by itself.
    h.dispatch_cfg.max_calls_per_number_per_day = 10;
    // Four campaigns about one subject, to the same ten Miami numbers, each run by a daemon of
    // its own: each daemon, reading the dials before its claim, sees none.
    let csv: String = std::iter::once("phone,state\n".to_string())
        .chain((0..10).map(|i| format!("305-555-{:04},FL\n", 1000 + i)))
        .collect();
    let mut nodes = Vec::new();
    for n in 0..4 {
        let spec = format!(
            "id = \"renewals-{n}\"\nname = \"Renewals {n}\"\n[call]\ntask = \"Hello\"\n[schedule]\n\
             hours = {{ \"mon-sun\" = \"09:00-17:00\" }}\n[compliance]\npurpose = \"telemarketing\"\n\
             subject = \"renewals\"\n[retry]\nmax_attempts = 1\n"
        );
        h.campaign(&spec, &csv).await;
        nodes.push(node(&h, h.reopen().await).await);
    }
    for _ in 0..3 {
        let steps = nodes.iter().map(|d| d.step());
        for r in futures_util::future::join_all(steps).await {
            r.unwrap();
        }
        h.clock.advance(Duration::seconds(10));
    }
    let mut per_number: HashMap<String, usize> = HashMap::new();
    for s in h.sim.sends() {
        *per_number.entry(s.phone_number).or_default() += 1;
    }
    assert_eq!(per_number.len(), 10, "every number dialled");
    assert!(per_number.values().all(|&n| n == 3), "Florida's 3 calls a day on one subject, exactly: {per_number:?}");
}

/// Daemons move jobs between states in transactions of many rows (a claim: queued → dialing; a
/// commit's deferral: dialing → queued), and each move changes the campaign's counters. Counter
/// rows locked per move (take the old state's row, then the new one's) made two such
/// transactions over jobs of two zone sets wait for each other, and PostgreSQL aborted one as a
/// deadlock (the multi-node benchmark met hundreds). The counters are written as deltas that
/// lock nothing: both transactions go on, both commit, and the counts are exact, before and
/// after the leader folds the deltas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_of_jobs_in_opposite_orders_never_wait_on_each_others_counters() {
    use sqlx::Connection;
    let _ = pg_server();
    let h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    let spec = "name = \"Moves\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n";
    let campaign = h.campaign(spec, "phone\n212-555-1000\n212-555-1001\n310-555-1000\n310-555-1001\n").await;
    let jobs = h.store.job_records(Some(&campaign)).await.unwrap();
    let job = |number: &str| jobs.iter().find(|j| j.phone.as_str() == number).unwrap().id;
    let (ny1, ny2) = (job("+12125551000"), job("+12125551001"));
    let (la1, la2) = (job("+13105551000"), job("+13105551001"));
    let url = h.store.url().to_string();
    let (mut t1, mut t2) =
        (sqlx::PgConnection::connect(&url).await.unwrap(), sqlx::PgConnection::connect(&url).await.unwrap());
    async fn dial(conn: &mut sqlx::PgConnection, job: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("UPDATE jobs SET state = 'dialing' WHERE id = $1").bind(job).execute(conn).await?;
        Ok(done.rows_affected())
    }
    sqlx::query("BEGIN").execute(&mut t1).await.unwrap();
    sqlx::query("BEGIN").execute(&mut t2).await.unwrap();
    assert_eq!(dial(&mut t1, ny1).await.unwrap(), 1);
    assert_eq!(dial(&mut t2, la1).await.unwrap(), 1);
    // Each now moves a job of the zone set the other has moved one of.
    let (a, b) = tokio::join!(dial(&mut t1, la2), dial(&mut t2, ny2));
    assert_eq!(a.expect("the first transaction goes on"), 1);
    assert_eq!(b.expect("the second transaction goes on"), 1);
    sqlx::query("COMMIT").execute(&mut t1).await.unwrap();
    sqlx::query("COMMIT").execute(&mut t2).await.unwrap();

    let counts = h.store.job_counts(&campaign).await.unwrap();
    assert_eq!((counts.get(JobState::Dialing), counts.get(JobState::Queued)), (4, 0), "{counts:?}");
    h.store.fold_counters().await.unwrap();
    let counts = h.store.job_counts(&campaign).await.unwrap();
    assert_eq!((counts.get(JobState::Dialing), counts.get(JobState::Queued)), (4, 0), "{counts:?}");
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, n FROM job_counters WHERE campaign_id = $1 ORDER BY state, timezones")
            .bind(&campaign)
            .fetch_all(&mut t1)
            .await
            .unwrap();
    assert_eq!(rows, [("dialing".to_string(), 2), ("dialing".to_string(), 2)], "one row per key after the fold");
}
