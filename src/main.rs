//! The `switchboard` binary: parse the command line, set up tracing, hand over to the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use switchboard::cli::{Cli, Command, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A command whose output is piped into `head` ends quietly when the pipe closes, as Unix
    // tools do, instead of panicking on the failed write. Not the daemon or the simulator:
    // they must outlive any one peer.
    if !matches!(cli.command, Command::Serve { .. } | Command::Sim(_) | Command::Demo) {
        sigpipe::reset();
    }
    // The daemon and the simulator log each state change; one-shot commands only warnings
    // (and not sqlx's "slow statement": a report's seconds-long scan is its work, not a fault).
    let default = match cli.command {
        Command::Serve { .. } | Command::Sim(_) => "warn,switchboard=info",
        _ => "warn,sqlx=error",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .init();
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
