//! AI analysis end to end: campaigns placed by the real dispatcher at the Bland simulator,
//! their outcomes recorded by the real outcome tracker, and the analysis worker's step driven
//! on the harness's manual clock; `switchboard analyze` run as the real binary.
//!
//! What the database must hold is computed from the simulator's own record — which calls it
//! connected to a person, and what its `/analyze` answers for them — never from what
//! switchboard stored; and the simulator counts every `/analyze` request it received, so
//! "never twice" is checked where the money is spent.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use common::TestEnv;
use common::harness::{Harness, at};
use common::process::run_bounded;
use serde_json::Value;
use switchboard::analysis::decide::RetrySchedule;
use switchboard::analysis::{AnalysisConfig, AnalysisWorker, QuestionSet, StepReport, Work};
use switchboard::bland::RetryPolicy;
use switchboard::clock::Clock;
use switchboard::sim::{ANALYZE_PRICE_USD, OutcomeMix, SimConfig};
use switchboard::store::{AnalysisRecord, AnalysisScope, AnalysisState, ClaimDecision, Store};

/// The simulator without request or concurrency limits, fast.
fn sim(seed: u64, mix: OutcomeMix) -> SimConfig {
    SimConfig { seed, speed: 3000.0, requests_per_minute: 0, max_concurrent: 0, mix, ..SimConfig::default() }
}

fn mostly_people() -> OutcomeMix {
    OutcomeMix { human: 0.5, voicemail: 0.2, no_answer: 0.1, busy: 0.1, failed: 0.1 }
}

fn only_people() -> OutcomeMix {
    OutcomeMix { human: 1.0, voicemail: 0.0, no_answer: 0.0, busy: 0.0, failed: 0.0 }
}

const QUESTIONS: [(&str, &str); 4] = [
    ("Will the customer renew?", "boolean"),
    ("How many policies do they hold?", "number"),
    ("Who picked up, human or voicemail?", "human or voicemail"),
    ("Best time to call back?", "string"),
];

fn questions() -> Vec<(String, String)> {
    QUESTIONS.iter().map(|(q, t)| (q.to_string(), t.to_string())).collect()
}

/// A campaign whose calls carry an `analysis_schema` and whose `[analysis]` asks [`QUESTIONS`];
/// `extra` goes into `[analysis]`.
fn spec(extra: &str) -> String {
    let questions: Vec<String> = QUESTIONS.iter().map(|(q, t)| format!("[\"{q}\", \"{t}\"]")).collect();
    format!(
        "name = \"Analysis\"\n[call]\ntask = \"Hello {{{{first_name}}}}\"\nmax_duration = 1\n\
         analysis_schema = {{ wants_renewal = \"boolean\", policies = \"number\" }}\n\
         [schedule]\ntimezone = \"America/New_York\"\nhours = {{ \"mon-sun\" = \"08:00-21:00\" }}\n\
         [retry]\nmax_attempts = 2\non = [\"voicemail\", \"no_answer\"]\ndelays = [\"10m\"]\n\
         [analysis]\ngoal = \"Find out whether the customer will renew\"\nquestions = [{}]\n{extra}\n",
        questions.join(", ")
    )
}

/// Recipients in New York (area code 212), one a line.
fn new_yorkers(n: usize) -> String {
    std::iter::once("first_name,phone\n".to_string())
        .chain((0..n).map(|i| format!("R{i},212-555-{:04}\n", 1000 + i)))
        .collect()
}

/// A campaign dialled to completion (outcomes by polling), its clock then moved past the grace
/// for a late `answered_by`, so every analysis is due.
async fn finished_campaign(seed: u64, mix: OutcomeMix, recipients: usize, extra: &str) -> (Harness, String) {
    let h = Harness::new(at("2026-06-02T13:00:00Z"), sim(seed, mix)).await;
    let campaign = h.campaign(&spec(extra), &new_yorkers(recipients)).await;
    let dispatcher = h.dispatcher().await;
    let outcomes = h.outcomes();
    h.drive_to_completion(&dispatcher, &outcomes, &campaign).await;
    h.clock.advance(Duration::minutes(5));
    (h, campaign)
}

/// A worker as the daemon runs it, on the harness's clock and `store`.
fn worker(h: &Harness, store: Store, batch: u32, work: Work) -> AnalysisWorker {
    h.analysis_worker(store, batch, work)
}

