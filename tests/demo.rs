//! `switchboard demo`, the README's first command: the real binary runs a whole campaign
//! against the built-in simulator and ends with the campaign report, whose figures agree with
//! the database it leaves behind; it serves the dashboard while it runs, and with `--serve`
//! after, until Ctrl-C.

mod common;

use std::time::Duration;

use common::process::{Running, run_bounded};
use common::{TestEnv, eventually};
use switchboard::store::{JobState, Store};

#[tokio::test]
async fn the_demo_finishes_clean_and_ends_with_a_report_that_agrees_with_its_database() {
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.arg("demo");
    let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(120)).await;
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("outcomes in the database that differ from its record: 0"), "{stdout}");
    // The dashboard's address comes first and last.
    let url = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("dashboard: "))
        .unwrap_or_else(|| panic!("no dashboard URL in:\n{stdout}"));
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with('/'), "{url}");
    assert!(stdout.contains(&format!("the dashboard was at {url} while the demo ran")), "{stdout}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_its_dashboard_while_it_runs_and_with_serve_until_ctrl_c() {
    let env = TestEnv::new();
    let mut demo =
        Running::start_until(&env, &["demo", "--recipients", "40", "--serve"], &[], "demo.log", "dashboard: http://");
    let base = format!("http://{}", demo.addr);
    let http = reqwest::Client::new();
    let stdout = || std::fs::read_to_string(env.path("demo.log.stdout")).unwrap_or_default();

    // While the campaign runs (the address is printed before the daemon starts, whose listener
    // is bound already): the page, and the API without a token (loopback, none configured).
    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().contains_key("content-security-policy"));
    assert!(page.text().await.unwrap().contains("/assets/dashboard.js"));
    assert!(!stdout().contains("until Ctrl-C"), "the page answered while the campaign ran:\n{}", stdout());

    // After it: still up, the campaign completed on the dashboard's answer.
    eventually("the demo says it keeps serving", Duration::from_secs(120), async || {
        stdout().contains(&format!("dashboard and control API at {base}/ until Ctrl-C")).then_some(())
    })
    .await;
    let board: serde_json::Value =
        http.get(format!("{base}/api/v1/dashboard")).send().await.unwrap().json().await.unwrap();
    assert_eq!(board["campaigns"][0]["summary"]["state"], "completed", "{board}");
    assert_eq!(http.get(format!("{base}/")).send().await.unwrap().status(), 200);

    // Ctrl-C: a clean stop.
    demo.signal("INT");
    let status = demo.exit_within("the demo exits after Ctrl-C", Duration::from_secs(30)).await;
    assert!(status.success(), "{status}; its log:\n{}\nstdout:\n{}", demo.log(), stdout());
    assert!(stdout().contains("outcomes in the database that differ from its record: 0"), "{}", stdout());
}
