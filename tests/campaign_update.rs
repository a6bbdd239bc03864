//! `campaign update`: a started campaign's limits, hours and retry policy changed mid-run.
//!
//! On the harness's injected clock, with the simulator counting the calls it receives: a lower
//! `calls_per_minute` holds from the very next dispatcher step, minute after minute; a lower
//! `max_attempts` finishes the recipients waiting for a retry it no longer allows; wider hours
//! bring the recipients waiting for the old window's opening forward. Through the real binary:
//! what a draft, a running and a finished campaign may change, and the record of it.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::TestEnv;
use common::harness::{Harness, at};
use switchboard::campaigns::{self, Actor};
use switchboard::dispatcher::ledger::Caps;
use switchboard::sim::{OutcomeMix, SimConfig};
use switchboard::store::{JobState, Outcome};

fn open_sim() -> SimConfig {
    SimConfig { requests_per_minute: 0, max_concurrent: 0, ..SimConfig::default() }
}

/// `n` New York numbers.
fn new_yorkers(n: usize) -> String {
    let mut csv = String::from("phone\n");
    for i in 0..n {
        csv.push_str(&format!("212-555-{:04}\n", 1000 + i));
    }
    csv
}

fn actor() -> Actor {
    Actor::cli(|v| (v == "USER").then(|| "tester".to_string()))
}

/// One dispatcher step at the harness's time, the calls it placed noted at that time, then
/// two seconds on.
async fn step(dispatcher: &switchboard::dispatcher::engine::Dispatcher, h: &Harness, placed: &mut Vec<DateTime<Utc>>) {
    dispatcher.step().await.unwrap();
    let now = h.now();
    let new = h.sim.sends().len() - placed.len();
    placed.extend(std::iter::repeat_n(now, new));
    h.clock.advance(Duration::seconds(2));
}

#[tokio::test]
async fn a_lower_calls_per_minute_holds_from_the_next_step_on_minute_after_minute() {
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    h.dispatch_cfg.account = Caps::default();
    let spec = "id = \"slowed\"\nname = \"Slowed\"\n[call]\ntask = \"Hello\"\n[schedule]\n\
                hours = { \"mon-sun\" = \"09:00-17:00\" }\n[limits]\ncalls_per_minute = 30\n[retry]\nmax_attempts = 1\n";
    let id = h.campaign(spec, &new_yorkers(1000)).await;
    let dispatcher = h.dispatcher().await;
    let mut placed: Vec<DateTime<Utc>> = Vec::new();
    for _ in 0..90 {
        step(&dispatcher, &h, &mut placed).await;
    }
    let before = placed.len();
    let busiest = common::busiest_minute(&placed);
    assert!((25..=30).contains(&busiest), "{busiest} calls in the busiest minute under calls_per_minute = 30");

    let changed_at = h.now();
    let slower = spec.replace("calls_per_minute = 30", "calls_per_minute = 6");
    let u = campaigns::update(&h.store, &h.config, &id, "slower.toml", &slower, &actor(), changed_at).await.unwrap();
    assert_eq!(u.changes.len(), 1);
    for _ in 0..180 {
        step(&dispatcher, &h, &mut placed).await;
    }

    // The minute before the change had used the new allowance up: nothing for most of the
    // first minute after it (the ledger's window slides across the change)…
    let after = &placed[before..];
    assert!(after.iter().all(|t| *t >= changed_at + Duration::seconds(40)), "{after:?}");
    // …then at most 6 in any minute, and it goes on dialling at that rate.
    for (i, t) in after.iter().enumerate() {
        let n = after[i..].iter().take_while(|u| **u < *t + Duration::seconds(60)).count();
        assert!(n <= 6, "{n} calls in the minute from {t}, after calls_per_minute = 6");
    }
    assert!((24..=36).contains(&after.len()), "{} calls in the 6 minutes after the change", after.len());
    let changes = h.store.campaign_changes(&id).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].actor, actor().as_str());
    assert_eq!(changes[0].changes, serde_json::json!([{"key": "limits.calls_per_minute", "old": 30, "new": 6}]));
}

