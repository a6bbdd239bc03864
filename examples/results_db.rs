//! A database of a finished campaign, for the results benchmarks (`export`, `report`): RECIPIENTS
//! recipients imported through switchboard's own import, each dialled 1–3 times with final
//! outcomes, lengths, prices, summaries and `analysis_schema` answers, and `[analysis]` answers
//! (`call_analyses`) for part of the human calls.
//!
//! ```text
//! bench/gen_results_db.sh OUT.db [RECIPIENTS]       # release build, then this; default 1,000,000
//! cargo run --release --example results_db -- --out OUT.db --recipients 1000000
//! ```
//!
//! The campaign is `results` (spec below: `analysis_schema` fields `wants_renewal` and
//! `callback_time`; two `[analysis]` questions), state `completed`. What it holds, all of it a
//! deterministic function of the job id (the same database every time):
//!
//! - recipients: `first_name,last_name,phone,policy,city,balance` (the CSV is written beside
//!   OUT.db as `OUT.db.csv`, imported with `switchboard::import::import_file`, then removed; the
//!   phone column is third, so `export --columns original` has something to put back in place;
//!   some names are non-ASCII, some cities have a comma or quotes);
//! - attempts: 1–3 per job (a third each), attempt numbers 1..n, dialled as a campaign dials
//!   them and stored in that order: every first attempt in job order over three days, then
//!   the second attempts over the next three, then the third, each day between 19:00 and
//!   22:00 UTC (inside the campaign's hours in every area code of the file); every attempt
//!   before the last is voicemail / no answer / busy, the last is human 45 %, voicemail 20 %,
//!   no answer 15 %, busy 10 %, failed 10 %; human calls last 0.5–6.5 min, voicemails
//!   0.2–0.8 min, at $0.09/min; human and voicemail calls have a summary, human calls an
//!   `analysis` JSON; 1 % of jobs also have a voided send (`not_sent`) before their first
//!   attempt, which no export counts;
//! - jobs: `done` (or `failed` after a failed last call), their outcome the last attempt's;
//! - call_analyses: `done` answers to the spec's two questions for every other human call; for
//!   every tenth job's human call, a later second question set (a re-run with one question
//!   changed) whose answer is newer; `failed` rows for every seventh human call (ignored by the
//!   export).
//!
//! The attempts and analyses are written with a connection of this program's own (the store has
//! no API for synthetic calls), in one transaction; nothing else writes the database meanwhile.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Parser;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use switchboard::campaigns;
use switchboard::config::DaemonConfig;
use switchboard::import::{ImportOptions, import_file};
use switchboard::store::{CampaignAction, Store};

#[derive(Debug, Parser)]
#[command(about = "Build a database of a finished campaign for the results benchmarks")]
struct Args {
    /// The database to create (must not exist)
    #[arg(long)]
    out: PathBuf,
    /// Recipients
    #[arg(long, default_value_t = 1_000_000)]
    recipients: u64,
}

pub const SPEC: &str = r#"
id = "results"
name = "Results benchmark"
[call]
task = "Call {{first_name}} about policy {{policy}}."
analysis_schema = { wants_renewal = "boolean", callback_time = "string" }
[schedule]
timezone = "America/New_York"
hours = { "mon-sun" = "09:00-20:00" }
[retry]
max_attempts = 3
on = ["voicemail", "no_answer", "busy"]
[analysis]
goal = "Find out whether the customer will renew"
questions = [["Will the customer renew?", "boolean"], ["Best time to call back?", "string"]]
"#;

