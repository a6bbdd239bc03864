//! Shared set-up for the integration tests: a scratch directory with its own database and
//! config per test, and a runner for the real `switchboard` binary.
#![allow(dead_code)]

pub mod harness;
pub mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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

    /// An environment whose config points at an existing database (one a harness built): its
    /// SQLite file, or its PostgreSQL URL.
    pub fn at(store: &Store) -> Self {
        let env = Self::new();
        std::fs::write(&env.config, format!("[store]\nurl = {:?}\n", store.url().to_string())).unwrap();
        match store.path() {
            Some(db) => Self { db: db.to_path_buf(), ..env },
            None => env,
        }
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

/// The PostgreSQL server the conformance run uses (`SWITCHBOARD_TEST_PG`, a URL of a database
/// on it that the tests may connect to and create databases from); unset, tests use SQLite.
pub fn test_pg_server() -> Option<String> {
    std::env::var("SWITCHBOARD_TEST_PG").ok().filter(|u| !u.trim().is_empty())
}

/// A new, empty store for one test: a SQLite file in `dir`, or, when `SWITCHBOARD_TEST_PG` names
/// a PostgreSQL server, a database of its own created on it (the same tests then run against
/// PostgreSQL: `.ci/run` does both).
pub async fn test_store(dir: &Path) -> Store {
    match test_pg_server() {
        None => Store::open(&dir.join("h.db")).await.expect("open the test database"),
        Some(server) => {
            let url = new_pg_database(&server).await;
            Store::open_url(&url.parse().unwrap(), false).await.expect("open the test database on PostgreSQL")
        }
    }
}

/// Creates a database of its own on the server `server` names; its URL.
pub async fn new_pg_database(server: &str) -> String {
    use sqlx::Connection;
    let name = format!("sb_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(server).await.expect("connect to SWITCHBOARD_TEST_PG");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
    admin.close().await.ok();
    let (base, _) = server.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// How often [`eventually`] asks again.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Polls `probe` until it yields a value, and returns that value. After `within` the test fails,
/// saying what it waited for. The one way a test waits for something another task or process
/// does; it never sleeps longer than the poll interval.
pub async fn eventually<T>(what: &str, within: Duration, probe: impl AsyncFnMut() -> Option<T>) -> T {
    eventually_showing(what, within, probe, async || String::new()).await
}

/// [`eventually`], and a timeout also shows what `observe` sees then: the last state, so a
/// failure says where things stopped.
pub async fn eventually_showing<T>(
    what: &str,
    within: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
    mut observe: impl AsyncFnMut() -> String,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if Instant::now() >= deadline {
            let seen = observe().await;
            let seen = if seen.is_empty() { String::new() } else { format!("; last seen: {seen}") };
            panic!("timed out after {within:?} waiting until {what}{seen}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A North American zone (a +1 number's zone column must be one) whose local time now is
/// nearest mid-afternoon, for tests of a real daemon on the real clock inside 08:00–21:00.
pub fn open_nanp_zone() -> String {
    nanp_zone_nearest(14 * 60 + 30)
}

/// A North American zone whose local time now is nearest 03:00, well outside 08:00–21:00.
pub fn closed_nanp_zone() -> String {
    nanp_zone_nearest(3 * 60)
}

/// The North American zone whose local time now is nearest `minute_of_day`: +1 zones run from
/// UTC−11 (Pago Pago) to UTC+10 (Guam), no two more than three hours apart, so one is always
/// within an hour and a half of it.
fn nanp_zone_nearest(minute_of_day: i32) -> String {
    const NANP: [chrono_tz::Tz; 11] = [
        chrono_tz::Pacific::Pago_Pago,
        chrono_tz::Pacific::Honolulu,
        chrono_tz::America::Anchorage,
        chrono_tz::America::Los_Angeles,
        chrono_tz::America::Denver,
        chrono_tz::America::Chicago,
        chrono_tz::America::New_York,
        chrono_tz::America::Puerto_Rico,
        chrono_tz::America::St_Johns,
        chrono_tz::Pacific::Guam,
        chrono_tz::America::Halifax,
    ];
    let now = chrono::Utc::now();
    let distance = |tz: &chrono_tz::Tz| {
        use chrono::Timelike;
        let local = now.with_timezone(tz);
        let d = (local.hour() as i32 * 60 + local.minute() as i32 - minute_of_day).abs();
        d.min(24 * 60 - d)
    };
    NANP.iter().min_by_key(|tz| distance(tz)).expect("a zone").name().to_string()
}

/// The most calls in any 60 s window among `times` (the times the calls reached Bland).
pub fn busiest_minute(times: &[chrono::DateTime<chrono::Utc>]) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end] - sorted[start] >= chrono::Duration::seconds(60) {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// `n` recipients (`first_name,phone,timezone`) with unique valid US numbers, all in the North
/// American zone where it is mid-afternoon now ([`open_nanp_zone`]), so a campaign open
/// 08:00–21:00 dials them whatever time the test runs.
pub fn open_recipients(n: usize) -> String {
    let zone = open_nanp_zone();
    let mut csv = String::from("first_name,phone,timezone\n");
    for i in 0..n {
        let area = ["212", "312", "415"][i % 3];
        csv.push_str(&format!("R{i},{area}-555-{:04},{zone}\n", 1000 + i / 3));
    }
    csv
}
