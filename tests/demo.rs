//! `switchboard demo`, the README's first command: the real binary runs a whole campaign
//! against the built-in simulator and ends with the campaign report, whose figures agree with
//! the database it leaves behind.

mod common;

use std::time::Duration;

use common::TestEnv;
use common::process::run_bounded;
use switchboard::store::{JobState, Store};

#[tokio::test]
async fn the_demo_finishes_clean_and_ends_with_a_report_that_agrees_with_its_database() {
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.arg("demo");
    let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(120)).await;
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("outcomes in the database that differ from its record: 0"), "{stdout}");
    for section in ["Funnel", "Retry yield", "By recipient-local hour", "By time zone", "Minutes and cost", "Answers"] {
        assert!(stdout.contains(section), "the report has no `{section}` section:\n{stdout}");
    }

    // The figures it printed are the database's.
    let db = stdout
        .lines()
        .find_map(|l| l.strip_prefix("database kept at "))
        .unwrap_or_else(|| panic!("no database path in:\n{stdout}"));
    let store = Store::open_existing(std::path::Path::new(db.trim())).await.unwrap();
    let campaign = store.campaigns().await.unwrap().pop().expect("the demo's campaign");
    let jobs = store.job_records(Some(&campaign.id)).await.unwrap();
    let figure = |label: &str| -> u64 {
        stdout
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix(label))
            .find_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no figure for {label}"))
    };
    assert_eq!(figure("recipients") as usize, jobs.len());
    assert_eq!(figure("suppressed (DNC, …)") as usize, jobs.iter().filter(|j| j.state == JobState::Suppressed).count());
    assert_eq!(figure("dialled at least once") as usize, jobs.iter().filter(|j| j.attempts > 0).count());
    assert_eq!(figure("still pending"), 0, "the campaign completed");
    // The exported results: one row per recipient, with the outcome the database holds.
    let csv = stdout
        .lines()
        .find_map(|l| l.split_once("export").and_then(|(_, rest)| rest.split_once("): ")).map(|(_, p)| p))
        .and_then(|p| p.split(" (").next())
        .unwrap_or_else(|| panic!("no results path in:\n{stdout}"));
    let mut reader = csv::Reader::from_path(csv).unwrap();
    let headers = reader.headers().unwrap().clone();
    let outcome = headers.iter().position(|h| h == "outcome").expect("an outcome column");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), jobs.len());
    let humans_in_csv = rows.iter().filter(|r| &r[outcome] == "human").count();
    assert_eq!(humans_in_csv, jobs.iter().filter(|j| j.outcome == Some(switchboard::store::Outcome::Human)).count());
    // Every call that reached a person was asked the campaign's [analysis] questions.
    let humans = figure("reached a human");
    assert_eq!(figure("Will the customer renew? [question, boolean]:"), humans, "{stdout}");
}

#[tokio::test]
async fn the_demo_keeps_its_database_where_db_says_and_never_reuses_one() {
    let env = TestEnv::new();
    let db = env.path("mine.db");
    let mut cmd = env.command();
    cmd.args(["--db", common::path_str(&db), "demo", "--recipients", "40"]);
    let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(120)).await;
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains(&format!("database kept at {}", db.display())), "{stdout}");
    let store = Store::open_existing(&db).await.unwrap();
    assert_eq!(store.job_records(None).await.unwrap().len(), 46, "the example's 6 and 40 more");
    store.close().await;

    let mut again = env.command();
    again.args(["--db", common::path_str(&db), "demo"]);
    let (code, _, stderr) = run_bounded(again, Duration::from_secs(30)).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("exists"), "{stderr}");
}
