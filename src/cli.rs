//! The command line: clap definitions and the wiring from each subcommand to the library.
//!
//! No business logic lives here: a command loads the config, opens the store, calls one library
//! function and prints its result, for people by default and as JSON with `--json`. Errors are
//! sorted into bad input (exit 2: the operator must fix a file or an argument) and runtime
//! failures (exit 1).

mod analyze;
mod blackout;
mod rules;
mod store_cmd;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::campaigns::{self, CampaignError};
use crate::config::{ConfigError, DaemonConfig, daemon::SYSTEM_CONFIG_PATH};
use crate::import::{ImportError, ImportOptions, ImportSummary};
use crate::store::{CampaignAction, CampaignState, JobState, Saved, Store, StoreError, StoreUrl};

const ABOUT: &str = "Runs large outbound AI phone-call campaigns on the Bland AI API.";
const LONG_ABOUT: &str = "\
Runs large outbound AI phone-call campaigns on the Bland AI API.

A campaign (campaign.toml) says what the agent says, when people may be called, how fast and
how often to retry; recipient lists (CSV) become jobs in a SQLite database. The daemon
(`serve`) dials them inside each recipient's local hours, under per-minute/hour/day caps, and
follows every call to its outcome.

Secrets never go on the command line: the API key comes from BLAND_API_KEY (or the file named
by [bland] api_key_file), the webhook secret from BLAND_WEBHOOK_SECRET, the control API's
token from SWITCHBOARD_API_TOKEN (or [http] api_token_file).

Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input.";

/// The command line as `main` parses it: [`Cli`], with `--db` and `--config` (global flags,
/// accepted anywhere) left out of the help of the commands that use neither.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    // Which flags each command that does not touch the database or the daemon config ignores.
    const UNUSED: &[(&str, &[&str])] = &[
        ("sim", &["db", "config"]),
        ("completions", &["db", "config"]),
        ("config", &["db"]),
        ("rules", &["db"]),
        ("store", &["db", "config"]),
    ];
    let mut cmd = Cli::command();
    for (name, flags) in UNUSED {
        cmd = cmd.mut_subcommand(*name, |sub| hide(sub, flags));
    }
    cmd
}

/// `cmd` and its subcommands with their own hidden `flags`, which the global ones of the same
/// name are then not propagated over: still accepted (an environment that always passes them
/// keeps working), never shown, and ignored.
fn hide(mut cmd: clap::Command, flags: &[&'static str]) -> clap::Command {
    for flag in flags {
        let parser: clap::builder::ValueParser = match *flag {
            "db" => clap::value_parser!(StoreUrl).into(),
            _ => clap::value_parser!(PathBuf),
        };
        let value = clap::Arg::new(*flag)
            .long(*flag)
            .value_name("PATH")
            .value_parser(parser)
            .hide(true)
            .help("Not used by this command");
        cmd = cmd.arg(value);
    }
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |sub| hide(sub, flags));
    }
    cmd
}

#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// Daemon config file [default: /etc/switchboard/switchboard.toml when it exists, else
    /// built-in defaults; see `switchboard config default`]
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The database: a SQLite file, or a postgres:// URL shared by several daemons (its password
    /// from PGPASSWORD or ~/.pgpass, never in the URL) [default: [store] url or path in the
    /// config, ./switchboard.db]
    #[arg(long, global = true, env = "SWITCHBOARD_DB", value_name = "PATH|URL")]
    pub db: Option<crate::store::StoreUrl>,

    /// Log lines as text (for people) or json (one object a line, for log collectors)
    /// [default: [log] format in the config, text]. RUST_LOG picks what is logged.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<crate::config::daemon::LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: dispatch calls, track outcomes, serve webhooks, health and metrics
    #[command(
        after_help = "Example:\n  BLAND_API_KEY=… BLAND_WEBHOOK_SECRET=… switchboard --config /etc/switchboard/switchboard.toml serve"
    )]
    Serve {
        /// Listen here instead of [http] listen (e.g. 127.0.0.1:0 for any free port)
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Create, inspect and control campaigns
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Import recipients from a CSV file into a campaign
    #[command(
        after_help = "Examples:\n  switchboard import spring-renewals customers.csv --dry-run    # check the file, store nothing\n  switchboard import spring-renewals customers.csv --phone-column Mobile"
    )]
    Import(ImportArgs),
    /// Export a campaign's results as CSV: one row per recipient, or per call attempt
    #[command(
        after_help = "Examples:\n  switchboard export spring-renewals --out results.csv\n  switchboard export spring-renewals --attempts --since 2026-12-01 --out audit.csv\n  switchboard export spring-renewals --outcome no_answer --columns original --out recall.csv   # a list to import again"
    )]
    Export(ExportArgs),
    /// The do-not-call list: numbers never dialled in any campaign
    #[command(subcommand)]
    Dnc(DncCommand),
    /// (Re-)run AI questions on a campaign's finished human-answered calls
    #[command(
        long_about = analyze::LONG_ABOUT,
        after_help = "Examples:\n  switchboard analyze spring-renewals --questions churn.toml --dry-run   # count and cost first\n  BLAND_API_KEY=… switchboard analyze spring-renewals --questions churn.toml"
    )]
    Analyze(analyze::AnalyzeArgs),
    /// Emergency blackouts: stop dialling a state or a time zone at once, until a time
    #[command(subcommand)]
    Blackout(blackout::BlackoutCommand),
    /// The database: move a SQLite database to PostgreSQL (several daemons on one database)
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
    /// The state calling rules in force: hours, holidays, frequency caps and their sources
    #[command(long_about = rules::LONG_ABOUT, after_help = rules::AFTER_HELP)]
    Rules(rules::RulesArgs),
    /// Run the Bland API simulator (for dry runs, tests and benchmarks)
    Sim(crate::sim::SimArgs),
    /// Daemon configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// A whole example campaign against the built-in Bland simulator, on a fast clock: nothing
    /// to set up, no network, no API key
    #[command(
        after_help = "Example:\n  cargo run --release -- demo\n  switchboard --db demo.db demo --recipients 200\n  \
                            switchboard demo --serve    # then open the dashboard URL it prints; Ctrl-C to stop"
    )]
    Demo {
        /// Recipients to add to the example's (across US zones, Arizona and Hawaii included)
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=20_000))]
        recipients: u32,
        /// Keep the dashboard and the control API up after the campaign completes, until Ctrl-C
        #[arg(long)]
        serve: bool,
    },
    /// Shell completions for bash, zsh, fish, elvish or powershell
    #[command(after_help = "Example:\n  switchboard completions bash > /etc/bash_completion.d/switchboard")]
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// The campaign report: funnel, retry yield, outcomes by local hour and zone, minutes,
    /// cost, failure reasons and the distribution of the AI answers
    #[command(long_about = REPORT_ABOUT, after_help = "Examples:\n  switchboard report spring-renewals\n  switchboard report spring-renewals --json --since 2026-12-01 --tz America/New_York")]
    Report(ReportArgs),
}

