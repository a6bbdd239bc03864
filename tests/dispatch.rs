//! The dispatcher against the Bland simulator on an injected clock: windows across DST and
//! zones, caps across a restart, 429 storms, fairness, DNC at dispatch time, templates, and
//! ambiguous send failures.

mod common;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use common::eventually;
use common::harness::{Harness, at};
use switchboard::dispatcher::engine::ReconcileReport;
use switchboard::dispatcher::ledger::Caps;
use switchboard::phone::PhoneNumber;
use switchboard::sim::SimConfig;
use switchboard::store::{AttemptState, JobRecord, JobState};

fn open_sim() -> SimConfig {
    SimConfig { requests_per_minute: 0, max_concurrent: 0, ..SimConfig::default() }
}

/// Numbers whose area codes put them in many zones (and one in two).
const ZONED: &[(&str, &str)] = &[
    ("212", "America/New_York"),
    ("312", "America/Chicago"),
    ("303", "America/Denver"),
    ("602", "America/Phoenix"),
    ("415", "America/Los_Angeles"),
    ("808", "Pacific/Honolulu"),
    ("907", "America/Anchorage"),
];

fn recipients(n: usize) -> String {
    let mut csv = String::from("first_name,phone\n");
    for i in 0..n {
        let (area, _) = ZONED[i % ZONED.len()];
        csv.push_str(&format!("R{i},{area}-555-{:04}\n", 100 + i));
    }
    csv
}

struct Dial {
    at: DateTime<Utc>,
    zones: Vec<Tz>,
    attempt: String,
}

/// Every call placed (attempts proven never sent left out), in the order dialled, with the zones
/// of its recipient.
async fn dials(h: &Harness) -> Vec<Dial> {
    let zones: HashMap<i64, Vec<Tz>> = h
        .store
        .job_details(None)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.record.id, j.timezones.into_iter().chain(j.number_zones.into_iter().flatten()).collect()))
        .collect();
    let mut dials: Vec<Dial> = h
        .store
        .attempt_records(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.state != AttemptState::NotSent)
        .map(|a| Dial { at: a.dialed_at, zones: zones[&a.job_id].clone(), attempt: a.id })
        .collect();
    dials.sort_by_key(|d| d.at);
    dials
}

async fn jobs(h: &Harness) -> Vec<JobRecord> {
    h.store.job_records(None).await.unwrap()
}

/// Jobs of every campaign in `state`.
async fn jobs_in(h: &Harness, state: JobState) -> usize {
    jobs(h).await.iter().filter(|j| j.state == state).count()
}

/// Attempts counted so far, over every job.
async fn attempts_counted(h: &Harness) -> i64 {
    jobs(h).await.iter().map(|j| j.attempts).sum()
}

/// The only job calling `phone`.
async fn job_calling(h: &Harness, phone: &str) -> JobRecord {
    let mut found = jobs(h).await.into_iter().filter(|j| j.phone.as_str() == phone);
    let job = found.next().unwrap_or_else(|| panic!("no job calls {phone}"));
    assert!(found.next().is_none(), "more than one job calls {phone}");
    job
}

#[tokio::test]
async fn no_call_is_placed_outside_the_recipients_window_across_the_spring_forward_weekend() {
    // Saturday noon UTC before the US spring-forward (Sunday 2026-03-08), through Wednesday.
    calls_stay_inside_every_window_for_five_days("2026-03-07T12:00:00Z", "2026-03-09").await;
}

#[tokio::test]
async fn no_call_is_placed_outside_the_recipients_window_across_the_fall_back_weekend() {
    // Saturday noon UTC before the US fall-back (Sunday 2026-11-01), through Wednesday.
    calls_stay_inside_every_window_for_five_days("2026-10-31T12:00:00Z", "2026-11-02").await;
}

