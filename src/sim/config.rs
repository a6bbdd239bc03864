//! The simulator's settings: the `switchboard sim` flags ([`SimArgs`]) and the checked
//! [`SimConfig`] the server runs on (tests build a `SimConfig` directly).
//!
//! Its two secrets come from the environment only, like the daemon's (`BLAND_API_KEY`,
//! `BLAND_WEBHOOK_SECRET`): a value on the command line is visible to every user of the machine
//! (`ps`, `/proc/PID/cmdline`) and lands in shell history.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// The environment variable holding the API key requests must carry.
pub const SIM_API_KEY_VAR: &str = "BLAND_API_KEY";
/// The environment variable holding the secret that signs webhooks.
pub const SIM_WEBHOOK_SECRET_VAR: &str = "BLAND_WEBHOOK_SECRET";

/// `switchboard sim`: a Bland API simulator for tests, benchmarks and dry runs.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Secrets come from the environment, never from the command line:
  BLAND_API_KEY
      the API key requests must carry in `authorization` (unset: any non-empty key is accepted)
  BLAND_WEBHOOK_SECRET
      the secret that signs webhooks, X-Webhook-Signature (unset: webhooks are unsigned)

Example:
  BLAND_API_KEY=dry-run switchboard sim --listen 127.0.0.1:18080 --speed 60")]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:18080")]
    pub listen: SocketAddr,

    /// Seed for every simulated outcome: the same seed and the same sends give the same calls
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Simulated seconds per real second (60: a 2-minute call ends after 2 s)
    #[arg(long, default_value_t = 60.0, value_parser = parse_speed)]
    pub speed: f64,

    /// Share of calls answered by a person (the five rates are weights, normalised)
    #[arg(long, value_name = "RATE", default_value_t = 0.6, value_parser = parse_rate)]
    pub human_rate: f64,
    /// Share of calls that reach voicemail
    #[arg(long, value_name = "RATE", default_value_t = 0.2, value_parser = parse_rate)]
    pub voicemail_rate: f64,
    /// Share of calls nobody answers
    #[arg(long, value_name = "RATE", default_value_t = 0.1, value_parser = parse_rate)]
    pub no_answer_rate: f64,
    /// Share of calls that get a busy signal
    #[arg(long, value_name = "RATE", default_value_t = 0.05, value_parser = parse_rate)]
    pub busy_rate: f64,
    /// Share of calls that fail in the carrier (status failed, queue_status call_error)
    #[arg(long, value_name = "RATE", default_value_t = 0.05, value_parser = parse_rate)]
    pub failed_rate: f64,

    /// Share of `answered_by_enabled` calls whose answered_by is only known in a later webhook
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub late_answered_by: f64,
    /// Share of webhooks delivered twice
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub duplicate_webhooks: f64,
    /// Share of calls whose webhook is never delivered (only polling finds the outcome)
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub drop_webhooks: f64,
    /// Share of answered calls in which the person asks not to be called again ("Please stop
    /// calling me." in the transcript)
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub opt_outs: f64,
    /// Share of API requests answered 500; on send call, half of them after the call was placed
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub fail_rate: f64,
    /// Delay added to every API answer (e.g. 50ms)
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = parse_duration)]
    pub latency: Duration,
    /// Answer every request 429 from AFTER (since start) for FOR, e.g. 30s:10s; repeatable
    #[arg(long, value_name = "AFTER:FOR", value_parser = parse_storm)]
    pub rate_limit_storm: Vec<StormWindow>,
    /// API requests accepted per minute per key before 429 (0 = unlimited)
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub requests_per_minute: u32,
    /// Calls in progress at once before send call answers 429 (0 = unlimited)
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_concurrent: u32,
    /// Leave `Retry-After` out of 429 answers (Bland does not always send it)
    #[arg(long)]
    pub no_retry_after: bool,
    /// Send webhooks in the event shape {"event":"call.completed","call_id":…,"data":{…}}
    #[arg(long)]
    pub event_webhooks: bool,
    /// Append every accepted send (time, call id, number, metadata) to FILE as JSON lines
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}

/// A period of forced 429s, counted from the simulator's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StormWindow {
    pub after: Duration,
    pub length: Duration,
}

/// How calls turn out, as weights (need not sum to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutcomeMix {
    pub human: f64,
    pub voicemail: f64,
    pub no_answer: f64,
    pub busy: f64,
    pub failed: f64,
}

impl Default for OutcomeMix {
    fn default() -> Self {
        Self { human: 0.6, voicemail: 0.2, no_answer: 0.1, busy: 0.05, failed: 0.05 }
    }
}