/// The calls the simulator connected to a person, by its own record.
fn people(h: &Harness) -> BTreeSet<String> {
    h.sim.calls().into_iter().filter(|c| c.answered_by.as_deref() == Some("human")).map(|c| c.call_id).collect()
}

/// `/analyze` requests the simulator answered, per call.
fn answered_requests(h: &Harness) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for r in h.sim.analyze_requests().into_iter().filter(|r| r.answered) {
        *n.entry(r.call_id).or_insert(0) += 1;
    }
    n
}

/// The distribution a report shows for answers to [`QUESTIONS`]: yes/no counts, counts of each
/// number, of each category, and how many free-text answers.
fn distribution<'a>(answers: impl IntoIterator<Item = &'a Vec<Value>>) -> BTreeMap<String, usize> {
    let mut d = BTreeMap::new();
    for a in answers {
        assert_eq!(a.len(), QUESTIONS.len());
        let keys = [
            format!("renew={}", a[0]),
            format!("policies={}", a[1]),
            format!("picked_up={}", a[2]),
            format!("callback_text={}", a[3].is_string()),
        ];
        for key in keys {
            *d.entry(key).or_insert(0) += 1;
        }
    }
    d
}

async fn analyses(h: &Harness, campaign: &str) -> Vec<AnalysisRecord> {
    h.store.analyses(campaign).await.unwrap()
}

#[tokio::test]
async fn every_human_call_is_analysed_once_and_the_answers_are_the_simulators_exactly() {
    let (h, campaign) = finished_campaign(7, mostly_people(), 40, "").await;
    let analyst = worker(&h, h.store.clone(), 8, Work::Daemon);

    let report = common::harness::drain(&analyst).await;

    // Which calls: exactly those the simulator connected to a person.
    let people = people(&h);
    assert!(people.len() >= 10, "only {} human calls; the test needs more", people.len());
    let rows = analyses(&h, &campaign).await;
    let done: Vec<&AnalysisRecord> = rows.iter().filter(|r| r.state == AnalysisState::Done).collect();
    assert_eq!(done.iter().map(|r| r.call_id.clone()).collect::<BTreeSet<_>>(), people);
    assert_eq!(report.answered as usize, people.len());
    // Every other row (a call first read as a conversation, then corrected) was never asked.
    for r in rows.iter().filter(|r| r.state != AnalysisState::Done) {
        assert!(!people.contains(&r.call_id), "{r:?}");
        assert!(r.error.as_deref().unwrap_or_default().contains("after all"), "{r:?}");
    }
    // What: the simulator's answers, call for call, and so the same distribution.
    let set = QuestionSet::new("Find out whether the customer will renew", questions());
    let expected: HashMap<String, Vec<Value>> = people
        .iter()
        .map(|id| (id.clone(), h.sim.analysis_answers(id, &questions()).expect("a call the simulator placed")))
        .collect();
    for r in &done {
        assert_eq!(r.answers.as_ref(), Some(&expected[&r.call_id]), "answers of call {}", r.call_id);
        assert_eq!(r.price, Some(ANALYZE_PRICE_USD), "price of call {}", r.call_id);
        assert_eq!((r.question_set.as_str(), r.questions.as_slice()), (set.key(), questions().as_slice()));
        assert_eq!(r.tries, 1);
    }
    let want = distribution(expected.values());
    let got = distribution(done.iter().filter_map(|r| r.answers.as_ref()));
    assert_eq!(got, want);
    assert!(want.contains_key("renew=true") && want.contains_key("renew=false"), "{want:?}");
    assert_eq!(want["picked_up=\"human\""], people.len());
    // How often: once per call, and only for calls with a person.
    let asked = answered_requests(&h);
    assert_eq!(asked.keys().cloned().collect::<BTreeSet<_>>(), people);
    assert!(asked.values().all(|n| *n == 1), "{asked:?}");
    let spend = h.store.analysis_spend(&campaign, h.now()).await.unwrap();
    assert!((spend.spent_usd - ANALYZE_PRICE_USD * people.len() as f64).abs() < 1e-9, "{spend:?}");
    assert_eq!(spend.priced as usize, people.len());

    // The analysis_schema answers that came with each call are stored with it, as the
    // simulator sent them.
    let schema = h.store.schema_answers(&campaign).await.unwrap();
    assert_eq!(schema.len(), h.sim.calls().len());
    for s in &schema {
        let truth = h.sim.call(&s.call_id).unwrap();
        assert_eq!(s.analysis.as_ref(), Some(&truth.details["analysis"]), "schema answers of call {}", s.call_id);
        if people.contains(&s.call_id) {
            assert!(truth.details["analysis"]["wants_renewal"].is_boolean());
        }
    }
}

