//! `switchboard blackout add|list|remove`: emergency blackouts by state (or province) or by time
//! zone. The daemon reads them within a second (`dispatcher::plan::BLACKOUTS_REREAD`): nobody
//! there is dialled until the blackout ends; their jobs wait for its end, costing no cap.

use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::Failure;
use crate::clock::parse_instant;
use crate::compliance::Region;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum BlackoutCommand {
    /// Stop dialling a state (or province) or a time zone until a time, at once
    #[command(
        after_help = "Examples:\n  switchboard blackout add --state LA --until 2026-12-03T00:00:00-06:00 --reason \"hurricane emergency\"\n  switchboard blackout add --zone America/Chicago --until 2026-12-01T18:00:00Z --reason \"carrier outage\""
    )]
    Add {
        /// The state or province: a two-letter code (LA) or a name (Louisiana)
        #[arg(long, value_name = "STATE", required_unless_present = "zone", conflicts_with = "zone")]
        state: Option<String>,
        /// An IANA time zone (America/Chicago) instead of a state
        #[arg(long, value_name = "ZONE")]
        zone: Option<String>,
        /// When it ends: an instant with a UTC offset (2026-12-03T00:00:00-06:00), or a date (UTC midnight)
        #[arg(long, value_name = "TIME")]
        until: String,
        /// When it starts [default: now]
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Why (shown by `blackout list` and `rules`)
        #[arg(long)]
        reason: String,
    },
    /// List the blackouts in force or ahead (--all: every one ever added)
    #[command(after_help = "Example:\n  switchboard blackout list --all")]
    List {
        /// Also the ended and removed ones
        #[arg(long)]
        all: bool,
        /// One JSON object per blackout, one per line
        #[arg(long)]
        json: bool,
    },
    /// End a blackout now (dialling there resumes within a second)
    #[command(after_help = "Example:\n  switchboard blackout remove 3")]
    Remove {
        /// The blackout's id, as `blackout list` shows it
        id: i64,
    },
}

impl BlackoutCommand {
    /// Whether it only reads.
    pub fn read_only(&self) -> bool {
        matches!(self, BlackoutCommand::List { .. })
    }
}

pub async fn blackout(cmd: BlackoutCommand, store: &Store, now: DateTime<Utc>) -> Result<(), Failure> {
    let input = |flag: &str, e: String| Failure::input(anyhow::anyhow!("{flag}: {e}"));
    match cmd {
        BlackoutCommand::Add { state, zone, until, from, reason } => {
            let region =
                state.as_deref().map(Region::parse).transpose().map_err(|e| input("--state", e.to_string()))?;
            let zone =
                zone.as_deref().map(crate::config::campaign::parse_zone).transpose().map_err(|e| input("--zone", e))?;
            let until = parse_instant(&until).map_err(|e| input("--until", e))?;
            let starts_at = match from {
                Some(t) => parse_instant(&t).map_err(|e| input("--from", e))?,
                None => now,
            };
            if until <= starts_at.max(now) {
                return Err(input("--until", format!("{until} is not after {}", starts_at.max(now))));
            }
            if reason.trim().is_empty() {
                return Err(input("--reason", "must say why".into()));
            }
            let id = store.blackout_add(region, zone, starts_at, until, reason.trim(), now).await?;
            let place =
                region.map_or_else(|| zone.map(|z| z.name().to_string()).unwrap_or_default(), |r| r.to_string());
            println!(
                "blackout {id}: nobody in {place} is dialled from {} until {} ({}); the daemon applies it within a second",
                starts_at.format("%Y-%m-%d %H:%M:%S UTC"),
                until.format("%Y-%m-%d %H:%M:%S UTC"),
                reason.trim()
            );
            Ok(())
        }
        BlackoutCommand::List { all, json } => {
            for b in store.blackout_list(!all, now).await? {
                if json {
                    println!("{}", serde_json::to_string(&b).expect("a blackout serialises"));
                    continue;
                }
                let place = b.region.or(b.zone).unwrap_or_default();
                let status = match b.removed_at {
                    Some(t) => format!("removed {}", t.format("%Y-%m-%d %H:%M UTC")),
                    None if b.until <= now => "ended".to_string(),
                    None if b.starts_at > now => "ahead".to_string(),
                    None => "in force".to_string(),
                };
                println!(
                    "{}\t{place}\t{} .. {}\t{status}\t{}",
                    b.id,
                    b.starts_at.format("%Y-%m-%d %H:%M UTC"),
                    b.until.format("%Y-%m-%d %H:%M UTC"),
                    b.reason
                );
            }
            Ok(())
        }
        BlackoutCommand::Remove { id } => {
            if store.blackout_remove(id, now).await? {
                println!("blackout {id} removed: dialling there resumes within a second");
                Ok(())
            } else {
                Err(input("blackout", format!("no blackout {id} in force or ahead (see `switchboard blackout list`)")))
            }
        }
    }
}