const REPORT_ABOUT: &str = "\
The campaign report: what the campaign bought.

Funnel: recipients, suppressed, dialled at least once (list penetration = dialled / recipients
not suppressed), reached a human (contact rate = human / dialled), final outcomes, still
pending. Dials per recipient, and the retry yield (what each attempt number reached). Dials
and outcomes by the recipient's local hour and by time zone. Call minutes, a length histogram,
cost (total, per dial, per human contact), the most frequent failure reasons. For each
analysis_schema field and [analysis] question, the distribution of the answers of the calls
that reached a human.

--since/--until count only the dials made in that period; the recipients' states (suppressed,
final, pending) are always as of now. Read-only: safe while the daemon runs.";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The campaign
    pub id: String,
    /// Print the report as one JSON object (the same figures, unrounded)
    #[arg(long)]
    pub json: bool,
    /// Count dials made at or after this time (RFC 3339, or a date: midnight UTC)
    #[arg(long, value_name = "TIME", value_parser = crate::clock::parse_instant)]
    pub since: Option<DateTime<Utc>>,
    /// Count dials made before this time (RFC 3339, or a date: midnight UTC)
    #[arg(long, value_name = "TIME", value_parser = crate::clock::parse_instant)]
    pub until: Option<DateTime<Utc>>,
    /// Show times in this zone (e.g. America/New_York) instead of UTC
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<chrono_tz::Tz>,
}

const UPDATE_ABOUT: &str = "\
Change a campaign's limits, hours or retry policy, even while it runs (audited).

