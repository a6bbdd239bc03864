//! `switchboard import` on messy real-world files, through the real binary, checked against the
//! database and the rejects report.

mod common;

use common::{SPEC, TestEnv, path_str};
use sqlx::Row;

/// UTF-8 with BOM, CRLF line ends, a quoted comma, a quoted newline, a duplicate, an extension,
/// junk, a bad zone, a ragged row, full-width digits and a country code without '+'.
const MESSY: &str = "\u{feff}first_name,Phone Number,notes,tz\r\n\
Ada,(201) 555-0123,\"likes, commas\",\r\n\
Bob,+1 415 555 2671,\"two\r\nlines\",America/Los_Angeles\r\n\
Cy,415-555-2671,same as Bob,\r\n\
Di,212 555 0147 ext. 12,,\r\n\
Ed,+44 20 7946 0958,,\r\n\
Fa,not a number,,\r\n\
Gu,(312) 555-0162,,Mars/Base\r\n\
Ha,(312) 555-0162,ragged\r\n\
Io,\u{ff0b}\u{ff11} \u{ff12}\u{ff10}\u{ff11} \u{ff15}\u{ff15}\u{ff15} \u{ff10}\u{ff11}\u{ff19}\u{ff19},,\r\n\
Jo,12015550100,,\r\n";

struct Job {
    phone: String,
    timezones: String,
    zone_source: String,
    state: String,
    line: i64,
    variables: serde_json::Value,
    reason: Option<String>,
}

async fn jobs(env: &TestEnv) -> Vec<Job> {
    let store = env.store().await;
    let rows = sqlx::query(
        "SELECT phone, timezones, zone_source, state, source_line, variables, reason, i.columns
         FROM jobs j JOIN imports i ON i.id = j.import_id ORDER BY source_line",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.into_iter()
        .map(|r| Job {
            phone: r.get("phone"),
            timezones: r.get("timezones"),
            zone_source: r.get("zone_source"),
            state: r.get("state"),
            line: r.get("source_line"),
            // Stored as an array of values, named by the import's columns.
            variables: {
                let names: Vec<String> = serde_json::from_str(r.get("columns")).unwrap();
                let values: Vec<serde_json::Value> = serde_json::from_str(r.get("variables")).unwrap();
                assert_eq!(names.len(), values.len(), "one value per column");
                names.into_iter().zip(values).collect::<serde_json::Map<_, _>>().into()
            },
            reason: r.get("reason"),
        })
        .collect()
}

fn rejects(path: &std::path::Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(path).unwrap();
    r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect()
}

#[tokio::test]
async fn a_messy_export_imports_with_exact_counts_rejects_and_stored_values() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let file = env.write("messy.csv", MESSY);

    let run = env.ok(["import", &id, path_str(&file), "--json"]);

    let summary = run.last_json();
    assert_eq!(summary, serde_json::json!({"accepted": 4, "rejected": 5, "duplicates": 1, "suppressed": 0}));
    let jobs = jobs(&env).await;
    let stored: Vec<(&str, &str, &str, i64)> =
        jobs.iter().map(|j| (j.phone.as_str(), j.timezones.as_str(), j.zone_source.as_str(), j.line)).collect();
    assert_eq!(
        stored,
        vec![
            ("+12015550123", "America/New_York", "area_code", 2),
            ("+14155552671", "America/Los_Angeles", "column", 3),
            ("+442079460958", "Europe/London", "area_code", 7),
            ("+12015550199", "America/New_York", "area_code", 11),
        ]
    );
    assert!(jobs.iter().all(|j| j.state == "queued"));
    assert_eq!(jobs[0].variables, serde_json::json!({"first_name": "Ada", "notes": "likes, commas", "tz": ""}));
    assert_eq!(jobs[1].variables["notes"], "two\nlines", "line ends are normalised to LF");

    let rejects = rejects(&env.path("messy.rejects.csv"));
    assert_eq!(rejects[0], vec!["line", "reason", "first_name", "Phone Number", "notes", "tz"]);
    let lines: Vec<&str> = rejects[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(lines, vec!["6", "8", "9", "10", "12"]);
    let reason = |i: usize| rejects[i][1].to_lowercase();
    assert!(reason(1).starts_with("phone number: ") && reason(1).contains("extension"), "{}", reason(1));
    assert!(reason(2).starts_with("phone number: "), "{}", reason(2));
    assert_eq!(rejects[3][1], "tz: `Mars/Base` is not an IANA time zone (e.g. America/New_York)");
    assert_eq!(rejects[4][1], "the row has 3 fields, the header has 4");
    assert!(reason(5).contains("'+'"), "{}", reason(5));
    assert_eq!(rejects[1][2..], ["Di", "212 555 0147 ext. 12", "", ""]);
    assert_eq!(rejects[4][2..], ["Ha", "(312) 555-0162", "ragged"]);
    assert!(run.stdout.contains("accepted            4"), "{}", run.stdout);
}

#[tokio::test]
async fn latin1_with_semicolons_is_detected_and_decoded() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let text = "first_name;phone;ville\nJosé;201-555-0111;Málaga\nZoë;201 555 0112;Köln\n";
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!unmappable);
    let file = env.write("latin1.csv", &bytes);

    let run = env.ok(["import", &id, path_str(&file), "--json"]);

    assert_eq!(run.last_json()["accepted"], 2);
    assert!(run.stdout.contains("windows-1252") && run.stdout.contains("delimiter ';'"), "{}", run.stdout);
    let jobs = jobs(&env).await;
    assert_eq!(jobs[0].variables, serde_json::json!({"first_name": "José", "ville": "Málaga"}));
    assert_eq!(jobs[1].variables["ville"], "Köln");
}

