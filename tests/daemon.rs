//! The real `switchboard serve` binary against the Bland simulator running in the test process,
//! in wall-clock time: `kill -9` in the middle of dispatch and a restart, operator control
//! latency (pause, resume, cancel from the CLI while the daemon dials), SIGTERM with sends in
//! flight, and secrets at the process boundary.
//!
//! Wall-clock time means the campaign's hours must be open now: every recipient carries a
//! `timezone` column naming the fixed-offset zone where it is about noon while the test runs, and
//! the campaign uses `zone_policy = "column"`. Every wait polls a condition under a deadline.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::process::{Running, run_bounded};
use common::{TestEnv, eventually, eventually_showing};
use switchboard::secret::Secret;
use switchboard::sim::{SentCall, SimConfig, SimHandle, Simulator};
use switchboard::store::{Applied, AttemptState, JobState, Store};

const API_KEY: &str = "sk-daemon-test-3f9a1c77e2";
const WEBHOOK_SECRET: &str = "whsec-daemon-test-b81d04aa9";

/// A campaign open all day every day (the compliance guard still applies: 08:00–21:00).
fn spec(id: &str, extra: &str) -> String {
    format!(
        r#"
id = "{id}"
name = "Daemon test {id}"
[call]
task = "Hello {{{{first_name}}}}, this is a test call."
[schedule]
zone_policy = "column"
hours = {{ "mon-sun" = "08:00-21:00" }}
[retry]
max_attempts = 1
{extra}
"#
    )
}

/// The daemon config: the simulator as Bland, caps far out of the way unless `extra` says
/// otherwise, short timeouts so an ambiguous send is known quickly.
fn write_config(env: &TestEnv, sim: &SimHandle, extra: &str) {
    let text = format!(
        r#"
[store]
path = {db:?}
[bland]
base_url = "{url}"
requests_per_minute = 1000000
connect_timeout = "2s"
request_timeout = "5s"
[account]
calls_per_minute = 1000000
calls_per_hour = 10000000
calls_per_day = 100000000
max_concurrent = 1000000
{extra}
"#,
        db = env.db.display().to_string(),
        url = sim.base_url(),
    );
    std::fs::write(&env.config, text).unwrap();
}

/// Creates the campaign, imports `n` recipients and starts it, all through the CLI.
fn launch(env: &TestEnv, id: &str, extra_spec: &str, n: usize) {
    assert_eq!(env.campaign(&spec(id, extra_spec)), id);
    let csv = env.write(&format!("{id}.csv"), common::open_recipients(n));
    let imported = env.ok(["import", id, common::path_str(&csv), "--json"]).last_json();
    assert_eq!(imported["accepted"], n as u64, "every recipient is importable");
    env.ok(["campaign", "start", id]);
}

fn sim_config(latency_ms: u64) -> SimConfig {
    SimConfig {
        api_key: Some(Secret::new(API_KEY)),
        webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
        requests_per_minute: 0,
        max_concurrent: 0,
        speed: 600.0,
        latency: Duration::from_millis(latency_ms),
        ..SimConfig::default()
    }
}

/// Starts `serve` with the API key and webhook secret in its environment and waits for its
/// listening line.
fn daemon(env: &TestEnv, listen: &str, log_name: &str) -> Running {
    daemon_with(env, listen, log_name, &[("BLAND_API_KEY", API_KEY), ("BLAND_WEBHOOK_SECRET", WEBHOOK_SECRET)])
}

fn daemon_with(env: &TestEnv, listen: &str, log_name: &str, envs: &[(&str, &str)]) -> Running {
    Running::start(env, &["serve", "--listen", listen], envs, log_name)
}

/// Jobs of a campaign in `state`.
async fn jobs_in(store: &Store, campaign: &str, state: JobState) -> i64 {
    store.job_counts(campaign).await.unwrap().get(state)
}

