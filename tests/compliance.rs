//! The compliance engine against the simulator: spend limits (a campaign's and the account's),
//! opt-outs onto the do-not-call list with their call's outcome, and automatic safety stops.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::harness::{Harness, at};
use switchboard::campaigns;
use switchboard::sim::{OutcomeMix, SimConfig};
use switchboard::store::{CampaignState, JobState, Period};

fn numbers(area: &str, n: usize) -> String {
    std::iter::once("phone\n".to_string()).chain((0..n).map(|i| format!("{area}-555-{:04}\n", 1000 + i))).collect()
}

fn sim(seed: u64) -> SimConfig {
    SimConfig { seed, speed: 3000.0, requests_per_minute: 0, max_concurrent: 0, ..SimConfig::default() }
}

/// The sum of what the simulator charged, per campaign id in the calls' metadata.
fn charged(h: &Harness) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for c in h.sim.calls() {
        let campaign = c.metadata["switchboard_campaign_id"].as_str().unwrap_or_default().to_string();
        *out.entry(campaign).or_default() += c.price;
    }
    out
}

/// Drives until nothing more is dialled: no call in flight and three rounds without a new one.
async fn drive_until_quiet(
    h: &Harness,
    dispatcher: &switchboard::dispatcher::Dispatcher,
    outcomes: &switchboard::outcomes::Outcomes,
) {
    let (mut last, mut quiet) = (usize::MAX, 0);
    h.drive(dispatcher, outcomes, "dialling stops", async |h| {
        let placed = h.sim.calls().len();
        let open = h.store.open_calls(h.now()).await.unwrap().values().sum::<u32>();
        quiet = if placed == last && open == 0 { quiet + 1 } else { 0 };
        last = placed;
        quiet >= 3
    })
    .await;
}

// max_duration 2 min: each dial reserves 0.015 + 2 × 0.09 = 0.195 USD until its price is known.
const WORST: f64 = 0.195;

#[tokio::test]
async fn a_campaign_stops_dialling_before_its_spend_limit_would_be_crossed() {
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), sim(5)).await;
    h.dispatch_cfg.account = Default::default();
    let spec = "name = \"Budget\"\n[call]\ntask = \"Hello\"\nmax_duration = 2\n[schedule]\n\
                hours = { \"mon-sun\" = \"08:00-20:00\" }\n[limits]\nmax_spend_usd = 2.5\nmax_concurrent = 4\n";
    let id = h.campaign(spec, &numbers("212", 80)).await;
    let dispatcher = h.dispatcher().await;
    let outcomes = h.outcomes();
    drive_until_quiet(&h, &dispatcher, &outcomes).await;

    let spent = charged(&h)[&id];
    assert!(spent <= 2.5, "the campaign spent {spent} USD over its 2.5 limit");
    assert!(2.5 - spent < WORST, "it stopped while another call's worst case still fitted: {spent} of 2.5");
    let s = campaigns::summary(&h.store, &h.config, &id, h.now()).await.unwrap();
    assert!(s.counts.get(JobState::Queued) > 0, "recipients are left: the limit, not the list, stopped it");
    assert!((s.spend.spent_usd - spent).abs() < 1e-9, "show counts what Bland charged: {:?} vs {spent}", s.spend);
    let held = s.queue.and_then(|q| q.held_by_cap).unwrap_or_default();
    assert!(held.starts_with("campaign max_spend_usd"), "show names the limit: {held:?}");
    let report = switchboard::report::report(&h.store, &h.config, &id, Period::default(), h.now()).await.unwrap();
    assert_eq!(report.cost.limit_usd, Some(2.5));
    assert!((report.cost.spent_usd - spent).abs() < 1e-9);
}

