//! Webhook ingest benchmark: the daemon's receiver (`POST /webhooks/bland`: signature check,
//! inbox row, outcome and job transition in one transaction) against a large database, fed
//! pre-signed call details by N concurrent workers over loopback. Reports webhooks/s and
//! latency percentiles, then checks the database took every delivery.
//!
//! The database must hold in-call attempts with call ids (`bench/webhooks.sh` builds one with
//! 1,000,000 jobs). Each attempt gets one final delivery (outcome mix 60 % human, 20 % voicemail,
//! 10 % no answer, 5 % busy, 5 % failed), plus `--duplicates` of them a second time.
//!
//! ```text
//! bench/webhooks.sh                     # build the 1M-job database once, then run this
//! cargo run --release --example webhook_bench -- --db bench-out/run.db --webhooks 100000
//! # against a running daemon (`switchboard serve` with the same BLAND_WEBHOOK_SECRET):
//! cargo run --release --example webhook_bench -- --db DB --url http://127.0.0.1:8080/webhooks/bland
//! ```

#[path = "support/latency.rs"]
mod latency;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Parser;
use latency::Latencies;
use serde_json::json;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use switchboard::bland::{BlandClientConfig, Client, SIGNATURE_HEADER, sign};
use switchboard::clock::{Clock, SystemClock};
use switchboard::config::DaemonConfig;
use switchboard::outcomes::{Outcomes, OutcomesConfig, WebhookAuth, webhook_router};
use switchboard::secret::Secret;
use switchboard::store::Store;

#[derive(Debug, Parser)]
#[command(about = "Benchmark signed webhook ingest against a large database")]
struct Args {
    /// Database with in-call attempts (see bench/webhooks.sh); it is modified
    #[arg(long)]
    db: std::path::PathBuf,
    /// Distinct calls to deliver outcomes for
    #[arg(long, default_value_t = 100_000)]
    webhooks: usize,
    /// Share of calls delivered a second time (a duplicate, as Bland's at-least-once delivery)
    #[arg(long, default_value_t = 0.0)]
    duplicates: f64,
    /// Concurrent workers, each with one request in flight
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// A running receiver's URL; without it, the receiver runs in this process on the database
    #[arg(long)]
    url: Option<String>,
    /// Webhook signing secret
    #[arg(long, env = "BLAND_WEBHOOK_SECRET", hide_env_values = true, default_value = "bench-webhook-secret")]
    secret: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let secret = Secret::new(args.secret.clone());
    let store = Store::open(&args.db).await?;
    // The bench's own look at the database, as bench/*.sh look with the sqlite3 CLI: set-up and
    // the final check, outside the store's API and never part of what is measured.
    let look = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&args.db)).await?;
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs").fetch_one(&look).await?;

    // Bench set-up reads the attempts directly: which calls are waiting for an outcome.
    let rows = sqlx::query(
        "SELECT id, call_id, campaign_id, phone FROM attempts
         WHERE state = 'in_call' AND outcome IS NULL AND call_id IS NOT NULL LIMIT ?",
    )
    .bind(args.webhooks as i64)
    .fetch_all(&look)
    .await?;
    anyhow::ensure!(
        rows.len() == args.webhooks,
        "the database has only {} in-call attempts; build a fresh copy with bench/webhooks.sh",
        rows.len()
    );
    let mut signed: Vec<(Vec<u8>, String)> = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let body =
            call_details(i, r.try_get("id")?, r.try_get("call_id")?, r.try_get("campaign_id")?, r.try_get("phone")?);
        let bytes = serde_json::to_vec(&body)?;
        let sig = sign(&secret, &bytes);
        signed.push((bytes, sig));
    }
    // Duplicates repeat calls of the first half, interleaved with the second half's first
    // deliveries, so each comes well after the original.
    let half = signed.len() / 2;
    let dups = ((signed.len() as f64 * args.duplicates.clamp(0.0, 1.0)) as usize).min(signed.len() - half);
    let mut bodies = signed[..half].to_vec();
    for (k, delivery) in signed[half..].iter().enumerate() {
        bodies.push(delivery.clone());
        if k < dups {
            bodies.push(signed[k * half / dups].clone());
        }
    }
    let avg = bodies.iter().map(|(b, _)| b.len()).sum::<usize>() / bodies.len().max(1);
    let inbox_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_inbox").fetch_one(&look).await?;

    let (stop_checkpoints, checkpoints_stop) = tokio::sync::watch::channel(false);
    let (url, server) = match &args.url {
        Some(url) => (url.clone(), None),
        None => {
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            // The poller is not run: no request reaches this address.
            let bland = Client::new(BlandClientConfig::new("http://127.0.0.1:9", Secret::new("unused")))?;
            let config = DaemonConfig::defaults();
            let outcomes = Arc::new(Outcomes::new(store.clone(), bland, clock, OutcomesConfig::from_daemon(&config)));
            let app = webhook_router(outcomes, WebhookAuth::Secret(secret.clone()));
            // The daemon's WAL checkpointer, as `switchboard serve` runs it beside the receiver.
            if let Some(checkpointer) = store.checkpointer().await? {
                tokio::spawn(checkpointer.run(checkpoints_stop.clone()));
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let task = tokio::spawn(async move { axum::serve(listener, app).await });
            (format!("http://{addr}/webhooks/bland"), Some(task))
        }
    };
    println!(
        "database {} ({jobs} jobs); {} deliveries ({} calls + {dups} duplicates), {avg} bytes each on average",
        args.db.display(),
        bodies.len(),
        rows.len()
    );

    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let (http, url, bodies, next) = (http.clone(), url.clone(), bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies_us = Vec::new();
            let mut refused = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, sig)) = bodies.get(i) else { break };
                let t0 = Instant::now();
                let resp = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header(SIGNATURE_HEADER, sig)
                    .body(body.clone())
                    .send()
                    .await;
                let ok = match resp {
                    Ok(r) => {
                        let status = r.status();
                        let _ = r.bytes().await;
                        status.is_success()
                    }
                    Err(_) => false,
                };
                if !ok {
                    refused += 1;
                }
                latencies_us.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
            (latencies_us, refused)
        }));
    }
    let mut micros = Vec::with_capacity(bodies.len());
    let mut refused = 0;
    for t in tasks {
        let (l, r) = t.await?;
        micros.extend(l);
        refused += r;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let all = Latencies::new(micros);
    println!(
        "workers {} for {elapsed:.1}s\ndeliveries {} (refused or failed: {refused})\nthroughput {:.0} webhooks/s\nlatency ms {}",
        args.concurrency,
        all.len(),
        all.len() as f64 / elapsed,
        all.summary(),
    );

    // Everything acknowledged is stored and applied exactly once.
    let inbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_inbox").fetch_one(&look).await?;
    let by_result: Vec<(String, i64)> = sqlx::query_as(
        "SELECT result, COUNT(*) FROM webhook_inbox WHERE id > (SELECT COALESCE(MAX(id), 0) - ? FROM webhook_inbox)
         GROUP BY result ORDER BY result",
    )
    .bind(inbox - inbox_before)
    .fetch_all(&look)
    .await?;
    println!("inbox +{} {by_result:?}", inbox - inbox_before);
    anyhow::ensure!(refused == 0, "{refused} deliveries were not acknowledged");
    anyhow::ensure!(inbox - inbox_before == all.len() as i64, "the inbox is missing deliveries");
    if let Some(server) = server {
        server.abort();
    }
    let _ = stop_checkpoints.send(true);
    look.close().await;
    store.close().await;
    Ok(())
}