#[tokio::test]
async fn stepping_again_and_restarting_the_worker_midway_never_asks_a_call_twice() {
    let (h, campaign) = finished_campaign(3, only_people(), 8, "").await;
    let people = people(&h);
    assert_eq!(people.len(), 8);

    let first = worker(&h, h.store.clone(), 3, Work::Daemon);
    let one = first.step().await.unwrap();
    assert_eq!((one.claimed, one.answered), (3, 3));
    drop(first);
    // A restart: a new worker on a new connection to the same database.
    let store = h.reopen().await;
    let second = worker(&h, store.clone(), 3, Work::Daemon);
    let rest = common::harness::drain(&second).await;
    assert_eq!(rest.answered, 5);
    assert_eq!(common::harness::drain(&second).await, StepReport::default(), "a second pass finds nothing to ask");
    assert_eq!(common::harness::drain(&worker(&h, store.clone(), 3, Work::Daemon)).await, StepReport::default());
    // The start-up catch-up and a run of the same questions add no row either.
    let set = QuestionSet::new("Find out whether the customer will renew", questions());
    assert_eq!(store.enqueue_analyses(&campaign, &set, h.now()).await.unwrap(), 0);

    let asked = answered_requests(&h);
    assert_eq!(asked.keys().cloned().collect::<BTreeSet<_>>(), people);
    assert!(asked.values().all(|n| *n == 1), "{asked:?}");
    assert_eq!(h.sim.analyze_requests().len(), 8, "no request beyond one per call");
}

#[tokio::test]
async fn analyses_a_crash_left_pending_or_claimed_are_completed_by_a_fresh_worker_once_each() {
    let (h, campaign) = finished_campaign(5, only_people(), 6, "").await;
    // The outcome writer left a pending row per human call and nothing asked them: a crash
    // right after the outcomes were recorded.
    let rows = analyses(&h, &campaign).await;
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.state == AnalysisState::Pending && r.tries == 0));
    // A worker claimed two and died before asking (its claim committed, no request made).
    let crashed = h
        .store
        .claim_analyses(
            &campaign,
            AnalysisScope::Campaign,
            "crashed-worker",
            h.now(),
            h.now() + Duration::minutes(10),
            |_| ClaimDecision::Claim(2),
        )
        .await
        .unwrap();
    assert_eq!(crashed.rows.len(), 2);

    // A fresh daemon: a new connection, a new worker.
    let store = h.reopen().await;
    let fresh = worker(&h, store.clone(), 10, Work::Daemon);
    assert_eq!(
        common::harness::drain(&fresh).await.answered,
        4,
        "the claimed two are nobody else's while the lease runs"
    );
    h.clock.advance(Duration::minutes(10));
    assert_eq!(common::harness::drain(&fresh).await.answered, 2, "after the lease they are asked");

    let rows = store.analyses(&campaign).await.unwrap();
    assert!(rows.iter().all(|r| r.state == AnalysisState::Done), "{rows:?}");
    for r in &rows {
        let claimed_before = crashed.rows.iter().any(|c| c.id == r.id);
        assert_eq!(r.tries, if claimed_before { 2 } else { 1 }, "{r:?}");
    }
    let asked = answered_requests(&h);
    assert_eq!(asked.len(), 6);
    assert!(asked.values().all(|n| *n == 1), "{asked:?}");
    assert_eq!(h.sim.analyze_requests().len(), 6);
}