/// Jobs of every campaign that are queued or claimed: calls still to be placed.
async fn jobs_to_dial(store: &Store) -> i64 {
    let mut n = 0;
    for c in store.campaigns().await.unwrap() {
        let counts = store.job_counts(&c.id).await.unwrap();
        n += counts.get(JobState::Queued) + counts.get(JobState::Dialing);
    }
    n
}

/// Attempts still `dialing` (sent or not, their fate unknown here), in every campaign. Read as the
/// reconciler reads them: cheap enough to poll while the daemon works.
async fn attempts_dialing(store: &Store) -> usize {
    store.pending_attempts(DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MAX_UTC).await.unwrap().len()
}

fn attempt_id(s: &SentCall) -> String {
    s.metadata["switchboard_attempt_id"].as_str().expect("every send carries its attempt id").to_string()
}

/// The DB's counted attempts (every state but `not_sent`): attempt id → call id.
async fn counted_attempts(store: &Store) -> HashMap<String, Option<String>> {
    (store.attempt_records(None).await.unwrap().into_iter())
        .filter(|a| a.state != AttemptState::NotSent)
        .map(|a| (a.id, a.call_id))
        .collect()
}

/// Every send the simulator took carries a distinct attempt id, and the DB's counted attempts
/// are exactly those sends, with the same call ids. Returns the sends per number.
async fn assert_db_matches_sim(store: &Store, sim: &SimHandle) -> HashMap<String, usize> {
    let sends = sim.sends();
    let mut per_attempt: HashMap<String, usize> = HashMap::new();
    let mut per_number: HashMap<String, usize> = HashMap::new();
    for s in &sends {
        *per_attempt.entry(attempt_id(s)).or_default() += 1;
        *per_number.entry(s.phone_number.clone()).or_default() += 1;
    }
    let twice: Vec<_> = per_attempt.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "attempts that reached Bland more than once: {twice:?}");

    let db = counted_attempts(store).await;
    let sim_view: HashMap<String, Option<String>> =
        sends.iter().map(|s| (attempt_id(s), Some(s.call_id.clone()))).collect();
    let only_db: Vec<_> = db.keys().filter(|k| !sim_view.contains_key(*k)).collect();
    let only_sim: Vec<_> = sim_view.keys().filter(|k| !db.contains_key(*k)).collect();
    assert!(only_db.is_empty() && only_sim.is_empty(), "DB-only attempts {only_db:?}; Bland-only sends {only_sim:?}");
    assert_eq!(db, sim_view, "every attempt records the call id Bland gave it");
    per_number
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_dispatch_and_restarted_dials_every_number_exactly_once() {
    // Sends take 200 ms and one in ten fails with a 500 (half of those after the call was
    // placed), so the kill finds sends in flight and sends whose fate only Bland knows.
    let sim = Simulator::start(SimConfig { fail_rate: 0.1, seed: 42, ..sim_config(200) }).await.unwrap();
    let env = TestEnv::new();
    write_config(&env, &sim, "");
    // 25 calls/s with a burst of 150: steady dispatch, a handful of sends in flight at any time.
    launch(&env, "kill9", "[limits]\ncalls_per_minute = 1500", 300);
    let store = env.store().await;

    let mut daemon = daemon(&env, "127.0.0.1:0", "serve-1.log");
    let sent_before = eventually("the daemon is well into the campaign", Duration::from_secs(30), async || {
        let n = sim.sends().len();
        (n >= 180).then_some(n)
    })
    .await;
    daemon.kill9();
    let at_kill = sim.sends().len();
    assert!(at_kill < 300, "the whole campaign went out before the kill ({at_kill}); nothing was tested");
    let dialing = attempts_dialing(&store).await;
    assert!(dialing > 0, "the kill left no attempt whose fate is unknown");
    eprintln!("kill -9 after {sent_before} sends ({at_kill} by the time it died); {dialing} attempts left dialing");

    // Attempts left `dialing` are looked up only after `reconcile_after` (30 s), as a send of the
    // dead process could still be landing at Bland.
    let log = restart_and_finish(&env, &store, &sim, 300).await;
    assert_eq!(jobs_in(&store, "kill9", JobState::InCall).await, 300, "every job is on its one call");
    assert!(log.contains("reconciled"), "the restarted daemon reconciled what the kill left:\n{log}");
}

