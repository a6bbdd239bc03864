//! `switchboard import` and `dnc import` on hostile and broken files, through the real binary:
//! line numbers after blank lines and classic-Mac line ends, unclosed quotes, spoilt UTF-8,
//! UTF-16, huge cells, formula cells, ambiguous headers, zones that contradict the number, and
//! property tests (arbitrary files never panic the import; `PhoneNumber::parse` round-trips).
//! Results are read from the binary's output and files, or through the store's typed reads.

mod common;

use common::{SPEC, TestEnv, path_str};
use proptest::prelude::*;
use switchboard::phone::PhoneNumber;
use switchboard::store::JobState;

/// `import ID FILE`, returning the run (any exit code).
fn import(env: &TestEnv, id: &str, name: &str, bytes: impl AsRef<[u8]>, extra: &[&str]) -> common::Run {
    let file = env.write(name, bytes);
    let mut args = vec!["import", id, path_str(&file)];
    args.extend_from_slice(extra);
    env.run(args)
}

/// The rejects report beside `name`, as records (header included).
fn rejects(env: &TestEnv, name: &str) -> Vec<Vec<String>> {
    let stem = name.trim_end_matches(".csv");
    let path = env.path(&format!("{stem}.rejects.csv"));
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(&path).unwrap();
    reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect()
}

/// (source line, phone) of every job of the campaign, in line order.
async fn job_lines(env: &TestEnv, id: &str) -> Vec<(i64, String)> {
    let store = env.store().await;
    let mut jobs: Vec<(i64, String)> = store
        .job_records(Some(id))
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.source_line.unwrap_or(0), j.phone.as_str().to_string()))
        .collect();
    jobs.sort();
    jobs
}

#[tokio::test]
async fn line_numbers_are_physical_lines_after_blank_lines_and_with_cr_only_line_ends() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    // Classic Mac OS line ends (CR only), blank lines, and a quoted cell spanning two lines.
    let file = "first_name,phone,note\r\r(201) 555-0123,x\r\rAda,(415) 555-2671,\"two\rlines\"\r\rBo,not a number,\r\r\rCy,(312) 555-0162,\r";
    let run = import(&env, &id, "mac.csv", file, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(job_lines(&env, &id).await, [(5, "+14155552671".to_string()), (11, "+13125550162".to_string())]);
    let report = rejects(&env, "mac.csv");
    let lines: Vec<&str> = report[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(lines, ["3", "8"], "the ragged row on line 3 and the bad number on line 8");
}

#[test]
fn an_error_names_the_physical_line_after_blank_lines_and_cr_only_line_ends() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let run =
        import(&env, &id, "mac.csv", "phone,note\r\r+12015550123,x\r\r\r+14155552671,\"open\r+13125550162,y\r", &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("mac.csv:6: a quoted field opens here and is never closed"), "{}", run.stderr);
}

#[tokio::test]
async fn an_unterminated_quote_fails_the_import_naming_the_line_where_it_opened() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let file = "first_name,phone,note\nAda,+12015550123,fine\nBo,+14155552671,\"unclosed note\nCy,+13125550162,x\nDi,+12125550147,y\n";
    let run = import(&env, &id, "quote.csv", file, &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("quote.csv:3: a quoted field opens here and is never closed"), "{}", run.stderr);
    assert!(job_lines(&env, &id).await.is_empty(), "nothing is stored");
    // A quote inside an unquoted field is a character, not an opening quote.
    let ok = import(&env, &id, "inch.csv", "first_name,phone,note\nBo,+14155552671,5\" screen\n", &[]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
}

#[tokio::test]
async fn utf8_with_a_few_invalid_bytes_stops_and_asks_for_an_encoding_instead_of_reading_windows_1252() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let file = b"first_name,phone\nJos\xc3\xa9,+12015550123\nRen\xc3\xa9e,+14155552671\nZo\xeb,+13125550162\n";
    let run = import(&env, &id, "spoilt.csv", file, &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("spoilt.csv:4: the file is UTF-8 but 1 byte sequence is not"), "{}", run.stderr);
    assert!(run.stderr.contains("--encoding windows-1252"), "{}", run.stderr);
    assert!(job_lines(&env, &id).await.is_empty(), "nothing is stored");
    // Forced UTF-8 is strict: the bad byte is an error on its line.
    let utf8 = import(&env, &id, "spoilt.csv", file, &["--encoding", "utf-8"]);
    assert_eq!(utf8.code, 2, "{}{}", utf8.stdout, utf8.stderr);
    assert!(utf8.stderr.contains("spoilt.csv:4: the text is not valid UTF-8"), "{}", utf8.stderr);
    // The operator says the file is Windows-1252: it is read so, as asked.
    let cp1252 = import(&env, &id, "spoilt.csv", file, &["--encoding", "windows-1252", "--json"]);
    assert_eq!(cp1252.code, 0, "{}{}", cp1252.stdout, cp1252.stderr);
    assert_eq!(cp1252.last_json()["accepted"], 3);
    // A real Windows-1252 file (no UTF-8 at all) still reads as one.
    let latin1 = import(&env, &id, "latin1.csv", b"first_name,phone\nZo\xeb,+12125550147\n", &[]);
    assert_eq!(latin1.code, 0, "{}{}", latin1.stdout, latin1.stderr);
    assert!(latin1.stdout.contains("read as windows-1252"), "{}", latin1.stdout);
}

fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let units = bom.then_some(0xfeff).into_iter().chain(text.encode_utf16());
    for u in units {
        out.extend_from_slice(&if big_endian { u.to_be_bytes() } else { u.to_le_bytes() });
    }
    out
}

#[tokio::test]
async fn utf16_reads_with_a_bom_or_with_the_encoding_named() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let text = |n: u32| format!("first_name,phone\r\nJos\u{e9},+1 201 555 01{n:02}\r\n");
    for (n, (big_endian, bom, flag)) in
        [(false, true, None), (true, true, None), (false, false, Some("utf-16le")), (true, false, Some("utf-16be"))]
            .into_iter()
            .enumerate()
    {
        let mut extra = vec!["--json"];
        extra.extend(flag.map(|f| ["--encoding", f]).into_iter().flatten());
        let run = import(&env, &id, &format!("u16-{n}.csv"), utf16(&text(20 + n as u32), big_endian, bom), &extra);
        assert_eq!(run.code, 0, "case {n}: {}{}", run.stdout, run.stderr);
        assert_eq!(run.last_json()["accepted"], 1, "case {n}: {}", run.stdout);
    }
    assert_eq!(job_lines(&env, &id).await.len(), 4);
}

#[test]
fn messages_quote_a_bounded_excerpt_of_a_huge_line_or_cell() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let huge = "Z".repeat(1 << 20);
    // A header of one huge column: not a CSV header.
    let run = import(&env, &id, "huge-header.csv", format!("{huge}\n+12015550123\n"), &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.len() < 1000, "{} bytes of error", run.stderr.len());
    assert!(
        run.stderr.contains(&format!("`{}\u{2026}`", "Z".repeat(79))),
        "{}",
        &run.stderr[..300.min(run.stderr.len())]
    );
    // A huge time zone cell: the reject reason quotes an excerpt.
    let run = import(&env, &id, "huge-cell.csv", format!("phone,tz\n+12015550123,{huge}\n"), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = rejects(&env, "huge-cell.csv");
    assert_eq!(report.len(), 2);
    assert!(report[1][1].chars().count() < 200, "reason of {} chars", report[1][1].len());
    assert!(report[1][1].starts_with("tz: `ZZZ"), "{}", &report[1][1][..100]);
}

#[test]
fn the_rejects_report_neutralises_cells_a_spreadsheet_would_run_as_formulas() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let file =
        "first_name,phone,-note\n\"=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",+1 555,@cmd\nAda,+12015550123,ok\n";
    let run = import(&env, &id, "formula.csv", file, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = rejects(&env, "formula.csv");
    assert_eq!(report[0], ["line", "reason", "first_name", "phone", "'-note"]);
    assert_eq!(report[1][0], "2");
    assert_eq!(report[1][2..], ["'=HYPERLINK(\"http://evil\",\"x\")", "'+1 555", "'@cmd"]);
}

#[tokio::test]
async fn a_phone_like_column_beats_a_generic_number_and_the_choice_is_warned() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let run = import(&env, &id, "both.csv", "number,first_name,Mobile\n4471,Ada,(201) 555-0123\n", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("phone column \"Mobile\""), "{}", run.stdout);
    assert!(
        run.stderr.contains("warning: several columns could hold the phone number: using \"Mobile\", not \"number\""),
        "{}",
        run.stderr
    );
    assert_eq!(job_lines(&env, &id).await, [(2, "+12015550123".to_string())]);
}

/// The campaign's numbers by suppression: (suppressed, queued).
async fn suppressed_and_queued(env: &TestEnv, id: &str) -> (i64, i64) {
    let counts = env.store().await.job_counts(id).await.unwrap();
    (counts.get(JobState::Suppressed), counts.get(JobState::Queued))
}

#[tokio::test]
async fn a_dnc_number_is_the_same_number_however_the_list_and_the_import_write_it() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    env.ok(["dnc", "add", "14155550100"]);
    let list = env.write("dnc.csv", "phone\n14155550101\n(415) 555-0102\n");
    env.ok(["dnc", "import", path_str(&list)]);
    let file = "first_name,phone\nA,(415) 555-0100\nB,(415) 555-0101\nC,1-415-555-0102\nD,(415) 555-0103\n";
    let run = import(&env, &id, "list.csv", file, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(suppressed_and_queued(&env, &id).await, (3, 1));
    let dnc: Vec<String> = env.store().await.dnc_list().await.unwrap().into_iter().map(|e| e.phone).collect();
    assert_eq!(dnc.len(), 3);
    assert!(dnc.iter().all(|p| p.starts_with("+1415555010")), "{dnc:?}");
}