/// Seventy recipients across seven US zones (Arizona and Hawaii without DST), weekday and
/// weekend hours, a blackout Monday, a cap that spreads the calls over the days: every call
/// lands inside its recipient's local hours, each recipient once.
async fn calls_stay_inside_every_window_for_five_days(start: &str, blackout: &str) {
    let h = Harness::new(at(start), open_sim()).await;
    let spec = format!(
        r#"
        name = "DST week"
        [call]
        task = "Hello {{{{first_name}}}}"
        max_duration = 1
        [schedule]
        hours = {{ "mon-fri" = "09:00-20:00", "sat-sun" = "10:00-14:00" }}
        blackout_dates = ["{blackout}"]
        [limits]
        calls_per_hour = 6
        [retry]
        max_attempts = 1
    "#
    );
    let id = h.campaign(&spec, &recipients(70)).await;
    let dispatcher = h.dispatcher().await;

    for _ in 0..(5 * 24 * 12) {
        dispatcher.step().await.unwrap();
        h.clock.advance(Duration::minutes(5));
    }

    let dials = dials(&h).await;
    assert_eq!(dials.len(), 70, "every recipient was reached within the week");
    for d in &dials {
        for zone in &d.zones {
            let local = d.at.with_timezone(zone);
            let (open, close) = match local.weekday() {
                Weekday::Sat | Weekday::Sun => ((10, 0), (14, 0)),
                _ => ((9, 0), (20, 0)),
            };
            let t = local.time();
            assert!(
                t >= NaiveTime::from_hms_opt(open.0, open.1, 0).unwrap()
                    && t < NaiveTime::from_hms_opt(close.0, close.1, 0).unwrap(),
                "attempt {} dialled at {local} ({zone}), outside its window",
                d.attempt
            );
            assert_ne!(local.date_naive().to_string(), blackout, "dialled on a blackout date");
        }
    }
    // The simulator saw exactly the attempts the ledger holds, each once.
    let sent: Vec<String> =
        h.sim.sends().iter().map(|s| s.metadata["switchboard_attempt_id"].as_str().unwrap().to_string()).collect();
    let unique: HashSet<&String> = sent.iter().collect();
    assert_eq!((sent.len(), unique.len()), (70, 70));
    let in_call = h.store.job_records(Some(&id)).await.unwrap().iter().filter(|j| j.state == JobState::InCall).count();
    assert_eq!(in_call, 70);
}

#[tokio::test]
async fn a_recipient_with_two_plausible_zones_is_called_only_when_open_in_both() {
    // 07:00 in Los Angeles is 10:00 in New York: open there, closed in LA.
    let h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    let spec = r#"
        name = "Strictest"
        [call]
        task = "Hello"
        [schedule]
        zone_policy = "strictest"
        hours = { "mon-sun" = "09:00-17:00" }
    "#;
    // A New York number whose CSV says Los Angeles: plausible zones are both.
    h.campaign(spec, "phone,timezone\n212-555-0100,America/Los_Angeles\n").await;
    let dispatcher = h.dispatcher().await;

    let mut first = None;
    for _ in 0..(12 * 12) {
        dispatcher.step().await.unwrap();
        if first.is_none() && !h.sim.sends().is_empty() {
            first = Some(h.now());
        }
        h.clock.advance(Duration::minutes(5));
    }

    // 09:00 in Los Angeles = 16:00 UTC; New York is then 12:00, open too.
    assert_eq!(first, Some(at("2026-06-01T16:00:00Z")));
}

#[tokio::test]
async fn hourly_caps_hold_across_a_restart_in_the_middle_of_the_hour_and_are_used_fully() {
    let h = Harness::new(at("2026-06-01T13:00:00Z"), open_sim()).await;
    let spec = r#"
        name = "Capped"
        [call]
        task = "Hello"
        max_duration = 1
        [schedule]
        hours = { "mon-sun" = "08:00-21:00" }
        [limits]
        calls_per_hour = 10
        [retry]
        max_attempts = 1
    "#;
    let csv: String =
        std::iter::once("phone\n".to_string()).chain((0..60).map(|i| format!("212-555-{:04}\n", 1000 + i))).collect();
    h.campaign(spec, &csv).await;

    let first = h.dispatcher().await;
    for _ in 0..60 {
        first.step().await.unwrap();
        h.clock.advance(Duration::seconds(30));
    }
    drop(first); // the daemon restarts half an hour into the hour
    let second = h.dispatcher().await;
    for _ in 0..(5 * 60 * 2) {
        second.step().await.unwrap();
        h.clock.advance(Duration::seconds(30));
    }

    let times: Vec<DateTime<Utc>> = dials(&h).await.into_iter().map(|d| d.at).collect();
    for (i, t) in times.iter().enumerate() {
        let in_hour = times[..=i].iter().filter(|u| **u > *t - Duration::hours(1)).count();
        assert!(in_hour <= 10, "{in_hour} calls in the hour ending {t}");
    }
    // With a backlog the cap is used: 10 in each of the 5 hours plus the opening of the sixth.
    assert!(times.len() >= 50, "only {} calls in 5.5 hours under a cap of 10/h", times.len());
}

