//! Caps under faults, and fully used: the dispatcher against the simulator on an injected
//! clock, with the calls Bland actually received counted per sliding minute.
//!
//! - a send proven never placed (5xx before the call was created) is dialled again only when
//!   there is room under every cap, and counted when it is actually sent;
//! - recipients whose window is closed cost no pacing allowance;
//! - a 429 storm slows the account once per round, not once per failed send.

mod common;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use common::harness::{Harness, at};
use switchboard::dispatcher::ledger::Caps;
use switchboard::sim::SimConfig;

fn open_sim() -> SimConfig {
    SimConfig { requests_per_minute: 0, max_concurrent: 0, ..SimConfig::default() }
}

/// `closed` numbers in Honolulu (808), then `open` in New York (212): the closed ones come
/// first in the queue.
fn recipients(open: usize, closed: usize) -> String {
    let mut csv = String::from("phone\n");
    for i in 0..closed {
        csv.push_str(&format!("808-555-{:04}\n", 1000 + i));
    }
    for i in 0..open {
        csv.push_str(&format!("212-555-{:04}\n", 1000 + i));
    }
    csv
}

/// Runs reconcile + step every `tick` for `steps` rounds; returns when each call reached
/// Bland (the step's time), keyed by call id.
async fn run(h: &mut Harness, steps: usize, tick: Duration) -> HashMap<String, DateTime<Utc>> {
    let dispatcher = h.dispatcher().await;
    let mut seen: HashMap<String, DateTime<Utc>> = HashMap::new();
    for _ in 0..steps {
        let now = h.now();
        dispatcher.reconcile().await.unwrap();
        dispatcher.step().await.unwrap();
        for s in h.sim.sends() {
            seen.entry(s.call_id).or_insert(now);
        }
        h.clock.advance(tick);
    }
    seen
}

#[tokio::test]
async fn a_send_proven_never_placed_goes_again_only_under_the_caps_and_counts_when_sent() {
    // Half of all sends fail with a 500; half of those before the call was created (proven
    // absent by the reconciler), half after (found). The campaign may place 10 calls a minute.
    let mut h = Harness::new(at("2026-06-01T14:00:00Z"), SimConfig { fail_rate: 0.5, seed: 11, ..open_sim() }).await;
    h.dispatch_cfg.account = Caps::default();
    // Without pacing the ledger's cap alone holds the line: every minute's ten go at once.
    h.dispatch_cfg.pacing = false;
    let spec = "name = \"Capped\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n\
                [limits]\ncalls_per_minute = 10\n[retry]\nmax_attempts = 1\n";
    h.campaign(spec, &recipients(120, 0)).await;

    let seen = run(&mut h, 240, Duration::seconds(5)).await;

    let times: Vec<_> = seen.values().copied().collect();
    assert!(times.len() >= 100, "the campaign kept dialling: {} calls", times.len());
    eprintln!(
        "calls {} busiest {} attempts {}",
        times.len(),
        common::busiest_minute(&times),
        h.store.attempt_records(None).await.unwrap().len()
    );
    assert!(
        common::busiest_minute(&times) <= 10,
        "{} calls reached Bland within one minute",
        common::busiest_minute(&times)
    );
}

#[tokio::test]
async fn recipients_in_closed_zones_cost_no_pacing_allowance() {
    // 09:00 in New York, 03:00 in Honolulu: 150 recipients may be called, 1,350 may not.
    let mut h = Harness::new(at("2026-06-01T13:00:00Z"), open_sim()).await;
    h.dispatch_cfg.account = Caps::default();
    let spec = "name = \"Mostly closed\"\n[call]\ntask = \"Hello\"\n[schedule]\n\
                hours = { \"mon-sun\" = \"09:00-20:00\" }\n[limits]\ncalls_per_minute = 120\n";
    h.campaign(spec, &recipients(150, 1350)).await;

    let seen = run(&mut h, 31, Duration::seconds(2)).await;

    // 62 s at 120 a minute: the first minute's 120, and a little of the next.
    let first_minute = seen.values().filter(|t| **t < at("2026-06-01T13:01:00Z")).count();
    assert!(first_minute >= 118, "only {first_minute} calls in the first minute under a cap of 120");
    assert!(common::busiest_minute(&seen.values().copied().collect::<Vec<_>>()) <= 120);
}

#[tokio::test]
async fn a_send_proven_never_placed_gives_its_pacing_token_back() {
    // A fifth of all requests fail with a 500, half of them before the call was created: the
    // reconciler proves those absent and voids them. Pacing spreads the cap; it must not also
    // shrink it: the voided sends' tokens come back, so the paced campaign places as many calls
    // as the same campaign held by the ledger's cap alone (before, each voided send cost one
    // call of the allowance for good: the bucket never refills while the cap is fully used).
    let spec = "name = \"Paced\"\n[call]\ntask = \"Hello\"\n[schedule]\nhours = { \"mon-sun\" = \"09:00-17:00\" }\n\
                [limits]\ncalls_per_minute = 60\n[retry]\nmax_attempts = 1\n";
    let mut placed = Vec::new();
    for pacing in [false, true] {
        let sim = SimConfig { fail_rate: 0.2, seed: 5, ..open_sim() };
        let mut h = Harness::new(at("2026-06-01T14:00:00Z"), sim).await;
        h.dispatch_cfg.account = Caps::default();
        h.dispatch_cfg.pacing = pacing;
        h.campaign(spec, &recipients(2000, 0)).await;
        let seen = run(&mut h, 600, Duration::seconds(1)).await;
        let times: Vec<_> = seen.values().copied().collect();
        assert!(
            common::busiest_minute(&times) <= 60,
            "pacing {pacing}: {} calls in one minute",
            common::busiest_minute(&times)
        );
        let voided = h.store.attempt_records(None).await.unwrap().len() - times.len();
        assert!(voided >= 20, "pacing {pacing}: only {voided} sends were voided; the test needs more");
        placed.push(times.len());
    }
    let (ledger_only, paced) = (placed[0], placed[1]);
    assert!(
        paced + 10 >= ledger_only,
        "paced {paced} calls in 10 minutes, the ledger's cap alone {ledger_only}: pacing lost allowance"
    );
}