/// The first attempts' base time: Monday 2026-06-01 19:00 UTC (15:00 in New York, 09:00 in
/// Honolulu). A day's calls are spread over the next three hours.
const BASE: &str = "2026-06-01T19:00:00Z";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(!args.out.exists(), "{} exists: give a new path", args.out.display());
    let started = Instant::now();
    let csv = PathBuf::from(format!("{}.csv", args.out.display()));
    write_recipients(&csv, args.recipients)?;

    let store = Store::open(&args.out).await?;
    let config = DaemonConfig::defaults();
    let now: DateTime<Utc> = BASE.parse()?;
    let spec = campaigns::save(&store, &config, "results.toml", SPEC, now).await?.spec;
    let rejects = PathBuf::from(format!("{}.rejects.csv", args.out.display()));
    let opts = ImportOptions { rejects: Some(rejects.clone()), ..ImportOptions::default() };
    let summary = import_file(&store, &spec, &csv, &opts, now).await?;
    campaigns::apply(&store, spec.id.as_str(), CampaignAction::Start, now).await?;
    store.close().await;
    let imported = started.elapsed();
    std::fs::remove_file(&csv).ok();
    std::fs::remove_file(&rejects).ok();
    anyhow::ensure!(summary.counts.accepted == args.recipients, "imported {:?}", summary.counts);

    let options = SqliteConnectOptions::new()
        .filename(&args.out)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .pragma("cache_size", "-262144");
    let mut conn = options.connect().await?;
    let base_ms = now.timestamp_millis();
    let mut tx = conn.begin().await?;
    for (what, sql) in CALLS {
        let t = Instant::now();
        let done = sqlx::query(sqlx::AssertSqlSafe(*sql)).bind(base_ms).execute(&mut *tx).await.context(*what)?;
        println!("{what}: {} rows in {:.1}s", done.rows_affected(), t.elapsed().as_secs_f64());
    }
    tx.commit().await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    conn.close().await?;
    println!(
        "{}: {} recipients (imported in {:.1}s), built in {:.1}s",
        args.out.display(),
        args.recipients,
        imported.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The recipients file: unique valid US numbers (three layouts) and five other columns, some
/// with a comma, quotes or non-ASCII text.
fn write_recipients(path: &std::path::Path, rows: u64) -> anyhow::Result<()> {
    const AREAS: [&str; 20] = [
        "201", "212", "305", "312", "404", "415", "503", "602", "617", "713", "720", "808", "907", "214", "303", "206",
        "702", "615", "919", "971",
    ];
    const FIRST: [&str; 8] = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "José", "Katherine", "Zoë"];
    let exchanges: Vec<u64> = (200..1000).filter(|e| e % 100 != 11).collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "first_name,last_name,phone,policy,city,balance")?;
    for i in 0..rows {
        let area = AREAS[(i % 20) as usize];
        let rest = i / 20;
        let exchange = exchanges[(rest % exchanges.len() as u64) as usize];
        let line = rest / exchanges.len() as u64;
        anyhow::ensure!(line < 10_000, "at most {} recipients", 20 * exchanges.len() * 10_000);
        let phone = match i % 3 {
            0 => format!("({area}) {exchange}-{line:04}"),
            1 => format!("+1{area}{exchange}{line:04}"),
            _ => format!("{area}-{exchange}-{line:04}"),
        };
        let city = if i % 5 == 0 { "\"Springfield, IL\"" } else { "\"The \"\"Big\"\" Apple\"" };
        let first = FIRST[(i % 8) as usize];
        writeln!(out, "{first},Smith{},{phone},P-{i:07},{city},{}.{:02}", i % 977, (i * 37) % 10000, i % 100)?;
    }
    out.flush()?;
    Ok(())
}