#[tokio::test]
async fn tab_files_with_named_columns_and_a_missing_placeholder_warn_but_import() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let file = env.write("tabs.tsv", "Name\tCell Phone\tZone\nAl\t2015550131\tAmerica/Chicago\n");

    let run =
        env.ok(["import", &id, path_str(&file), "--phone-column", "cell phone", "--timezone-column", "ZONE", "--json"]);

    assert_eq!(run.last_json()["accepted"], 1);
    assert!(run.stderr.contains("warning:") && run.stderr.contains("{{first_name}}"), "{}", run.stderr);
    let jobs = jobs(&env).await;
    assert_eq!((jobs[0].timezones.as_str(), jobs[0].zone_source.as_str()), ("America/Chicago", "column"));
}

#[tokio::test]
async fn importing_the_same_file_again_changes_nothing_and_says_so() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let file = env.write("messy.csv", MESSY);
    env.ok(["import", &id, path_str(&file)]);

    let again = env.ok(["import", &id, path_str(&file), "--json"]);

    assert_eq!(again.last_json(), serde_json::json!({"accepted": 0, "rejected": 5, "duplicates": 5, "suppressed": 0}));
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);
    assert!(again.stdout.contains("imported before, as import #1"), "{}", again.stdout);
    let store = env.store().await;
    let (jobs, imports): (i64, i64) =
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM jobs), (SELECT COUNT(*) FROM imports)")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!((jobs, imports), (4, 1));
}

#[tokio::test]
async fn a_dry_run_reports_the_same_counts_and_stores_nothing() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let file = env.write("messy.csv", MESSY);

    let run = env.ok(["import", &id, path_str(&file), "--dry-run", "--json"]);

    assert_eq!(run.last_json(), serde_json::json!({"accepted": 4, "rejected": 5, "duplicates": 1, "suppressed": 0}));
    assert!(jobs(&env).await.is_empty());
    assert!(!env.path("messy.rejects.csv").exists(), "a dry run writes no report unless asked");
}

#[tokio::test]
async fn numbers_on_the_dnc_list_are_stored_suppressed_and_later_additions_suppress_queued_jobs() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    env.ok(["dnc", "add", "415.555.2671", "--reason", "asked not to be called"]);
    let file = env.write("messy.csv", MESSY);

    let run = env.ok(["import", &id, path_str(&file), "--json"]);

    assert_eq!(run.last_json(), serde_json::json!({"accepted": 3, "rejected": 5, "duplicates": 1, "suppressed": 1}));
    let bob = jobs(&env).await.into_iter().find(|j| j.phone == "+14155552671").unwrap();
    assert_eq!(bob.state, "suppressed");
    assert_eq!(bob.reason.as_deref(), Some("do-not-call: asked not to be called"));

    let added = env.ok(["dnc", "add", "+1 201 555 0123"]);
    assert!(added.stdout.contains("1 queued job(s) suppressed"), "{}", added.stdout);
    let ada = jobs(&env).await.into_iter().find(|j| j.phone == "+12015550123").unwrap();
    assert_eq!(ada.state, "suppressed");
    let list = env.ok(["dnc", "list"]);
    assert!(list.stdout.contains("+14155552671") && list.stdout.contains("+12015550123"), "{}", list.stdout);
}

#[tokio::test]
async fn dnc_import_reads_a_csv_phone_column_and_skips_bad_lines() {
    let env = TestEnv::new();
    let file = env.write("dnc.csv", "mobile,note\n201-555-0123,a\nnope,b\n(201) 555-0123,dup\n");

    let run = env.ok(["dnc", "import", path_str(&file)]);

    assert!(run.stdout.contains("added 1 number(s)"), "{}", run.stdout);
    assert!(run.stderr.contains("dnc.csv:3: skipped"), "{}", run.stderr);
}

