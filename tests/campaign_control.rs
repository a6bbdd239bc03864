//! Operator control while calls are in flight: a cancelled campaign ends with no job left to
//! dial, whatever its calls in progress come back with.

mod common;

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use common::harness::{Harness, at};
use switchboard::campaigns;
use switchboard::dispatcher::ledger::Caps;
use switchboard::sim::{OutcomeMix, SimConfig};
use switchboard::store::{CampaignAction, JobState};

#[tokio::test]
async fn a_call_that_ends_in_voicemail_after_its_campaign_was_cancelled_leaves_no_retry_waiting() {
    let mix = OutcomeMix { human: 0.0, voicemail: 1.0, no_answer: 0.0, busy: 0.0, failed: 0.0 };
    let config = SimConfig { requests_per_minute: 0, max_concurrent: 0, speed: 3000.0, mix, ..SimConfig::default() };
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), config).await;
    h.dispatch_cfg.account = Caps::default();
    let spec = "name = \"Cancelled\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n\
                [retry]\nmax_attempts = 3\non = [\"voicemail\"]\n";
    let id = h.campaign(spec, "phone\n212-555-0101\n212-555-0102\n212-555-0103\n").await;
    let dispatcher = h.dispatcher().await;
    let outcomes = h.outcomes();
    assert_eq!(dispatcher.step().await.unwrap().sent, 3, "three calls in progress");

    campaigns::apply(&h.store, &id, CampaignAction::Cancel, h.now()).await.unwrap();
    // The calls end (voicemail, which this campaign retries) and their outcomes arrive.
    let deadline = Instant::now() + StdDuration::from_secs(30);
    loop {
        h.clock.advance(Duration::minutes(5));
        outcomes.poll_once().await.unwrap();
        let jobs = h.store.job_records(Some(&id)).await.unwrap();
        if jobs.iter().all(|j| j.outcome.is_some()) {
            break;
        }
        assert!(Instant::now() < deadline, "the outcomes never arrived: {jobs:?}");
        tokio::task::yield_now().await;
    }

    let counts = h.store.job_counts(&id).await.unwrap();
    assert_eq!(counts.get(JobState::RetryWait), 0, "{counts:?}");
    assert_eq!(counts.get(JobState::Cancelled), 3, "{counts:?}");
}

#[test]
fn campaign_list_puts_every_job_in_one_column_so_a_row_adds_up() {
    let env = common::TestEnv::new();
    let id = env.campaign(common::SPEC);
    env.ok(["dnc", "add", "+12015550199"]);
    let csv = env.write("r.csv", "first_name,phone\nA,201-555-0101\nB,201-555-0102\nC,201-555-0199\n");
    env.ok(["import", &id, common::path_str(&csv)]);
    env.ok(["campaign", "cancel", &id]);

    let list = env.ok(["campaign", "list"]);

    let row = list.stdout.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{}", list.stdout));
    let numbers: Vec<i64> = row.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let (jobs, columns) = numbers.split_first().unwrap();
    assert_eq!(*jobs, 3, "{row}");
    assert_eq!(columns.iter().sum::<i64>(), *jobs, "the columns add up to JOBS: {row}\n{}", list.stdout);
    let header = list.stdout.lines().next().unwrap();
    assert!(header.contains("CANCELLED") && header.contains("SUPPRESSED"), "{header}");
}

#[tokio::test]
async fn show_says_why_a_running_campaign_dials_nothing_and_when_the_next_call_is_due() {
    // 03:00 in New York: nobody may be called until the window opens at 09:00.
    let h =
        Harness::new(at("2026-06-01T07:00:00Z"), SimConfig { requests_per_minute: 0, ..SimConfig::default() }).await;
    let spec = "name = \"Early\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n";
    let id = h.campaign(spec, "phone\n212-555-0101\n").await;
    h.dispatcher().await.step().await.unwrap();

    let s = campaigns::summary(&h.store, &h.config, &id, h.now()).await.unwrap();

    assert_eq!(s.next_due, Some(at("2026-06-01T13:00:00Z")), "09:00 New York");
    let why = s.waiting.expect("a campaign that dials nothing says why");
    assert!(why.contains("no recipient is due before 2026-06-01 13:00 UTC"), "{why}");
}

#[tokio::test]
async fn show_says_when_every_send_fails_and_why() {
    let h =
        Harness::new(at("2026-06-01T14:00:00Z"), SimConfig { requests_per_minute: 0, ..SimConfig::default() }).await;
    let spec = "name = \"Stormy\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n";
    let id = h.campaign(spec, "phone\n212-555-0101\n212-555-0102\n").await;
    h.sim.start_rate_limit_storm(StdDuration::from_secs(600));
    h.dispatcher().await.step().await.unwrap();

    let s = campaigns::summary(&h.store, &h.config, &id, h.now()).await.unwrap();

    assert!(s.recent.failed_sends >= 1, "{:?}", s.recent);
    let why = s.waiting.expect("a campaign whose sends fail says so");
    assert!(why.contains("sends are failing") && why.contains("429"), "{why}");
}

#[test]
fn show_says_a_campaign_waits_for_its_start() {
    let env = common::TestEnv::new();
    let spec = format!("{}start = \"2099-01-01T09:00:00-05:00\"\n", common::SPEC);
    let id = env.campaign(&spec);
    let csv = env.write("r.csv", "first_name,phone\nA,201-555-0101\n");
    env.ok(["import", &id, common::path_str(&csv)]);
    env.ok(["campaign", "start", &id]);

    let shown = env.ok(["campaign", "show", &id]);

    assert!(shown.stdout.contains("waiting   the campaign's start is 2099-01-01 14:00 UTC"), "{}", shown.stdout);
    let json = env.ok(["campaign", "show", &id, "--json"]).last_json();
    assert!(json["waiting"].as_str().unwrap().contains("start is"), "{json}");
}

#[test]
fn cancel_stop_active_without_an_api_key_cancels_nothing() {
    let env = common::TestEnv::new();
    let id = env.campaign(common::SPEC);
    env.ok(["campaign", "start", &id]);

    let run = env.run(["campaign", "cancel", &id, "--stop-active"]);

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("BLAND_API_KEY"), "{}", run.stderr);
    let shown = env.ok(["campaign", "show", &id, "--json"]).last_json();
    assert_eq!(shown["state"], "running", "the campaign was left as it was");
}

#[test]
fn a_listing_piped_into_a_reader_that_stops_early_ends_quietly() {
    use std::io::{BufRead, BufReader};
    let env = common::TestEnv::new();
    let numbers: Vec<String> = (0..3000).map(|i| format!("+1201555{:04}", i)).collect();
    let mut args = vec!["dnc".to_string(), "add".to_string()];
    args.extend(numbers);
    env.ok(&args);

    // `switchboard dnc list | head -1`: the reader goes away after one line.
    let mut child = env
        .command()
        .args(["dnc", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();

    assert!(first.starts_with("+1201555"), "{first}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "no panic exit: {:?}", out.status);
}

#[cfg(unix)]
#[test]
fn files_with_personal_data_are_created_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let env = common::TestEnv::new();
    let id = env.campaign(common::SPEC);
    let csv = env.write("r.csv", "first_name,phone\nA,201-555-0101\nB,not a number\n");
    env.ok(["import", &id, common::path_str(&csv)]);

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.db), 0o600, "the database");
    assert_eq!(mode(&env.path("r.rejects.csv")), 0o600, "the rejects report");
    let lock = switchboard::daemon::DaemonLock::acquire(&env.db).unwrap();
    assert_eq!(mode(&env.path("test.db.lock")), 0o600, "the daemon lock");
    drop(lock);
}
