//! Load generator for the Bland simulator's send-call endpoint: N concurrent workers POST
//! `/v1/calls` over loopback for a fixed time and report requests per second and latency
//! percentiles.
//!
//! ```text
//! # against an in-process simulator with its limits off:
//! cargo run --release --example sim_load -- --concurrency 64 --duration 10
//! # against a running `switchboard sim --requests-per-minute 0 --max-concurrent 0`:
//! cargo run --release --example sim_load -- --url http://127.0.0.1:18080 --key KEY
//! # or run the simulator alone (same flags as `switchboard sim`), e.g. for wrk:
//! cargo run --release --example sim_load -- serve --requests-per-minute 0 --max-concurrent 0
//! ```

#[path = "support/latency.rs"]
mod latency;

use std::time::{Duration, Instant};

use clap::Parser;
use latency::Latencies;
use switchboard::secret::Secret;
use switchboard::sim::{SimArgs, SimConfig, Simulator};

#[derive(Debug, Parser)]
#[command(about = "Load-test the Bland simulator's POST /v1/calls")]
struct Args {
    #[command(subcommand)]
    serve: Option<Serve>,
    /// Simulator base URL; without it, one is started in this process with limits off
    #[arg(long)]
    url: Option<String>,
    /// API key to send
    #[arg(long, env = "BLAND_API_KEY", hide_env_values = true, default_value = "load-test-key")]
    key: String,
    /// Concurrent workers (each keeps one request in flight)
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds to run (after a 1 s warm-up that is not counted)
    #[arg(long, default_value_t = 10)]
    duration: u64,
}

#[derive(Debug, clap::Subcommand)]
enum Serve {
    /// Run only the simulator, as `switchboard sim` does, until Ctrl-C
    Serve(SimArgs),
}

#[derive(Default)]
struct WorkerStats {
    ok: u64,
    refused: u64,
    failed: u64,
    latencies_us: Vec<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Serve::Serve(sim_args)) = args.serve {
        return switchboard::sim::run(sim_args).await;
    }
    let (base, sim) = match &args.url {
        Some(url) => (url.trim_end_matches('/').to_string(), None),
        None => {
            let sim = Simulator::start(SimConfig {
                api_key: Some(Secret::new(args.key.clone())),
                requests_per_minute: 0,
                max_concurrent: 0,
                ..SimConfig::default()
            })
            .await?;
            (sim.base_url(), Some(sim))
        }
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let url = format!("{base}/v1/calls");

    // Warm-up: open the connections, fault in the code paths.
    let warm = Instant::now() + Duration::from_secs(1);
    run_workers(&http, &url, &args, warm, 0).await;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let stats = run_workers(&http, &url, &args, deadline, 1_000_000).await;
    let elapsed = started.elapsed().as_secs_f64();

    let all = Latencies::new(stats.iter().flat_map(|s| s.latencies_us.iter().copied()).collect());
    let ok: u64 = stats.iter().map(|s| s.ok).sum();
    let refused: u64 = stats.iter().map(|s| s.refused).sum();
    let failed: u64 = stats.iter().map(|s| s.failed).sum();
    println!(
        "target {url}\nworkers {} for {elapsed:.1}s\nrequests {} (200: {ok}, non-2xx: {refused}, transport errors: {failed})\nthroughput {:.0} req/s\nlatency ms {}",
        args.concurrency,
        all.len(),
        all.len() as f64 / elapsed,
        all.summary(),
    );
    if let Some(sim) = sim {
        println!("simulator accepted {} calls", sim.sends().len());
        sim.shutdown().await;
    }
    Ok(())
}

async fn run_workers(
    http: &reqwest::Client,
    url: &str,
    args: &Args,
    deadline: Instant,
    number_offset: usize,
) -> Vec<WorkerStats> {
    let mut tasks = Vec::with_capacity(args.concurrency);
    for worker in 0..args.concurrency {
        let http = http.clone();
        let url = url.to_string();
        let key = args.key.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = WorkerStats::default();
            let mut n = 0usize;
            while Instant::now() < deadline {
                // Distinct numbers, so the simulator's per-number index is exercised too.
                let phone = 2_000_000_000 + (number_offset + worker * 100_000 + n) % 999_999_999;
                n += 1;
                let body = format!(
                    r#"{{"phone_number":"+1{phone}","task":"Load test call.","metadata":{{"worker":{worker},"n":{n}}}}}"#
                );
                let t0 = Instant::now();
                let resp = http
                    .post(&url)
                    .header("authorization", &key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match resp {
                    Ok(r) => {
                        let status = r.status();
                        let _ = r.bytes().await;
                        if status.is_success() {
                            stats.ok += 1;
                        } else {
                            stats.refused += 1;
                        }
                    }
                    Err(_) => stats.failed += 1,
                }
                stats
                    .latencies_us
                    .push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
            stats
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap_or_default());
    }
    out
}