/// Final call details as Bland posts them (the new shape), for the `i`-th call.
fn call_details(i: usize, attempt_id: String, call_id: String, campaign_id: String, to: String) -> serde_json::Value {
    let (status, answered_by, queue_status, talk) = match i % 20 {
        0..12 => ("completed", json!("human"), "complete", 95.0),
        12..16 => ("completed", json!("voicemail"), "complete", 24.0),
        16..18 => ("no-answer", json!("no-answer"), "complete", 0.0),
        18 => ("busy", serde_json::Value::Null, "complete", 0.0),
        _ => ("failed", serde_json::Value::Null, "call_error", 0.0),
    };
    let transcripts = if talk > 0.0 {
        json!([
            {"id": 1, "created_at": "2026-12-01T14:00:05.000Z", "text": "Hi, this is Maya from Acme calling about your policy renewal.", "user": "assistant"},
            {"id": 2, "created_at": "2026-12-01T14:00:09.000Z", "text": "Oh, hi. Yes, I got your letter last week.", "user": "user"},
            {"id": 3, "created_at": "2026-12-01T14:00:14.000Z", "text": "Great. Would you like to renew for another year at the same rate?", "user": "assistant"},
            {"id": 4, "created_at": "2026-12-01T14:00:20.000Z", "text": "Yes, please go ahead and renew it.", "user": "user"},
        ])
    } else {
        json!([])
    };
    json!({
        "call_id": call_id,
        "c_id": call_id,
        "batch_id": null,
        "to": to,
        "from": "+14155550100",
        "request_data": {"first_name": "Ada", "policy": format!("P-{i:07}")},
        "metadata": {"switchboard_attempt_id": attempt_id, "switchboard_campaign_id": campaign_id},
        "completed": true,
        "inbound": false,
        "created_at": "2026-12-01T14:00:00.000Z",
        "started_at": if talk > 0.0 { json!("2026-12-01T14:00:04.000Z") } else { json!(null) },
        "end_at": null,
        "queue_status": queue_status,
        "status": status,
        "max_duration": 5,
        "answered_by": answered_by,
        "call_ended_by": if talk > 0.0 { json!("USER") } else { json!(null) },
        "error_message": if status == "failed" { json!("Carrier failure: the call could not be connected.") } else { json!(null) },
        "call_length": talk / 60.0,
        "corrected_duration": talk as u64,
        "price": ((talk / 60.0 * 0.09_f64).max(0.015) * 10_000.0).round() / 10_000.0,
        "summary": if talk > 0.0 { "The customer agreed to renew their policy." } else { "The call did not connect." },
        "recording_url": null,
        "transcripts": transcripts,
        "concatenated_transcript": if talk > 0.0 {
            "assistant: Hi, this is Maya from Acme calling about your policy renewal.\nuser: Oh, hi. Yes, I got your letter last week."
        } else {
            ""
        },
        "variables": {"to": to, "from": "+14155550100", "call_id": call_id, "language": "en-US"},
        "analysis": {"wants_renewal": talk > 30.0},
        "pathway_logs": null,
        "transferred_to": null,
    })
}