#[tokio::test]
async fn concurrent_calls_are_capped_and_a_call_without_an_outcome_frees_its_slot_after_max_duration() {
    // The simulator sends no webhooks here (no public URL) and nothing polls: no call ever
    // reports an end, so only the slot's expiry (max_duration + margin) can free it.
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    h.dispatch_cfg.account = Caps { concurrent: Some(3), ..Caps::default() };
    let margin = h.dispatch_cfg.slot_margin;
    let spec = "name = \"Slots\"\n[call]\ntask = \"Hello\"\nmax_duration = 2\n\
                [schedule]\nhours = { \"mon-sun\" = \"09:00-20:00\" }\n[retry]\nmax_attempts = 1\n";
    let csv: String =
        std::iter::once("phone\n".to_string()).chain((0..8).map(|i| format!("212-555-{:04}\n", 1000 + i))).collect();
    h.campaign(spec, &csv).await;
    let dispatcher = h.dispatcher().await;
    let start = h.now();

    assert_eq!(dispatcher.step().await.unwrap().sent, 3, "the first three fill the slots");
    // Until max_duration + margin has passed, no slot frees.
    let expiry = Duration::minutes(2) + margin;
    while h.now() + Duration::seconds(30) < start + expiry {
        h.clock.advance(Duration::seconds(30));
        assert_eq!(dispatcher.step().await.unwrap().sent, 0, "a fourth call at {}", h.now());
    }
    h.clock.advance(Duration::seconds(30));
    assert_eq!(dispatcher.step().await.unwrap().sent, 3, "the expired slots are reused");
    assert_eq!(h.sim.sends().len(), 6);
}

#[tokio::test]
async fn one_number_in_two_campaigns_is_called_no_more_than_the_daily_per_number_cap() {
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    h.dispatch_cfg.max_calls_per_number_per_day = 1;
    let spec = |name: &str| {
        format!(
            "name = \"{name}\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = {{ \"mon-sun\" = \"08:00-21:00\" }}\n\
             [retry]\nmax_attempts = 1\n"
        )
    };
    // The same person in two campaigns (written two ways), and one other number.
    h.campaign(&spec("Renewals"), "phone\n212-555-0100\n").await;
    h.campaign(&spec("Survey"), "phone\n(212) 555-0100\n312-555-0100\n").await;
    let dispatcher = h.dispatcher().await;

    for _ in 0..(30 * 6) {
        dispatcher.step().await.unwrap();
        h.clock.advance(Duration::minutes(10));
    }

    let sends = h.sim.sends();
    assert_eq!(sends.len(), 3, "each job is dialled once in the end");
    assert_eq!(sends.iter().filter(|s| s.phone_number == "+12125550100").count(), 2);
    // When, on switchboard's clock, the shared number was dialled.
    let mut shared: Vec<DateTime<Utc>> = (h.store.attempt_records(None).await.unwrap().into_iter())
        .filter(|a| a.phone.as_str() == "+12125550100")
        .map(|a| a.dialed_at)
        .collect();
    shared.sort();
    assert_eq!(shared.len(), 2);
    let gap = shared[1] - shared[0];
    assert!(gap >= Duration::hours(24), "the shared number was called twice within {gap}");
}

