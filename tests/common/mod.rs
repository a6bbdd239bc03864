//! Shared set-up for the integration tests: a scratch directory with its own database and
//! config per test, and a runner for the real `switchboard` binary.
#![allow(dead_code)]

pub mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use switchboard::store::Store;
use tempfile::TempDir;

/// A minimal valid campaign spec; `{{first_name}}` makes placeholder checks observable.
pub const SPEC: &str = r#"
id = "test-campaign"
name = "Test campaign"
[call]
task = "Call {{first_name}} about their policy."
[schedule]
timezone = "America/New_York"
"#;

pub struct TestEnv {
    pub dir: TempDir,
    pub db: PathBuf,
    pub config: PathBuf,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The JSON object on the last line of stdout.
    pub fn last_json(&self) -> serde_json::Value {
        let line = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|e| panic!("last line `{line}` is not JSON: {e}\n{}", self.stderr))
    }
}

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("test.db");
        let config = dir.path().join("switchboard.toml");
        std::fs::write(&config, format!("[store]\npath = {:?}\n", db.display().to_string())).unwrap();
        Self { dir, db, config }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.env("SWITCHBOARD_CONFIG", &self.config)
            .env_remove("SWITCHBOARD_DB")
            .env_remove("BLAND_API_KEY")
            .env_remove("BLAND_WEBHOOK_SECRET")
            .env("RUST_LOG", "warn")
            .current_dir(self.dir.path());
        cmd
    }

    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out: Output = self.command().args(args).output().expect("run switchboard");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and insists on exit 0.
    pub fn ok<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let r = self.run(args);
        assert_eq!(r.code, 0, "expected success\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        r
    }

    /// Creates the campaign in `spec` and returns its id.
    pub fn campaign(&self, spec: &str) -> String {
        let path = self.write("campaign.toml", spec);
        self.ok(["campaign", "create", path.to_str().unwrap()]).stdout.trim().to_string()
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.db).await.expect("open test db")
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