#[tokio::test]
async fn files_that_are_not_csv_or_have_no_phone_column_fail_with_exit_2_and_import_nothing() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("sheet.xlsx", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00".to_vec(), "not a CSV file"),
        ("nophone.csv", b"name,email\nAda,ada@example.com\n".to_vec(), "no phone column: the header has name, email"),
        ("empty.csv", Vec::new(), "the file is empty"),
        ("words.txt", b"Dear team, please call everyone\n".to_vec(), "phone column"),
    ];
    for (name, bytes, expected) in cases {
        let file = env.write(name, bytes);
        let run = env.run(["import", &id, path_str(&file)]);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        assert!(run.stderr.contains(expected) && run.stderr.contains(name), "{name}: {}", run.stderr);
    }
    let missing = env.run(["import", &id, path_str(&env.path("missing.csv"))]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("missing.csv: cannot read"), "{}", missing.stderr);
    assert!(jobs(&env).await.is_empty());
    assert!(!env.path("nophone.rejects.csv").exists());
}

#[tokio::test]
async fn a_fatal_error_deep_in_the_file_rolls_back_every_row_already_written() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let mut bytes = b"phone,first_name\n".to_vec();
    for i in 0..9000u32 {
        bytes.extend_from_slice(format!("+1201555{:04},n{i}\n", i % 10000).as_bytes());
        if i == 8000 {
            bytes.extend_from_slice(b"+12025550100,Jos\xe9\n");
        }
    }
    let file = env.write("broken.csv", bytes);

    let run = env.run(["import", &id, path_str(&file), "--encoding", "utf-8"]);

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("broken.csv:8003") && run.stderr.contains("--encoding latin1"), "{}", run.stderr);
    assert!(jobs(&env).await.is_empty(), "an import lands whole or not at all");
    let store = env.store().await;
    let imports: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM imports").fetch_one(store.pool()).await.unwrap();
    assert_eq!(imports, 0);
    assert!(!env.path("broken.rejects.csv").exists());
}

#[tokio::test]
async fn an_import_succeeds_while_another_process_keeps_writing_to_the_database() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let mut text = String::from("phone,first_name\n");
    for i in 0..20_000u32 {
        text.push_str(&format!("+1201555{:04},n{i}\n+1212555{:04},m{i}\n", i % 10000, i % 10000));
    }
    let file = env.write("big.csv", text);
    // Stands in for the daemon: its own connections, writing in short transactions throughout.
    let store = env.store().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop, id) = (store.clone(), stop.clone(), id.clone());
        tokio::spawn(async move {
            let mut writes = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sqlx::query("UPDATE campaigns SET updated_at = updated_at + 1 WHERE id = ?")
                    .bind(&id)
                    .execute(store.pool())
                    .await
                    .unwrap();
                writes += 1;
                tokio::task::yield_now().await;
            }
            writes
        })
    };

    let args = ["import".to_string(), id.clone(), path_str(&file).to_string(), "--json".to_string()];
    let run = {
        let env_cmd = env.command();
        tokio::task::spawn_blocking(move || {
            let mut cmd = env_cmd;
            cmd.args(args).output().unwrap()
        })
        .await
        .unwrap()
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.unwrap();

    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["accepted"], 20_000);
    assert_eq!(summary["duplicates"], 20_000);
    assert!(writes > 0);
}

#[tokio::test]
async fn two_imports_of_overlapping_files_at_once_store_each_number_once() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let file = |name: &str, from: u32| {
        let mut text = String::from("phone,first_name\n");
        for i in from..from + 3000 {
            text.push_str(&format!("+1201555{i:04},n{i}\n"));
        }
        env.write(name, text)
    };
    let (a, b) = (file("a.csv", 0), file("b.csv", 1500));

    let runs: Vec<_> = [a, b]
        .into_iter()
        .map(|f| {
            let mut cmd = env.command();
            cmd.args(["import", &id, path_str(&f), "--json"]);
            std::thread::spawn(move || cmd.output().unwrap())
        })
        .collect();
    let outputs: Vec<_> = runs.into_iter().map(|t| t.join().unwrap()).collect();

    let mut accepted = 0;
    let mut duplicates = 0;
    for out in &outputs {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        accepted += v["accepted"].as_u64().unwrap();
        duplicates += v["duplicates"].as_u64().unwrap();
    }
    assert_eq!((accepted, duplicates), (4500, 1500));
    let store = env.store().await;
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT phone) FROM jobs").fetch_one(store.pool()).await.unwrap();
    assert_eq!((rows, distinct), (4500, 4500));
}
