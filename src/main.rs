//! The `switchboard` binary: parse the command line, set up tracing, hand over to the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use std::io::IsTerminal;

use clap::FromArgMatches;
use switchboard::cli::{Cli, Command, run};
use switchboard::config::daemon::LogFormat;

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&switchboard::cli::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // A command whose output is piped into `head` ends quietly when the pipe closes, as Unix
    // tools do, instead of panicking on the failed write. Not the daemon or the simulator:
    // they must outlive any one peer.
    if !matches!(cli.command, Command::Serve { .. } | Command::Sim(_) | Command::Demo { .. }) {
        sigpipe::reset();
    }
    // The daemon and the simulator log each state change; one-shot commands only warnings
    // (and not sqlx's "slow statement": a report's seconds-long scan is its work, not a fault).
    let default = match cli.command {
        Command::Serve { .. } | Command::Sim(_) => "warn,switchboard=info",
        _ => "warn,sqlx=error",
    };
    // The format: --log-format, else the config's [log] format (a config that cannot be read
    // is reported by the command itself, after this).
    let format = cli.log_format.unwrap_or_else(|| {
        switchboard::cli::load_config(cli.config.as_deref()).map(|c| c.log.format).unwrap_or_default()
    });
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    match format {
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
        // Colour codes only for a terminal: in a file or a journal they are noise.
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            failure.exit_code()
        }
    }
}
