//! A real `switchboard` process for the integration tests: started with its environment and its
//! log in a file, found by the `… listening on http://ADDR` line it prints, stopped by a signal
//! and killed on drop (a failing test leaves no process behind); and one-shot commands bounded in
//! time. Every wait polls under a deadline ([`super::eventually`]).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::{TestEnv, eventually};

/// A running `switchboard serve` or `sim`.
pub struct Running {
    child: Child,
    /// Where it listens (`127.0.0.1:PORT`).
    pub addr: String,
    log: PathBuf,
}

impl Running {
    /// Starts `switchboard ARGS` with `envs` (after `RUST_LOG=warn,switchboard=info` and
    /// `NO_COLOR=1`, so a test may override them), its stderr in `LOG_NAME` and its stdout also
    /// kept in `LOG_NAME.stdout`, and waits for its listening line.
    pub fn start(env: &TestEnv, args: &[&str], envs: &[(&str, &str)], log_name: &str) -> Self {
        Self::start_until(env, args, envs, log_name, "listening on http://")
    }

    /// [`Running::start`], waiting for the first line of stdout that holds `marker` (any before
    /// it are skipped) followed by the address, e.g. `dashboard: http://` for `demo`.
    pub fn start_until(env: &TestEnv, args: &[&str], envs: &[(&str, &str)], log_name: &str, marker: &str) -> Self {
        let log = env.path(log_name);
        let mut cmd = env.command();
        cmd.args(args).env("RUST_LOG", "warn,switchboard=info").env("NO_COLOR", "1");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child =
            cmd.stdout(Stdio::piped()).stderr(std::fs::File::create(&log).unwrap()).spawn().expect("start switchboard");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let out_log = env.path(&format!("{log_name}.stdout"));
        std::thread::spawn(move || {
            let mut kept = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                kept.push_str(&line);
                kept.push('\n');
                let _ = std::fs::write(&out_log, &kept);
            }
        });
        // Channel waits with a deadline: the lines come from the thread above.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        let addr = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                panic!(
                    "{args:?} printed no line with `{marker}`; its stdout:\n{}\nits log:\n{}",
                    seen.join("\n"),
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            };
            if let Some((_, rest)) = line.split_once(marker) {
                break rest.trim().trim_end_matches('/').to_string();
            }
            seen.push(line);
        };
        Self { child, addr, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends the signal `name` (`TERM`, `INT`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, at most `within`; the test fails saying `what` if it has not.
    pub async fn exit_within(&mut self, what: &str, within: Duration) -> ExitStatus {
        eventually(what, within, async || self.child.try_wait().unwrap()).await
    }

    /// Its log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it gracefully, insists on a clean exit within 30 s and returns its whole log (read
    /// after the exit: a line logged just after the state a test waited for is in it).
    pub async fn stop(mut self) -> String {
        self.sigterm();
        let status = self.exit_within("the process exits after SIGTERM", Duration::from_secs(30)).await;
        assert!(status.success(), "exited with {status}; log:\n{}", self.log());
        self.log()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Kills a one-shot command a test gave up on.
struct OneShot(Child);

impl Drop for OneShot {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `cmd` to completion, at most `within`: (exit code, stdout, stderr).
pub async fn run_bounded(mut cmd: Command, within: Duration) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = OneShot(
        cmd.stdout(std::fs::File::create(&out).unwrap()).stderr(std::fs::File::create(&err).unwrap()).spawn().unwrap(),
    );
    let status = eventually("the command finishes", within, async || child.0.try_wait().unwrap()).await;
    (status.code().unwrap_or(-1), std::fs::read_to_string(out).unwrap(), std::fs::read_to_string(err).unwrap())
}
