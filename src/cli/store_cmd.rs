//! `switchboard store copy`: moving an existing SQLite database to PostgreSQL (README,
//! "Several daemons on PostgreSQL").

use anyhow::Context;
use clap::Subcommand;

use super::Failure;
use crate::store::{Store, StoreUrl};

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy a SQLite database (campaigns, jobs, attempts, DNC, inbox, …) into an empty
    /// PostgreSQL database, verified table by table, with the daemon stopped
    #[command(
        after_help = "Example:\n  systemctl stop switchboard\n  PGPASSWORD=… switchboard store copy --from /var/lib/switchboard/switchboard.db --to postgres://switchboard@db.internal/switchboard\n  # then set [store] url to the URL and start the daemons"
    )]
    Copy {
        /// The SQLite database to copy (it is only read; no daemon may be running on it)
        #[arg(long, value_name = "PATH")]
        from: std::path::PathBuf,
        /// The PostgreSQL database to fill: it must exist and hold no campaign yet (its password
        /// from PGPASSWORD or ~/.pgpass, never in the URL)
        #[arg(long, value_name = "URL")]
        to: StoreUrl,
    },
}

pub async fn store(cmd: StoreCommand) -> Result<(), Failure> {
    match cmd {
        StoreCommand::Copy { from, to } => {
            if !matches!(to, StoreUrl::Postgres(_)) {
                return Err(Failure::input(anyhow::anyhow!("--to must be a postgres:// URL, not `{to}`")));
            }
            // The daemon's own lock: copying while it dials would copy a moving database.
            let _lock = crate::daemon::DaemonLock::acquire(&from)
                .context("stop the daemon before copying its database")
                .map_err(Failure::input)?;
            let source = Store::open_existing(&from).await?;
            let target = Store::open_url(&to, false).await?;
            let copied = source
                .copy_to(&target, |table, rows| eprintln!("copied {table}: {rows} rows"))
                .await
                .with_context(|| format!("copying {} to {to}", from.display()))?;
            let total: u64 = copied.tables.iter().map(|(_, n)| n).sum();
            println!(
                "copied {} to {to}: {total} rows in {} tables, every table's count and every report counter \
                 checked; point [store] url at it and start the daemons",
                from.display(),
                copied.tables.len()
            );
            Ok(())
        }
    }
}