SPEC.toml is the campaign's whole spec as it should now be. It is validated exactly like a new
one. While the campaign is a draft anything may change (as with `campaign create`); once it has
started only these may: [limits], [retry], and in [schedule] hours, blackout_dates and end.
Any other difference (the call's content, id, name, zone policy, start, cron, [analysis]) is
refused with exit 2, naming the keys. The change is recorded with who made it ($USER@host) and
what changed (old -> new), and the daemon dials under it within a second: queued recipients are
checked against the new hours, and those waiting for a retry that the new [retry] no longer
allows are finished.

Example:
  switchboard campaign update spring-renewals spring-renewals.toml";

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Create a campaign from a spec file, or update it while it is still a draft; prints its id
    #[command(after_help = "Example:\n  switchboard campaign create config/campaign.example.toml")]
    Create {
        /// The campaign spec (TOML); see config/campaign.example.toml
        spec: PathBuf,
    },
    /// Change a campaign's limits, hours or retry policy, even while it runs (audited)
    #[command(long_about = UPDATE_ABOUT)]
    Update {
        /// The campaign to change
        id: String,
        /// Its whole spec (TOML) as it should now be: the stored one with your changes
        spec: PathBuf,
    },
    /// List campaigns with their state and job counts
    #[command(after_help = "Example:\n  switchboard campaign list --json | jq .")]
    List {
        /// One JSON object per campaign, one per line
        #[arg(long)]
        json: bool,
    },
    /// A campaign's state, its jobs by state and by outcome, why it is not dialling and when it
    /// will be done
    #[command(after_help = "Example:\n  switchboard campaign show spring-renewals --tz America/New_York")]
    Show {
        /// The campaign
        id: String,
        /// Print {"id", "name", "state", "counts": {state: n}, "outcomes": {outcome: n}, …}
        #[arg(long)]
        json: bool,
        /// Show times in this zone (e.g. America/New_York) instead of UTC
        #[arg(long, value_name = "ZONE")]
        tz: Option<chrono_tz::Tz>,
    },
    /// Start a draft campaign: the daemon begins dialing within a second
    #[command(after_help = "Example:\n  switchboard campaign start spring-renewals")]
    Start {
        /// The campaign
        id: String,
    },
    /// Stop claiming new calls (calls in progress finish)
    #[command(after_help = "Example:\n  switchboard campaign pause spring-renewals")]
    Pause {
        /// The campaign
        id: String,
    },
    /// Continue a paused campaign
    #[command(after_help = "Example:\n  switchboard campaign resume spring-renewals")]
    Resume {
        /// The campaign
        id: String,
    },
    /// Cancel for good: queued jobs are cancelled, calls in progress finish
    #[command(after_help = "Example:\n  BLAND_API_KEY=… switchboard campaign cancel spring-renewals --stop-active")]
    Cancel {
        /// The campaign
        id: String,
        /// Also end the calls in progress, through Bland's stop endpoint (needs BLAND_API_KEY)
        #[arg(long)]
        stop_active: bool,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The campaign to add recipients to
    pub id: String,
    /// The CSV file (UTF-8 with or without BOM, or Latin-1/Windows-1252; `,` `;` tab or `|`)
    pub file: PathBuf,
    /// The column holding phone numbers [default: found by header: phone, phone_number,
    /// Phone Number, number, mobile, cell, …]
    #[arg(long, value_name = "COLUMN")]
    pub phone_column: Option<String>,
    /// The column holding IANA time zones [default: a column named timezone, time_zone or tz]
    #[arg(long, value_name = "COLUMN")]
    pub timezone_column: Option<String>,
    /// The column holding the US state or Canadian province, as a code (FL) or a name (Florida);
    /// its rules apply together with the area code's [default: a column named state, state_code
    /// or province]
    #[arg(long, value_name = "COLUMN")]
    pub state_column: Option<String>,
    /// Where to write rejected rows, with their line and reason [default: FILE.rejects.csv]
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<PathBuf>,
    /// Check the file and report what would happen, without storing anything
    #[arg(long)]
    pub dry_run: bool,
    /// The file's encoding (utf-8, latin1, windows-1252, utf-16le, …) [default: detected]
    #[arg(long, value_name = "LABEL")]
    pub encoding: Option<String>,
    /// The delimiter: `,` `;` `|` or `tab` [default: sniffed from the header line]
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// Also print the counts as one JSON object on the last line
    #[arg(long)]
    pub json: bool,
}

const EXPORT_ABOUT: &str = "\
Export a campaign's results as CSV (RFC 4180, UTF-8), to a file or standard output.

One row per recipient, in import order: the imported files' own columns in their order (the
union of every import's, in the order first met; empty where a recipient's file lacked the
column), then phone_e164, timezone (the recipient's zone; local times are read there), state
(the recipient's US state: empty until the compliance engine stores it), outcome (the last
call's once finished: human, voicemail, no_answer, busy, failed, unknown; pending while calls are
ahead or in progress; suppressed; cancelled), attempts, first_attempt_utc, first_attempt_local,
last_attempt_utc, last_attempt_local (RFC 3339), call_id, answered_by and call_length_min (of the
last call), cost_usd (all calls), summary (the last call's), then one column per [call]
analysis_schema field (from the last call a person answered) and one per [analysis] question
(the latest answer). A column named like one of these (e.g. a file's own `state` or `timezone`),
or like an earlier column without regard to case, is suffixed by where it came from:
`_original` for the file's, `_analysis` for a schema field, `_question` for a question (then
_2, _3, …). Only calls actually sent count; a send proven never placed does not.

The export reads one snapshot of the database: taken while the daemon runs, its rows agree with
each other. Cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR)
get a leading ' unless --raw. Memory stays flat whatever the campaign's size; a progress bar
is drawn on a terminal.";

#[derive(Debug, Args)]
#[command(long_about = EXPORT_ABOUT)]
pub struct ExportArgs {
    /// The campaign to export
    pub id: String,
    /// Write to this file instead of standard output (`-`). It is written beside its final path
    /// and renamed into place when complete, created readable by its owner only (0600); a
    /// symlink there is replaced, not followed; the database and its files are refused
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// One row per call attempt instead of one per recipient, in the order dialled, with the
    /// evidence an audit asks for: attempt id and number, phone, dial time in UTC and on the
    /// recipient's clock, the zones the dispatcher considered (by the campaign's zone_policy)
    /// and their source (column, area_code, default), the span of the campaign's hours for that
    /// weekday cut to the compliance guard that the call fell in (from the campaign's stored
    /// spec and this config's [compliance] hours), whether the window was open then, the
    /// attempt's state, outcome, answered_by, call id, length, price and error message
    #[arg(long)]
    pub attempts: bool,
    /// Only recipients with this outcome: human, voicemail, no_answer, busy, failed, unknown,
    /// pending, suppressed or cancelled. With --attempts: calls with this outcome, or pending
    /// (no outcome yet)
    #[arg(long, value_name = "O")]
    pub outcome: Option<crate::export::RecipientOutcome>,
    /// Only recipients in this US state or Canadian province (with --attempts: calls to them),
    /// as a code (FL) or a name (Florida): from the file's state column or the area code
    #[arg(long, value_name = "STATE", value_parser = |s: &str| crate::compliance::Region::parse(s).map_err(|e| e.to_string()))]
    pub state: Option<crate::compliance::Region>,
    /// Only recipients with a call dialled at or after T (with --attempts: calls dialled at or
    /// after T). RFC 3339 (2026-06-01T09:00:00-04:00) or a date (2026-06-01, midnight UTC)
    #[arg(long, value_name = "T", value_parser = crate::clock::parse_instant)]
    pub since: Option<chrono::DateTime<Utc>>,
    /// `original`: exactly the imported files' columns, the phone column too, named and placed
    /// as in the file (numbers in E.164): a recall list that imports straight into a new
    /// campaign. `all` (the default): the files' columns, then the results
    #[arg(long, value_name = "SET", value_enum, default_value_t = ColumnsArg::All)]
    pub columns: ColumnsArg,
    /// Write every cell as stored: no formula neutralisation (for a program rather than a
    /// spreadsheet)
    #[arg(long)]
    pub raw: bool,
    /// Begin with a UTF-8 byte order mark, so that Excel reads the file as UTF-8
    #[arg(long)]
    pub bom: bool,
}

/// `--columns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColumnsArg {
    /// The files' columns, then the results
    All,
    /// Exactly the files' columns (a recall list)
    Original,
}