#[tokio::test]
async fn transient_failures_are_asked_again_after_a_backoff_and_given_up_after_the_last_try() {
    let (h, campaign) = finished_campaign(9, only_people(), 10, "").await;
    let analyst = worker(&h, h.store.clone(), 10, Work::Daemon);
    h.sim.fail_next_analyze_requests(4);

    let first = analyst.step().await.unwrap();

    assert_eq!((first.answered, first.retried), (6, 4));
    let waiting: Vec<AnalysisRecord> =
        analyses(&h, &campaign).await.into_iter().filter(|r| r.state == AnalysisState::Pending).collect();
    assert_eq!(waiting.len(), 4);
    for r in &waiting {
        assert_eq!(r.next_try_at, h.now() + Duration::seconds(1), "the first backoff: {r:?}");
        assert!(r.error.as_deref().unwrap_or_default().contains("HTTP 500"), "{r:?}");
    }
    assert_eq!(analyst.step().await.unwrap().claimed, 0, "not asked again before the backoff");
    // Still failing on the next try: the backoff doubles.
    h.sim.fail_next_analyze_requests(4);
    h.clock.advance(Duration::seconds(1));
    assert_eq!(analyst.step().await.unwrap().retried, 4);
    let r = analyses(&h, &campaign).await.into_iter().find(|r| r.state == AnalysisState::Pending).unwrap();
    assert_eq!((r.tries, r.next_try_at), (2, h.now() + Duration::seconds(2)));
    // Then Bland is back.
    h.clock.advance(Duration::seconds(2));
    assert_eq!(common::harness::drain(&analyst).await.answered, 4);

    let rows = analyses(&h, &campaign).await;
    assert!(rows.iter().all(|r| r.state == AnalysisState::Done && r.error.is_none()), "{rows:?}");
    let asked = answered_requests(&h);
    assert_eq!(asked.len(), 10);
    assert!(asked.values().all(|n| *n == 1), "answered once each: {asked:?}");
    assert_eq!(h.sim.analyze_requests().len(), 18, "10 answers and 8 failed requests");

    // A call whose every try fails is given up after max_tries, with the last error.
    let (h, campaign) = finished_campaign(10, only_people(), 1, "").await;
    let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
    let cfg =
        AnalysisConfig { retry: RetrySchedule { max_tries: 3, ..h.analysis_config(1).retry }, ..h.analysis_config(1) };
    let analyst = AnalysisWorker::new(h.store.clone(), h.client(RetryPolicy::none()), clock, cfg, Work::Daemon);
    h.sim.fail_next_analyze_requests(u64::MAX);
    for _ in 0..3 {
        common::harness::drain(&analyst).await;
        h.clock.advance(Duration::minutes(1));
    }
    let rows = analyses(&h, &campaign).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].state, rows[0].tries), (AnalysisState::Failed, 3));
    let e = rows[0].error.as_deref().unwrap_or_default();
    assert!(e.starts_with("gave up after 3 tries; the last: analyze call failed transiently"), "{e}");
    assert_eq!(common::harness::drain(&analyst).await.claimed, 0, "a failed row is not asked again by the daemon");
    assert_eq!(h.sim.analyze_requests().len(), 3);
}

#[tokio::test]
async fn the_spend_limit_stops_requests_and_fails_the_rest_with_the_reason() {
    // $0.02 at $0.0045 a request: four fit ($0.018), a fifth would cross it.
    let (h, campaign) = finished_campaign(4, only_people(), 8, "max_spend_usd = 0.02").await;
    let analyst = worker(&h, h.store.clone(), 20, Work::Daemon);

    let first = analyst.step().await.unwrap();
    assert_eq!((first.claimed, first.answered), (4, 4), "a batch of 20 claims only what fits under the limit");
    let second = common::harness::drain(&analyst).await;
    assert_eq!((second.claimed, second.stopped), (0, 4));

    assert_eq!(h.sim.analyze_requests().len(), 4, "no request past the limit");
    let rows = analyses(&h, &campaign).await;
    let done = rows.iter().filter(|r| r.state == AnalysisState::Done).count();
    assert_eq!(done, 4);
    for r in rows.iter().filter(|r| r.state == AnalysisState::Failed) {
        let e = r.error.as_deref().unwrap_or_default();
        assert!(e.contains("spend limit reached") && e.contains("max_spend_usd $0.0200"), "{e}");
        assert_eq!((r.tries, r.price), (0, None), "never asked");
    }
    let spend = h.store.analysis_spend(&campaign, h.now()).await.unwrap();
    assert!(spend.spent_usd <= 0.02 && (spend.spent_usd - 0.018).abs() < 1e-9, "{spend:?}");
}

/// `switchboard --db DB --config CONFIG ARGS` against the harness's database and simulator,
/// with the API key in the environment.
fn binary(h: &Harness, args: &[&str]) -> Command {
    let config = h.dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[bland]\nbase_url = \"{}\"\nrequests_per_minute = 60000\n[analysis]\nrequest_share = 0.5\ntick = \"10ms\"\n",
            h.sim.base_url()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("--db")
        .arg(h.db_arg())
        .arg("--config")
        .arg(&config)
        .args(args)
        .env_remove("SWITCHBOARD_DB")
        .env_remove("SWITCHBOARD_CONFIG")
        .env("BLAND_API_KEY", common::harness::API_KEY)
        .env("RUST_LOG", "warn")
        .current_dir(h.dir.path());
    cmd
}

