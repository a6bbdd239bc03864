//! `switchboard import` on messy real-world files, through the real binary, checked against the
//! database and the rejects report.

mod common;

use std::collections::HashSet;

use chrono_tz::Tz;
use common::{SPEC, TestEnv, path_str};
use serde_json::Value;
use switchboard::store::{JobDetails, JobState, ZoneSource};

/// UTF-8 with BOM, CRLF line ends, a quoted comma, a quoted newline, a duplicate, an extension,
/// junk, a bad zone, a ragged row, full-width digits and a country code (not +1) without '+'.
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
Jo,442079460000,,\r\n";

/// Every job with its zones and variables, in file order.
async fn jobs(env: &TestEnv) -> Vec<JobDetails> {
    let mut jobs = env.store().await.job_details(None).await.unwrap();
    jobs.sort_by_key(|j| j.record.source_line);
    jobs
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
    let stored: Vec<(&str, &[Tz], ZoneSource, Option<i64>)> = jobs
        .iter()
        .map(|j| (j.record.phone.as_str(), j.timezones.as_slice(), j.zone_source, j.record.source_line))
        .collect();
    assert_eq!(
        stored,
        vec![
            ("+12015550123", &[Tz::America__New_York][..], ZoneSource::AreaCode, Some(2)),
            ("+14155552671", &[Tz::America__Los_Angeles][..], ZoneSource::Column, Some(3)),
            ("+442079460958", &[Tz::Europe__London][..], ZoneSource::AreaCode, Some(7)),
            ("+12015550199", &[Tz::America__New_York][..], ZoneSource::AreaCode, Some(11)),
        ]
    );
    assert!(jobs.iter().all(|j| j.record.state == JobState::Queued));
    assert_eq!(
        Value::from(jobs[0].variables.clone()),
        serde_json::json!({"first_name": "Ada", "notes": "likes, commas", "tz": ""})
    );
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
async fn what_spreadsheets_leave_of_a_number_imports_as_libphonenumber_reads_it() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    // Excel drops the '+' of +1 numbers, and a leading apostrophe marks a cell as text.
    let file = env.write(
        "excel.csv",
        "first_name,phone\nA,14155550100\nB,1-212-555-0147\nC,'2015550133\nD,'+1 (303) 555-0142\nE,4155552671.0\n",
    );

    let run = env.ok(["import", &id, path_str(&file), "--json"]);

    assert_eq!(run.last_json()["accepted"], 4, "{}", run.stdout);
    let phones: Vec<String> = jobs(&env).await.iter().map(|j| j.record.phone.to_string()).collect();
    assert_eq!(phones, ["+14155550100", "+12125550147", "+12015550133", "+13035550142"]);
    let rejects = rejects(&env.path("excel.rejects.csv"));
    assert!(rejects[1][1].contains("decimal"), "a float is refused as such: {:?}", rejects[1]);
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
    assert_eq!(Value::from(jobs[0].variables.clone()), serde_json::json!({"first_name": "José", "ville": "Málaga"}));
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
    assert_eq!((jobs[0].timezones.as_slice(), jobs[0].zone_source), (&[Tz::America__Chicago][..], ZoneSource::Column));
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
    let jobs = store.job_records(None).await.unwrap().len();
    let imports = store.import_records(None).await.unwrap().len();
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
    // A dry run exists to check a file: it writes the rejects report too.
    let rejects = rejects(&env.path("messy.rejects.csv"));
    assert_eq!(rejects.len(), 1 + 5, "the header and the five rejected rows");
}

#[tokio::test]
async fn numbers_on_the_dnc_list_are_stored_suppressed_and_later_additions_suppress_queued_jobs() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    env.ok(["dnc", "add", "415.555.2671", "--reason", "asked not to be called"]);
    let file = env.write("messy.csv", MESSY);

    let run = env.ok(["import", &id, path_str(&file), "--json"]);

    assert_eq!(run.last_json(), serde_json::json!({"accepted": 3, "rejected": 5, "duplicates": 1, "suppressed": 1}));
    let bob = jobs(&env).await.into_iter().find(|j| j.record.phone.as_str() == "+14155552671").unwrap();
    assert_eq!(bob.record.state, JobState::Suppressed);
    assert_eq!(bob.record.reason.as_deref(), Some("do-not-call: asked not to be called"));

    let added = env.ok(["dnc", "add", "+1 201 555 0123"]);
    assert!(added.stdout.contains("1 queued job(s) suppressed"), "{}", added.stdout);
    let ada = jobs(&env).await.into_iter().find(|j| j.record.phone.as_str() == "+12015550123").unwrap();
    assert_eq!(ada.record.state, JobState::Suppressed);
    let list = env.ok(["dnc", "list"]);
    assert!(list.stdout.contains("+14155552671") && list.stdout.contains("+12015550123"), "{}", list.stdout);
}

#[tokio::test]
async fn dnc_import_reads_a_csv_phone_column_and_refuses_a_file_with_an_unreadable_line() {
    let env = TestEnv::new();
    let good = env.write("dnc.csv", "mobile,note\n201-555-0123,a\n1 (201) 555-0124,b\n(201) 555-0123,dup\n");
    let bad = env.write("bad.csv", "mobile,note\n201-555-0125,a\nnope,b\n");

    let run = env.ok(["dnc", "import", path_str(&good)]);
    let refused = env.run(["dnc", "import", path_str(&bad)]);

    assert!(run.stdout.contains("added 2 number(s)"), "{}", run.stdout);
    // Suppressing too much is safe; silently skipping a line is not: nothing of it is added.
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("bad.csv:3"), "{}", refused.stderr);
    let listed = env.ok(["dnc", "list"]).stdout;
    assert!(!listed.contains("+12015550125"), "{listed}");
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
    assert_eq!(store.import_records(None).await.unwrap().len(), 0);
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
    // Stands in for the daemon and other CLIs: its own connections, writing in short transactions
    // throughout (a new number on the do-not-call list each time, none of them in the file).
    let store = env.store().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut writes = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let number =
                    switchboard::phone::PhoneNumber::parse(&format!("+1303555{:04}", writes % 10_000)).unwrap();
                store.dnc_add(&[number], "concurrent writer", chrono::Utc::now()).await.unwrap();
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
    let jobs = store.job_records(None).await.unwrap();
    let distinct: HashSet<&str> = jobs.iter().map(|j| j.phone.as_str()).collect();
    assert_eq!((jobs.len(), distinct.len()), (4500, 4500));
}