#[tokio::test]
async fn the_accounts_daily_spend_limit_holds_across_campaigns() {
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), sim(6)).await;
    h.dispatch_cfg.account = Default::default();
    h.dispatch_cfg.max_spend_usd_per_day = Some(3.0);
    let spec = |name: &str| {
        format!(
            "name = \"{name}\"\n[call]\ntask = \"Hello\"\nmax_duration = 2\n[schedule]\n\
             hours = {{ \"mon-sun\" = \"08:00-20:00\" }}\n[limits]\nmax_concurrent = 3\n"
        )
    };
    let a = h.campaign(&spec("Day A"), &numbers("212", 60)).await;
    let b = h.campaign(&spec("Day B"), &numbers("312", 60)).await;
    let dispatcher = h.dispatcher().await;
    let outcomes = h.outcomes();
    drive_until_quiet(&h, &dispatcher, &outcomes).await;

    let by_campaign = charged(&h);
    let spent: f64 = by_campaign.values().sum();
    assert!(spent <= 3.0, "the account spent {spent} USD in a day over its 3.0 limit");
    assert!(3.0 - spent < WORST, "it stopped while another call's worst case still fitted: {spent} of 3.0");
    assert!(by_campaign.get(&a).is_some_and(|x| *x > 0.0) && by_campaign.get(&b).is_some_and(|x| *x > 0.0));
}

#[tokio::test]
async fn a_person_who_asks_not_to_be_called_again_goes_on_the_dnc_list_with_the_call_and_is_never_called_again() {
    // Every call reaches a person; a third of them say "Please stop calling me.", and the schema's
    // `do_not_call` answer (random yes/no) is the campaign's opt-out field.
    let mix = OutcomeMix { human: 0.7, voicemail: 0.3, no_answer: 0.0, busy: 0.0, failed: 0.0 };
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), SimConfig { mix, opt_out_rate: 0.3, ..sim(7) }).await;
    h.dispatch_cfg.account = Default::default();
    let spec = |name: &str, cpm: u32| {
        format!(
            "name = \"{name}\"\n[call]\ntask = \"Hello\"\nanalysis_schema = {{ do_not_call = \"boolean\" }}\n\
             [schedule]\nhours = {{ \"mon-sun\" = \"08:00-20:00\" }}\n[limits]\ncalls_per_minute = {cpm}\n\
             [compliance]\nopt_out_field = \"do_not_call\"\n[retry]\nmax_attempts = 3\non = [\"voicemail\"]\n\
             delays = [\"1m\"]\n"
        )
    };
    // The same forty people in two campaigns; the second dials slowly, so most of its calls to
    // them are still ahead when the first campaign's calls record their opt-outs.
    let fast = h.campaign(&spec("Fast", 100), &numbers("212", 40)).await;
    let slow = h.campaign(&spec("Slow", 2), &numbers("212", 40)).await;
    let dispatcher = h.dispatcher().await;
    let outcomes = h.outcomes();
    h.drive(&dispatcher, &outcomes, "both campaigns complete", async |h| {
        let mut done = true;
        for id in [&fast, &slow] {
            done &= h.store.campaign(id).await.unwrap().state == CampaignState::Completed;
        }
        done
    })
    .await;

    // The truth: the calls in which the person opted out, by the phrase or by the field.
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in h.sim.calls() {
        let by_field = c.details["analysis"]["do_not_call"] == serde_json::json!(true);
        if c.completed && (c.opted_out || by_field) && c.outcome == switchboard::sim::SimOutcome::Human {
            expected.entry(c.phone_number.clone()).or_default().insert(c.call_id.clone());
        }
    }
    assert!(expected.len() >= 5, "the run produced opt-outs to check: {}", expected.len());
    let dnc = h.store.dnc_list().await.unwrap();
    let listed: BTreeSet<&str> = dnc.iter().map(|e| e.phone.as_str()).collect();
    assert_eq!(listed, expected.keys().map(String::as_str).collect(), "exactly the people who opted out are listed");
    for e in &dnc {
        let calls = &expected[&e.phone];
        assert!(
            calls.iter().any(|id| e.reason.contains(id.as_str())),
            "{}: the reason names the call: {}",
            e.phone,
            e.reason
        );
        // Nothing dialled the number after its opt-out was recorded (the clock moves a minute per round).
        for a in h.store.attempt_records(None).await.unwrap().iter().filter(|a| a.phone.as_str() == e.phone) {
            assert!(
                a.dialed_at <= e.added_at,
                "{} was dialled at {} after opting out at {}",
                e.phone,
                a.dialed_at,
                e.added_at
            );
        }
    }
    let suppressed =
        h.store.job_records(Some(&slow)).await.unwrap().into_iter().filter(|j| j.state == JobState::Suppressed).count();
    assert!(suppressed > 0, "the slow campaign's jobs for those people were suppressed");
}

