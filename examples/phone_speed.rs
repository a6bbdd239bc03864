//! How fast `PhoneNumber::parse` + `time_zones` run, per number, on 1,000,000 valid US numbers
//! written in the formats a CSV import meets.
//!
//!     cargo run --release --example phone_speed
//!     cargo run --release --example phone_speed -- --verify 1000000
//!
//! `--verify N` also checks, on N random 10-digit numbers, that `parse` accepts `+1` + the
//! digits exactly when the `phonenumber` crate's own parse and `is_valid` do (the unit tests
//! do this on fewer numbers; the crate needs ~14 µs a number).
//!
//! Import has to keep pace with `sqlite3 .import` (about 430k rows/s for the whole pipeline),
//! so parsing a number must stay well under a microsecond.

use std::time::Instant;

use switchboard::phone::PhoneNumber;

const N: usize = 1_000_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, n] = args.as_slice()
        && flag == "--verify"
    {
        verify(n.parse().expect("--verify takes a count"));
    }

    // The first call pays for building the tables (NANP regexes, zone trie); report it apart
    // from the steady state.
    let start = Instant::now();
    let first = PhoneNumber::parse("+12015550123").map(|p| p.time_zones());
    println!("first call (builds the tables): {:.1} ms, {first:?}", start.elapsed().as_secs_f64() * 1e3);
    let raw = sample_numbers(N);

    let start = Instant::now();
    let mut zones = 0usize;
    let mut valid = 0usize;
    for r in &raw {
        if let Ok(p) = PhoneNumber::parse(r) {
            valid += 1;
            zones += p.time_zones().len();
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(valid, N, "the sample holds only valid numbers");
    println!(
        "{N} numbers in {:.3} s: {:.0} numbers/s, {:.0} ns/number (parse + validate + time_zones; {zones} zones)",
        elapsed.as_secs_f64(),
        N as f64 / elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / N as f64,
    );
}

fn verify(n: usize) {
    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    let start = Instant::now();
    let mut valid = 0usize;
    for _ in 0..n {
        let e164 = format!("+1{:010}", next() % 10_000_000_000);
        let ours = PhoneNumber::parse(&e164).is_ok();
        let theirs = phonenumber::parse(None, &e164).is_ok_and(|p| phonenumber::is_valid(&p));
        assert_eq!(ours, theirs, "{e164}: parse says {ours}, the crate {theirs}");
        valid += usize::from(ours);
    }
    println!(
        "verified {n} random +1 numbers ({valid} valid) against the crate in {:.1} s: no disagreement",
        start.elapsed().as_secs_f64()
    );
}

/// A small deterministic generator (xorshift64) keeps the example free of dependencies and
/// its numbers identical from run to run.
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// `n` valid US numbers, uniformly spread over the area codes and exchanges libphonenumber
/// accepts (so a cache of area codes or exchanges gets no help from repetition), in six
/// layouts, cycled.
fn sample_numbers(n: usize) -> Vec<String> {
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let national = format!("{:010}", 2_000_000_000 + next() % 8_000_000_000);
        if PhoneNumber::parse(&national).is_err() {
            continue;
        }
        let (a, b, c) = (&national[..3], &national[3..6], &national[6..]);
        out.push(match out.len() % 6 {
            0 => format!("+1{national}"),
            1 => national.clone(),
            2 => format!("({a}) {b}-{c}"),
            3 => format!("+1 ({a}) {b}-{c}"),
            4 => format!("{a}.{b}.{c}"),
            _ => format!("+1 {a} {b} {c}"),
        });
    }
    out
}
