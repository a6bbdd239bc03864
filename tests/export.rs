//! `switchboard export` end to end: the real binary against real SQLite files, filled by the real
//! import, by a whole campaign run against the Bland simulator, or (to write calls and
//! `[analysis]` answers at will, and to write while an export reads) by a connection of the
//! test's own, as the daemon would.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::harness::{Harness, at};
use common::{TestEnv, eventually, eventually_showing, path_str};
use serde_json::{Value, json};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};
use switchboard::sim::{OutcomeMix, SimConfig};
use switchboard::store::CampaignState;

/// A parsed CSV: its header and its rows as maps from column to cell.
struct Sheet {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Sheet {
    fn parse(text: &str) -> Sheet {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
        let header = reader.headers().unwrap().iter().map(str::to_string).collect();
        let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
        Sheet { header, rows }
    }

    fn col(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column `{name}` in {:?}", self.header))
    }

    fn cell<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        &row[self.col(name)]
    }

    /// Rows by the value of `key` (with a neutralised phone's leading `'` taken off).
    fn by(&self, key: &str) -> HashMap<String, &Vec<String>> {
        self.rows.iter().map(|r| (unquote(self.cell(r, key)).to_string(), r)).collect()
    }
}

/// A cell as typed, without the `'` formula neutralisation put before it.
fn unquote(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

/// Runs `switchboard --db DB ARGS` with no config file: (exit code, stdout, stderr).
fn switchboard(db: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env("SWITCHBOARD_CONFIG", "/dev/null")
        .env_remove("SWITCHBOARD_DB")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// `export ARGS` to stdout, insisting on success.
fn export(db: &Path, args: &[&str]) -> String {
    let (code, out, err) = switchboard(db, &[&["export"], args].concat());
    assert_eq!(code, 0, "export {args:?} failed: {err}");
    out
}

fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// A connection of the test's own, as another process of switchboard's would have.
async fn connect(db: &Path) -> SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .busy_timeout(StdDuration::from_secs(30))
        .connect()
        .await
        .unwrap()
}

// -------------------------------------------------------------------------------------------
// A whole campaign against the simulator.

const SCHEMA_SPEC: &str = r#"
name = "Renewals"
[call]
task = "Hello {{first_name}}"
max_duration = 1
voicemail_message = "Please call back."
analysis_schema = { wants_renewal = "boolean", callback_time = "string" }
[schedule]
timezone = "America/New_York"
hours = { "mon-sun" = "08:00-21:00" }
[retry]
max_attempts = 3
on = ["voicemail", "no_answer", "busy"]
delays = ["10m", "30m"]
"#;

/// Drives a running campaign on the manual clock until it completes: a dispatcher step, a
/// poller round, a wait until every call placed so far has ended at the simulator (which runs
/// in real time), one minute on.
async fn run_to_completion(h: &Harness, campaign: &str) {
    let dispatcher = h.dispatcher().await;
    let outcomes = h.outcomes();
    let deadline = Instant::now() + StdDuration::from_secs(60);
    eventually_showing(
        "the campaign completes",
        StdDuration::from_secs(60),
        async || {
            dispatcher.step().await.unwrap();
            outcomes.poll_once().await.unwrap();
            if h.store.campaign(campaign).await.unwrap().state == CampaignState::Completed {
                return Some(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            eventually("the simulator's calls end", left, async || {
                h.sim
                    .calls()
                    .iter()
                    .all(|c| c.completed && c.details["answered_by"] == json!(c.answered_by))
                    .then_some(())
            })
            .await;
            h.clock.advance(Duration::minutes(1));
            None
        },
        async || format!("switchboard's clock at {}", h.now()),
    )
    .await;
}

#[tokio::test]
async fn the_export_of_a_finished_campaign_matches_the_simulators_record_row_for_row() {
    let sim = SimConfig {
        seed: 12,
        speed: 3000.0,
        requests_per_minute: 0,
        max_concurrent: 0,
        mix: OutcomeMix { human: 0.4, voicemail: 0.3, no_answer: 0.1, busy: 0.1, failed: 0.1 },
        ..SimConfig::default()
    };
    let h = Harness::new(at("2026-06-02T13:00:00Z"), sim).await;
    let csv: String = std::iter::once("first_name,phone,note\n".to_string())
        .chain((0..30).map(|i| format!("Zoë {i},212-555-{:04},\"a, b \"\"{i}\"\"\"\n", 1000 + i)))
        .collect();
    let campaign = h.campaign(SCHEMA_SPEC, &csv).await;
    run_to_completion(&h, &campaign).await;
    let db = h.dir.path().join("h.db");

    let sheet = Sheet::parse(&export(&db, &[&campaign]));
    let attempts = Sheet::parse(&export(&db, &[&campaign, "--attempts"]));

    let mut ours = vec!["first_name", "note"];
    ours.extend(switchboard::export::OURS);
    ours.extend(["callback_time", "wants_renewal"]);
    assert_eq!(sheet.header, ours);
    assert_eq!(sheet.rows.len(), 30);
    let truth = h.sim.calls();
    let stored = h.store.attempt_records(Some(&campaign)).await.unwrap();
    assert_eq!(attempts.rows.len(), truth.len(), "an attempt row per call the simulator placed");
    for (i, row) in sheet.rows.iter().enumerate() {
        let phone = unquote(sheet.cell(row, "phone_e164"));
        assert_eq!(sheet.cell(row, "first_name"), format!("Zoë {i}"), "rows in import order");
        assert_eq!(sheet.cell(row, "note"), format!("a, b \"{i}\""));
        let mut calls: Vec<_> = truth.iter().filter(|c| c.phone_number == phone).collect();
        calls.sort_by_key(|c| c.created_at);
        let mine: Vec<_> = stored.iter().filter(|a| a.phone.as_str() == phone).collect();
        let last = calls.last().unwrap_or_else(|| panic!("no call to {phone}"));
        assert_eq!(sheet.cell(row, "attempts"), calls.len().to_string(), "{phone}");
        assert_eq!(sheet.cell(row, "call_id"), last.call_id, "{phone}");
        assert_eq!(sheet.cell(row, "outcome"), serde_json::to_value(last.outcome).unwrap(), "{phone}");
        assert_eq!(sheet.cell(row, "answered_by"), last.answered_by.as_deref().unwrap_or(""), "{phone}");
        assert!(close(sheet.cell(row, "call_length_min").parse().unwrap(), last.call_length_minutes), "{phone}");
        let cost: f64 = calls.iter().map(|c| c.price).sum();
        assert!(close(sheet.cell(row, "cost_usd").parse().unwrap(), cost), "{phone}: {cost}");
        assert_eq!(sheet.cell(row, "summary"), last.details["summary"].as_str().unwrap(), "{phone}");
        let answer = |v: &Value| match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let person = serde_json::to_value(last.outcome).unwrap() == "human";
        let analysis = if person { &last.details["analysis"] } else { &Value::Null };
        assert_eq!(sheet.cell(row, "wants_renewal"), answer(&analysis["wants_renewal"]), "{phone}");
        assert_eq!(sheet.cell(row, "callback_time"), answer(&analysis["callback_time"]), "{phone}");
        // Times are the dials switchboard recorded, in UTC and New York time.
        let first = mine.iter().map(|a| a.dialed_at).min().unwrap();
        let last_dial = mine.iter().map(|a| a.dialed_at).max().unwrap();
        assert_eq!(sheet.cell(row, "first_attempt_utc"), utc(first));
        assert_eq!(sheet.cell(row, "last_attempt_utc"), utc(last_dial));
        let local = last_dial.with_timezone(&chrono_tz::America::New_York).to_rfc3339_opts(SecondsFormat::Secs, false);
        assert_eq!(sheet.cell(row, "last_attempt_local"), local);
        assert_eq!(sheet.cell(row, "timezone"), "America/New_York");
    }
    // Every attempt row is a call the simulator placed, as it recorded it, and was dialled
    // inside the window it shows.
    let by_call = attempts.by("call_id");
    for call in &truth {
        let row = by_call.get(&call.call_id).unwrap_or_else(|| panic!("call {} has no attempt row", call.call_id));
        let a = stored.iter().find(|a| a.call_id.as_deref() == Some(call.call_id.as_str())).unwrap();
        assert_eq!(attempts.cell(row, "attempt_id"), a.id);
        assert_eq!(attempts.cell(row, "attempt_no"), a.attempt_no.to_string());
        assert_eq!(attempts.cell(row, "dialed_utc"), utc(a.dialed_at));
        assert_eq!(unquote(attempts.cell(row, "phone_e164")), call.phone_number);
        assert_eq!(attempts.cell(row, "outcome"), serde_json::to_value(call.outcome).unwrap());
        assert_eq!(attempts.cell(row, "answered_by"), call.answered_by.as_deref().unwrap_or(""));
        assert!(close(attempts.cell(row, "price_usd").parse().unwrap(), call.price));
        assert!(close(attempts.cell(row, "call_length_min").parse().unwrap(), call.call_length_minutes));
        assert_eq!(attempts.cell(row, "zones_considered"), "America/New_York");
        assert_eq!(attempts.cell(row, "zone_source"), "area_code");
        assert_eq!(attempts.cell(row, "guard"), "08:00-21:00");
        assert_eq!(attempts.cell(row, "campaign_hours"), "mon-sun 08:00-21:00");
        assert_eq!(attempts.cell(row, "window"), "America/New_York tue 08:00-21:00");
        assert_eq!(attempts.cell(row, "window_open"), "yes");
    }
    // The filters select the same rows the simulator's record does.
    let humans = truth.iter().filter(|c| serde_json::to_value(c.outcome).unwrap() == "human").count();
    assert_eq!(Sheet::parse(&export(&db, &[&campaign, "--attempts", "--outcome", "human"])).rows.len(), humans);
    let done_human = sheet.rows.iter().filter(|r| sheet.cell(r, "outcome") == "human").count();
    assert_eq!(Sheet::parse(&export(&db, &[&campaign, "--outcome", "human"])).rows.len(), done_human);
    assert!(done_human > 0 && done_human < 30, "the mix has humans and others: {done_human}");
    let late = stored.iter().map(|a| a.dialed_at).max().unwrap();
    let since = utc(late);
    let recent = Sheet::parse(&export(&db, &[&campaign, "--since", &since]));
    let expected: BTreeSet<&str> =
        stored.iter().filter(|a| a.dialed_at >= late).map(|a| a.phone.as_str()).collect::<BTreeSet<_>>();
    let got: BTreeSet<&str> = recent.rows.iter().map(|r| unquote(recent.cell(r, "phone_e164"))).collect();
    assert_eq!(got, expected);
}

// -------------------------------------------------------------------------------------------
// Cells, filters and files, on imported recipients.

/// A campaign created and filled through the binary; returns its id.
fn imported(env: &TestEnv, spec: &str, file: &str, csv: &str) -> String {
    let id = env.campaign(spec);
    let path = env.write(file, csv);
    env.ok(["import", &id, path_str(&path)]);
    id
}

#[test]
fn unicode_quotes_commas_and_newlines_in_the_files_columns_round_trip_through_a_csv_reader() {
    let env = TestEnv::new();
    let values = [
        ("José Ñúñez", "say \"hi\", then leave"),
        ("Zoë 👋", "line one\nline two\n\nline four"),
        ("李小龍", "tab\there; semicolon"),
        ("O'Brien", ""),
    ];
    let mut csv = String::from("first_name,phone,notes\n");
    for (i, (name, note)) in values.iter().enumerate() {
        csv.push_str(&format!("\"{}\",212-555-{:04},\"{}\"\n", name, 2000 + i, note.replace('"', "\"\"")));
    }
    let id = imported(&env, common::SPEC, "people.csv", &csv);
    for args in [vec![id.as_str()], vec![id.as_str(), "--raw"]] {
        let sheet = Sheet::parse(&export(&env.db, &args));
        assert_eq!(sheet.rows.len(), values.len());
        for (row, (name, note)) in sheet.rows.iter().zip(values) {
            assert_eq!(sheet.cell(row, "first_name"), name);
            assert_eq!(sheet.cell(row, "notes"), note);
            assert_eq!(sheet.cell(row, "outcome"), "pending");
            assert_eq!(sheet.cell(row, "attempts"), "0");
        }
    }
    // --bom: a UTF-8 byte order mark first, then the same CSV; lines end in CRLF.
    let plain = export(&env.db, &[&id]);
    let bom = export(&env.db, &[&id, "--bom"]);
    assert_eq!(bom.strip_prefix('\u{feff}'), Some(plain.as_str()));
    assert!(plain.starts_with("first_name,notes,phone_e164,") && plain.contains("\r\n"));
}

#[test]
fn cells_a_spreadsheet_would_run_are_neutralised_unless_raw() {
    let env = TestEnv::new();
    let csv = "first_name,phone,=cmd\n\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",212-555-3000,@SUM(A1)\n-5,212-555-3001,+1 555\n";
    let id = imported(&env, common::SPEC, "f.csv", csv);
    let safe = Sheet::parse(&export(&env.db, &[&id]));
    assert_eq!(&safe.header[..2], ["first_name", "'=cmd"]);
    let cells = |s: &Sheet, i: usize| s.rows[i][..3].to_vec();
    assert_eq!(cells(&safe, 0), ["'=HYPERLINK(\"http://x\",\"y\")", "'@SUM(A1)", "'+12125553000"]);
    assert_eq!(cells(&safe, 1), ["'-5", "'+1 555", "'+12125553001"]);
    let raw = Sheet::parse(&export(&env.db, &[&id, "--raw"]));
    assert_eq!(&raw.header[..2], ["first_name", "=cmd"]);
    assert_eq!(cells(&raw, 0), ["=HYPERLINK(\"http://x\",\"y\")", "@SUM(A1)", "+12125553000"]);
    assert_eq!(cells(&raw, 1), ["-5", "+1 555", "+12125553001"]);
}

#[test]
fn a_recall_list_from_columns_original_imports_straight_into_a_new_campaign() {
    let env = TestEnv::new();
    // The phone column second, named its own way; a time zone column; a rejected and a
    // duplicate row that must not reappear.
    let csv = "first_name,Mobile Phone,policy,tz\n\
               Ada,(415) 555-2671,P-1,America/Los_Angeles\n\
               \"Bo, Jr.\",+1 212 555 0101,P-2,\n\
               Cy,not a number,P-3,\n\
               Di,1-212-555-0102,\"P-4 \"\"gold\"\"\",America/Chicago\n\
               Ada again,415-555-2671,P-5,\n";
    let first = imported(&env, common::SPEC, "list.csv", csv);
    let recall = env.path("recall.csv");
    let (code, out, err) =
        switchboard(&env.db, &["export", &first, "--columns", "original", "--out", path_str(&recall)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("exported 3 recipient(s)"), "{out}");
    let text = std::fs::read_to_string(&recall).unwrap();
    let sheet = Sheet::parse(&text);
    assert_eq!(sheet.header, ["first_name", "Mobile Phone", "policy", "tz"]);
    let rows: Vec<Vec<&str>> = sheet.rows.iter().map(|r| r.iter().map(|c| unquote(c)).collect()).collect();
    assert_eq!(
        rows,
        [
            vec!["Ada", "+14155552671", "P-1", "America/Los_Angeles"],
            vec!["Bo, Jr.", "+12125550101", "P-2", ""],
            vec!["Di", "+12125550102", "P-4 \"gold\"", "America/Chicago"],
        ]
    );

    // Straight into a new campaign: every row accepted, and the same list comes back out.
    let second = env.campaign(&common::SPEC.replace("test-campaign", "recall-campaign"));
    let import = env.ok(["import", &second, path_str(&recall), "--json"]);
    assert_eq!(import.last_json(), json!({"accepted": 3, "rejected": 0, "duplicates": 0, "suppressed": 0}));
    assert_eq!(export(&env.db, &[&second, "--columns", "original"]), text);
    // Including each recipient's zone and where it came from.
    let zones = |id: &str| {
        let s = Sheet::parse(&export(&env.db, &[id, "--raw"]));
        s.rows
            .iter()
            .map(|r| (s.cell(r, "phone_e164").to_string(), s.cell(r, "timezone").to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(zones(&first), zones(&second));
}

#[test]
fn several_imports_give_the_union_of_their_columns_and_a_name_of_ours_gets_a_suffix() {
    let env = TestEnv::new();
    let id = imported(
        &env,
        common::SPEC,
        "a.csv",
        "first_name,phone,state,timezone\nAda,212-555-4000,NY,America/New_York\n",
    );
    let b = env.write("b.csv", "phone,city,first_name\n212-555-4001,Paris,Bo\n");
    env.ok(["import", &id, path_str(&b)]);
    let sheet = Sheet::parse(&export(&env.db, &[&id, "--raw"]));
    assert_eq!(&sheet.header[..4], ["first_name", "state_original", "timezone_original", "city"]);
    assert_eq!(&sheet.header[4..], switchboard::export::OURS);
    assert_eq!(sheet.rows[0][..4], ["Ada", "NY", "America/New_York", ""]);
    assert_eq!(sheet.rows[1][..4], ["Bo", "", "", "Paris"]);
    // Ours keep their names: `state` is the recipient's state (the file's and the area code's),
    // `timezone` the zone.
    assert_eq!(
        (sheet.cell(&sheet.rows[0], "state"), sheet.cell(&sheet.rows[0], "timezone")),
        ("NY", "America/New_York")
    );
    // The recall list keeps each file's own names.
    let original = Sheet::parse(&export(&env.db, &[&id, "--columns", "original"]));
    assert_eq!(original.header, ["first_name", "phone", "state", "timezone", "city"]);
}

#[test]
fn unknown_outcomes_and_state_filters_are_refused_with_exit_2_and_filters_select_rows() {
    let env = TestEnv::new();
    let id = imported(&env, common::SPEC, "a.csv", "first_name,phone\nAda,212-555-5000\nBo,212-555-5001\n");
    let (code, _, err) = switchboard(&env.db, &["export", &id, "--outcome", "answered"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("human, voicemail, no_answer, busy, failed, unknown, pending, suppressed, cancelled"),
        "{err}"
    );
    let (code, _, err) = switchboard(&env.db, &["export", &id, "--state", "Atlantis"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a US state"), "{err}");
    // Both recipients are in New York (area code 212).
    assert_eq!(Sheet::parse(&export(&env.db, &[&id, "--state", "new york"])).rows.len(), 2);
    assert_eq!(Sheet::parse(&export(&env.db, &[&id, "--state", "CA"])).rows.len(), 0);
    let (code, _, err) = switchboard(&env.db, &["export", &id, "--since", "last week"]);
    assert_eq!(code, 2);
    assert!(err.contains("RFC 3339"), "{err}");
    let (code, _, err) = switchboard(&env.db, &["export", &id, "--attempts", "--outcome", "suppressed"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = switchboard(&env.db, &["export", "no-such-campaign"]);
    assert_eq!(code, 2);
    assert!(err.contains("no campaign `no-such-campaign`"), "{err}");
    assert_eq!(Sheet::parse(&export(&env.db, &[&id, "--outcome", "pending"])).rows.len(), 2);
    assert_eq!(Sheet::parse(&export(&env.db, &[&id, "--outcome", "human"])).rows.len(), 0);
    assert_eq!(Sheet::parse(&export(&env.db, &[&id, "--since", "2000-01-01"])).rows.len(), 0, "never dialled");
    let (code, out, _) = switchboard(&env.db, &["export", "--help"]);
    assert_eq!(code, 0);
    for option in ["--out", "--attempts", "--outcome", "--state", "--since", "--columns", "--raw", "--bom"] {
        assert!(out.contains(option), "--help does not explain {option}");
    }
}

#[cfg(unix)]
#[test]
fn out_is_created_0600_never_over_the_database_and_never_through_a_planted_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let id = imported(&env, common::SPEC, "a.csv", "first_name,phone\nAda,212-555-6000\n");
    let out = env.path("results.csv");
    let (code, _, err) = switchboard(&env.db, &["export", &id, "--out", path_str(&out)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), export(&env.db, &[&id]));

    let before = export(&env.db, &[&id]);
    for target in [env.db.clone(), env.path("test.db-wal"), env.dir.path().join("sub/../test.db")] {
        std::fs::create_dir_all(env.path("sub")).unwrap();
        let (code, _, err) = switchboard(&env.db, &["export", &id, "--out", path_str(&target)]);
        assert_eq!(code, 2, "{}: {err}", target.display());
        assert!(err.contains("is the database"), "{err}");
    }
    assert_eq!(export(&env.db, &[&id]), before, "the database is untouched");
    // A link to the database is refused too; a link to anything else is replaced, not followed.
    let link = env.path("link.csv");
    std::os::unix::fs::symlink(&env.db, &link).unwrap();
    assert_eq!(switchboard(&env.db, &["export", &id, "--out", path_str(&link)]).0, 2);
    let victim = env.write("victim.txt", "keep me");
    let planted = env.path("planted.csv");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    assert_eq!(switchboard(&env.db, &["export", &id, "--out", path_str(&planted)]).0, 0);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(!std::fs::symlink_metadata(&planted).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::metadata(&planted).unwrap().permissions().mode() & 0o777, 0o600);
    // Nothing is left beside the file.
    let leftovers: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// -------------------------------------------------------------------------------------------
// Calls and answers written by a connection of the test's own.

/// The campaign's jobs: (id, phone), in id order.
async fn jobs(conn: &mut SqliteConnection, campaign: &str) -> Vec<(i64, String)> {
    sqlx::query("SELECT id, phone FROM jobs WHERE campaign_id = ? ORDER BY id")
        .bind(campaign)
        .fetch_all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get("id"), r.get("phone")))
        .collect()
}

/// Records a finished call for a job, as the daemon would: the attempt (with its analysis
/// JSON) and the job's count, state and outcome, in the caller's transaction.
async fn record_call(
    conn: &mut SqliteConnection,
    campaign: &str,
    (job, phone): &(i64, String),
    call: &str,
    at_ms: i64,
    outcome: &str,
    analysis: Option<&str>,
) -> String {
    let n: i64 =
        sqlx::query_scalar("SELECT attempts + 1 FROM jobs WHERE id = ?").bind(job).fetch_one(&mut *conn).await.unwrap();
    let attempt = format!("a-{call}");
    sqlx::query(
        "INSERT INTO attempts (id, job_id, campaign_id, phone, attempt_no, state, call_id, dialed_at, expires_at,
                               sent_at, ended_at, outcome, answered_by, call_length, price, summary, analysis)
         VALUES (?, ?, ?, ?, ?, 'ended', ?, ?, ?, ?, ?, ?, ?, 1.5, 0.135, 'Spoke.', ?)",
    )
    .bind(&attempt)
    .bind(job)
    .bind(campaign)
    .bind(phone)
    .bind(n)
    .bind(call)
    .bind(at_ms)
    .bind(at_ms + 600_000)
    .bind(at_ms + 100)
    .bind(at_ms + 90_000)
    .bind(outcome)
    .bind(if outcome == "human" { Some("human") } else { None })
    .bind(analysis)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query("UPDATE jobs SET attempts = ?, state = 'done', outcome = ? WHERE id = ?")
        .bind(n)
        .bind(outcome)
        .bind(job)
        .execute(&mut *conn)
        .await
        .unwrap();
    attempt
}

/// A finished set of `[analysis]` answers for an attempt.
async fn record_answers(
    conn: &mut SqliteConnection,
    attempt: &str,
    campaign: &str,
    set: &str,
    questions: Value,
    answers: Option<Value>,
    state: &str,
) {
    sqlx::query(
        "INSERT INTO call_analyses (attempt_id, campaign_id, call_id, question_set, goal, questions, state, answers,
                                    price, tries, created_at, updated_at)
         VALUES (?, ?, 'c', ?, 'Renewals', ?, ?, ?, 0.02, 1, 0, 0)",
    )
    .bind(attempt)
    .bind(campaign)
    .bind(set)
    .bind(questions.to_string())
    .bind(state)
    .bind(answers.map(|a| a.to_string()))
    .execute(conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn schema_fields_come_from_the_answered_call_and_questions_are_the_union_with_the_latest_answer() {
    let env = TestEnv::new();
    let id =
        imported(&env, SCHEMA_SPEC, "a.csv", "first_name,phone\nAda,212-555-7000\nBo,212-555-7001\nCy,212-555-7002\n");
    let mut conn = connect(&env.db).await;
    let j = jobs(&mut conn, &id).await;
    let t0 = at("2026-06-02T14:00:00Z").timestamp_millis();
    // Ada: voicemail, then a person; Bo: voicemail only; Cy: never called.
    record_call(&mut conn, &id, &j[0], "c1", t0, "voicemail", Some(r#"{"wants_renewal":null,"callback_time":null}"#))
        .await;
    let ada = record_call(
        &mut conn,
        &id,
        &j[0],
        "c2",
        t0 + 3_600_000,
        "human",
        Some(r#"{"wants_renewal":true,"callback_time":"after 5"}"#),
    )
    .await;
    let bo = record_call(&mut conn, &id, &j[1], "c3", t0, "voicemail", Some(r#"{"wants_renewal":false}"#)).await;
    let q1 = json!([["Renew?", "boolean"], ["When?", "string"]]);
    let q2 = json!([["Renew?", "boolean"], ["Human?", "boolean"]]);
    record_answers(&mut conn, &ada, &id, "s1", q1, Some(json!([false, "mornings"])), "done").await;
    record_answers(&mut conn, &ada, &id, "s2", q2, Some(json!([true, false])), "done").await;
    record_answers(&mut conn, &ada, &id, "s3", json!([["Never asked?", "string"]]), None, "pending").await;
    record_answers(&mut conn, &bo, &id, "s4", json!([["Failed?", "string"]]), None, "failed").await;

    let sheet = Sheet::parse(&export(&env.db, &[&id]));
    let tail: Vec<&str> = sheet.header[sheet.col("summary") + 1..].iter().map(String::as_str).collect();
    assert_eq!(tail, ["callback_time", "wants_renewal", "Renew?", "When?", "Human?"]);
    let cells =
        |i: usize| -> Vec<&str> { sheet.rows[i][sheet.col("summary") + 1..].iter().map(String::as_str).collect() };
    assert_eq!(cells(0), ["after 5", "true", "true", "mornings", "false"], "the later set's answer wins");
    assert_eq!(cells(1), ["", "", "", "", ""], "nobody answered Bo's call");
    assert_eq!(cells(2), ["", "", "", "", ""]);
    let ada_row = &sheet.rows[0];
    assert_eq!(sheet.cell(ada_row, "attempts"), "2");
    assert_eq!(sheet.cell(ada_row, "cost_usd"), "0.27");
    assert_eq!(sheet.cell(ada_row, "call_id"), "c2");
    assert_eq!(sheet.cell(ada_row, "first_attempt_local"), "2026-06-02T10:00:00-04:00");
    assert_eq!(sheet.cell(&sheet.rows[2], "outcome"), "pending");
    // A send proven never placed does not count.
    sqlx::query(
        "INSERT INTO attempts (id, job_id, campaign_id, phone, attempt_no, state, dialed_at, expires_at)
         VALUES ('void', ?, ?, ?, 1, 'not_sent', ?, ?)",
    )
    .bind(j[2].0)
    .bind(&id)
    .bind(&j[2].1)
    .bind(t0)
    .bind(t0)
    .execute(&mut conn)
    .await
    .unwrap();
    let sheet = Sheet::parse(&export(&env.db, &[&id]));
    assert_eq!((sheet.cell(&sheet.rows[2], "attempts"), sheet.cell(&sheet.rows[2], "call_id")), ("0", ""));
    assert_eq!(Sheet::parse(&export(&env.db, &[&id, "--attempts"])).rows.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_taken_while_calls_are_written_is_one_consistent_snapshot() {
    const N: usize = 6000;
    let env = TestEnv::new();
    let csv: String = std::iter::once("first_name,phone\n".to_string())
        .chain((0..N).map(|i| format!("R{i},212-555-{:04}\n", 1000 + i)))
        .collect();
    let id = imported(&env, SCHEMA_SPEC, "many.csv", &csv);
    let mut conn = connect(&env.db).await;
    let j = jobs(&mut conn, &id).await;
    assert_eq!(j.len(), N);

    // The writer: each transaction calls a pair of recipients, one in each half of the list
    // (so an export that read the halves at different moments would split a pair), and
    // answers a question asked only in that transaction (so a header read at another moment
    // than the rows would miss or invent one).
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, commits, id, db, j) = (stop.clone(), commits.clone(), id.clone(), env.db.clone(), j.clone());
        tokio::spawn(async move {
            let mut conn = connect(&db).await;
            let t0 = at("2026-06-02T14:00:00Z").timestamp_millis();
            let mut k = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let (a, b) = (&j[k % (N / 2)], &j[N / 2 + k % (N / 2)]);
                let at_ms = t0 + k as i64 * 1000;
                let mut tx = conn.begin().await.unwrap();
                let first = record_call(&mut tx, &id, a, &format!("x{k}"), at_ms, "human", Some("{}")).await;
                record_call(&mut tx, &id, b, &format!("y{k}"), at_ms, "voicemail", None).await;
                let q = json!([[format!("Q{k}"), "string"]]);
                record_answers(&mut tx, &first, &id, &format!("set{k}"), q, Some(json!([format!("a{k}")])), "done")
                    .await;
                tx.commit().await.unwrap();
                commits.fetch_add(1, Ordering::SeqCst);
                k += 1;
            }
        })
    };
    eventually("the writer has committed a few pairs", StdDuration::from_secs(30), async || {
        (commits.load(Ordering::SeqCst) >= 5).then_some(())
    })
    .await;

    // Each export runs while the writer goes on; each must be consistent on its own.
    let run = async |args: &[&str]| -> String {
        let before = commits.load(Ordering::SeqCst);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.arg("--db").arg(&env.db).arg("export").arg(&id).args(args).env("SWITCHBOARD_CONFIG", "/dev/null");
        cmd.stdin(Stdio::null());
        let (code, out, err) = common::process::run_bounded(cmd, StdDuration::from_secs(60)).await;
        assert_eq!(code, 0, "{err}");
        let during = commits.load(Ordering::SeqCst) - before;
        assert!(during > 0, "no write happened while the export ran");
        out
    };
    let sheet = Sheet::parse(&run(&[]).await);
    let attempts = Sheet::parse(&run(&["--attempts"]).await);
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();

    // Recipients: both halves of every pair agree.
    assert_eq!(sheet.rows.len(), N);
    let ids: Vec<i64> = j.iter().map(|(id, _)| *id).collect();
    assert!(ids.is_sorted());
    for k in 0..N / 2 {
        let (a, b) = (&sheet.rows[k], &sheet.rows[N / 2 + k]);
        for col in ["attempts", "last_attempt_utc", "first_attempt_utc"] {
            assert_eq!(sheet.cell(a, col), sheet.cell(b, col), "pair {k}: {col}");
        }
    }
    // The header's questions are exactly those of the calls in the rows, each answered.
    let questions: Vec<&String> = sheet.header.iter().filter(|h| h.starts_with('Q')).collect();
    let answered: usize = sheet.rows[..N / 2].iter().map(|r| sheet.cell(r, "attempts").parse::<usize>().unwrap()).sum();
    assert!(answered >= 5, "the export saw the pairs written before it");
    assert_eq!(questions.len(), answered, "a question per call in the rows, no more, no fewer");
    for q in questions {
        let k = &q[1..];
        let answers = sheet.rows.iter().filter(|r| sheet.cell(r, q) == format!("a{k}")).count();
        assert_eq!(answers, 1, "question {q} has its answer");
    }
    // Attempts: every pair has as many calls on each side.
    let mut per_phone: HashMap<&str, usize> = HashMap::new();
    for r in &attempts.rows {
        *per_phone.entry(unquote(attempts.cell(r, "phone_e164"))).or_default() += 1;
    }
    let total: usize = per_phone.values().sum();
    assert!(total >= 10 && total.is_multiple_of(2), "{total} calls");
    for k in 0..N / 2 {
        let (a, b) = (&j[k].1, &j[N / 2 + k].1);
        assert_eq!(per_phone.get(a.as_str()), per_phone.get(b.as_str()), "pair {k}");
    }
}