#[tokio::test]
async fn analyze_prints_the_count_and_estimate_first_a_dry_run_asks_nothing_and_a_run_asks_each_call_once() {
    let (h, campaign) = finished_campaign(6, mostly_people(), 20, "").await;
    let people = people(&h);
    assert!(people.len() >= 5, "only {} human calls", people.len());
    let n = people.len();
    let within = StdDuration::from_secs(60);

    let (code, out, err) = run_bounded(binary(&h, &["analyze", &campaign, "--dry-run"]), within).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let estimate = format!("to analyse: {n} call(s), estimated cost ${:.4} ($0.0045 per call", n as f64 * 0.0045);
    assert!(out.contains(&estimate), "expected `{estimate}` in:\n{out}");
    assert!(out.contains(&format!("{n} call(s) answered by a person; 0 already analysed")), "{out}");
    assert!(out.contains("dry run: nothing was asked"), "{out}");
    assert!(h.sim.analyze_requests().is_empty(), "a dry run asks nothing");

    // New questions, asked of every human call, once.
    let file = h.dir.path().join("questions.toml");
    std::fs::write(&file, "goal = \"Churn\"\nquestions = [[\"Did they mention a competitor?\", \"boolean\"]]\n")
        .unwrap();
    let file = file.to_str().unwrap();
    let (code, out, err) = run_bounded(binary(&h, &["analyze", &campaign, "--questions", file]), within).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let printed_first = out.find("to analyse:").expect("the estimate");
    assert!(printed_first < out.find("\nanalysed ").expect("the result"), "the estimate comes first:\n{out}");
    assert!(out.contains(&format!("analysed {n} call(s); 0 failed")), "{out}");
    let churn = [("Did they mention a competitor?".to_string(), "boolean".to_string())];
    let asked: Vec<_> = h.sim.analyze_requests().into_iter().filter(|r| r.questions == churn).collect();
    assert_eq!(asked.iter().map(|r| r.call_id.clone()).collect::<BTreeSet<_>>(), people);
    assert_eq!(asked.len(), n, "once per call");
    let set = QuestionSet::new("Churn", churn.to_vec());
    for r in analyses(&h, &campaign).await.into_iter().filter(|r| r.question_set == set.key()) {
        assert_eq!(r.state, AnalysisState::Done);
        assert_eq!(r.answers, h.sim.analysis_answers(&r.call_id, &churn));
    }

    // Run again: nothing is left to ask, and nothing is asked.
    let (code, out, err) = run_bounded(binary(&h, &["analyze", &campaign, "--questions", file]), within).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("to analyse: 0 call(s)") && out.contains("nothing to analyse"), "{out}");
    assert!(out.contains("the mean price of this campaign's"), "the estimate now comes from recorded prices:\n{out}");
    assert_eq!(h.sim.analyze_requests().len(), n);
    // The campaign's own questions are still all pending for the daemon; none were asked.
    let own = QuestionSet::new("Find out whether the customer will renew", questions());
    let backlog = h.store.analysis_backlog(&campaign, own.key()).await.unwrap();
    assert_eq!((backlog.human_calls, backlog.pending, backlog.done), (n as i64, n as i64, 0));
}

#[tokio::test]
async fn analyze_with_a_bad_questions_file_exits_2_naming_the_file_line_and_key() {
    let env = TestEnv::new();
    let id = env.campaign(common::SPEC);
    let bad = env.write(
        "q.toml",
        "goal = \"Renewal\"\nquestions = [\n  [\"Will they renew?\", \"boolean\"],\n  [\"no type\"],\n]\n",
    );

    let r = env.run(["analyze", id.as_str(), "--questions", bad.to_str().unwrap(), "--dry-run"]);

    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("q.toml:4:"), "the file and line: {}", r.stderr);
    assert!(r.stderr.contains("`questions`"), "the key: {}", r.stderr);
    assert!(r.stdout.is_empty(), "nothing is planned from a bad file: {}", r.stdout);

    // A campaign without [analysis] needs --questions; --help says what the command does.
    let r = env.run(["analyze", id.as_str(), "--dry-run"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no [analysis] questions") && r.stderr.contains("--questions FILE"), "{}", r.stderr);
    let help = env.ok(["analyze", "--help"]).stdout;
    for words in ["--questions", "--dry-run", "estimated cost", "never asked", "max_spend_usd", "BLAND_API_KEY"] {
        assert!(help.contains(words), "`{words}` not in --help:\n{help}");
    }
}