#[tokio::test]
async fn a_campaign_whose_calls_mostly_fail_pauses_itself_and_says_why() {
    let mix = OutcomeMix { human: 0.1, voicemail: 0.1, no_answer: 0.0, busy: 0.0, failed: 0.8 };
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), SimConfig { mix, ..sim(8) }).await;
    h.dispatch_cfg.account = Default::default();
    h.dispatch_cfg.safety.window = 20;
    let spec = "name = \"Broken\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"08:00-20:00\" }\n\
                [limits]\ncalls_per_minute = 10\n";
    let id = h.campaign(spec, &numbers("212", 200)).await;
    let dispatcher = h.dispatcher().await;
    let outcomes = h.outcomes();
    h.drive(&dispatcher, &outcomes, "the campaign pauses itself", async |h| {
        h.store.campaign(&id).await.unwrap().state == CampaignState::Paused
    })
    .await;
    let row = h.store.campaign(&id).await.unwrap();
    let reason = row.paused_reason.unwrap_or_default();
    assert!(reason.starts_with("safety stop:") && reason.contains("failed"), "{reason}");
    let placed = h.sim.calls().len();
    assert!(placed < 200, "it stopped long before the list's end: {placed} calls");

    // Resumed, it is judged on its new calls only: it dials again before it stops again.
    campaigns::apply(&h.store, &id, switchboard::store::CampaignAction::Resume, h.now()).await.unwrap();
    dispatcher.step().await.unwrap();
    assert!(h.sim.calls().len() > placed, "the operator's resume dials again");
}

/// Area codes of states with every kind of rule, and of states with none: (area code, state).
const AREAS: [(&str, &str); 10] = [
    ("305", "FL"),
    ("405", "OK"),
    ("410", "MD"),
    ("401", "RI"),
    ("205", "AL"),
    ("504", "LA"),
    ("601", "MS"),
    ("801", "UT"),
    ("206", "WA"),
    ("214", "TX"),
];

/// Whether a call at `at` to `phone` (with `column_state` from the file, if any) kept every rule:
/// the federal hours in every zone of the number, and for telemarketing each state's rules (the
/// file's and the area code's) on the recipient's local date there.
fn broken_rule(
    phone: &switchboard::phone::PhoneNumber,
    column_state: Option<switchboard::compliance::Region>,
    telemarketing: bool,
    at: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    use chrono::Timelike;
    let rules = switchboard::compliance::RuleSet::builtin();
    let mut regions: Vec<_> = switchboard::compliance::Region::for_number(phone).to_vec();
    regions.extend(column_state);
    for zone in phone.time_zones() {
        let local = at.with_timezone(zone);
        let secs = local.num_seconds_from_midnight();
        if !(8 * 3600..21 * 3600).contains(&secs) {
            return Some(format!("{phone} called at {local} ({zone}): outside 08:00-21:00"));
        }
        if telemarketing {
            let day = rules.day_spans(&regions, local.date_naive());
            if !day.contains(secs) {
                return Some(format!(
                    "{phone} ({regions:?}) called at {local}: {:?} {:?}",
                    day.spans(),
                    day.closed_reason()
                ));
            }
        }
    }
    None
}