/// Starts the daemon again and lets it finish the campaign: every one of the `n` numbers dialled
/// exactly once, the database equal to the simulator's record. Returns the daemon's log.
async fn restart_and_finish(env: &TestEnv, store: &Store, sim: &SimHandle, n: usize) -> String {
    let restarted = daemon(env, "127.0.0.1:0", "serve-2.log");
    eventually_showing(
        "every job and attempt is settled",
        Duration::from_secs(150),
        async || (jobs_to_dial(store).await + attempts_dialing(store).await as i64 == 0).then_some(()),
        async || {
            format!("(now {})\n{}\nlog:\n{}", Utc::now().timestamp_millis(), open_work(store).await, restarted.log())
        },
    )
    .await;
    let log = restarted.stop().await;
    let per_number = assert_db_matches_sim(store, sim).await;
    assert_eq!(per_number.len(), n, "every number was dialled");
    let again: Vec<_> = per_number.iter().filter(|(_, n)| **n > 1).collect();
    assert!(again.is_empty(), "numbers dialled more than once with max_attempts = 1: {again:?}");
    log
}

/// Every job still to be dialled, with all its attempts, so a failure says where each stopped.
async fn open_work(store: &Store) -> String {
    let attempts = store.attempt_records(None).await.unwrap();
    let dialing: Vec<_> = (attempts.iter())
        .filter(|a| a.state == AttemptState::Dialing)
        .map(|a| (&a.id, &a.send_error, a.dialed_at.timestamp_millis()))
        .collect();
    let mut text = format!("attempts dialing: {dialing:?}\nopen jobs:");
    for j in store.job_records(None).await.unwrap() {
        if !matches!(j.state, JobState::Queued | JobState::Dialing) {
            continue;
        }
        let tries: Vec<String> = (attempts.iter().filter(|a| a.job_id == j.id))
            .map(|a| {
                let err = a.send_error.as_deref().unwrap_or("-");
                format!("{} {} dialed {} err {err}", a.id, a.state, a.dialed_at.timestamp_millis())
            })
            .collect();
        text.push_str(&format!(
            "\njob {} {}, attempts {}, due {}, reason {}: [{}]",
            j.id,
            j.state,
            j.attempts,
            j.next_attempt_at.timestamp_millis(),
            j.reason.as_deref().unwrap_or("-"),
            tries.join("; ")
        ));
    }
    text
}

/// Sends accepted after `t`, and the latest of them.
fn sends_after(sim: &SimHandle, t: DateTime<Utc>) -> (usize, Option<DateTime<Utc>>) {
    let late: Vec<DateTime<Utc>> = sim.sends().into_iter().map(|s| s.at).filter(|at| *at > t).collect();
    (late.len(), late.into_iter().max())
}

