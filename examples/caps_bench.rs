//! Cap utilisation benchmark: how much of a campaign's per-minute allowance the real dispatcher
//! turns into calls Bland received, while recipients who may be called exist, under three faults
//! (most of the list in closed zones, a 429 storm, 5 % ambiguous send failures), and whether it
//! ever placed one call over a cap.
//!
//! Each scenario is a whole switchboard in this process, as `tests/common/harness.rs` builds one:
//! a temp SQLite store, the Bland simulator on a loopback port (limits off, writing its JSON-lines
//! send log), the real `Dispatcher` and `Outcomes`, and a `ManualClock` advanced in fixed ticks;
//! each tick runs `reconcile`, `step` and `poll_once` once. Time is simulated, so a debug build
//! measures the same thing a release build does.
//!
//! Several daemons on PostgreSQL (`--db URL --nodes N`): each scenario creates a database of its
//! own on the server `URL` names (dropped at the end unless `--keep-db`), and runs N nodes on it,
//! as `tests/multinode.rs` does: each its own `Store::open_url` (a node of its own, with its own
//! claims, leases and commits), its own `Dispatcher` and `Outcomes` and Bland client, all on the
//! one `ManualClock` and the one simulator. Each tick the N nodes run `reconcile` and `step`
//! concurrently (a task each), then `poll_once` concurrently, and the clock advances when all
//! are done. The caps are then judged at the commit, from every node's dials
//! (`Store::commit_claims` with an `Admission`), and the pacing is shared in the database. On
//! PostgreSQL an error a node meets (a deadlock, say) is counted and printed, and the node goes
//! on at its next tick, as the daemon's loop does; on SQLite it ends the run.
//!
//! Definitions (printed with the figures):
//! - *received*: lines in the simulator's send log (calls Bland accepted, whatever the
//!   dispatcher believes);
//! - *allowance*: the per-minute cap × the simulated minutes in which a recipient was dialable
//!   and Bland accepted sends (the run, minus the storm's minutes); dialable recipients are left
//!   at the end of every run (checked), and no recipient's window closes during one, so they
//!   existed all along;
//! - *utilisation* = received ÷ allowance;
//! - *busiest minute*: the most received calls in any sliding 60 s of the manual clock. The
//!   simulator stamps its log in real time, which means nothing here, so each call is timed by
//!   the tick in which it first appears in `SimHandle::sends()` (as `tests/caps.rs` does); the log
//!   and that record must hold the same call ids. Over the cap in any scenario: exit status 1;
//! - *dialled twice*: numbers the simulator received two calls for within the campaign's first
//!   retry delay (2 h, longer than any default run), and attempts sent twice; any: exit status 1.
//!
//! The simulator's 429 storms run on real time. A storm of N ticks is N slices: before each
//! storm tick the simulator is told to answer 429 for `--storm-slice-ms` of real time (and for
//! another slice whenever the tick's steps outlast half of the last one), and the tick then
//! waits out its slice, so the storm covers exactly those ticks (calls accepted during a storm
//! tick would mean a slice ran out early; they are counted and printed).
//!
//! ```text
//! bench/caps.sh                                              # every scenario, the table
//! cargo run --example caps_bench -- --scenario storm         # one scenario
//! bench/nodes.sh                                             # 1, 2 and 3 nodes on PostgreSQL
//! cargo run --example caps_bench -- --db postgres://postgres@127.0.0.1:54320/postgres --nodes 3
//! ```

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Duration};
use clap::{Parser, ValueEnum};
use serde_json::json;
use switchboard::bland::{BlandClientConfig, Client, RetryPolicy};
use switchboard::campaigns;
use switchboard::clock::{Clock, ManualClock};
use switchboard::config::DaemonConfig;
use switchboard::dispatcher::engine::{Dispatcher, DispatcherConfig, StepReport};
use switchboard::dispatcher::ledger::Caps;
use switchboard::import::{ImportOptions, import_file};
use switchboard::outcomes::{Outcomes, OutcomesConfig};
use switchboard::secret::Secret;
use switchboard::sim::{SimConfig, Simulator};
use switchboard::store::{CampaignAction, JobState, Store, StoreUrl};

