//! The counters (`job_counters`, and the report's `dial_counters`, `dial_quarters`,
//! `recipient_counters`, `failure_counters`, `answer_counters`, kept by the transactions that
//! move jobs and write attempts) against a full recount of the jobs and attempts, after a chaotic
//! run: two campaigns dialled at once with send failures, retries, a second import mid-run,
//! numbers put on the DNC list mid-run, a pause and a resume, and a cancel.

mod common;

use std::collections::BTreeMap;

use common::harness::{Harness, at};
use serde_json::Value;
use switchboard::campaigns;
use switchboard::import::{ImportOptions, import_file};
use switchboard::phone::PhoneNumber;
use switchboard::report;
use switchboard::sim::SimConfig;
use switchboard::store::Period;
use switchboard::store::{AttemptState, CampaignAction, JobState, Store};

const SPEC: &str = "name = \"NAME\"\n[call]\ntask = \"Hello\"\n\
                    analysis_schema = { renew = \"boolean\", note = \"string\", score = \"number\" }\n[schedule]\nhours = { \"mon-sun\" = \"08:00-20:00\" }\n\
                    [retry]\nmax_attempts = 3\non = [\"voicemail\", \"no_answer\", \"busy\"]\ndelays = [\"1m\"]\n";

fn numbers(area: &str, from: usize, n: usize) -> String {
    std::iter::once("phone\n".to_string())
        .chain((from..from + n).map(|i| format!("{area}-555-{:04}\n", 1000 + i)))
        .collect()
}

/// What the counters say and what a recount of the jobs says, for one campaign.
async fn counted_and_recounted(store: &Store, id: &str) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let counts = store.job_counts(id).await.unwrap();
    let mut counted: BTreeMap<String, i64> =
        counts.iter().filter(|(_, n)| *n != 0).map(|(s, n)| (format!("state {s}"), n)).collect();
    for (o, n) in store.outcome_counts(id).await.unwrap() {
        counted.insert(format!("outcome {o}"), n);
    }
    let mut recount: BTreeMap<String, i64> = BTreeMap::new();
    for j in store.job_records(Some(id)).await.unwrap() {
        *recount.entry(format!("state {}", j.state)).or_default() += 1;
        if let Some(o) = j.outcome {
            *recount.entry(format!("outcome {o}")).or_default() += 1;
        }
    }
    // And the calls: by outcome, or by state while they have none.
    let calls = store.call_counts(id).await.unwrap();
    for (o, n) in &calls.by_outcome {
        counted.insert(format!("call {o}"), *n);
    }
    for (s, n) in &calls.open {
        counted.insert(format!("call {s}"), *n);
    }
    for a in store.attempt_records(Some(id)).await.unwrap() {
        if a.state == AttemptState::NotSent {
            continue;
        }
        let key = a.outcome.map_or_else(|| format!("call {}", a.state), |o| format!("call {o}"));
        *recount.entry(key).or_default() += 1;
    }
    counted.retain(|_, n| *n != 0);
    (counted, recount)
}