#[derive(Debug, Subcommand)]
pub enum DncCommand {
    /// Add numbers; queued jobs calling them in any campaign are suppressed at once
    #[command(
        after_help = "Example:\n  switchboard dnc add '(415) 555-2671' 14155550100 --reason \"asked not to be called\""
    )]
    Add {
        /// Numbers as people write them ((415) 555-2671, 1-415-555-2671, +14155552671)
        #[arg(required = true, value_name = "NUMBER")]
        numbers: Vec<String>,
        /// Why (kept with the number and shown on suppressed jobs)
        #[arg(long, default_value = "operator request")]
        reason: String,
    },
    /// Add every number in a CSV file's phone column (one unreadable line refuses the whole file)
    #[command(after_help = "Example:\n  switchboard dnc import opt-outs.csv --phone-column Mobile")]
    Import {
        /// The CSV file
        file: PathBuf,
        /// The column holding the numbers [default: found by header, as for import]
        #[arg(long, value_name = "COLUMN")]
        phone_column: Option<String>,
        /// Why (kept with each number)
        #[arg(long, default_value = "imported list")]
        reason: String,
    },
    /// List the numbers on the list
    #[command(after_help = "Example:\n  switchboard dnc list --json")]
    List {
        /// One JSON object per number, one per line
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the commented default daemon config
    #[command(after_help = "Example:\n  switchboard config default > /etc/switchboard/switchboard.toml")]
    Default,
}

/// A failed command: bad input (exit 2) or a runtime failure (exit 1).
#[derive(Debug)]
pub struct Failure {
    pub bad_input: bool,
    pub error: anyhow::Error,
}

impl Failure {
    pub(crate) fn input(error: impl Into<anyhow::Error>) -> Self {
        Self { bad_input: true, error: error.into() }
    }

    pub fn exit_code(&self) -> ExitCode {
        if self.bad_input { ExitCode::from(2) } else { ExitCode::from(1) }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self { bad_input: false, error }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::input(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let bad_input = matches!(e, StoreError::NotFound(_) | StoreError::Conflict(_));
        Self { bad_input, error: e.into() }
    }
}

impl From<CampaignError> for Failure {
    fn from(e: CampaignError) -> Self {
        Self { bad_input: e.is_bad_input(), error: e.into() }
    }
}

impl From<crate::export::ExportError> for Failure {
    fn from(e: crate::export::ExportError) -> Self {
        Self { bad_input: e.is_bad_input(), error: e.into() }
    }
}

impl From<ImportError> for Failure {
    fn from(e: ImportError) -> Self {
        Self { bad_input: e.is_bad_input(), error: e.into() }
    }
}

/// Runs one command line to completion.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Config(ConfigCommand::Default) => {
            print!("{}", crate::config::daemon::DEFAULT_CONFIG);
            Ok(())
        }
        Command::Demo { recipients, serve } => {
            demo(cli.config.as_deref(), cli.db.as_ref(), recipients as usize, serve).await
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut command(), "switchboard", &mut std::io::stdout());
            Ok(())
        }
        Command::Sim(args) => crate::sim::run(args).await.map_err(Failure::from),
        Command::Rules(args) => rules::rules(args, &load_config(cli.config.as_deref())?),
        Command::Serve { listen } => {
            let (config, store) = open(cli.config.as_deref(), cli.db.as_ref()).await?;
            serve(config, store, listen).await
        }
        Command::Campaign(cmd) => {
            let read_only = matches!(cmd, CampaignCommand::List { .. } | CampaignCommand::Show { .. });
            let (config, store) = open_for(cli.config.as_deref(), cli.db.as_ref(), read_only).await?;
            campaign(cmd, &config, &store).await
        }
        Command::Import(args) => {
            let (config, store) = open(cli.config.as_deref(), cli.db.as_ref()).await?;
            import(args, &config, &store).await
        }
        Command::Report(args) => {
            let (config, store) = open_for(cli.config.as_deref(), cli.db.as_ref(), true).await?;
            report(args, &config, &store).await
        }
        Command::Analyze(args) => {
            let (config, store) = open_for(cli.config.as_deref(), cli.db.as_ref(), true).await?;
            analyze::analyze(args, &config, &store).await
        }
        Command::Export(args) => {
            let (config, store) = open_for(cli.config.as_deref(), cli.db.as_ref(), true).await?;
            export(args, &config, &store).await
        }
        Command::Store(cmd) => store_cmd::store(cmd).await,
        Command::Blackout(cmd) => {
            let (_, store) = open_for(cli.config.as_deref(), cli.db.as_ref(), cmd.read_only()).await?;
            blackout::blackout(cmd, &store, Utc::now()).await
        }
        Command::Dnc(cmd) => {
            let read_only = matches!(cmd, DncCommand::List { .. });
            let (_, store) = open_for(cli.config.as_deref(), cli.db.as_ref(), read_only).await?;
            dnc(cmd, &store).await
        }
    }
}

async fn report(args: ReportArgs, config: &DaemonConfig, store: &Store) -> Result<(), Failure> {
    let period = crate::report::period(args.since, args.until)
        .map_err(|e| Failure::input(anyhow::anyhow!("--since/--until: {e}")))?;
    let report = crate::report::report(store, config, &args.id, period, Utc::now()).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report).context("writing the report as JSON")?);
    } else {
        print!("{}", crate::report::render(&report, crate::clock::Shown(args.tz)));
    }
    Ok(())
}

/// The daemon config as the flags and the environment select it.
pub fn load_config(path: Option<&Path>) -> Result<DaemonConfig, ConfigError> {
    let system = Path::new(SYSTEM_CONFIG_PATH);
    let path = path.or_else(|| system.exists().then_some(system));
    DaemonConfig::load(path, std::env::vars())
}

async fn open(config: Option<&Path>, db: Option<&StoreUrl>) -> Result<(DaemonConfig, Store), Failure> {
    open_for(config, db, false).await
}

/// The config and the database; a command that only reads needs the database to exist.
async fn open_for(
    config: Option<&Path>,
    db: Option<&StoreUrl>,
    read_only: bool,
) -> Result<(DaemonConfig, Store), Failure> {
    let config = load_config(config)?;
    let db = db.unwrap_or(&config.store.url);
    let store = Store::open_url(db, read_only).await?;
    Ok((config, store))
}