const API_KEY: &str = "bench-caps-key";

/// Monday 2026-06-01 13:00 UTC: 09:00 in New York (open), 03:00 in Honolulu (closed until 19:00
/// UTC, after any run this bench makes).
const START: &str = "2026-06-01T13:00:00Z";

/// New York area codes (open at the start) and Honolulu's (closed).
const OPEN_AREAS: [&str; 5] = ["212", "646", "718", "917", "347"];
const CLOSED_AREAS: [&str; 1] = ["808"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    /// 90 % of the list in closed zones, spread through it (one open in ten)
    Closed,
    /// the same list with the closed ones first in the queue (the claim loop's worst case)
    ClosedFirst,
    /// every recipient open, a 429 storm mid-run
    Storm,
    /// every recipient open, 5 % of API requests answered 500 (on sends, half after the call
    /// was placed)
    Ambiguous,
}

#[derive(Debug, Parser)]
#[command(about = "Cap utilisation of the dispatcher on a simulated clock")]
struct Args {
    /// Scenarios to run, in order (default: closed, closed-first, storm, ambiguous)
    #[arg(long, value_enum)]
    scenario: Vec<Which>,
    /// Recipients imported per scenario
    #[arg(long, default_value_t = 40_000)]
    recipients: usize,
    /// Share of them in closed zones (closed scenarios)
    #[arg(long, default_value_t = 0.9)]
    closed_share: f64,
    /// The campaign's calls_per_minute (the account's is the same)
    #[arg(long, default_value_t = 120)]
    calls_per_minute: u32,
    /// Simulated minutes per run
    #[arg(long, default_value_t = 30)]
    minutes: u32,
    /// Simulated time per tick, in milliseconds
    #[arg(long, default_value_t = 1000)]
    tick_ms: i64,
    /// The storm starts this many simulated minutes into the run
    #[arg(long, default_value_t = 10)]
    storm_at: u32,
    /// and lasts this many simulated minutes
    #[arg(long, default_value_t = 5)]
    storm_minutes: u32,
    /// Real time each storm tick is answered 429 for (the tick waits it out)
    #[arg(long, default_value_t = 200)]
    storm_slice_ms: u64,
    /// Share of API requests answered 500 (ambiguous scenario)
    #[arg(long, default_value_t = 0.05)]
    fail_rate: f64,
    /// Seconds an ambiguous send waits before it is looked up at Bland (`[dispatcher]
    /// reconcile_after`; default: the daemon's). Its slot stays counted until then.
    #[arg(long)]
    reconcile_after: Option<i64>,
    /// The simulator's seed
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Where the simulator's send logs are written (one per scenario, replaced each run)
    #[arg(long, default_value = "bench-out/caps")]
    out: PathBuf,
    /// A PostgreSQL server (`postgres://user@host:port/db`): each scenario runs on a database of
    /// its own created there, instead of a temp SQLite file
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// Nodes (daemons) dispatching on the one database, each on a Store of its own, stepping
    /// concurrently each tick; more than one needs --db
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Leave each scenario's PostgreSQL database in place (it is dropped otherwise)
    #[arg(long)]
    keep_db: bool,
}

/// What one scenario measured.
#[derive(Debug)]
struct Figures {
    name: &'static str,
    recipients: usize,
    open_recipients: usize,
    received: usize,
    allowance_minutes: f64,
    allowance: f64,
    busiest_minute: usize,
    /// Numbers dialled again within the first retry delay, and attempts sent more than once.
    numbers_dialled_twice: usize,
    attempts_sent_twice: usize,
    /// Errors a node's reconcile, step or poll returned (the daemon logs them and goes on), by
    /// message.
    errors: HashMap<String, u64>,
    /// Sends each node's dispatcher recorded as placed.
    sent_per_node: Vec<u64>,
    database: Option<String>,
    calls_in_first_minute: usize,
    first_call_tick: Option<usize>,
    accepted_during_storm: usize,
    dialable_left: usize,
    claimed: u64,
    deferred: u64,
    not_sent: u64,
    unknown: u64,
    real_seconds: f64,
    slowest_tick_ms: f64,
    real_ms_before_first_call: f64,
    log: PathBuf,
}

