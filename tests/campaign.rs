//! `switchboard campaign create | list | show` through the real binary.

mod common;

use common::{SPEC, TestEnv, path_str};
use switchboard::campaigns;
use switchboard::store::CampaignAction;

fn create(env: &TestEnv, spec: &str) -> common::Run {
    let path = env.write("spec.toml", spec);
    env.run(["campaign", "create", path_str(&path)])
}

#[test]
fn creating_a_campaign_prints_its_id_and_show_json_reports_zero_counts_for_every_state() {
    let env = TestEnv::new();

    let id = env.campaign(SPEC);
    let show = env.ok(["campaign", "show", &id, "--json"]);

    assert_eq!(id, "test-campaign");
    let v: serde_json::Value = serde_json::from_str(show.stdout.trim()).unwrap();
    assert_eq!(v["id"], "test-campaign");
    assert_eq!(v["name"], "Test campaign");
    assert_eq!(v["state"], "draft");
    let counts = v["counts"].as_object().unwrap();
    for state in ["queued", "dialing", "in_call", "retry_wait", "done", "failed", "cancelled", "suppressed"] {
        assert_eq!(counts[state], 0, "{state}");
    }
    assert_eq!(counts.len(), 8);
}

#[test]
fn an_id_is_made_from_the_name_when_absent_and_recreating_a_draft_updates_it() {
    let env = TestEnv::new();
    let spec = "name = \"Spring Renewals 2027!\"\n[call]\ntask = \"hi\"\n";

    let first = create(&env, spec);
    let second = create(&env, &spec.replace("hi", "hello"));

    assert_eq!(first.stdout.trim(), "spring-renewals-2027");
    assert!(first.stderr.contains("created"), "{}", first.stderr);
    assert_eq!(second.code, 0);
    assert!(second.stderr.contains("updated draft campaign"), "{}", second.stderr);
    let list = env.ok(["campaign", "list", "--json"]);
    assert_eq!(list.stdout.lines().count(), 1);
}

#[tokio::test]
async fn a_started_campaign_cannot_be_redefined() {
    let env = TestEnv::new();
    let id = env.campaign(SPEC);
    let store = env.store().await;
    campaigns::apply(&store, &id, CampaignAction::Start, chrono::Utc::now()).await.unwrap();

    let again = create(&env, SPEC);

    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("is running, not draft"), "{}", again.stderr);
}

#[test]
fn spec_mistakes_are_refused_with_exit_2_naming_file_line_key_and_expectation() {
    let env = TestEnv::new();
    let base = "name = \"T\"\n[call]\ntask = \"hi\"\n";
    let cases: Vec<(String, &str)> = vec![
        (format!("nmae = \"x\"\n{base}"), "spec.toml:1:1: unknown key `nmae`; did you mean `name`?"),
        (format!("{base}[schedule]\nhours = {{ \"mon-fri\" = \"09:00-25:00\" }}\n"), "spec.toml:5:"),
        (format!("{base}[schedule]\nhours = {{ \"funday\" = \"09:00-17:00\" }}\n"), "`schedule.hours.\"funday\"`"),
        (
            format!("{base}[schedule]\nhours = {{ sat = \"07:00-12:00\" }}\n"),
            "outside the compliance hours 08:00-21:00",
        ),
        (format!("{base}[schedule]\ntimezone = \"America/New_Yrok\"\n"), "did you mean `America/New_York`?"),
        ("name = \"T\"\n[call]\ntask = \"hi\"\npathway_id = \"p\"\n".into(), "has both `task` and `pathway_id`"),
        ("name = \"T\"\n[call]\nvoice = \"maya\"\n".into(), "needs `task` (the agent's prompt) or `pathway_id`"),
        (format!("{base}[retry]\ndelays = [\"2 hours\"]\n"), "`retry.delays`"),
        (format!("{base}[schedule]\ntimezone = \"UTC\"\ncron = \"0 9 * *\"\nrun_for = \"8h\"\n"), "`schedule.cron`"),
        (format!("{base}[schedule]\ncron = \"0 9 * * 1-5\"\n"), "needs schedule.run_for"),
        (
            format!("{base}[limits]\ncalls_per_hour = 0\n"),
            "spec.toml:5:18: `limits.calls_per_hour`: must be a whole number",
        ),
        ("name = \"T\"\n[call]\ntsak = \"hi\"\ntask = \"x\"\n".into(), "did you mean `task`?"),
        ("name = \"T\"\n[call]\ntask = \"hi\"\nphone_number = \"+1\"\n".into(), "`call.phone_number`: must not be set"),
        (format!("{base}[retry]\non = [\"human\"]\n"), "`human` cannot be retried"),
    ];
    for (spec, expected) in cases {
        let run = create(&env, &spec);
        assert_eq!(run.code, 2, "spec:\n{spec}\nstderr: {}", run.stderr);
        assert!(run.stderr.contains(expected), "spec:\n{spec}\nexpected `{expected}` in: {}", run.stderr);
    }
    assert!(env.ok(["campaign", "list", "--json"]).stdout.is_empty(), "no bad spec was stored");
}

#[test]
fn unknown_campaigns_are_reported_with_exit_2() {
    let env = TestEnv::new();
    env.campaign(SPEC);

    let run = env.run(["campaign", "show", "nope"]);

    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no campaign `nope`"), "{}", run.stderr);
}

#[test]
fn read_only_commands_name_a_missing_database_instead_of_creating_one() {
    let env = TestEnv::new();

    for args in [&["campaign", "show", "x"][..], &["campaign", "list"], &["dnc", "list"]] {
        let run = env.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("no database at") && run.stderr.contains("test.db"), "{}", run.stderr);
    }
    assert!(!env.db.exists(), "no read created the database");
}

#[test]
fn the_default_config_is_printed_commented_and_parses() {
    let env = TestEnv::new();

    let run = env.ok(["config", "default"]);

    assert!(run.stdout.contains("# switchboard daemon configuration"));
    let parsed: toml::Table = toml::from_str(&run.stdout).unwrap();
    assert_eq!(parsed["compliance"]["earliest"].as_str(), Some("08:00"));
}

#[test]
fn help_never_shows_secret_values_from_the_environment() {
    let env = TestEnv::new();

    let out = env.command().env("BLAND_API_KEY", "sk-very-secret").args(["--help"]).output().unwrap();

    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BLAND_API_KEY"));
    assert!(!text.contains("sk-very-secret"));
}

#[test]
fn completions_are_printed_for_each_shell_with_every_command() {
    let env = TestEnv::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.ok(["completions", shell]).stdout;
        for command in ["campaign", "import", "report", "analyze", "dnc", "serve", "demo"] {
            assert!(out.contains(command), "{shell} completions lack `{command}`");
        }
    }
    assert_eq!(env.run(["completions", "tcsh"]).code, 2, "an unknown shell is bad usage");
}