#[tokio::test]
async fn a_dnc_line_that_cannot_be_read_fails_dnc_import_naming_the_file_and_line_and_adds_nothing() {
    let env = TestEnv::new();
    let list = env.write("dnc.csv", "name,phone\r\nA,14155550100\r\n\r\nB,call me maybe\r\nC,(415) 555-0101\r\n");
    let run = env.run(["dnc", "import", path_str(&list)]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("dnc.csv:4: phone: contains letters"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was added"), "{}", run.stderr);
    assert!(env.store().await.dnc_list().await.unwrap().is_empty());
}

const COLUMN_ZONES: &str = r#"
id = "zones"
name = "Zones"
[call]
task = "Call them."
[schedule]
timezone = "America/New_York"
zone_policy = "column"
"#;

#[tokio::test]
async fn a_zone_column_that_contradicts_a_nanp_number_is_rejected_and_counted_in_the_summary() {
    let env = TestEnv::new();
    let id = env.campaign(COLUMN_ZONES);
    let file = "phone,timezone\n+12125550147,Pacific/Kiritimati\n+12125550148,Europe/London\n+12125550149,America/Chicago\n+12125550150,\n+442079460958,Europe/London\n";
    let run = import(&env, &id, "zones.csv", file, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("warning: 2 row(s) rejected because their time zone column names a zone outside North America for a +1 number"),
        "{}",
        run.stderr
    );
    let report = rejects(&env, "zones.csv");
    assert_eq!(report.len(), 3);
    assert!(report[1][1].contains("`Pacific/Kiritimati` is not a North American time zone"), "{:?}", report[1]);
    let phones: Vec<String> = job_lines(&env, &id).await.into_iter().map(|(_, p)| p).collect();
    assert_eq!(phones, ["+12125550149", "+12125550150", "+442079460958"]);
}

/// Bytes that look enough like CSV to get past the header now and then.
fn csvish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let prefix = prop_oneof![
        Just(Vec::new()),
        Just(b"phone,first_name,tz\n".to_vec()),
        Just(b"\xef\xbb\xbfphone;tz\r\n".to_vec()),
        Just(b"\xff\xfe".to_vec()),
    ];
    let byte = prop_oneof![
        4 => prop::sample::select(b",;\"\r\n\t+()-' 0123456789=@".to_vec()),
        1 => any::<u8>(),
    ];
    (prefix, prop::collection::vec(byte, 0..300)).prop_map(|(mut p, body)| {
        p.extend(body);
        p
    })
}

/// An error or reason that quotes bounded excerpts stays short whatever the file.
const MAX_MESSAGE: usize = 600;

#[test]
fn arbitrary_bytes_as_a_file_never_panic_the_import_and_every_error_is_typed_and_bounded() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (store, spec) = runtime.block_on(async {
        let store = env.store().await;
        let config = switchboard::config::daemon::DaemonConfig::defaults();
        let spec = switchboard::campaigns::stored_spec(&store, &config, &id).await.unwrap();
        (store, spec)
    });
    let path = env.path("fuzz.csv");
    let rejects_path = env.path("fuzz.rejects.csv");
    let config = ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(bytes in csvish_bytes(), dry_run in any::<bool>())| {
        std::fs::write(&path, &bytes).unwrap();
        let _ = std::fs::remove_file(&rejects_path);
        let opts = switchboard::import::ImportOptions { dry_run, ..Default::default() };
        let result = runtime.block_on(switchboard::import::import_file(&store, &spec, &path, &opts, chrono::Utc::now()));
        match result {
            Ok(_) => {
                if let Ok(mut report) = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(&rejects_path) {
                    for record in report.records() {
                        let record = record.unwrap();
                        prop_assert!(record.get(1).unwrap_or("").chars().count() <= MAX_MESSAGE, "{record:?}");
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(message.chars().count() <= path_str(&path).len() + MAX_MESSAGE, "{message}");
                prop_assert!(e.is_bad_input(), "an operator's file is bad input, not a runtime failure: {message}");
            }
        }
    });
}

/// Text a person might type into a phone cell, or anything at all.
fn phoneish() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[+']?[0-9 ()./\\-]{0,24}",
        1 => "[+0-9０-９＋ x#ext.]{0,20}",
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_parsed_phone_number_is_e164_and_parses_again_to_itself(raw in phoneish()) {
        if let Ok(number) = PhoneNumber::parse(&raw) {
            let e164 = number.as_str();
            let digits = e164.strip_prefix('+').expect("E.164 starts with +");
            prop_assert!(!digits.is_empty() && digits.len() <= 15, "{raw:?} -> {e164}");
            prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{raw:?} -> {e164}");
            prop_assert_eq!(PhoneNumber::parse(e164), Ok(number.clone()), "{:?}", raw);
        }
    }
}