#[tokio::test]
async fn a_campaign_over_many_states_across_a_holiday_and_a_sunday_breaks_no_rule_by_the_simulators_log() {
    use switchboard::compliance::{Region, RuleSet, rolling_cap_allows};
    // Thursday 24 December 2026, 08:00 in New York, to Monday morning: Christmas (a legal holiday in
    // AL, LA, RI, UT), a Saturday (RI: 10:00-17:00) and a Sunday (banned in AL, LA, MS, RI).
    let start = at("2026-12-24T13:00:00Z");
    let mix = OutcomeMix { human: 0.1, voicemail: 0.3, no_answer: 0.5, busy: 0.1, failed: 0.0 };
    let mut h = Harness::new(start, SimConfig { mix, speed: 20_000.0, ..sim(9) }).await;
    h.dispatch_cfg.account = Default::default();
    // The per-number daily cap far above the states' 3 a day: the state caps must hold by themselves.
    h.dispatch_cfg.max_calls_per_number_per_day = 10;
    let spec = |name: &str, purpose: &str| {
        format!(
            "name = \"{name}\"\n[call]\ntask = \"Hello\"\nmax_duration = 3\n[schedule]\n\
             hours = {{ \"mon-sun\" = \"08:00-21:00\" }}\n[compliance]\npurpose = \"{purpose}\"\nsubject = \"renewals\"\n\
             [retry]\nmax_attempts = 8\non = [\"voicemail\", \"no_answer\", \"busy\"]\ndelays = [\"20m\"]\n"
        )
    };
    // Four people in each state; one New York number whose file says Florida (both apply).
    let mut csv = String::from("phone,state\n");
    for (area, _) in AREAS {
        for i in 0..4 {
            csv.push_str(&format!("{area}-555-{:04},\n", 1000 + i));
        }
    }
    csv.push_str("212-555-1999,Florida\n");
    let _id_a = h.campaign(&spec("Renewals A", "telemarketing"), &csv).await;
    // A second campaign on the same subject to the same Florida, Oklahoma and Maryland people: the
    // states' 3 calls a day count both.
    let same_subject: String = std::iter::once("phone\n".to_string())
        .chain(
            ["305", "405", "410"].iter().flat_map(|area| (0..4).map(move |i| format!("{area}-555-{:04}\n", 1000 + i))),
        )
        .collect();
    let _id_b = h.campaign(&spec("Renewals B", "telemarketing"), &same_subject).await;
    // An informational campaign to Rhode Island: federal hours only, Sundays and holidays included.
    // It starts on Sunday morning.
    let notices = spec("Notices", "informational")
        .replace("renewals", "notices")
        .replace("[schedule]\n", "[schedule]\nstart = \"2026-12-27T14:00:00Z\"\n");
    let id_c = h.campaign(&notices, &numbers("401", 4)).await;
    let dispatcher = h.dispatcher().await;
    let outcomes = h.outcomes();
    // A blackout of Louisiana for Friday afternoon to Saturday night (UTC), added as the run starts.
    let (lb_from, lb_until) = (at("2026-12-25T18:00:00Z"), at("2026-12-27T02:00:00Z"));
    let la = Region::parse("LA").unwrap();
    h.store.blackout_add(Some(la), None, lb_from, lb_until, "storm", h.now()).await.unwrap();
    let end = at("2026-12-28T12:00:00Z");
    h.drive_every(chrono::Duration::minutes(10), &dispatcher, &outcomes, "four days of dialling", async |h| {
        h.now() >= end
    })
    .await;

    let attempts: std::collections::HashMap<String, switchboard::store::AttemptRecord> = h
        .store
        .attempt_records(None)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|a| Some((a.call_id.clone()?, a)))
        .collect();
    let version = RuleSet::builtin().version().to_string();
    let florida = Region::parse("FL").unwrap();
    let mut by_number: BTreeMap<String, Vec<chrono::DateTime<chrono::Utc>>> = BTreeMap::new();
    let mut informational_on_sunday = 0;
    let calls = h.sim.calls();
    assert!(calls.len() > 150, "a real run: {} calls", calls.len());
    for call in &calls {
        // The simulator's log names the call; switchboard's record says when it was dialled.
        let a = attempts
            .get(&call.call_id)
            .unwrap_or_else(|| panic!("a call switchboard has no record of: {}", call.call_id));
        let phone = switchboard::phone::PhoneNumber::parse(&call.phone_number).unwrap();
        let telemarketing = a.campaign_id != id_c;
        let column = (call.phone_number == "+12125551999").then_some(florida);
        if let Some(broken) = broken_rule(&phone, column, telemarketing, a.dialed_at) {
            panic!("campaign {}: {broken}", a.campaign_id);
        }
        let regions = Region::for_number(&phone);
        assert!(
            !(regions.contains(&la) && lb_from <= a.dialed_at && a.dialed_at < lb_until),
            "{phone} dialled at {} during the Louisiana blackout",
            a.dialed_at
        );
        assert_eq!(a.rules_version.as_deref(), Some(if telemarketing { version.as_str() } else { "informational" }));
        if telemarketing {
            by_number.entry(call.phone_number.clone()).or_default().push(a.dialed_at);
        }
        if !telemarketing && a.dialed_at.with_timezone(&chrono_tz::America::New_York).format("%a").to_string() == "Sun"
        {
            informational_on_sunday += 1;
        }
    }
    assert!(informational_on_sunday > 0, "the informational campaign may call Rhode Island on Sunday, and did");
    // The rolling caps: at most 3 calls about the subject in any 24 hours in FL, OK and MD.
    let cap = RuleSet::builtin().frequency_cap(&[florida]).expect("Florida caps calls a day");
    let mut capped_numbers = 0;
    for (number, mut times) in by_number {
        let phone = switchboard::phone::PhoneNumber::parse(&number).unwrap();
        let regions = Region::for_number(&phone);
        if !regions.iter().any(|r| ["FL", "OK", "MD"].contains(&r.code())) {
            continue;
        }
        times.sort();
        for (i, t) in times.iter().enumerate() {
            assert!(rolling_cap_allows(&times[..i], *t, cap), "{number}: a 4th call in 24 h at {t}: {times:?}");
        }
        capped_numbers += usize::from(times.len() > 3);
    }
    assert!(capped_numbers > 0, "the run must reach the caps to test them");
}

