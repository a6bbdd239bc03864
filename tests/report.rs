//! `switchboard report`: every figure checked against a campaign whose calls are known exactly,
//! from the simulator's own record (its calls, their outcomes, lengths, prices and answers),
//! counted here independently of the report's SQL; the real binary prints it.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use common::TestEnv;
use common::harness::{Harness, at};
use serde_json::{Value, json};
use switchboard::sim::SimConfig;
use switchboard::store::Outcome;

const SPEC: &str = r#"
name = "Report"
[call]
task = "Ask {{first_name}} about the renewal."
analysis_schema = { wants_renewal = "boolean", callback = "string", score = "number" }
[schedule]
hours = { "mon-sun" = "08:00-20:00" }
[retry]
max_attempts = 3
on = ["voicemail", "no_answer", "busy"]
delays = ["1m"]
"#;

/// 60 recipients in New York (212) and 40 in Chicago (312); two of them on the DNC list.
fn recipients() -> String {
    let mut csv = String::from("first_name,phone\n");
    for i in 0..60 {
        csv.push_str(&format!("N{i},212-555-{:04}\n", 1000 + i));
    }
    for i in 0..40 {
        csv.push_str(&format!("C{i},312-555-{:04}\n", 1000 + i));
    }
    csv
}

fn zone_of(phone: &str) -> &'static str {
    if phone.starts_with("+1212") { "America/New_York" } else { "America/Chicago" }
}

/// What the simulator says happened, counted by hand.
#[derive(Default)]
struct Truth {
    dials: u64,
    dialled: HashSet<String>,
    humans: HashSet<String>,
    per_recipient: HashMap<String, u64>,
    /// attempt number → outcome → calls
    by_attempt: BTreeMap<u64, BTreeMap<String, u64>>,
    by_zone: BTreeMap<String, BTreeMap<String, u64>>,
    by_hour: BTreeMap<String, BTreeMap<String, u64>>,
    minutes: f64,
    nonzero: u64,
    cost: f64,
    failures: BTreeMap<String, u64>,
    yes: u64,
    no: u64,
    callbacks: BTreeMap<String, u64>,
    scores: Vec<f64>,
}

