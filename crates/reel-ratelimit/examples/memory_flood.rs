//! A flood of distinct 8 KiB keys against a memory store bounded in bytes, measuring the
//! process's peak resident memory (`VmHWM` in `/proc/self/status`, Linux).
//!
//! `cargo run --release -p reel-ratelimit --example memory_flood -- [KEYS] [MAX_BYTES]`
//! (defaults: 1,000,000 keys, a 32 MiB bound). Exits with status 1 when the peak grew by
//! more than the bound.

use std::process::ExitCode;
use std::time::Instant;

use reel_ratelimit::{MemoryStore, Quota};

/// The process's peak resident set size so far, in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let keys: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let max_bytes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32 << 20);
    let Ok(quota) = "1/min".parse::<Quota>() else {
        eprintln!("the quota does not parse");
        return ExitCode::FAILURE;
    };
    // Built outside a tokio runtime: no background sweeper, the bound alone holds memory.
    let store = MemoryStore::builder().max_bytes(max_bytes).build();
    let mut key = "x".repeat(8 * 1024);
    let Some(before) = peak_rss_kib() else {
        eprintln!("cannot read VmHWM from /proc/self/status (Linux only)");
        return ExitCode::FAILURE;
    };
    let start = Instant::now();
    let mut admitted = 0u64;
    for i in 0..keys {
        key.replace_range(..16, &format!("{i:016}"));
        if store
            .decide_now(&key, &quota, 1)
            .is_ok_and(|decision| decision.is_allowed())
        {
            admitted += 1;
        }
    }
    let elapsed = start.elapsed();
    let after = peak_rss_kib().unwrap_or(0);
    let growth = after.saturating_sub(before) * 1024;
    println!(
        "{keys} distinct 8 KiB keys in {:.1} s ({admitted} admitted): {} keys held, {} bytes counted, {} evicted",
        elapsed.as_secs_f64(),
        store.len(),
        store.bytes(),
        store.evicted()
    );
    println!(
        "peak RSS {before} KiB before, {after} KiB after: grew {:.1} MiB for a bound of {:.1} MiB",
        growth as f64 / (1 << 20) as f64,
        max_bytes as f64 / (1 << 20) as f64
    );
    if growth > max_bytes as u64 {
        eprintln!("the peak grew past the bound");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