#[tokio::test]
async fn a_429_storm_burns_no_attempt_and_holds_the_whole_account_back() {
    let h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    let spec = "name = \"Storm\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n";
    h.campaign(spec, "phone\n212-555-0100\n212-555-0101\n212-555-0102\n").await;
    let dispatcher = h.dispatcher().await;
    h.sim.start_rate_limit_storm(std::time::Duration::from_millis(300));

    let stormy = dispatcher.step().await.unwrap();
    let again = dispatcher.step().await.unwrap();

    assert_eq!(stormy.not_sent, 3, "{stormy:?}");
    assert_eq!(again.claimed, 0, "no request goes out before the account's backoff ends");
    assert_eq!(attempts_counted(&h).await, 0, "no attempt was burned");
    assert_eq!(jobs_in(&h, JobState::Queued).await, 3);
    assert!(h.sim.sends().is_empty());

    // After the storm (real time for the simulator, injected time for us) every call goes out once.
    eventually("the dispatcher recovers from the storm", std::time::Duration::from_secs(10), async || {
        if h.sim.sends().len() >= 3 {
            return Some(());
        }
        h.clock.advance(Duration::seconds(5));
        dispatcher.step().await.unwrap();
        None
    })
    .await;
    assert_eq!(attempts_counted(&h).await, 3);
}

#[tokio::test]
async fn a_small_campaign_is_not_starved_by_a_large_one() {
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    h.dispatch_cfg.account = Caps { per_minute: Some(10), ..Caps::default() };
    let spec = |name: &str| {
        format!(
            "name = \"{name}\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = {{ \"mon-sun\" = \"09:00-17:00\" }}\n"
        )
    };
    let big: String =
        std::iter::once("phone\n".to_string()).chain((0..500).map(|i| format!("212-555-{:04}\n", 1000 + i))).collect();
    let small: String =
        std::iter::once("phone\n".to_string()).chain((0..10).map(|i| format!("312-555-{:04}\n", 1000 + i))).collect();
    let big_id = h.campaign(&spec("Big"), &big).await;
    let small_id = h.campaign(&spec("Small"), &small).await;
    let dispatcher = h.dispatcher().await;

    for _ in 0..2 {
        dispatcher.step().await.unwrap();
        h.clock.advance(Duration::seconds(61));
    }

    let per_campaign = async |id: &str| h.store.attempt_records(Some(id)).await.unwrap().len();
    assert_eq!(per_campaign(&small_id).await, 10, "the small campaign got its fair share");
    assert_eq!(per_campaign(&big_id).await, 10);
}

#[tokio::test]
async fn a_number_added_to_dnc_after_import_is_never_dialled() {
    let h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    let spec = "name = \"DNC\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n";
    h.campaign(spec, "phone\n212-555-0100\n212-555-0101\n").await;
    // Onto the list without the bulk suppression, as when a concurrent CLI's `dnc add` commits
    // after the dispatcher claimed the job.
    let number = PhoneNumber::parse("+12125550101").unwrap();
    h.store.dnc_insert_unsuppressed(&number, "asked", h.now()).await.unwrap();
    let dispatcher = h.dispatcher().await;

    dispatcher.step().await.unwrap();

    let sent: Vec<String> = h.sim.sends().into_iter().map(|s| s.phone_number).collect();
    assert_eq!(sent, vec!["+12125550100".to_string()]);
    assert_eq!(job_calling(&h, "+12125550101").await.reason.as_deref(), Some("do-not-call: asked"));
}

#[tokio::test]
async fn a_missing_variable_fails_the_job_and_filled_templates_reach_bland() {
    let h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    let spec = r#"
        name = "Templates"
        [call]
        task = "Call {{ First_Name }} about {{policy}}"
        first_sentence = "Hi {{first_name}}"
        [schedule]
        hours = { "mon-sun" = "09:00-17:00" }
    "#;
    h.campaign(spec, "first_name,policy,phone\nAda,P-1,212-555-0100\n,P-2,212-555-0101\n").await;
    let dispatcher = h.dispatcher().await;

    dispatcher.step().await.unwrap();

    let sends = h.sim.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].request["task"], "Call Ada about P-1");
    assert_eq!(sends[0].request["first_sentence"], "Hi Ada");
    assert_eq!(sends[0].request["answered_by_enabled"], true);
    assert_eq!(sends[0].request["request_data"]["policy"], "P-1");
    let job = job_calling(&h, "+12125550101").await;
    assert_eq!(job.state, JobState::Failed);
    let reason = job.reason.expect("a failed job says why");
    assert!(reason.contains("{{first_name}}"), "{reason}");
}