impl OutcomeMix {
    pub(crate) fn total(&self) -> f64 {
        self.human + self.voicemail + self.no_answer + self.busy + self.failed
    }
}

/// Everything the simulator runs on. `Default` is the CLI's defaults on an ephemeral port.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub api_key: Option<Secret>,
    pub webhook_secret: Option<Secret>,
    pub seed: u64,
    /// Simulated seconds per real second.
    pub speed: f64,
    pub mix: OutcomeMix,
    pub late_answered_by_rate: f64,
    pub duplicate_webhook_rate: f64,
    pub drop_webhook_rate: f64,
    /// Share of human calls in which the person says "Please stop calling me."
    pub opt_out_rate: f64,
    pub fail_rate: f64,
    pub latency: Duration,
    pub storms: Vec<StormWindow>,
    /// 0 = unlimited.
    pub requests_per_minute: u32,
    /// 0 = unlimited.
    pub max_concurrent: u32,
    pub retry_after_header: bool,
    pub event_webhooks: bool,
    pub log: Option<PathBuf>,
    /// Per webhook POST.
    pub webhook_timeout: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: None,
            webhook_secret: None,
            seed: 0,
            speed: 60.0,
            mix: OutcomeMix::default(),
            late_answered_by_rate: 0.0,
            duplicate_webhook_rate: 0.0,
            drop_webhook_rate: 0.0,
            opt_out_rate: 0.0,
            fail_rate: 0.0,
            latency: Duration::ZERO,
            storms: Vec::new(),
            requests_per_minute: 100,
            max_concurrent: 10,
            retry_after_header: true,
            event_webhooks: false,
            log: None,
            webhook_timeout: Duration::from_secs(10),
        }
    }
}

/// A setting the simulator cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimConfigError {
    #[error("--speed must be a positive number of simulated seconds per second, got {0}")]
    Speed(f64),
    #[error(
        "the outcome rates (--human-rate, --voicemail-rate, --no-answer-rate, --busy-rate, --failed-rate) are all 0: at least one must be positive"
    )]
    EmptyMix,
    #[error("{name} must be between 0 and 1, got {value}")]
    Rate { name: &'static str, value: f64 },
}

impl SimConfig {
    pub fn validate(&self) -> Result<(), SimConfigError> {
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return Err(SimConfigError::Speed(self.speed));
        }
        let rates = [
            ("human rate", self.mix.human),
            ("voicemail rate", self.mix.voicemail),
            ("no-answer rate", self.mix.no_answer),
            ("busy rate", self.mix.busy),
            ("failed rate", self.mix.failed),
            ("late answered_by rate", self.late_answered_by_rate),
            ("duplicate webhook rate", self.duplicate_webhook_rate),
            ("drop webhook rate", self.drop_webhook_rate),
            ("opt-out rate", self.opt_out_rate),
            ("fail rate", self.fail_rate),
        ];
        for (name, value) in rates {
            if !(0.0..=1.0).contains(&value) {
                return Err(SimConfigError::Rate { name, value });
            }
        }
        if self.mix.total() <= 0.0 {
            return Err(SimConfigError::EmptyMix);
        }
        Ok(())
    }
}

impl SimArgs {
    /// The checked config, secrets read from the process environment.
    pub fn into_config(self) -> Result<SimConfig, SimConfigError> {
        self.into_config_with_env(|name| std::env::var(name).ok())
    }