/// The synthetic calls, in order; `?1` is the base time in milliseconds.
const CALLS: &[(&str, &str)] = &[
    (
        "plan",
        // Per job: attempts (1–3) and the last one's outcome code (0–99).
        "CREATE TEMP TABLE plan AS
         SELECT id AS job_id, campaign_id, phone,
                1 + ((id * 2654435761) >> 7) % 3 AS n,
                ((id * 2246822519) >> 5) % 100 AS fin,
                id - (SELECT min(id) FROM jobs WHERE campaign_id = 'results') AS pos,
                (SELECT count(*) FROM jobs WHERE campaign_id = 'results') AS total
         FROM jobs WHERE campaign_id = 'results'",
    ),
    (
        "voided sends",
        "INSERT INTO attempts (id, job_id, campaign_id, phone, attempt_no, state, dialed_at, expires_at, send_error)
         SELECT printf('%08x-0000-4000-8000-00000000ffff', job_id), job_id, campaign_id, phone, 1, 'not_sent',
                ?1 + ((pos * 3 / total) * 86400 + (pos * 3 % total) * 10800 / total) * 1000 - 60000,
                ?1 + ((pos * 3 / total) * 86400 + (pos * 3 % total) * 10800 / total) * 1000,
                'HTTP 429: rate limited'
         FROM plan WHERE job_id % 100 = 0",
    ),
    (
        "attempts",
        "INSERT INTO attempts (id, job_id, campaign_id, phone, attempt_no, state, call_id, dialed_at, expires_at,
                               sent_at, ended_at, outcome, answered_by, call_length, price, call_ended_by,
                               error_message, summary, analysis)
         SELECT id, job_id, campaign_id, phone, k, 'ended', call_id, dialed_at, dialed_at + 600000,
                dialed_at + 300, dialed_at + CAST(len * 60000 AS INTEGER) + 5000, o,
                CASE o WHEN 'human' THEN 'human' WHEN 'voicemail' THEN 'voicemail' END,
                len, round(len * 0.09, 4),
                CASE WHEN o IN ('human', 'voicemail') THEN 'ASSISTANT' END,
                CASE o WHEN 'failed' THEN 'Call failed: the carrier rejected the number' END,
                CASE o WHEN 'human' THEN 'Spoke with the customer about their policy; ' ||
                         CASE h % 3 WHEN 0 THEN 'they will renew.' WHEN 1 THEN 'call back \"after 5\", please.'
                                    ELSE 'not interested, =see notes.' END
                       WHEN 'voicemail' THEN 'Left a voicemail asking for a call back.' END,
                CASE o WHEN 'human' THEN json_object(
                    'wants_renewal', json(CASE h % 3 WHEN 0 THEN 'true' WHEN 1 THEN 'null' ELSE 'false' END),
                    'callback_time', CASE h % 3 WHEN 1 THEN 'after 5pm' END) END
         FROM (SELECT a.*, round(CASE a.o WHEN 'human' THEN 0.5 + 6.0 * a.h / 1000.0
                                          WHEN 'voicemail' THEN 0.2 + 0.6 * a.h / 1000.0 ELSE 0 END, 2) AS len
               FROM (SELECT printf('%08x-%04x-4000-8000-000000000000', p.job_id, k.k) AS id,
                            printf('%08x-%04x-4000-b000-000000000000', p.job_id, k.k) AS call_id,
                            p.job_id, p.campaign_id, p.phone, k.k,
                            ?1 + (((k.k - 1) * 3 + p.pos * 3 / p.total) * 86400
                                  + (p.pos * 3 % p.total) * 10800 / p.total) * 1000 AS dialed_at,
                            (p.job_id * 40503 + k.k) % 1000 AS h,
                            CASE WHEN k.k < p.n THEN CASE (p.job_id + k.k) % 3 WHEN 0 THEN 'voicemail'
                                                      WHEN 1 THEN 'no_answer' ELSE 'busy' END
                                 WHEN p.fin < 45 THEN 'human' WHEN p.fin < 65 THEN 'voicemail'
                                 WHEN p.fin < 80 THEN 'no_answer' WHEN p.fin < 90 THEN 'busy' ELSE 'failed' END AS o
                     FROM plan p JOIN (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) k ON k.k <= p.n) a)
         ORDER BY k, job_id",
    ),
    (
        "jobs",
        "UPDATE jobs SET attempts = p.n, updated_at = ?1 + 30 * 86400000,
                         outcome = (SELECT outcome FROM attempts a WHERE a.job_id = p.job_id AND a.attempt_no = p.n
                                    AND a.state != 'not_sent'),
                         state = CASE WHEN p.fin >= 90 THEN 'failed' ELSE 'done' END
         FROM plan p WHERE jobs.id = p.job_id",
    ),
    (
        "analyses",
        "INSERT INTO call_analyses (attempt_id, campaign_id, call_id, question_set, goal, questions, state, answers,
                                    price, error, tries, created_at, updated_at)
         SELECT a.id, a.campaign_id, a.call_id, 'set-1', 'Find out whether the customer will renew',
                '[[\"Will the customer renew?\",\"boolean\"],[\"Best time to call back?\",\"string\"]]',
                CASE WHEN a.job_id % 7 = 0 THEN 'failed' ELSE 'done' END,
                CASE WHEN a.job_id % 7 = 0 THEN NULL
                     ELSE json_array(json(CASE a.job_id % 3 WHEN 0 THEN 'true' ELSE 'false' END),
                                     CASE a.job_id % 4 WHEN 0 THEN 'mornings' WHEN 1 THEN NULL ELSE 'after 5pm' END) END,
                0.02, CASE WHEN a.job_id % 7 = 0 THEN 'HTTP 400: transcript too short' END, 1,
                a.ended_at + 60000, a.ended_at + 60000
         FROM attempts a WHERE a.campaign_id = 'results' AND a.outcome = 'human' AND a.job_id % 2 = 0",
    ),
    (
        "re-run analyses",
        "INSERT INTO call_analyses (attempt_id, campaign_id, call_id, question_set, goal, questions, state, answers,
                                    price, tries, created_at, updated_at)
         SELECT a.id, a.campaign_id, a.call_id, 'set-2', 'Find out whether the customer will renew',
                '[[\"Will the customer renew?\",\"boolean\"],[\"Did they ask for a person?\",\"boolean\"]]',
                'done', json_array(json('true'), json(CASE a.job_id % 3 WHEN 0 THEN 'true' ELSE 'false' END)),
                0.02, 1, a.ended_at + 86400000, a.ended_at + 86400000
         FROM attempts a WHERE a.campaign_id = 'results' AND a.outcome = 'human' AND a.job_id % 10 = 0",
    ),
    (
        "campaign",
        "UPDATE campaigns SET state = 'completed', finished_at = ?1 + 30 * 86400000 WHERE id = 'results'",
    ),
];