async fn campaign(cmd: CampaignCommand, config: &DaemonConfig, store: &Store) -> Result<(), Failure> {
    let now = Utc::now();
    let action = match cmd {
        CampaignCommand::Create { spec } => {
            let c = campaigns::save_file(store, config, &spec, now).await?;
            match c.saved {
                Saved::Created => eprintln!("created campaign `{}` ({}) as a draft", c.spec.id, c.spec.name),
                Saved::Updated => eprintln!("updated draft campaign `{}` ({})", c.spec.id, c.spec.name),
            }
            println!("{}", c.spec.id);
            return Ok(());
        }
        CampaignCommand::Update { id, spec } => {
            let text = std::fs::read_to_string(&spec)
                .map_err(|source| CampaignError::Read { path: spec.display().to_string(), source })?;
            let actor = campaigns::Actor::cli(|v| std::env::var(v).ok());
            let u = campaigns::update(store, config, &id, &spec.display().to_string(), &text, &actor, now).await?;
            print_update(&u);
            return Ok(());
        }
        CampaignCommand::List { json } => return print_list(&campaigns::list(store).await?, json),
        CampaignCommand::Show { id, json, tz } => {
            return print_summary(&campaigns::summary(store, config, &id, now).await?, json, crate::clock::Shown(tz));
        }
        CampaignCommand::Start { id } => (id, CampaignAction::Start),
        CampaignCommand::Pause { id } => (id, CampaignAction::Pause),
        CampaignCommand::Resume { id } => (id, CampaignAction::Resume),
        CampaignCommand::Cancel { id, stop_active } => {
            // The key is checked before anything is cancelled: a cancel that then cannot stop
            // the calls would leave them running behind the operator's back.
            let bland = if stop_active { Some(bland_client(config)?) } else { None };
            campaigns::apply(store, &id, CampaignAction::Cancel, now).await?;
            println!("campaign `{id}` cancelled");
            if let Some(bland) = bland {
                let r = campaigns::stop_active_calls(store, &bland, &id).await?;
                for (call_id, why) in &r.failed {
                    eprintln!("warning: could not stop call {call_id}: {why}");
                }
                println!("asked Bland to end {} of {} call(s) in progress", r.stopped, r.asked);
            }
            return Ok(());
        }
    };
    let (id, action) = action;
    campaigns::apply(store, &id, action, now).await?;
    println!("campaign `{id}` {}", action.done());
    Ok(())
}

fn print_update(u: &campaigns::Updated) {
    if u.changes.is_empty() {
        println!("campaign `{}` unchanged: the spec is the one stored", u.id);
        return;
    }
    println!("updated campaign `{}` ({}):", u.id, u.state);
    for c in &u.changes {
        println!("  {}: {} -> {}", c.key, c.old, c.new);
    }
    if u.jobs_finished > 0 {
        println!("  {} recipient(s) waiting for a retry the new [retry] no longer allows: finished", u.jobs_finished);
    }
    if u.jobs_requeued > 0 {
        println!("  {} queued recipient(s) checked against the new hours at once", u.jobs_requeued);
    }
    if u.state != CampaignState::Draft {
        println!("a running daemon dials under it within a second");
    }
}

fn print_list(list: &[campaigns::CampaignListing], json: bool) -> Result<(), Failure> {
    // Every job is in exactly one column after JOBS, so a row adds up.
    let columns: [(&str, &[JobState]); 7] = [
        ("QUEUED", &[JobState::Queued]),
        ("ACTIVE", &[JobState::Dialing, JobState::InCall]),
        ("RETRY", &[JobState::RetryWait]),
        ("DONE", &[JobState::Done]),
        ("FAILED", &[JobState::Failed]),
        ("CANCELLED", &[JobState::Cancelled]),
        ("SUPPRESSED", &[JobState::Suppressed]),
    ];
    if !json {
        let head: String = columns.iter().map(|(name, _)| format!(" {name:>10}")).collect();
        println!("{:<24} {:<10} {:>10}{head}  NAME", "ID", "STATE", "JOBS");
    }
    for c in list {
        if json {
            println!("{}", serde_json::to_string(c).context("encoding the listing")?);
        } else {
            let cells: String = columns
                .iter()
                .map(|(_, states)| format!(" {:>10}", states.iter().map(|s| c.counts.get(*s)).sum::<i64>()))
                .collect();
            println!("{:<24} {:<10} {:>10}{cells}  {}", c.id, c.state.as_str(), c.counts.total(), c.name);
        }
    }
    Ok(())
}

fn print_summary(c: &campaigns::CampaignSummary, json: bool, shown: crate::clock::Shown) -> Result<(), Failure> {
    if json {
        println!("{}", serde_json::to_string(c).context("encoding the summary")?);
        return Ok(());
    }
    println!("campaign  {} ({})", c.id, c.name);
    println!("state     {}", c.state);
    if let Some(reason) = &c.paused_reason {
        println!("paused    {reason}");
    }
    println!("created   {}", shown.at(c.created_at));
    println!("updated   {}", shown.at(c.updated_at));
    if let Some(why) = &c.waiting {
        println!("waiting   {why}");
    }
    if let Some(next) = c.next_due {
        println!("next due  {}", shown.at(next));
    }
    if c.recent.failed_sends > 0 {
        println!(
            "failing   {} send(s) in the last {} minutes; the last: {}",
            c.recent.failed_sends,
            campaigns::RECENT.num_minutes(),
            c.recent.last_error.as_deref().unwrap_or("(no reason recorded)")
        );
    }
    if let Some(q) = &c.queue {
        println!("to call   {} dialable now", q.dialable_now);
        if let Some(cap) = &q.held_by_cap {
            println!("          held by {cap}");
        }
        if q.waiting_for_start > 0 {
            println!("          {} waiting for the campaign's start", q.waiting_for_start);
        }
        for w in &q.waiting_for_window {
            let next = w.next_opening_local.as_deref().unwrap_or("never (past the campaign's end)");
            println!("          {} waiting for their window in {}: opens {next}", w.jobs, w.zones);
        }
        if q.waiting_for_retry > 0 {
            println!("          {} waiting to retry", q.waiting_for_retry);
        }
        match q.forecast_finish {
            Some(t) => println!(
                "forecast  every queued recipient called by {} (at the caps and windows in force)",
                t.format("%Y-%m-%d %H:%M UTC")
            ),
            None if q.dialable_now + q.waiting_for_window.iter().map(|w| w.jobs).sum::<i64>() > 0 => {
                println!(
                    "forecast  not within {} days at the caps and windows in force",
                    crate::waiting::FORECAST_HORIZON_DAYS
                )
            }
            None => {}
        }
    }
    println!("jobs      {}", c.total_jobs);
    for (state, n) in c.counts.iter() {
        println!("  {:<12} {n:>9}", state.as_str());
    }
    if !c.outcomes.is_empty() {
        println!("jobs by last outcome");
        for (o, n) in &c.outcomes {
            println!("  {:<12} {n:>9}", o.as_str());
        }
    }
    let dialled = c.calls.total();
    if dialled > 0 {
        println!("calls     {dialled}");
        for (o, n) in c.calls.by_name() {
            println!("  {o:<12} {n:>9}");
        }
        println!("answer rate {:.1}%   voicemail rate {:.1}%", c.answer_rate * 100.0, c.voicemail_rate * 100.0);
    }
    Ok(())
}