/// `got` and `want` are the same JSON, numbers equal to 1e-9 (sums kept by adding and taking
/// back differ from a fresh sum in the last bits).
fn assert_same(got: &Value, want: &Value, path: &str) {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{path}: {g} != {w}");
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{path}: {got} != {want}");
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                assert_same(g, w, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(g), Value::Object(w)) => {
            assert_eq!(g.keys().collect::<Vec<_>>(), w.keys().collect::<Vec<_>>(), "{path}");
            for (k, g) in g {
                assert_same(g, &w[k], &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}

#[tokio::test]
async fn the_counters_equal_a_recount_after_a_chaotic_run() {
    let sim = SimConfig {
        seed: 3,
        speed: 3000.0,
        fail_rate: 0.2,
        requests_per_minute: 0,
        max_concurrent: 0,
        ..SimConfig::default()
    };
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), sim).await;
    h.dispatch_cfg.account = Default::default();
    let a = h.campaign(&SPEC.replace("NAME", "Chaos A"), &numbers("212", 0, 120)).await;
    let b = h.campaign(&SPEC.replace("NAME", "Chaos B"), &numbers("312", 0, 80)).await;
    let dispatcher = h.dispatcher().await;
    let outcomes = h.outcomes();
    let mut round = 0;
    h.drive(&dispatcher, &outcomes, "the chaos plays out", async |h| {
        round += 1;
        // Sends whose fate the 500s left unknown are looked up (and voided or found).
        dispatcher.reconcile().await.unwrap();
        let now = h.now();
        match round {
            // More recipients for A, some of them already there (duplicates).
            3 => {
                let spec = campaigns::stored_spec(&h.store, &h.config, &a).await.unwrap();
                let file = h.dir.path().join("more.csv");
                std::fs::write(&file, numbers("212", 100, 60)).unwrap();
                import_file(&h.store, &spec, &file, &ImportOptions::default(), now).await.unwrap();
            }
            // Numbers of both campaigns onto the DNC list while they are queued or waiting.
            4 => {
                let phones: Vec<PhoneNumber> = (150..160)
                    .map(|i| format!("212-555-{:04}", 1000 + i))
                    .chain((60..70).map(|i| format!("312-555-{:04}", 1000 + i)))
                    .map(|n| PhoneNumber::parse(&n).unwrap())
                    .collect();
                h.store.dnc_add(&phones, "asked not to be called", now).await.unwrap();
            }
            5 => {
                campaigns::apply(&h.store, &a, CampaignAction::Pause, now).await.unwrap();
            }
            7 => {
                campaigns::apply(&h.store, &a, CampaignAction::Resume, now).await.unwrap();
                campaigns::apply(&h.store, &b, CampaignAction::Cancel, now).await.unwrap();
            }
            _ => {}
        }
        round > 7 && h.store.job_counts(&a).await.unwrap().open() == 0
    })
    .await;

    for id in [&a, &b] {
        let (counted, recount) = counted_and_recounted(&h.store, id).await;
        assert_eq!(counted, recount, "campaign {id}: the counters and a recount differ");
    }
    // The report read from its counters (the whole campaign) and from its scans (a period that
    // holds every dial) are the same report.
    for id in [&a, &b] {
        let now = h.now();
        let counters = report::report(&h.store, &h.config, id, Period::default(), now).await.unwrap();
        let everything = Period { since: Some(at("2026-01-01T00:00:00Z")), until: None };
        let scans = report::report(&h.store, &h.config, id, everything, now).await.unwrap();
        let (mut counters, mut scans) =
            (serde_json::to_value(&counters).unwrap(), serde_json::to_value(&scans).unwrap());
        counters["period"] = Value::Null;
        scans["period"] = Value::Null;
        assert!(counters["funnel"]["dialled"].as_u64().unwrap() > 0, "campaign {id} was dialled");
        assert_same(&counters, &scans, &format!("campaign {id}'s report"));
    }
    let answers = report::report(&h.store, &h.config, &a, Period::default(), h.now()).await.unwrap().answers;
    assert!(
        answers.iter().any(|f| f.numeric.is_some()) && answers.iter().any(|f| f.yes + f.no > 0),
        "the chaos left answers to count: {answers:?}"
    );
    let (a_counts, _) = counted_and_recounted(&h.store, &a).await;
    assert!(
        a_counts.get("state suppressed").is_some_and(|n| *n > 0),
        "the DNC additions moved queued jobs: {a_counts:?}"
    );
    assert!(h.store.job_counts(&b).await.unwrap().get(JobState::Cancelled) > 0, "the cancel caught queued jobs");
    assert_eq!(h.store.job_counts(&a).await.unwrap().total(), 160, "120 and 60 more, 20 of them already there");
}

#[tokio::test]
async fn show_splits_the_queue_into_dialable_waiting_for_a_window_and_held_by_a_cap() {
    // 14:00 UTC on a Monday: 10:00 in New York (open), 04:00 in Honolulu (opens at 09:00 HST).
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), SimConfig { speed: 3000.0, ..SimConfig::default() }).await;
    h.dispatch_cfg.account = Default::default();
    // The ledger's cap alone: the step fills the minute's ten at once.
    h.dispatch_cfg.pacing = false;
    let spec = "name = \"Split\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-20:00\" }\n\
                [limits]\ncalls_per_minute = 10\n";
    let csv = format!("{}{}", numbers("212", 0, 30), numbers("808", 0, 20).trim_start_matches("phone\n"));
    let id = h.campaign(spec, &csv).await;
    let dispatcher = h.dispatcher().await;
    dispatcher.step().await.unwrap();

    let s = campaigns::summary(&h.store, &h.config, &id, h.now()).await.unwrap();
    let q = s.queue.expect("a running campaign has a queue");
    assert_eq!(q.dialable_now, 20, "30 New Yorkers, 10 dialled under the cap");
    assert_eq!(q.held_by_cap.as_deref(), Some("campaign calls_per_minute (10 of 10)"));
    assert_eq!(q.waiting_for_window.len(), 1);
    let w = &q.waiting_for_window[0];
    assert_eq!((w.zones.as_str(), w.jobs), ("Pacific/Honolulu", 20));
    assert_eq!(w.next_opening, Some(at("2026-06-01T19:00:00Z")));
    assert_eq!(w.next_opening_local.as_deref(), Some("2026-06-01 09:00 HST"));
    // The 20 New Yorkers left at 10 a minute by 14:02, then the 20 in Honolulu from 19:00 at
    // 10 a minute: the last call in the minute from 19:01.
    assert_eq!(q.forecast_finish, Some(at("2026-06-01T19:02:00Z")));

    // The CLI prints the split (on the real clock, so only its shape is certain here).
    let env = common::TestEnv::at(&h.store);
    let show = env.ok(["campaign", "show", id.as_str()]).stdout;
    assert!(show.contains("dialable now"), "{show}");
    assert!(!show.contains("1970"), "a due time of 'as soon as the window allows' is not printed as 1970:\n{show}");
}