impl Figures {
    fn utilisation(&self) -> f64 {
        self.received as f64 / self.allowance
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    ensure!(args.tick_ms > 0 && 60_000 % args.tick_ms == 0, "--tick-ms must divide a minute");
    ensure!(args.storm_at + args.storm_minutes <= args.minutes, "the storm must end within the run");
    ensure!((0.0..1.0).contains(&args.closed_share), "--closed-share must be in 0..1");
    ensure!(args.nodes >= 1, "--nodes must be at least 1");
    ensure!(args.nodes == 1 || args.db.is_some(), "several nodes share a PostgreSQL database: give --db URL");
    if let Some(url) = &args.db
        && !matches!(url.parse::<StoreUrl>(), Ok(StoreUrl::Postgres(_)))
    {
        bail!("--db must be a PostgreSQL server URL (postgres://…), not {url:?}");
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let scenarios = if args.scenario.is_empty() {
        vec![Which::Closed, Which::ClosedFirst, Which::Storm, Which::Ambiguous]
    } else {
        args.scenario.clone()
    };

    let reconcile_after = args
        .reconcile_after
        .unwrap_or_else(|| DispatcherConfig::from_daemon(&DaemonConfig::defaults()).reconcile_after.num_seconds());
    println!(
        "cap {} calls/min (campaign and account alike, nothing else capped), {} simulated min in {} ms ticks, {} recipients, \
         ambiguous sends looked up after {} s",
        args.calls_per_minute, args.minutes, args.tick_ms, args.recipients, reconcile_after
    );
    match &args.db {
        None => println!("store: a temp SQLite file, one dispatcher"),
        Some(_) => println!(
            "store: PostgreSQL, a database per scenario; {} node(s), each its own Store, Dispatcher and Outcomes, \
             stepping concurrently each tick",
            args.nodes
        ),
    }
    println!("received    = calls in the simulator's send log (calls Bland accepted)");
    println!("allowance   = cap x minutes with dialable recipients while Bland accepted sends (run minus storm)");
    println!("utilisation = received / allowance");
    println!("busiest     = most received calls in any sliding 60 s of the manual clock (must be <= cap)");
    println!("twice       = numbers dialled again within the first retry delay, attempts sent twice (must be 0)");
    println!();
    println!(
        "| scenario | recipients (dialable) | received | allowance | utilisation | busiest minute | first minute | claimed / deferred / 429ed / ambiguous | real time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut all = Vec::new();
    for which in scenarios {
        let f = run(&args, which).await.with_context(|| format!("scenario {which:?}"))?;
        println!(
            "| {} | {} ({}) | {} | {:.0} ({:.0} min) | **{:.2} %** | {} / {} | {} | {} / {} / {} / {} | {:.1} s |",
            f.name,
            f.recipients,
            f.open_recipients,
            f.received,
            f.allowance,
            f.allowance_minutes,
            100.0 * f.utilisation(),
            f.busiest_minute,
            args.calls_per_minute,
            f.calls_in_first_minute,
            f.claimed,
            f.deferred,
            f.not_sent,
            f.unknown,
            f.real_seconds,
        );
        all.push(f);
    }
    println!();
    for f in &all {
        println!(
            "{}: first call at tick {}, {:.0} ms of real time in the steps before it; slowest tick {:.0} ms; \
             {} accepted during storm ticks; {} dialable recipients left; send log {}",
            f.name,
            f.first_call_tick.map_or("-".to_string(), |t| t.to_string()),
            f.real_ms_before_first_call,
            f.slowest_tick_ms,
            f.accepted_during_storm,
            f.dialable_left,
            f.log.display()
        );
        if args.db.is_some() {
            let each: Vec<String> = f.sent_per_node.iter().map(u64::to_string).collect();
            println!(
                "{}: {} node(s), calls each placed {}; numbers dialled twice {}, attempts sent twice {}; database {}{}",
                f.name,
                f.sent_per_node.len(),
                each.join(" / "),
                f.numbers_dialled_twice,
                f.attempts_sent_twice,
                f.database.as_deref().unwrap_or("-"),
                if args.keep_db { " (kept)" } else { " (dropped)" }
            );
        }
        if !f.errors.is_empty() {
            let mut by_count: Vec<(&String, &u64)> = f.errors.iter().collect();
            by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (message, n) in by_count {
                println!("{}: {n} x {message} (the node went on at its next tick, as the daemon does)", f.name);
            }
        }
    }
    let over: Vec<&str> =
        all.iter().filter(|f| f.busiest_minute > args.calls_per_minute as usize).map(|f| f.name).collect();
    let twice: Vec<&str> =
        all.iter().filter(|f| f.numbers_dialled_twice + f.attempts_sent_twice > 0).map(|f| f.name).collect();
    let summary = json!({
        "cap_per_minute": args.calls_per_minute,
        "minutes": args.minutes,
        "tick_ms": args.tick_ms,
        "recipients": args.recipients,
        "reconcile_after_s": reconcile_after,
        "store": if args.db.is_some() { "postgresql" } else { "sqlite" },
        "nodes": args.nodes,
        "over_cap": !over.is_empty(),
        "dialled_twice": !twice.is_empty(),
        "scenarios": all.iter().map(|f| json!({
            "name": f.name,
            "recipients": f.recipients,
            "dialable_recipients": f.open_recipients,
            "received": f.received,
            "allowance_minutes": f.allowance_minutes,
            "allowance": f.allowance,
            "utilisation": (f.utilisation() * 10_000.0).round() / 10_000.0,
            "busiest_minute": f.busiest_minute,
            "numbers_dialled_twice": f.numbers_dialled_twice,
            "attempts_sent_twice": f.attempts_sent_twice,
            "errors": f.errors.values().sum::<u64>(),
            "errors_by_message": f.errors,
            "sent_per_node": f.sent_per_node,
            "calls_in_first_minute": f.calls_in_first_minute,
            "first_call_tick": f.first_call_tick,
            "accepted_during_storm": f.accepted_during_storm,
            "dialable_left": f.dialable_left,
            "claimed": f.claimed,
            "deferred": f.deferred,
            "not_sent": f.not_sent,
            "unknown": f.unknown,
            "real_seconds": (f.real_seconds * 10.0).round() / 10.0,
        })).collect::<Vec<_>>(),
    });
    println!("{summary}");
    if !over.is_empty() {
        eprintln!("OVER THE CAP in: {}", over.join(", "));
    }
    if !twice.is_empty() {
        eprintln!("A NUMBER DIALLED TWICE (or an attempt sent twice) in: {}", twice.join(", "));
    }
    if !over.is_empty() || !twice.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

/// One scenario, start to finish, on a fresh store and simulator.
async fn run(args: &Args, which: Which) -> anyhow::Result<Figures> {
    let name = match which {
        Which::Closed => "closed zones (90 %, spread)",
        Which::ClosedFirst => "closed zones (90 %, first in queue)",
        Which::Storm => "429 storm",
        Which::Ambiguous => "ambiguous failures (5 %)",
    };
    let closed_share = match which {
        Which::Closed | Which::ClosedFirst => args.closed_share,
        Which::Storm | Which::Ambiguous => 0.0,
    };
    let fail_rate = if which == Which::Ambiguous { args.fail_rate } else { 0.0 };
    let tick = Duration::milliseconds(args.tick_ms);
    let ticks = (args.minutes as i64 * 60_000 / args.tick_ms) as usize;
    let per_minute = 60_000 / args.tick_ms as usize;
    let storm = if which == Which::Storm {
        args.storm_at as usize * per_minute..(args.storm_at + args.storm_minutes) as usize * per_minute
    } else {
        0..0
    };

    let dir = tempfile::tempdir()?;
    // One store per node: on PostgreSQL each is a node of its own on a database made for this run.
    let (stores, database) = match &args.db {
        None => (vec![Store::open(&dir.path().join("caps.db")).await?], None),
        Some(server) => {
            let name = format!("caps_{}_{}n_{}", format!("{which:?}").to_lowercase(), args.nodes, std::process::id());
            let url = create_pg_database(server, &name).await?;
            let url: StoreUrl = url.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            let mut stores = Vec::with_capacity(args.nodes);
            for _ in 0..args.nodes {
                stores.push(Store::open_url(&url, false).await?);
            }
            (stores, Some(name))
        }
    };
    let store = stores[0].clone();
    let log = args.out.join(format!("{which:?}.sendlog.jsonl").to_lowercase());
    // The simulator appends to its log: a rerun starts from an empty one.
    match std::fs::remove_file(&log) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let sim = Simulator::start(SimConfig {
        api_key: Some(Secret::new(API_KEY)),
        seed: args.seed,
        // A two-minute call ends in 33 ms of real time, long before its outcome is polled.
        speed: 3600.0,
        fail_rate,
        // The simulator's own limits run on real time: off. The caps under test are the
        // dispatcher's.
        requests_per_minute: 0,
        max_concurrent: 0,
        log: Some(log.clone()),
        ..SimConfig::default()
    })
    .await?;

    let clock = ManualClock::new(DateTime::parse_from_rfc3339(START)?.to_utc());
    let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let mut config = DaemonConfig::defaults();
    config.bland.base_url = sim.base_url();
    let mut dispatch_cfg = DispatcherConfig::from_daemon(&config);
    if let Some(s) = args.reconcile_after {
        dispatch_cfg.reconcile_after = Duration::seconds(s);
    }
    dispatch_cfg.account =
        Caps { per_minute: Some(args.calls_per_minute), per_hour: None, per_day: None, concurrent: None };

    let spec_text = format!(
        "id = \"caps-bench\"\nname = \"Caps bench\"\n[call]\ntask = \"Hello\"\nmax_duration = 2\n\
         [schedule]\nhours = {{ \"mon-sun\" = \"09:00-20:00\" }}\n[limits]\ncalls_per_minute = {}\n",
        args.calls_per_minute
    );
    let spec = campaigns::save(&store, &config, "caps-bench.toml", &spec_text, clock.now()).await?.spec;
    let csv = dir.path().join("recipients.csv");
    let open_recipients = write_recipients(&csv, args.recipients, closed_share, which == Which::ClosedFirst)?;
    let imported = import_file(&store, &spec, &csv, &ImportOptions::default(), clock.now()).await?;
    campaigns::apply(&store, spec.id.as_str(), CampaignAction::Start, clock.now()).await?;
    let queued = store.job_counts(spec.id.as_str()).await?.get(JobState::Queued) as usize;
    ensure!(queued == args.recipients, "imported {queued} of {} recipients: {imported:?}", args.recipients);

    let client = |retry: RetryPolicy| {
        let mut c = BlandClientConfig::new(sim.base_url(), Secret::new(API_KEY));
        c.retry = retry;
        Client::new(c)
    };
    let poll_retry = RetryPolicy {
        min_delay: StdDuration::from_millis(1),
        max_delay: StdDuration::from_millis(5),
        ..RetryPolicy::default()
    };
    // A node: a daemon's dispatcher and outcome poller on its own store.
    let mut nodes = Vec::with_capacity(stores.len());
    for s in &stores {
        let dispatcher =
            Dispatcher::new(s.clone(), client(RetryPolicy::none())?, shared_clock.clone(), dispatch_cfg.clone())
                .await?;
        let outcomes = Outcomes::new(
            s.clone(),
            client(poll_retry.clone())?,
            shared_clock.clone(),
            OutcomesConfig::from_daemon(&config),
        );
        nodes.push(Arc::new((dispatcher, outcomes) as Node));
    }
    let mut sent_per_node = vec![0u64; nodes.len()];
    // Errors the nodes met (and went on from), by message.
    let mut errors: HashMap<String, u64> = HashMap::new();

    // Which tick each call Bland accepted first appeared in.
    let mut tick_of: HashMap<String, usize> = HashMap::new();
    let mut per_tick = vec![0usize; ticks];
    let (mut claimed, mut deferred, mut not_sent, mut unknown) = (0u64, 0u64, 0u64, 0u64);
    let mut slowest = StdDuration::ZERO;
    let mut before_first = StdDuration::ZERO;
    let started = Instant::now();
    let slice = StdDuration::from_millis(args.storm_slice_ms);
    for (t, count) in per_tick.iter_mut().enumerate() {
        let in_storm = storm.contains(&t);
        if in_storm {
            sim.start_rate_limit_storm(slice);
        }
        let tick_started = Instant::now();
        // The storm's slice ends this long after the tick started.
        let mut storm_for = slice;
        let stepped = on_every_node(&nodes, |node| async move { step_node(&node).await });
        let stepped = if in_storm {
            // While the steps outlast half the slice, another slice: the storm covers every send
            // of the tick however long the steps take (several nodes, a lock wait). The polls
            // come after, unextended: they wait a storm out (Retry-After) rather than end it.
            tokio::pin!(stepped);
            loop {
                tokio::select! {
                    stepped = &mut stepped => break stepped?,
                    _ = tokio::time::sleep_until((tick_started + storm_for - slice / 2).into()) => {
                        sim.start_rate_limit_storm(slice);
                        storm_for = tick_started.elapsed() + slice;
                    }
                }
            }
        } else {
            stepped.await?
        };
        let polled = on_every_node(&nodes, |node| async move { poll_node(&node).await }).await?;
        let mut ticked = Vec::with_capacity(nodes.len());
        for ((report, mut failed), poll_failed) in stepped.into_iter().zip(polled) {
            failed.extend(poll_failed);
            ticked.push((report, failed));
        }
        let spent = tick_started.elapsed();
        slowest = slowest.max(spent);
        // One daemon on SQLite has no one to contend with: an error there ends the run.
        if args.db.is_none()
            && let Some(e) = ticked.iter().flat_map(|(_, failed)| failed).next()
        {
            bail!("tick {t}: {e}");
        }
        for (i, (report, failed)) in ticked.iter().enumerate() {
            for e in failed {
                *errors.entry(e.clone()).or_default() += 1;
            }
            claimed += report.claimed as u64;
            deferred += report.deferred as u64;
            not_sent += report.not_sent as u64;
            unknown += report.unknown as u64;
            sent_per_node[i] += report.sent as u64;
        }
        let sends = sim.sends();
        for s in &sends[tick_of.len()..] {
            tick_of.insert(s.call_id.clone(), t);
            *count += 1;
        }
        if tick_of.is_empty() {
            before_first += spent;
        }
        if in_storm && let Some(rest) = storm_for.checked_sub(tick_started.elapsed()) {
            // The next tick must not fall inside this tick's storm slice.
            tokio::time::sleep(rest + StdDuration::from_millis(2)).await;
        }
        clock.advance(tick);
    }
    let real_seconds = started.elapsed().as_secs_f64();
    let end = clock.now();

    // Recipients still dialable at the end: queued, due, and in an open zone.
    let dialable_left = store
        .job_records(Some(spec.id.as_str()))
        .await?
        .into_iter()
        .filter(|j| {
            j.state == JobState::Queued
                && j.next_attempt_at <= end
                && OPEN_AREAS.iter().any(|a| j.phone.as_str().starts_with(&format!("+1{a}")))
        })
        .count();
    sim.shutdown().await;
    drop(nodes);
    for s in &stores {
        s.close().await;
    }
    if let (Some(server), Some(name)) = (&args.db, &database)
        && !args.keep_db
    {
        drop_pg_database(server, name).await?;
    }

    let logged = read_send_log(&log)?;
    let seen: HashSet<&str> = tick_of.keys().map(String::as_str).collect();
    let logged_ids: HashSet<&str> = logged.iter().map(|s| s.call_id.as_str()).collect();
    ensure!(
        logged.len() == logged_ids.len() && logged_ids == seen,
        "the send log ({} lines, {} ids) and the calls seen per tick ({}) differ",
        logged.len(),
        logged_ids.len(),
        seen.len()
    );
    ensure!(dialable_left > 0, "the dialable recipients ran out: size the list up (--recipients)");

    // Each number's dials, by tick: two closer than the first retry delay are a double dial.
    let retry_ticks = spec.retry.delays.first().map_or(i64::MAX, |d| d.num_milliseconds() / args.tick_ms);
    let mut dials: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut per_attempt: HashMap<&str, usize> = HashMap::new();
    for s in &logged {
        dials.entry(s.phone.as_str()).or_default().push(tick_of[&s.call_id]);
        *per_attempt.entry(s.attempt_id.as_str()).or_default() += 1;
    }
    let numbers_dialled_twice = dials
        .into_values()
        .filter(|at| at.len() > 1)
        .map(|mut at| {
            at.sort_unstable();
            at.windows(2).any(|w| ((w[1] - w[0]) as i64) < retry_ticks)
        })
        .filter(|&twice| twice)
        .count();
    let attempts_sent_twice = per_attempt.values().filter(|&&n| n > 1).count();

    let allowance_minutes = (ticks - storm.len()) as f64 * args.tick_ms as f64 / 60_000.0;
    Ok(Figures {
        name,
        recipients: args.recipients,
        open_recipients,
        received: logged.len(),
        allowance_minutes,
        allowance: allowance_minutes * args.calls_per_minute as f64,
        busiest_minute: busiest_window(&per_tick, per_minute),
        numbers_dialled_twice,
        attempts_sent_twice,
        errors,
        sent_per_node,
        database,
        calls_in_first_minute: per_tick.iter().take(per_minute).sum(),
        first_call_tick: per_tick.iter().position(|&n| n > 0),
        accepted_during_storm: per_tick[storm.clone()].iter().sum(),
        dialable_left,
        claimed,
        deferred,
        not_sent,
        unknown,
        real_seconds,
        slowest_tick_ms: slowest.as_secs_f64() * 1000.0,
        real_ms_before_first_call: before_first.as_secs_f64() * 1000.0,
        log,
    })
}

/// The most calls in any `window` consecutive ticks (a sliding minute when `window` ticks make
/// one: calls are stamped with their tick's time, so the ticks a 60 s window holds are exactly
/// `window` consecutive ones).
fn busiest_window(per_tick: &[usize], window: usize) -> usize {
    per_tick.windows(window.min(per_tick.len()).max(1)).map(|w| w.iter().sum()).max().unwrap_or(0)
}

/// Writes the CSV: `closed_share` of the numbers in Honolulu, the rest in New York, the closed
/// ones spread evenly through the file or all first. Returns how many are open.
fn write_recipients(path: &Path, n: usize, closed_share: f64, closed_first: bool) -> anyhow::Result<usize> {
    let closed = (n as f64 * closed_share).round() as usize;
    let open = n - closed;
    // Evenly spread: recipient i is open when the open count so far falls behind its share.
    let is_open: Vec<bool> = if closed_first {
        (0..n).map(|i| i >= closed).collect()
    } else {
        (0..n).map(|i| (i + 1) * open / n > i * open / n).collect()
    };
    // Exchanges 200-999 without N11 service codes.
    let exchanges: Vec<usize> = (200..1000).filter(|e| e % 100 != 11).collect();
    let mut csv = String::with_capacity(n * 14 + 8);
    csv.push_str("phone\n");
    let (mut o, mut c) = (0usize, 0usize);
    for open_one in is_open {
        let (areas, k) = if open_one {
            o += 1;
            (&OPEN_AREAS[..], o - 1)
        } else {
            c += 1;
            (&CLOSED_AREAS[..], c - 1)
        };
        csv.push_str(&number(areas, &exchanges, k));
        csv.push('\n');
    }
    std::fs::write(path, csv)?;
    Ok(open)
}

/// The `k`-th distinct valid number in `areas`.
fn number(areas: &[&str], exchanges: &[usize], k: usize) -> String {
    let area = areas[k % areas.len()];
    let rest = k / areas.len();
    let exchange = exchanges[rest % exchanges.len()];
    let line = rest / exchanges.len();
    assert!(line < 10_000, "too many numbers for the area codes");
    format!("{area}-{exchange}-{line:04}")
}

/// A node: a daemon's dispatcher and outcome poller, on a store of its own.
type Node = (Dispatcher, Outcomes);

/// Runs `f` for every node, each on a task of its own when there are several (they run at once,
/// as daemons on several hosts would), and returns what each gave, in the nodes' order.
async fn on_every_node<T, F, Fut>(nodes: &[Arc<Node>], f: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(Arc<Node>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    if let [node] = nodes {
        return Ok(vec![f(node.clone()).await]);
    }
    let tasks: Vec<_> = nodes.iter().map(|node| tokio::spawn(f(node.clone()))).collect();
    let mut done = Vec::with_capacity(tasks.len());
    for task in tasks {
        done.push(task.await?);
    }
    Ok(done)
}

/// A node's dispatch in a tick: reconcile, then step, as the daemon's loop does; like it, an
/// error (a deadlock, a lost connection) is kept and the node goes on at its next tick. Returns
/// the step's report and the errors, as text.
async fn step_node(node: &Node) -> (StepReport, Vec<String>) {
    let (dispatcher, _) = node;
    let mut errors = Vec::new();
    if let Err(e) = dispatcher.reconcile().await {
        errors.push(format!("reconcile: {e}"));
    }
    let report = dispatcher.step().await.unwrap_or_else(|e| {
        errors.push(format!("step: {e}"));
        StepReport::default()
    });
    (report, errors)
}

/// A node's outcome poll in a tick; its error, if any, as text.
async fn poll_node(node: &Node) -> Vec<String> {
    let (_, outcomes) = node;
    match outcomes.poll_once().await {
        Ok(_) => Vec::new(),
        Err(e) => vec![format!("poll: {e}")],
    }
}

/// Creates the database `name` on the PostgreSQL server `server` names; its URL.
async fn create_pg_database(server: &str, name: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(server).await.with_context(|| format!("connecting to {server}"))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut admin)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    admin.close().await?;
    // The server's URL with its database replaced (and its query, if any, kept).
    let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
    let (root, _) = base.rsplit_once('/').filter(|(r, _)| r.contains("://") && !r.ends_with('/')).unwrap_or((base, ""));
    Ok(match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    })
}

async fn drop_pg_database(server: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(server).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

/// A line of the simulator's send log.
struct Logged {
    call_id: String,
    phone: String,
    attempt_id: String,
}

/// The calls in the simulator's send log, one per line, in order.
fn read_send_log(path: &Path) -> anyhow::Result<Vec<Logged>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut calls = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        let v: serde_json::Value = serde_json::from_str(&line).with_context(|| format!("{}", path.display()))?;
        let field = |name: &str| -> anyhow::Result<String> {
            v.pointer(name)
                .and_then(|f| f.as_str())
                .map(str::to_string)
                .with_context(|| format!("a line without {name} in {}", path.display()))
        };
        calls.push(Logged {
            call_id: field("/call_id")?,
            phone: field("/phone_number")?,
            attempt_id: field("/metadata/switchboard_attempt_id")?,
        });
    }
    Ok(calls)
}