/// A Bland client with the configured key, or the error that says how to give one.
fn bland_client(config: &DaemonConfig) -> Result<crate::bland::Client, Failure> {
    let key = config
        .api_key(|v| std::env::var(v).ok())?
        .ok_or_else(|| Failure::input(anyhow::anyhow!("--stop-active needs the Bland API key: set BLAND_API_KEY")))?;
    let mut client = crate::bland::BlandClientConfig::new(config.bland.base_url.clone(), key);
    client.encrypted_key = config.encrypted_key(|v| std::env::var(v).ok())?;
    Ok(crate::bland::Client::new(client).context("building the Bland client")?)
}

async fn import(args: ImportArgs, config: &DaemonConfig, store: &Store) -> Result<(), Failure> {
    let spec = campaigns::stored_spec(store, config, &args.id).await?;
    let flag = |name: &'static str| move |e: String| Failure::input(anyhow::anyhow!("--{name} {e}"));
    let encoding =
        args.encoding.as_deref().map(crate::import::encoding_for_label).transpose().map_err(flag("encoding"))?;
    let delimiter =
        args.delimiter.as_deref().map(crate::import::parse_delimiter).transpose().map_err(flag("delimiter"))?;
    let opts = ImportOptions {
        phone_column: args.phone_column,
        timezone_column: args.timezone_column,
        state_column: args.state_column,
        rejects: args.rejects,
        dry_run: args.dry_run,
        encoding,
        delimiter,
        progress: std::io::stdout().is_terminal() && std::io::stderr().is_terminal(),
        name: None,
    };
    let summary = crate::import::import_file(store, &spec, &args.file, &opts, Utc::now()).await?;
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    print_import_summary(&args.file, &args.id, &summary);
    if args.json {
        let c = summary.counts;
        println!(
            "{}",
            serde_json::json!({"accepted": c.accepted, "rejected": c.rejected, "duplicates": c.duplicates, "suppressed": c.suppressed})
        );
    }
    Ok(())
}

fn print_import_summary(file: &Path, campaign: &str, s: &ImportSummary) {
    let c = s.counts;
    let head = if s.dry_run {
        format!("dry run: {} would add to `{campaign}` (nothing was stored)", file.display())
    } else if let Some(id) = s.import_id {
        format!("imported {} into `{campaign}` as import #{id}", file.display())
    } else {
        format!("nothing changed: every number in {} is already in `{campaign}` or was rejected", file.display())
    };
    println!("{head} in {:.2}s", s.elapsed.as_secs_f64());
    if let Some(prev) = &s.previous {
        println!(
            "  note: this exact file was imported before, as import #{} ({}) on {}",
            prev.id,
            prev.file_name,
            prev.created_at.format("%Y-%m-%d %H:%M UTC")
        );
    }
    println!("  rows read   {:>9}", c.rows_read);
    println!("  accepted    {:>9}", c.accepted);
    match (&s.rejects_path, c.rejected) {
        (Some(p), n) if n > 0 => println!("  rejected    {n:>9}  (lines and reasons in {})", p.display()),
        _ => println!("  rejected    {:>9}", c.rejected),
    }
    println!("  duplicates  {:>9}  (same number earlier in the file or already in the campaign)", c.duplicates);
    println!("  suppressed  {:>9}  (on the do-not-call list; stored, never dialled)", c.suppressed);
    let delimiter = match s.delimiter {
        b'\t' => "tab".to_string(),
        d => format!("'{}'", d as char),
    };
    println!(
        "  read as {} with delimiter {delimiter}; phone column \"{}\"{}",
        s.encoding,
        s.phone_column,
        s.timezone_column.as_ref().map_or(String::new(), |t| format!("; time zone column \"{t}\""))
            + &s.state_column.as_ref().map_or(String::new(), |t| format!("; state column \"{t}\""))
    );
}