#[tokio::test]
async fn every_figure_of_the_report_matches_the_simulators_record() {
    // 10:00 in New York, 09:00 in Chicago.
    let mut h = Harness::new(
        at("2026-06-01T14:00:00Z"),
        SimConfig { seed: 21, speed: 3000.0, requests_per_minute: 0, max_concurrent: 0, ..SimConfig::default() },
    )
    .await;
    h.dispatch_cfg.account = Default::default();
    for n in ["212-555-1003", "312-555-1007"] {
        h.store
            .dnc_add(&[switchboard::phone::PhoneNumber::parse(n).unwrap()], "asked not to be called", h.now())
            .await
            .unwrap();
    }
    let campaign = h.campaign(SPEC, &recipients()).await;
    let dispatcher = h.dispatcher().await;
    let outcomes = h.outcomes();
    h.drive_to_completion(&dispatcher, &outcomes, &campaign).await;

    // The truth: the simulator's calls, each with the dial time switchboard recorded for it.
    let dialed_at: HashMap<String, DateTime<Utc>> = h
        .store
        .attempt_records(Some(&campaign))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|a| Some((a.call_id?, a.dialed_at)))
        .collect();
    let mut calls = h.sim.calls();
    calls.sort_by_key(|c| c.created_at);
    let mut t = Truth::default();
    for c in &calls {
        let outcome = serde_json::to_value(c.outcome).unwrap().as_str().unwrap().to_string();
        let phone = c.phone_number.clone();
        let n = t.per_recipient.entry(phone.clone()).or_default();
        *n += 1;
        t.dials += 1;
        t.dialled.insert(phone.clone());
        if outcome == "human" {
            t.humans.insert(phone.clone());
            let analysis = &c.details["analysis"];
            match analysis["wants_renewal"] {
                Value::Bool(true) => t.yes += 1,
                Value::Bool(false) => t.no += 1,
                ref other => panic!("a human call answers wants_renewal: {other}"),
            }
            *t.callbacks.entry(analysis["callback"].as_str().unwrap().to_string()).or_default() += 1;
            t.scores.push(analysis["score"].as_f64().unwrap());
        }
        if outcome == "failed" {
            *t.failures.entry(c.details["error_message"].as_str().unwrap().to_string()).or_default() += 1;
        }
        *t.by_attempt.entry(*n).or_default().entry(outcome.clone()).or_default() += 1;
        let zone = zone_of(&phone);
        *t.by_zone.entry(zone.to_string()).or_default().entry(outcome.clone()).or_default() += 1;
        let tz: Tz = zone.parse().unwrap();
        let hour = dialed_at[&c.call_id].with_timezone(&tz).hour();
        *t.by_hour.entry(format!("{hour:02}:00")).or_default().entry(outcome).or_default() += 1;
        t.minutes += c.call_length_minutes;
        t.nonzero += u64::from(c.call_length_minutes > 0.0);
        t.cost += c.price;
    }
    assert!(t.humans.len() > 10 && t.by_attempt.len() >= 2, "the seed gives humans and retries");
    assert!(!t.failures.is_empty(), "and carrier failures");

    // The real binary's report.
    let env = TestEnv::at(&h.store);
    let run = env.ok(["report", campaign.as_str(), "--json"]);
    let r: Value = serde_json::from_str(&run.stdout).unwrap();

    let f = &r["funnel"];
    assert_eq!(f["recipients"], 100);
    assert_eq!(f["suppressed"], 2);
    assert_eq!(f["dialled"], t.dialled.len());
    assert_eq!(f["reached_human"], t.humans.len());
    assert_eq!(f["pending"], 0);
    close(&f["list_penetration"], t.dialled.len() as f64 / 98.0);
    close(&f["contact_rate"], t.humans.len() as f64 / t.dialled.len() as f64);
    // Each recipient's final outcome is its last call's.
    let mut finals: BTreeMap<String, u64> = BTreeMap::new();
    let mut last: HashMap<&str, &str> = HashMap::new();
    for c in &calls {
        last.insert(&c.phone_number, outcome_name(c));
    }
    for o in last.values() {
        *finals.entry(o.to_string()).or_default() += 1;
    }
    assert_eq!(r["funnel"]["final_outcomes"], json!(finals));

    let mut per: BTreeMap<u64, u64> = BTreeMap::new();
    for n in t.per_recipient.values() {
        *per.entry(*n).or_default() += 1;
    }
    let got: BTreeMap<u64, u64> = r["dials_per_recipient"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["dials"].as_u64().unwrap(), d["recipients"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, per);

    let got: BTreeMap<u64, Value> = r["retry_yield"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| (y["attempt_no"].as_u64().unwrap(), y["outcomes"].clone()))
        .collect();
    assert_eq!(got, t.by_attempt.iter().map(|(k, v)| (*k, json!(v))).collect());
    let share: f64 = r["retry_yield"].as_array().unwrap().iter().map(|y| y["share_of_humans"].as_f64().unwrap()).sum();
    close(&json!(share), 1.0);

    assert_eq!(breakdown(&r["by_zone"]), t.by_zone);
    assert_eq!(breakdown(&r["by_local_hour"]), t.by_hour);

    close(&r["minutes"]["total"], t.minutes);
    close(&r["minutes"]["mean"], t.minutes / t.dials as f64);
    close(&r["minutes"]["mean_nonzero"], t.minutes / t.nonzero as f64);
    let histogram: u64 =
        r["minutes"]["histogram"].as_array().unwrap().iter().map(|b| b["dials"].as_u64().unwrap()).sum();
    assert_eq!(histogram, t.dials);
    close(&r["cost"]["total_usd"], t.cost);
    close(&r["cost"]["per_dial_usd"], t.cost / t.dials as f64);
    close(&r["cost"]["per_human_contact_usd"], t.cost / t.humans.len() as f64);

    let failures: BTreeMap<String, u64> = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["reason"].as_str().unwrap().to_string(), f["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(failures, t.failures);

    let answers = r["answers"].as_array().unwrap();
    let field = |name: &str| answers.iter().find(|a| a["field"] == name).unwrap_or_else(|| panic!("no field {name}"));
    let renew = field("wants_renewal");
    assert_eq!((renew["yes"].as_u64(), renew["no"].as_u64()), (Some(t.yes), Some(t.no)));
    assert_eq!(renew["answered"], t.yes + t.no);
    assert_eq!(renew["source"], "analysis_schema");
    let callback = field("callback");
    let values: BTreeMap<String, u64> = callback["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["reason"].as_str().unwrap().to_string(), v["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(values, t.callbacks);
    let score = &field("score")["numeric"];
    let min = t.scores.iter().copied().fold(f64::INFINITY, f64::min);
    let max = t.scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    close(&score["min"], min);
    close(&score["max"], max);
    close(&score["mean"], t.scores.iter().sum::<f64>() / t.scores.len() as f64);
    assert_eq!(score["count"], t.scores.len());

    // The table for people says the same.
    let table = env.ok(["report", campaign.as_str()]).stdout;
    for (label, n) in [("dialled at least once", t.dialled.len()), ("reached a human", t.humans.len())] {
        let line =
            table.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no {label}:\n{table}"));
        assert_eq!(line[label.len() + 2..].split_whitespace().next(), Some(n.to_string().as_str()), "{line}");
    }
    assert!(table.contains("Retry yield") && table.contains("America/Chicago") && table.contains("wants_renewal"));
}

#[tokio::test]
async fn the_period_counts_only_the_dials_made_in_it() {
    let mut h = Harness::new(
        at("2026-06-01T14:00:00Z"),
        SimConfig { seed: 21, speed: 3000.0, requests_per_minute: 0, max_concurrent: 0, ..SimConfig::default() },
    )
    .await;
    h.dispatch_cfg.account = Default::default();
    let campaign = h.campaign(SPEC, &recipients()).await;
    let dispatcher = h.dispatcher().await;
    let outcomes = h.outcomes();
    h.drive_to_completion(&dispatcher, &outcomes, &campaign).await;
    let attempts = h.store.attempt_records(Some(&campaign)).await.unwrap();
    let second_round = attempts.iter().filter(|a| a.attempt_no >= 2).map(|a| a.dialed_at).min().unwrap();
    let later = attempts.iter().filter(|a| a.dialed_at >= second_round).count();

    let env = TestEnv::at(&h.store);
    let since = second_round.to_rfc3339();
    let r: Value =
        serde_json::from_str(&env.ok(["report", campaign.as_str(), "--json", "--since", &since]).stdout).unwrap();
    let dials: u64 = r["retry_yield"].as_array().unwrap().iter().map(|y| y["dials"].as_u64().unwrap()).sum();
    assert_eq!(dials, later as u64);
    assert_eq!(r["funnel"]["recipients"], 100, "recipients are counted whatever the period");
    let r: Value =
        serde_json::from_str(&env.ok(["report", campaign.as_str(), "--json", "--until", &since]).stdout).unwrap();
    let dials: u64 = r["retry_yield"].as_array().unwrap().iter().map(|y| y["dials"].as_u64().unwrap()).sum();
    assert_eq!(dials, (attempts.len() - later) as u64);

    let bad = env.run(["report", campaign.as_str(), "--since", "yesterday"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("`yesterday` is not a time"), "{}", bad.stderr);
    let empty = env.run(["report", campaign.as_str(), "--since", "2026-06-02", "--until", "2026-06-01"]);
    assert_eq!(empty.code, 2, "{}", empty.stderr);
    let missing = env.run(["report", "no-such-campaign"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("no-such-campaign"), "{}", missing.stderr);
}

fn outcome_name(c: &switchboard::sim::SimCall) -> &'static str {
    let name = serde_json::to_value(c.outcome).unwrap();
    Outcome::ALL.iter().find(|o| o.as_str() == name).expect("the simulator's outcomes are ours").as_str()
}

fn breakdown(rows: &Value) -> BTreeMap<String, BTreeMap<String, u64>> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let outcomes =
                b["outcomes"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
            (b["key"].as_str().unwrap().to_string(), outcomes)
        })
        .collect()
}

fn close(got: &Value, want: f64) {
    let got = got.as_f64().unwrap_or_else(|| panic!("{got} is not a number"));
    assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{got} != {want}");
}

#[tokio::test]
async fn the_answers_to_analysis_questions_are_the_distribution_of_what_bland_answered() {
    let spec = SPEC.replace(
        "[retry]",
        "[analysis]\ngoal = \"Renewals\"\nquestions = [[\"Will they renew?\", \"boolean\"], \
         [\"How many cars?\", \"number\"], [\"Best time to call back?\", \"string\"]]\n[retry]",
    );
    let sim = SimConfig { seed: 8, speed: 3000.0, requests_per_minute: 0, max_concurrent: 0, ..SimConfig::default() };
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), sim).await;
    h.dispatch_cfg.account = Default::default();
    let campaign = h.campaign(&spec, &recipients()).await;
    let dispatcher = h.dispatcher().await;
    let outcomes = h.outcomes();
    h.drive_to_completion(&dispatcher, &outcomes, &campaign).await;
    h.clock.advance(chrono::Duration::minutes(5));
    let worker = h.analysis_worker(h.store.clone(), 16, switchboard::analysis::Work::Daemon);
    common::harness::drain(&worker).await;

    // What the simulator answers for each call it connected to a person.
    let questions: Vec<(String, String)> =
        [("Will they renew?", "boolean"), ("How many cars?", "number"), ("Best time to call back?", "string")]
            .iter()
            .map(|(q, t)| (q.to_string(), t.to_string()))
            .collect();
    let (mut yes, mut no, mut cars, mut times) = (0u64, 0u64, Vec::new(), BTreeMap::<String, u64>::new());
    let humans: Vec<_> = h.sim.calls().into_iter().filter(|c| outcome_name(c) == "human").collect();
    assert!(humans.len() > 10);
    for c in &humans {
        let a = h.sim.analysis_answers(&c.call_id, &questions).expect("the simulator answers a call it placed");
        match a[0] {
            Value::Bool(true) => yes += 1,
            Value::Bool(false) => no += 1,
            ref other => panic!("a boolean answer: {other}"),
        }
        cars.push(a[1].as_f64().unwrap());
        *times.entry(a[2].as_str().unwrap().to_string()).or_default() += 1;
    }

    let env = TestEnv::at(&h.store);
    let r: Value = serde_json::from_str(&env.ok(["report", campaign.as_str(), "--json"]).stdout).unwrap();
    let answers = r["answers"].as_array().unwrap();
    let field = |name: &str| {
        answers.iter().find(|a| a["field"] == name && a["source"] == "question").unwrap_or_else(|| panic!("{name}"))
    };
    let renew = field("Will they renew?");
    assert_eq!((renew["yes"].as_u64(), renew["no"].as_u64()), (Some(yes), Some(no)));
    assert_eq!(renew["declared_type"], "boolean");
    let n = &field("How many cars?")["numeric"];
    assert_eq!(n["count"], cars.len());
    close(&n["mean"], cars.iter().sum::<f64>() / cars.len() as f64);
    close(&n["min"], cars.iter().copied().fold(f64::INFINITY, f64::min));
    close(&n["max"], cars.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let values: BTreeMap<String, u64> = field("Best time to call back?")["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["reason"].as_str().unwrap().to_string(), v["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(values, times);
}

#[tokio::test]
async fn report_and_show_print_times_in_the_zone_asked_for() {
    let h = Harness::new(at("2026-06-01T14:00:00Z"), SimConfig { speed: 3000.0, ..SimConfig::default() }).await;
    let campaign = h.campaign(SPEC, &recipients()).await;
    let env = TestEnv::at(&h.store);
    let utc = env.ok(["report", campaign.as_str(), "--since", "2026-06-01T14:00:00Z"]).stdout;
    assert!(utc.contains("Dials from 2026-06-01 14:00 UTC"), "{utc}");
    let ny =
        env.ok(["report", campaign.as_str(), "--since", "2026-06-01T14:00:00Z", "--tz", "America/New_York"]).stdout;
    assert!(ny.contains("Dials from 2026-06-01 10:00 EDT"), "{ny}");
    let show = env.ok(["campaign", "show", campaign.as_str(), "--tz", "Pacific/Honolulu"]).stdout;
    assert!(show.contains("created   2026-06-01 04:00 HST"), "{show}");
    let bad = env.run(["report", campaign.as_str(), "--tz", "Mars/Olympus"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}