/// Watches for `window` after `since` and asserts no send reached Bland and no attempt was
/// committed later than one second after `since`. Returns how long after `since` the last call
/// was placed, if any was.
async fn assert_quiet_after(
    sim: &SimHandle,
    store: &Store,
    since: DateTime<Utc>,
    window: Duration,
    what: &str,
) -> Option<i64> {
    // Not a wait for something to happen: that nothing happens can only be watched for a while.
    tokio::time::sleep(window).await;
    let limit = since + chrono::Duration::seconds(1);
    let (late, last) = sends_after(sim, limit);
    assert_eq!(late, 0, "{late} call(s) placed more than 1 s after {what} (last at {last:?}, {what} at {since})");
    let committed = store.attempt_records(None).await.unwrap().iter().filter(|a| ms(a.dialed_at) > ms(limit)).count();
    assert_eq!(committed, 0, "attempts committed more than 1 s after {what}");
    sends_after(sim, since).1.map(|t| ms(t) - ms(since))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_cancel_from_the_cli_take_effect_in_the_running_daemon_within_a_second() {
    let sim = Simulator::start(sim_config(100)).await.unwrap();
    let env = TestEnv::new();
    write_config(&env, &sim, "");
    // 10 calls/s after a burst of 60.
    launch(&env, "ctl", "[limits]\ncalls_per_minute = 600", 400);
    let store = env.store().await;
    let daemon = daemon(&env, "127.0.0.1:0", "serve.log");
    eventually("dispatch is past its first burst", Duration::from_secs(30), async || {
        (sim.sends().len() >= 70).then_some(())
    })
    .await;

    // Pause: nothing new within a second of the command's return.
    let asked = Utc::now();
    env.ok(["campaign", "pause", "ctl"]);
    let paused = Utc::now();
    let pause_tail = assert_quiet_after(&sim, &store, paused, Duration::from_millis(1500), "pause").await;
    let count_paused = sim.sends().len();

    // Resume: dialing again within a second.
    env.ok(["campaign", "resume", "ctl"]);
    let resumed = Utc::now();
    let first = eventually("dispatch resumes", Duration::from_secs(1), async || {
        let sends = sim.sends();
        (sends.len() > count_paused).then(|| sends[count_paused].at)
    })
    .await;
    let resume_delay = ms(first) - ms(resumed);

    // Cancel while dialing: queued jobs are cancelled at once, nothing new goes out.
    eventually("dispatch is steady again", Duration::from_secs(10), async || {
        (sim.sends().len() >= count_paused + 70).then_some(())
    })
    .await;
    env.ok(["campaign", "cancel", "ctl"]);
    let cancelled = Utc::now();
    assert_eq!(jobs_in(&store, "ctl", JobState::Queued).await, 0, "cancel leaves no job queued");
    let cancel_tail = assert_quiet_after(&sim, &store, cancelled, Duration::from_millis(1500), "cancel").await;
    eventually("the sends in flight at the cancel are recorded", Duration::from_secs(10), async || {
        (jobs_in(&store, "ctl", JobState::Dialing).await == 0).then_some(())
    })
    .await;
    assert_eq!(
        jobs_in(&store, "ctl", JobState::Queued).await,
        0,
        "no job went back to the queue of a cancelled campaign"
    );
    let cancelled_jobs = jobs_in(&store, "ctl", JobState::Cancelled).await;
    assert!(cancelled_jobs > 0, "the cancel caught queued jobs");
    let log = daemon.stop().await;
    // The daemon's log tells each operator action as it noticed it, once, in order.
    let actions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("campaign_id=ctl") && l.contains(" campaign "))
        .filter_map(|l| {
            ["campaign paused", "campaign resumed", "campaign cancelled"].into_iter().find(|a| l.contains(a))
        })
        .collect();
    assert_eq!(actions, ["campaign paused", "campaign resumed", "campaign cancelled"], "{log}");
    let per_number = assert_db_matches_sim(&store, &sim).await;
    assert_eq!(per_number.len() as i64 + cancelled_jobs, 400, "every job was dialled once or cancelled");
    eprintln!(
        "control latency: pause command took {} ms, last call after it returned: {pause_tail:?} ms; \
         first call {resume_delay} ms after resume returned; last call after cancel returned: {cancel_tail:?} ms",
        ms(paused) - ms(asked)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_takes_effect_within_a_second_even_in_the_middle_of_a_large_uncapped_batch() {
    // No caps: a step claims a whole batch (hundreds of jobs) and sends it 64 at a time, 250 ms
    // per send, which takes seconds; the pause must not wait for the batch.
    let sim = Simulator::start(sim_config(250)).await.unwrap();
    let env = TestEnv::new();
    write_config(&env, &sim, "");
    launch(&env, "big", "", 2000);
    let store = env.store().await;
    let daemon = daemon(&env, "127.0.0.1:0", "serve.log");
    eventually("the first wave of sends is in", Duration::from_secs(30), async || {
        (sim.sends().len() >= 64).then_some(())
    })
    .await;

    env.ok(["campaign", "pause", "big"]);
    let paused = Utc::now();
    let tail = assert_quiet_after(&sim, &store, paused, Duration::from_millis(1500), "pause").await;
    eventually("nothing is left dialing", Duration::from_secs(10), async || {
        (jobs_in(&store, "big", JobState::Dialing).await == 0).then_some(())
    })
    .await;
    daemon.stop().await;
    let per_number = assert_db_matches_sim(&store, &sim).await;
    let queued = jobs_in(&store, "big", JobState::Queued).await;
    assert_eq!(per_number.len() as i64 + queued, 2000, "every job was dialled once or is queued again");
    let burned: i64 =
        store.job_records(None).await.unwrap().iter().filter(|j| j.state == JobState::Queued).map(|j| j.attempts).sum();
    assert_eq!(burned, 0, "nothing burned");
    eprintln!("mid-batch pause: last call {tail:?} ms after the command returned; {queued} jobs back in the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_sends_in_flight_exits_0_promptly_and_the_next_start_carries_on_without_duplicates() {
    let sim = Simulator::start(sim_config(300)).await.unwrap();
    let env = TestEnv::new();
    write_config(&env, &sim, "");
    launch(&env, "term", "", 1000);
    let store = env.store().await;
    let mut daemon = daemon(&env, "127.0.0.1:0", "serve-1.log");
    eventually("sends are going out", Duration::from_secs(30), async || (sim.sends().len() >= 32).then_some(())).await;

    // A second daemon on the same database is refused before it listens or dials.
    let mut second = env.command();
    second.args(["serve", "--listen", "127.0.0.1:0"]).env("BLAND_API_KEY", API_KEY);
    let (code, stdout, stderr) = run_bounded(second, Duration::from_secs(20)).await;
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("another switchboard daemon is already running"), "{stderr}");
    assert!(!stdout.contains("listening"), "the second daemon never listened: {stdout}");

    let asked = Instant::now();
    daemon.sigterm();
    let status = daemon.exit_within("serve exits within 10 s of SIGTERM", Duration::from_secs(10)).await;
    let took = asked.elapsed();
    assert!(status.success(), "serve exited with {status}; log:\n{}", daemon.log());
    let after_term = sim.sends().len();
    assert!(after_term < 1000, "the campaign finished before the signal; nothing was tested");
    assert_eq!(attempts_dialing(&store).await, 0, "a graceful stop leaves no send unanswered");
    assert_db_matches_sim(&store, &sim).await;

    restart_and_finish(&env, &store, &sim, 1000).await;
    eprintln!("SIGTERM: exit 0 after {} ms with {after_term} of 1000 sent", took.as_millis());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_and_the_next_start_reconciles_what_was_in_flight() {
    // Every send takes 4 s at the simulator: a graceful stop would wait for them.
    let sim = Simulator::start(sim_config(4000)).await.unwrap();
    let env = TestEnv::new();
    write_config(&env, &sim, "");
    launch(&env, "twice", "", 40);
    let store = env.store().await;
    let mut daemon = daemon(&env, "127.0.0.1:0", "serve-1.log");
    eventually("sends are in flight", Duration::from_secs(30), async || {
        (attempts_dialing(&store).await > 0).then_some(())
    })
    .await;

    daemon.sigterm();
    eventually("the daemon acknowledged the first signal", Duration::from_secs(10), async || {
        daemon.log().contains("shutting down").then_some(())
    })
    .await;
    let asked = Instant::now();
    daemon.sigterm();
    let status = daemon.exit_within("serve exits after a second signal", Duration::from_secs(10)).await;
    let took = asked.elapsed();
    assert_eq!(status.code(), Some(130), "log:\n{}", daemon.log());
    assert!(took < Duration::from_secs(2), "the second signal took {took:?}: it waited for the 4 s sends");
    assert!(daemon.log().contains("second signal"));

    // The next start reconciles the sends the exit cut short, then finishes: each number once.
    let log = restart_and_finish(&env, &store, &sim, 40).await;
    assert!(log.contains("reconciled"), "the restarted daemon reconciled what the exit left:\n{log}");
}

/// A one-shot command's process, killed on drop so a test that gives up on it leaves none behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_an_api_key_exits_2_and_a_running_daemon_never_prints_its_secrets() {
    let sim = Simulator::start(sim_config(0)).await.unwrap();
    let env = TestEnv::new();

    // No key: refused at once, with what to do.
    write_config(&env, &sim, "");
    let mut cmd = env.command();
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(20)).await;
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("BLAND_API_KEY"), "the message names the variable to set: {stderr}");
    assert!(!stdout.contains("listening"), "it never started listening: {stdout}");

    // Bland told to post webhooks, but no secret to check their signatures with: refused too,
    // unless unsigned webhooks are explicitly allowed.
    write_config(&env, &sim, "[http]\npublic_url = \"http://127.0.0.1:9\"");
    let mut cmd = env.command();
    cmd.args(["serve", "--listen", "127.0.0.1:0"]).env("BLAND_API_KEY", API_KEY);
    let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(20)).await;
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("BLAND_WEBHOOK_SECRET") && stderr.contains("allow_unsigned_webhooks"), "{stderr}");
    assert!(!stdout.contains("listening"), "it never started listening: {stdout}");
    write_config(&env, &sim, "[http]\npublic_url = \"http://127.0.0.1:9\"\nallow_unsigned_webhooks = true");
    let daemon =
        daemon_with(&env, "127.0.0.1:0", "serve-unsigned.log", &[("BLAND_API_KEY", API_KEY), ("RUST_LOG", "warn")]);
    let unsigned_log = daemon.stop().await;
    assert!(unsigned_log.contains("UNSIGNED"), "it warns that it accepts unsigned webhooks:\n{unsigned_log}");

    // With the key and secret, at debug level, signed webhooks flowing in: neither is printed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    write_config(&env, &sim, &format!("[http]\npublic_url = \"http://127.0.0.1:{port}\""));
    launch(&env, "secrets", "", 5);
    let store = env.store().await;
    let daemon = daemon_with(
        &env,
        &format!("127.0.0.1:{port}"),
        "serve-ok.log",
        &[("BLAND_API_KEY", API_KEY), ("BLAND_WEBHOOK_SECRET", WEBHOOK_SECRET), ("RUST_LOG", "debug")],
    );
    assert_eq!(daemon.addr, format!("127.0.0.1:{port}"), "the daemon listens where Bland will post");
    eventually("the calls' outcomes arrived by webhook", Duration::from_secs(30), async || {
        let inbox = store.inbox_records(0).await.unwrap();
        (inbox.iter().filter(|d| d.result == Applied::Applied).count() >= 5).then_some(())
    })
    .await;
    let ok_log = daemon.stop().await;
    assert!(ok_log.contains("call placed") && ok_log.contains("DEBUG"), "the log was verbose:\n{ok_log}");

    // A key Bland refuses: the campaigns pause with one clear error, and that key is not printed
    // either (an error echoing the request is where a key would leak).
    const WRONG_KEY: &str = "sk-wrong-key-5e6f7a8b9c";
    write_config(&env, &sim, "");
    launch(&env, "refused", "", 3);
    let daemon = daemon_with(
        &env,
        "127.0.0.1:0",
        "serve-refused.log",
        &[("BLAND_API_KEY", WRONG_KEY), ("BLAND_WEBHOOK_SECRET", WEBHOOK_SECRET), ("RUST_LOG", "debug")],
    );
    let reason = eventually("the campaign is paused for the refused key", Duration::from_secs(30), async || {
        store.campaign("refused").await.unwrap().paused_reason
    })
    .await;
    assert!(reason.contains("API key"), "{reason}");
    // The daemon pauses the campaigns, then logs: wait for the line, and read the whole log once
    // the daemon has exited, so "exactly one" covers everything it ever printed.
    eventually("the daemon logged the refused key", Duration::from_secs(10), async || {
        daemon.log().contains("every campaign on this key is paused").then_some(())
    })
    .await;
    let refused_log = daemon.stop().await;

    let outputs = [
        ("serve log", ok_log),
        ("serve stdout", std::fs::read_to_string(env.path("serve-ok.log.stdout")).unwrap()),
        ("refused serve log", refused_log),
        ("refused serve stdout", std::fs::read_to_string(env.path("serve-refused.log.stdout")).unwrap()),
        ("paused reason", reason),
    ];
    for (what, text) in &outputs {
        for secret in [API_KEY, WEBHOOK_SECRET, WRONG_KEY] {
            assert!(!text.contains(secret), "the {what} contains a secret:\n{text}");
        }
    }
    assert_eq!(
        outputs[2].1.matches("every campaign on this key is paused").count(),
        1,
        "one clear error for a refused key, not one per call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_to_a_file_carry_no_colour_codes_mask_numbers_and_name_every_id_as_text_or_json() {
    let sim = Simulator::start(sim_config(0)).await.unwrap();
    for (format, id) in [("text", "logtext"), ("json", "logjson")] {
        let env = TestEnv::new();
        write_config(&env, &sim, "");
        launch(&env, id, "", 6);
        let envs =
            [("BLAND_API_KEY", API_KEY), ("BLAND_WEBHOOK_SECRET", WEBHOOK_SECRET), ("SWITCHBOARD_LOG__FORMAT", format)];
        let running = daemon_with(&env, "127.0.0.1:0", &format!("{id}.log"), &envs);
        let store = env.store().await;
        eventually("the six calls are placed", Duration::from_secs(30), async || {
            (jobs_to_dial(&store).await == 0 && attempts_dialing(&store).await == 0).then_some(())
        })
        .await;
        let log = running.stop().await;
        assert!(!log.contains('\u{1b}'), "{format}: colour codes in a log file:\n{log}");
        assert!(!log.contains("Some("), "{format}: a Rust Option in the log:\n{log}");
        for job in store.job_records(Some(id)).await.unwrap() {
            assert!(!log.contains(job.phone.as_str()), "{format}: {} in the log", job.phone);
            assert!(!log.contains(&job.phone.as_str()[2..]), "{format}: the national number in the log");
        }
        let placed: Vec<&str> = log.lines().filter(|l| l.contains("call placed")).collect();
        assert_eq!(placed.len(), 6, "{format}: one line per call placed:\n{log}");
        for line in placed {
            if format == "json" {
                let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                assert_eq!(v["campaign_id"], id);
                assert!(v["job_id"].is_u64() && v["attempt_id"].is_string() && v["call_id"].is_string(), "{line}");
                assert!(v["phone"].as_str().is_some_and(|p| p.starts_with('…') && p.chars().count() == 5), "{line}");
            } else {
                for field in [&format!("campaign_id={id}"), "job_id=", "attempt_id=", "call_id=", "phone=…"] {
                    assert!(line.contains(field), "{field} not in {line}");
                }
            }
        }
        if format == "json" {
            for line in log.lines().filter(|l| !l.trim().is_empty()) {
                serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            }
        }
        store.close().await;
    }
}