#[tokio::test]
async fn when_bland_answers_only_429_for_longer_than_max_throttled_every_running_campaign_pauses_itself() {
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), sim(10)).await;
    h.dispatch_cfg.account = Default::default();
    h.dispatch_cfg.safety.max_throttled = chrono::Duration::seconds(60);
    let spec = |name: &str| {
        format!(
            "name = \"{name}\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = {{ \"mon-sun\" = \"08:00-20:00\" }}\n"
        )
    };
    let a = h.campaign(&spec("Storm A"), &numbers("212", 20)).await;
    let b = h.campaign(&spec("Storm B"), &numbers("312", 20)).await;
    // Every request answered 429 for far longer than the test runs.
    h.sim.start_rate_limit_storm(std::time::Duration::from_secs(600));
    let dispatcher = h.dispatcher().await;
    let mut paused_after = None;
    for second in (0..=300).step_by(5) {
        dispatcher.step().await.unwrap();
        let states = [h.store.campaign(&a).await.unwrap(), h.store.campaign(&b).await.unwrap()];
        if states.iter().all(|c| c.state == CampaignState::Paused) {
            paused_after = Some(second);
            for c in &states {
                let reason = c.paused_reason.clone().unwrap_or_default();
                assert!(reason.starts_with("safety stop: Bland has answered 429"), "{reason}");
            }
            break;
        }
        assert!(states.iter().all(|c| c.state == CampaignState::Running), "both pause together, at {second} s");
        h.clock.advance(chrono::Duration::seconds(5));
    }
    let after = paused_after.expect("the campaigns paused themselves");
    assert!((60..=125).contains(&after), "paused {after} s into the storm, not before 60 s, not long after");
    assert!(h.sim.calls().is_empty(), "nothing was placed during the storm");
}