    /// The checked config, secrets read through `env` (`BLAND_API_KEY`, `BLAND_WEBHOOK_SECRET`;
    /// an empty value counts as unset).
    pub fn into_config_with_env(self, env: impl Fn(&str) -> Option<String>) -> Result<SimConfig, SimConfigError> {
        let secret = |name: &str| env(name).filter(|v| !v.trim().is_empty()).map(|v| Secret::new(v.trim()));
        let config = SimConfig {
            listen: self.listen,
            api_key: secret(SIM_API_KEY_VAR),
            webhook_secret: secret(SIM_WEBHOOK_SECRET_VAR),
            seed: self.seed,
            speed: self.speed,
            mix: OutcomeMix {
                human: self.human_rate,
                voicemail: self.voicemail_rate,
                no_answer: self.no_answer_rate,
                busy: self.busy_rate,
                failed: self.failed_rate,
            },
            late_answered_by_rate: self.late_answered_by,
            duplicate_webhook_rate: self.duplicate_webhooks,
            drop_webhook_rate: self.drop_webhooks,
            opt_out_rate: self.opt_outs,
            fail_rate: self.fail_rate,
            latency: self.latency,
            storms: self.rate_limit_storm,
            requests_per_minute: self.requests_per_minute,
            max_concurrent: self.max_concurrent,
            retry_after_header: !self.no_retry_after,
            event_webhooks: self.event_webhooks,
            log: self.log,
            ..SimConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let x: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number; expected a rate between 0 and 1"))?;
    if (0.0..=1.0).contains(&x) { Ok(x) } else { Err(format!("{x} is outside 0..=1")) }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    let x: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number"))?;
    if x.is_finite() && x > 0.0 { Ok(x) } else { Err(format!("{x} must be positive")) }
}

/// `250ms`, `2s`, `1.5s`, `3m`, `1h`; `0` alone is allowed.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{s}` has no unit; write e.g. 250ms, 2s, 3m"))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration; write e.g. 250ms, 2s, 3m"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("`{s}`: unknown unit `{other}` (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{s}` is out of range"))
}

fn parse_storm(s: &str) -> Result<StormWindow, String> {
    let (after, length) = s.split_once(':').ok_or_else(|| format!("`{s}`: expected AFTER:FOR, e.g. 30s:10s"))?;
    Ok(StormWindow { after: parse_duration(after)?, length: parse_duration(length)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn defaults_match_the_issue() {
        let cli = Cli::try_parse_from(["sim"]).unwrap();
        let c = cli.sim.into_config().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:18080");
        assert_eq!(c.requests_per_minute, 100);
        assert_eq!(c.max_concurrent, 10);
        assert!(c.retry_after_header);
        assert_eq!(c.storms, vec![]);
    }

    #[test]
    fn flags_parse_rates_durations_and_storms() {
        let cli = Cli::try_parse_from([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "7",
            "--speed",
            "600",
            "--voicemail-rate",
            "0.5",
            "--latency",
            "25ms",
            "--rate-limit-storm",
            "30s:10s",
            "--rate-limit-storm",
            "2m:1.5s",
            "--requests-per-minute",
            "0",
        ])
        .unwrap();
        let c = cli.sim.into_config_with_env(|v| (v == "BLAND_API_KEY").then(|| "k-123".to_string())).unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.speed, 600.0);
        assert_eq!(c.mix.voicemail, 0.5);
        assert_eq!(c.latency, Duration::from_millis(25));
        assert_eq!(c.storms[1], StormWindow { after: Duration::from_secs(120), length: Duration::from_millis(1500) });
        assert_eq!(c.requests_per_minute, 0);
        assert_eq!(c.api_key.unwrap().expose(), "k-123");
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        assert!(Cli::try_parse_from(["sim", "--fail-rate", "1.5"]).is_err());
        assert!(Cli::try_parse_from(["sim", "--speed", "0"]).is_err());
        assert!(Cli::try_parse_from(["sim", "--latency", "50"]).is_err());
        assert!(Cli::try_parse_from(["sim", "--rate-limit-storm", "30s"]).is_err());
        let cli = Cli::try_parse_from([
            "sim",
            "--human-rate=0",
            "--voicemail-rate=0",
            "--no-answer-rate=0",
            "--busy-rate=0",
            "--failed-rate=0",
        ])
        .unwrap();
        assert_eq!(cli.sim.into_config().unwrap_err(), SimConfigError::EmptyMix);
    }

    #[test]
    fn secrets_come_from_the_environment_only_and_are_redacted() {
        for flag in ["--api-key", "--webhook-secret"] {
            assert!(Cli::try_parse_from(["sim", flag, "sk-VISIBLE"]).is_err(), "{flag} is not an option");
        }
        let env = |v: &str| match v {
            "BLAND_API_KEY" => Some("sk-VISIBLE".to_string()),
            "BLAND_WEBHOOK_SECRET" => Some(" whsec-VISIBLE \n".to_string()),
            _ => None,
        };
        let c = Cli::try_parse_from(["sim"]).unwrap().sim.into_config_with_env(env).unwrap();
        assert_eq!(c.api_key.as_ref().unwrap().expose(), "sk-VISIBLE");
        assert_eq!(c.webhook_secret.as_ref().unwrap().expose(), "whsec-VISIBLE");
        assert!(!format!("{c:?}").contains("VISIBLE"));
        let unset = Cli::try_parse_from(["sim"]).unwrap().sim.into_config_with_env(|_| Some(" ".into())).unwrap();
        assert!(unset.api_key.is_none() && unset.webhook_secret.is_none(), "an empty variable is unset");
        let help = {
            use clap::CommandFactory;
            Cli::command().render_long_help().to_string()
        };
        assert!(help.contains("BLAND_API_KEY"));
        assert!(help.contains("BLAND_WEBHOOK_SECRET"));
    }
}