async fn export(args: ExportArgs, config: &DaemonConfig, store: &Store) -> Result<(), Failure> {
    use crate::export::{ColumnSet, Destination, ExportOptions};
    let dest = match args.out {
        Some(path) if path.as_os_str() != "-" => Destination::File(path),
        _ => Destination::Stdout,
    };
    // A bar only where someone watches, and never mixed into CSV shown on the same terminal.
    let csv_on_terminal = dest == Destination::Stdout && std::io::stdout().is_terminal();
    let opts = ExportOptions {
        attempts: args.attempts,
        columns: match args.columns {
            ColumnsArg::All => ColumnSet::All,
            ColumnsArg::Original => ColumnSet::Original,
        },
        outcome: args.outcome,
        since: args.since,
        state: args.state,
        state_rules: Some(config.compliance.rules.clone()),
        raw: args.raw,
        bom: args.bom,
        progress: std::io::stderr().is_terminal() && !csv_on_terminal,
    };
    let summary = crate::export::export(store, config.compliance(), &args.id, &opts, &dest).await?;
    if let Some(file) = &summary.file {
        let what = if args.attempts { "attempt(s)" } else { "recipient(s)" };
        println!("exported {} {what} of `{}` to {}", summary.rows, args.id, file.display());
    }
    Ok(())
}

async fn serve(mut config: DaemonConfig, store: Store, listen: Option<std::net::SocketAddr>) -> Result<(), Failure> {
    let store = store.with_lease(config.store.lease);
    // `--listen` replaces `[http] listen` before any check reads it: the checks that depend on
    // the address (unsigned webhooks only on loopback) must see the one actually bound.
    if let Some(addr) = listen {
        config.http.listen = addr;
    }
    let env = |v: &str| std::env::var(v).ok();
    let api_key = config.api_key(env)?.ok_or_else(|| {
        Failure::input(anyhow::anyhow!(
            "no Bland API key: set BLAND_API_KEY or [bland] api_key_file (for a dry run, start `switchboard sim` and point [bland] base_url at it)"
        ))
    })?;
    let webhook_secret = config.webhook_secret(env)?;
    let api_token = config.api_token(env)?;
    // Refused before listening, as bad configuration.
    crate::daemon::webhook_auth(webhook_secret.as_ref(), &config).map_err(Failure::input)?;
    crate::api::ApiAuth::new(api_token.as_ref(), config.http.listen).map_err(|e| Failure::input(anyhow::anyhow!(e)))?;
    let _lock = crate::daemon::DaemonLock::acquire_for(&store)?;
    let addr = config.http.listen;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    // Listening for signals before saying we listen: a SIGTERM right after start is a graceful stop.
    let mut signals = ShutdownSignals::new().context("installing the signal handlers")?;
    println!("switchboard listening on http://{}", listener.local_addr().context("local address")?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        signals.recv().await;
        tracing::info!("shutting down: no new calls; finishing the sends in flight (a second signal exits at once)");
        let _ = stop.send(true);
        signals.recv().await;
        tracing::warn!("second signal: exiting now; the next start reconciles what was in flight");
        std::process::exit(130);
    });
    let clock: std::sync::Arc<dyn crate::clock::Clock> = std::sync::Arc::new(crate::clock::SystemClock);
    let encrypted_key = config.encrypted_key(env)?;
    let mut parts = crate::daemon::DaemonParts::new(config, store, clock, api_key, webhook_secret);
    parts.encrypted_key = encrypted_key;
    parts.api_token = api_token;
    crate::daemon::serve(parts, listener, stopped).await?;
    Ok(())
}

/// SIGTERM and SIGINT, caught from creation on: none arriving after [`ShutdownSignals::new`]
/// is lost or left to its default action (killing the process).
struct ShutdownSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn demo(config: Option<&Path>, db: Option<&StoreUrl>, recipients: usize, serve: bool) -> Result<(), Failure> {
    use crate::demo::Progress;
    let config = load_config(config)?;
    let db = match db {
        None => None,
        Some(StoreUrl::Sqlite(path)) => Some(path.as_path()),
        Some(StoreUrl::Postgres(_)) => {
            return Err(Failure::input(anyhow::anyhow!(
                "the demo runs on a SQLite file of its own: give --db a path, or none"
            )));
        }
    };
    let dir = std::env::temp_dir().join(format!("switchboard-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    println!("switchboard demo: the example campaign (config/campaign.example.toml) with its recipients");
    println!("(config/recipients.example.csv) and {recipients} more across US time zones, dialled by the real");
    println!(
        "daemon against the built-in Bland simulator, on a clock running {}x real time that starts",
        crate::demo::SPEED
    );
    println!("on Tuesday 2026-12-01 at 07:30 in New York: windows open zone by zone from 09:00 local.");
    println!("what the demo changes in the example campaign:");
    for (_, _, why) in crate::demo::SPEC_CHANGES {
        println!("  - {why}");
    }
    println!("scratch directory: {}\n", dir.display());
    let bar = crate::progress::bar(0, "{bar:30} {pos}/{len} recipients settled  {msg}");
    let shown =
        |at: DateTime<Utc>| at.with_timezone(&chrono_tz::America::New_York).format("%a %H:%M New York").to_string();
    let progress = |p: Progress| match (&bar, p) {
        (Some(bar), Progress::Campaign { at, settled, total, line }) => {
            bar.set_length(u64::try_from(total).unwrap_or(0));
            bar.set_position(u64::try_from(settled).unwrap_or(0));
            bar.set_message(format!("{}  {}", shown(at), line.split_once("  ").map_or("", |(_, rest)| rest)));
        }
        (Some(bar), Progress::Note(line)) => bar.println(format!("  {line}")),
        (None, Progress::Campaign { line, .. }) | (None, Progress::Note(line)) => println!("  {line}"),
    };
    let (report, serving) = crate::demo::run(&dir, &config, recipients, db, serve, progress).await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    println!();
    print_import_summary(Path::new("recipients.csv"), &report.summary.id, &report.import);
    if !report.rejects.is_empty() {
        println!("\n  the rejects report:");
        for line in report.rejects.lines() {
            println!("  | {line}");
        }
    }
    println!(
        "\ncampaign `{}` is {} after {} of simulated time ({:.1}s real)",
        report.summary.id,
        report.summary.state,
        crate::config::format_duration(report.simulated),
        report.real.as_secs_f64()
    );
    let s = &report.summary;
    println!("  jobs by state:       {}", fmt_counts(s.counts.iter().map(|(k, v)| (k.as_str(), v))));
    println!("  jobs by outcome:     {}", fmt_counts(s.outcomes.iter().map(|(k, v)| (k.as_str(), *v))));
    println!("  calls by outcome:    {}", fmt_counts(s.calls.by_name().into_iter()));
    println!(
        "  the simulator placed {} calls to {} numbers; outcomes in the database that differ from its record: {}",
        report.sim_calls, report.sim_numbers, report.mismatches
    );
    let failed: u64 = report.report.failures.iter().map(|f| f.count).sum();
    if failed > 0 {
        println!(
            "  why {failed} calls \"failed\": the simulator fails some calls the way a carrier does (\"{}\");\n  \
             switchboard records Bland's reason, and retries only what the campaign's [retry] allows",
            report.report.failures.first().map_or("", |f| f.reason.as_str())
        );
    }
    println!("\nthe campaign report (`switchboard --db {} report {}`):\n", report.db.display(), report.summary.id);
    print!("{}", crate::report::render(&report.report, crate::clock::Shown(None)));
    println!(
        "\nthe results, one row per recipient (`switchboard --db {} export {} --out results.csv`): {} ({} rows)",
        report.db.display(),
        report.summary.id,
        report.results.display(),
        report.results_rows
    );
    println!("database kept at {}", report.db.display());
    if let Some(serving) = serving {
        // Caught before the line that invites it: the daemon stops cleanly.
        let mut signals = ShutdownSignals::new().context("installing the signal handlers")?;
        println!("dashboard and control API at {} until Ctrl-C", report.dashboard);
        signals.recv().await;
        serving.stop().await?;
    } else {
        println!("the dashboard was at {} while the demo ran (`demo --serve` keeps it up)", report.dashboard);
    }
    if report.mismatches > 0 || report.summary.state != CampaignState::Completed {
        return Err(anyhow::anyhow!("the demo campaign did not finish cleanly").into());
    }
    Ok(())
}

fn fmt_counts<'a>(counts: impl Iterator<Item = (&'a str, i64)>) -> String {
    counts.filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
}