#[tokio::test]
async fn a_lower_max_attempts_finishes_the_recipients_waiting_for_a_retry_it_no_longer_allows() {
    let mix = OutcomeMix { human: 0.0, voicemail: 1.0, no_answer: 0.0, busy: 0.0, failed: 1.0 };
    let h = Harness::new(at("2026-06-01T14:00:00Z"), SimConfig { mix, seed: 3, ..open_sim() }).await;
    let spec = "id = \"retries\"\nname = \"Retries\"\n[call]\ntask = \"Hello\"\n[schedule]\n\
                hours = { \"mon-sun\" = \"09:00-17:00\" }\n[retry]\nmax_attempts = 3\non = [\"voicemail\", \"failed\"]\n\
                delays = [\"3h\"]\n";
    let id = h.campaign(spec, &new_yorkers(40)).await;
    let (dispatcher, outcomes) = (h.dispatcher().await, h.outcomes());
    h.drive(&dispatcher, &outcomes, "every recipient waits for a retry", async |h| {
        h.store.job_counts("retries").await.unwrap().get(JobState::RetryWait) == 40
    })
    .await;
    let by_outcome = h.store.outcome_counts(&id).await.unwrap();
    let (voicemails, failures) = (by_outcome[&Outcome::Voicemail], by_outcome[&Outcome::Failed]);
    assert!(voicemails > 5 && failures > 5, "{by_outcome:?}");

    let once = spec.replace("max_attempts = 3", "max_attempts = 1");
    let u = campaigns::update(&h.store, &h.config, &id, "once.toml", &once, &actor(), h.now()).await.unwrap();

    assert_eq!(u.jobs_finished, 40);
    let counts = h.store.job_counts(&id).await.unwrap();
    assert_eq!(counts.get(JobState::RetryWait), 0);
    assert_eq!(counts.get(JobState::Done), voicemails, "a voicemail with no retry left is done");
    assert_eq!(counts.get(JobState::Failed), failures, "a failed call with no retry left is failed");
    // Nobody is called again, hours later.
    let calls = h.sim.sends().len();
    h.clock.advance(Duration::hours(4));
    dispatcher.step().await.unwrap();
    assert_eq!(h.sim.sends().len(), calls);
    assert_eq!(h.store.campaign(&id).await.unwrap().state.as_str(), "running");
}

#[tokio::test]
async fn wider_hours_bring_the_recipients_waiting_for_the_old_opening_forward() {
    // 08:30 in New York; the campaign opens at 10:00.
    let h = Harness::new(at("2026-06-01T12:30:00Z"), open_sim()).await;
    let spec = "id = \"later\"\nname = \"Later\"\n[call]\ntask = \"Hello\"\n[schedule]\n\
                hours = { \"mon-sun\" = \"10:00-17:00\" }\n[retry]\nmax_attempts = 1\n";
    let id = h.campaign(spec, &new_yorkers(10)).await;
    let dispatcher = h.dispatcher().await;
    dispatcher.step().await.unwrap();
    assert_eq!(h.sim.sends().len(), 0, "closed until 10:00");
    assert_eq!(h.store.next_due(&id).await.unwrap(), Some(at("2026-06-01T14:00:00Z")));

    let earlier = spec.replace("10:00-17:00", "08:00-17:00");
    let u = campaigns::update(&h.store, &h.config, &id, "earlier.toml", &earlier, &actor(), h.now()).await.unwrap();
    assert_eq!((u.jobs_requeued, u.changes[0].key.as_str()), (10, "schedule.hours"));
    dispatcher.step().await.unwrap();
    assert_eq!(h.sim.sends().len(), 10, "dialled at the next step under the new hours");
}

#[test]
fn the_cli_changes_a_draft_freely_a_started_campaign_only_in_limits_hours_and_retries() {
    let env = TestEnv::new();
    let spec = "id = \"cli-upd\"\nname = \"CLI update\"\n[call]\ntask = \"Hello {{first_name}}\"\n[schedule]\n\
                timezone = \"America/New_York\"\n[limits]\ncalls_per_minute = 20\n";
    env.campaign(spec);
    let update = |text: &str| {
        let file = env.write("next.toml", text);
        env.run(["campaign", "update", "cli-upd", common::path_str(&file)])
    };

    // A draft: anything, as `campaign create` would.
    let r = update(&spec.replace("Hello", "Good day"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("call.task: \"Hello {{first_name}}\" -> \"Good day {{first_name}}\""), "{}", r.stdout);
    let spec = spec.replace("Hello", "Good day");
    env.ok(["campaign", "start", "cli-upd"]);

    // Started: the call, the name, the zone are frozen; exit 2 naming each key.
    let r = update(&spec.replace("Good day", "Hi").replace("CLI update", "Renamed"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("call.task, name") && r.stderr.contains("cannot change once it has started"),
        "{}",
        r.stderr
    );
    let r = update(&spec.replace("America/New_York", "America/Chicago"));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("schedule.timezone"), "{}", r.stderr);
    // Validated like a new spec: the file, the line and the key.
    let r = update(&spec.replace("calls_per_minute = 20", "calls_per_minute = 0"));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("next.toml:") && r.stderr.contains("calls_per_minute"), "{}", r.stderr);
    // Another campaign's spec, an unknown campaign, a missing file.
    let r = update(&spec.replace("id = \"cli-upd\"", "id = \"other\""));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("`other`, not `cli-upd`"), "{}", r.stderr);
    let r = env.run(["campaign", "update", "nope", common::path_str(&env.write("n.toml", &spec))]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = env.run(["campaign", "update", "cli-upd", "missing.toml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing.toml"), "{}", r.stderr);

    // Limits may change; the same spec again changes nothing.
    let faster = spec.replace("calls_per_minute = 20", "calls_per_minute = 40");
    let r = update(&faster);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("limits.calls_per_minute: 20 -> 40") && r.stdout.contains("within a second"),
        "{}",
        r.stdout
    );
    assert!(update(&faster).stdout.contains("unchanged"));

    // Cancelled: nothing changes any more.
    env.ok(["campaign", "cancel", "cli-upd"]);
    let r = update(&spec);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cancelled"), "{}", r.stderr);
    let help = env.ok(["campaign", "update", "--help"]).stdout;
    assert!(help.contains("Example:") && help.contains("[limits], [retry]"), "{help}");
}