#[tokio::test]
async fn sends_that_fail_with_5xx_are_looked_up_and_resent_under_the_same_attempt_never_twice() {
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), SimConfig { fail_rate: 0.5, seed: 7, ..open_sim() }).await;
    h.dispatch_cfg.account = Caps::default(); // no concurrency cap: every call may go out
    let spec = "name = \"Flaky\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n[retry]\nmax_attempts = 1\n";
    let csv: String =
        std::iter::once("phone\n".to_string()).chain((0..40).map(|i| format!("212-555-{:04}\n", 1000 + i))).collect();
    h.campaign(spec, &csv).await;
    let dispatcher = h.dispatcher().await;

    for _ in 0..60 {
        dispatcher.reconcile().await.unwrap();
        dispatcher.step().await.unwrap();
        h.clock.advance(Duration::seconds(10));
    }

    let sends = h.sim.sends();
    let mut per_attempt: HashMap<String, usize> = HashMap::new();
    for s in &sends {
        *per_attempt.entry(s.metadata["switchboard_attempt_id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert!(per_attempt.values().all(|n| *n == 1), "an attempt reached Bland twice");
    let per_number: HashSet<&str> = sends.iter().map(|s| s.phone_number.as_str()).collect();
    assert_eq!((sends.len(), per_number.len()), (40, 40), "every recipient was called exactly once");
    let records = h.store.attempt_records(None).await.unwrap();
    let dialing = records.iter().filter(|a| a.state == AttemptState::Dialing).count();
    assert_eq!(dialing, 0);
    // A send proven never placed goes again under its own attempt id: one attempt per number,
    // and the ids Bland saw are the database's.
    let ids: HashSet<&str> = records.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(records.len(), 40, "one attempt per recipient, each resent under its own id");
    assert!(per_attempt.keys().all(|id| ids.contains(id.as_str())));
}

#[tokio::test]
async fn a_send_bland_answered_with_a_500_is_looked_up_after_the_short_wait_others_after_the_long_one() {
    // Half the requests answered 500 by the simulator's application (a send half the time after
    // placing the call; a lookup may fail too and is then tried again).
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), SimConfig { fail_rate: 0.5, seed: 11, ..open_sim() }).await;
    h.dispatch_cfg.account = Caps::default();
    h.dispatch_cfg.reconcile_after = Duration::minutes(10);
    h.dispatch_cfg.reconcile_answered_after = Duration::seconds(5);
    let spec = "name = \"Answered\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n[retry]\nmax_attempts = 1\n";
    let csv: String =
        std::iter::once("phone\n".to_string()).chain((0..10).map(|i| format!("212-555-{:04}\n", 1000 + i))).collect();
    h.campaign(spec, &csv).await;
    let dispatcher = h.dispatcher().await;
    dispatcher.step().await.unwrap();
    let dialing = async |h: &Harness| {
        h.store.attempt_records(None).await.unwrap().iter().filter(|a| a.state == AttemptState::Dialing).count()
    };
    let unknown = dialing(&h).await;
    assert!(unknown > 0, "some sends of unknown fate");
    h.clock.advance(Duration::seconds(4));
    assert_eq!(dispatcher.reconcile().await.unwrap(), Default::default(), "not yet: the short wait is 5 s");
    h.clock.advance(Duration::seconds(1));
    let looked = dispatcher.reconcile().await.unwrap();
    assert_eq!(looked.found + looked.requeued + looked.left, unknown as u32, "each looked up after 5 s, not 10 min");
    assert!(looked.found + looked.requeued > 0, "{looked:?}");
}