async fn dnc(cmd: DncCommand, store: &Store) -> Result<(), Failure> {
    let now = Utc::now();
    match cmd {
        DncCommand::Add { numbers, reason } => {
            let added = crate::dnc::add(store, &numbers, &reason, now).await.map_err(|e| match e {
                crate::dnc::DncError::Store(e) => Failure::from(e),
                e => Failure::input(e),
            })?;
            println!(
                "added {} number(s) to the do-not-call list ({} already there); {} queued job(s) suppressed",
                added.added, added.already, added.jobs_suppressed
            );
            Ok(())
        }
        DncCommand::Import { file, phone_column, reason } => {
            // A line without a readable number fails the whole list (exit 2): nothing is added.
            let read = crate::import::read_numbers(&file, phone_column.as_deref())?;
            for w in &read.warnings {
                eprintln!("warning: {w}");
            }
            let added = crate::dnc::add_parsed(store, &read.numbers, &reason, now).await?;
            println!(
                "added {} number(s) from {} to the do-not-call list ({} already there); {} queued job(s) suppressed",
                added.added,
                file.display(),
                added.already,
                added.jobs_suppressed
            );
            Ok(())
        }
        DncCommand::List { json } => {
            for e in crate::dnc::list(store).await? {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"phone": e.phone, "reason": e.reason, "added_at": e.added_at.to_rfc3339()})
                    );
                } else {
                    println!("{}\t{}\t{}", e.phone, e.added_at.format("%Y-%m-%d %H:%M UTC"), e.reason);
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod help_tests {
    use clap::FromArgMatches;

    /// Every command an operator runs (the leaves of the tree), by its path.
    fn leaves(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|c| c.get_name() != "help").collect();
        if subs.is_empty() {
            out.push((path.clone(), cmd.clone()));
        }
        for sub in subs {
            leaves(sub, format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn db_and_config_are_shown_only_where_they_matter() {
        let mut cmd = super::command();
        cmd.build();
        let help = |cmd: &mut clap::Command, path: &[&str]| {
            let mut c = cmd.clone();
            for p in path {
                c = c.find_subcommand(p).unwrap().clone();
            }
            c.render_long_help().to_string()
        };
        for path in [&["sim"][..], &["completions"], &["config", "default"], &["rules"]] {
            assert!(!help(&mut cmd, path).contains("--db"), "`{path:?} --help` shows --db");
        }
        for path in [&["sim"][..], &["completions"]] {
            assert!(!help(&mut cmd, path).contains("--config"), "`{path:?} --help` shows --config");
        }
        for path in [&["import"][..], &["campaign", "show"], &["report"], &["serve"]] {
            let h = help(&mut cmd, path);
            assert!(h.contains("--db") && h.contains("--config"), "`{path:?} --help` hides --db or --config");
        }
        // Hidden is not refused: a flag the operator's environment always passes still parses.
        let m = super::command().try_get_matches_from(["switchboard", "sim", "--db", "x.db"]).unwrap();
        assert!(super::Cli::from_arg_matches(&m).is_ok());
    }

    #[test]
    fn every_command_has_an_example_in_its_help_and_documents_each_argument() {
        let mut all = Vec::new();
        leaves(&super::command(), "switchboard".into(), &mut all);
        assert!(all.len() >= 20, "{} commands", all.len());
        for (path, mut cmd) in all {
            let help = cmd.render_long_help().to_string();
            assert!(help.contains("Example"), "`{path} --help` shows no example:\n{help}");
            for arg in cmd.get_arguments().filter(|a| !a.is_global_set() && a.get_id() != "help") {
                assert!(
                    arg.get_help().is_some() || arg.get_long_help().is_some(),
                    "`{path}`: the argument `{}` is not documented",
                    arg.get_id()
                );
            }
        }
    }
}
