//! Rough per-call cost of the dialing-window maths, as the dispatcher uses it: `is_open` for
//! every claimed job, `next_opening` for each job found closed, `closes_at` now and then.
//!
//! `cargo run --release --example window_speed`

use std::hint::black_box;
use std::str::FromStr;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use switchboard::window::{Compliance, CronRuns, DialWindow, WeeklyHours};

fn main() {
    let hours = WeeklyHours::parse([("mon-fri", "09:00-20:00"), ("sat", "10:00-14:00")]).expect("valid hours");
    let mut plain = DialWindow::new(hours, Compliance::default());
    plain.blackout_dates =
        ["2026-07-03", "2026-11-26", "2026-12-24", "2026-12-25"].iter().map(|d| d.parse().expect("date")).collect();
    let mut with_cron = plain.clone();
    with_cron.cron = Some(
        CronRuns::parse("0 9 * * mon-fri", Tz::from_str("America/New_York").expect("zone"), Duration::hours(8))
            .expect("valid cron"),
    );

    let ny: Tz = "America/New_York".parse().expect("zone");
    let la: Tz = "America/Los_Angeles".parse().expect("zone");
    let one = [ny];
    let two = [ny, la];

    // Instants spread over 2026, every 7 minutes and 13 seconds: all hours, days, both DST changes.
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("instant");
    let instants: Vec<DateTime<Utc>> = (0..70_000).map(|i| t0 + Duration::seconds(i * 433)).collect();

    println!("{:<44} {:>10} {:>10}", "call", "ns/call", "calls");
    bench("is_open, 1 zone", &instants, |t| plain.is_open(&one, t));
    bench("is_open, 2 zones", &instants, |t| plain.is_open(&two, t));
    bench("is_open, 1 zone + cron", &instants, |t| with_cron.is_open(&one, t));
    bench("next_opening, 1 zone", &instants, |t| plain.next_opening(&one, t));
    bench("next_opening, 2 zones", &instants, |t| plain.next_opening(&two, t));
    bench("next_opening, 1 zone + cron", &instants, |t| with_cron.next_opening(&one, t));
    let closed: Vec<_> = instants.iter().copied().filter(|&t| !plain.is_open(&two, t)).collect();
    bench("next_opening, 2 zones, closed instants only", &closed, |t| plain.next_opening(&two, t));
    let open: Vec<_> = instants.iter().copied().filter(|&t| plain.is_open(&two, t)).collect();
    bench("closes_at, 2 zones, open instants only", &open, |t| plain.closes_at(&two, t));
    let open_cron: Vec<_> = instants.iter().copied().filter(|&t| with_cron.is_open(&one, t)).collect();
    bench("closes_at, 1 zone + cron, open instants only", &open_cron, |t| with_cron.closes_at(&one, t));
}

fn bench<R>(name: &str, instants: &[DateTime<Utc>], mut f: impl FnMut(DateTime<Utc>) -> R) {
    // Warm up, then take the best of three passes.
    for &t in instants.iter().take(1000) {
        black_box(f(black_box(t)));
    }
    let best = (0..3)
        .map(|_| {
            let start = Instant::now();
            for &t in instants {
                black_box(f(black_box(t)));
            }
            start.elapsed()
        })
        .min()
        .expect("three passes");
    let per_call = best.as_nanos() as f64 / instants.len().max(1) as f64;
    println!("{name:<44} {per_call:>10.0} {:>10}", instants.len());
}