#[tokio::test]
async fn jobs_claimed_by_a_process_that_died_before_committing_their_attempts_are_dialled_once_after_restart() {
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), open_sim()).await;
    h.dispatch_cfg.account = Caps::default();
    let spec = |id: &str| {
        format!(
            "id = \"{id}\"\nname = \"{id}\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = {{ \"mon-sun\" = \"09:00-17:00\" }}\n[retry]\nmax_attempts = 1\n"
        )
    };
    let csv = |first: usize| -> String {
        std::iter::once("phone\n".to_string()).chain((first..first + 30).map(|i| format!("212-555-{i:04}\n"))).collect()
    };
    let live = h.campaign(&spec("live"), &csv(1000)).await;
    let gone = h.campaign(&spec("gone"), &csv(2000)).await;

    // A dispatcher claims 12 jobs of each campaign and dies before committing their attempts
    // (`kill -9` between the two statements): they are `dialing`, with no attempt and no call.
    for id in [&live, &gone] {
        assert_eq!(h.store.claim_due(id, h.now(), 12).await.unwrap().len(), 12);
    }
    // Meanwhile the operator cancels the second campaign.
    switchboard::campaigns::apply(&h.store, &gone, switchboard::store::CampaignAction::Cancel, h.now()).await.unwrap();

    let dispatcher = h.dispatcher().await;
    let report = dispatcher.reconcile().await.unwrap();
    assert_eq!(report.released, 24, "every orphaned claim is released");
    for _ in 0..10 {
        dispatcher.reconcile().await.unwrap();
        dispatcher.step().await.unwrap();
        h.clock.advance(Duration::seconds(10));
    }

    let sends = h.sim.sends();
    let numbers: HashSet<&str> = sends.iter().map(|s| s.phone_number.as_str()).collect();
    assert_eq!((sends.len(), numbers.len()), (30, 30), "each of the live campaign's 30 numbers dialled once");
    let live_numbers: HashSet<String> = (1000..1030).map(|i| format!("+1212555{i:04}")).collect();
    assert!(numbers.iter().all(|n| live_numbers.contains(*n)), "only the live campaign dials: {numbers:?}");
    assert_eq!(jobs_in(&h, JobState::Dialing).await, 0, "no job is left claimed");
    let cancelled = h.store.job_counts(&gone).await.unwrap().get(JobState::Cancelled);
    assert_eq!(cancelled, 30, "the cancelled campaign's claimed jobs are cancelled with it, not queued");
    assert_eq!(dispatcher.reconcile().await.unwrap(), Default::default(), "nothing left to settle");
}

#[tokio::test]
async fn calls_placed_and_waiting_for_their_record_are_not_looked_up_and_the_next_step_records_them() {
    // The daemon's loop records a step's placed calls while the next step's sends go out, and
    // reconciles in between: here with `reconcile_after` zero (the harness's), so every attempt
    // still `dialing` a moment later is due to be looked up at Bland.
    // 20:00 UTC: afternoon from New York to Honolulu.
    let h = Harness::new(at("2026-06-01T20:00:00Z"), open_sim()).await;
    let spec = "name = \"Recorded later\"\n[call]\ntask = \"Hello\"\n\
                [schedule]\nhours = { \"mon-sun\" = \"09:00-20:00\" }\n[retry]\nmax_attempts = 1\n";
    h.campaign(spec, &recipients(10)).await;
    let dispatcher = h.dispatcher().await;

    let first = dispatcher.step_leaving_records().await.unwrap();
    assert_eq!((first.claimed, first.sent), (10, 0), "placed, not recorded yet");
    assert_eq!(h.sim.sends().len(), 10);
    let dialing = |h: &Harness| {
        let store = h.store.clone();
        async move { store.attempt_records(None).await.unwrap().iter().filter(|a| a.state == AttemptState::Dialing).count() }
    };
    assert_eq!(dialing(&h).await, 10);

    h.clock.advance(Duration::seconds(1));
    let reconciled = dispatcher.reconcile().await.unwrap();
    assert_eq!(reconciled, ReconcileReport::default(), "no placed call is looked up or voided");

    let second = dispatcher.step_leaving_records().await.unwrap();
    assert_eq!((second.claimed, second.sent), (0, 10), "a step with nothing to send records them");
    let attempts = h.store.attempt_records(None).await.unwrap();
    assert!(attempts.iter().all(|a| a.state == AttemptState::InCall && a.call_id.is_some()), "{attempts:?}");
    let calls: HashSet<String> = h.sim.sends().iter().map(|s| s.call_id.clone()).collect();
    let recorded: HashSet<String> = attempts.iter().filter_map(|a| a.call_id.clone()).collect();
    assert_eq!(recorded, calls, "each attempt has its own call's id");
}
