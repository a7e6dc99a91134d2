//! The cost of the `metrics` feature on `get`, against a real memcached. Build it once
//! without and once with `--features metrics` (which installs a real Prometheus recorder) and
//! compare in one sitting. Two measures:
//!
//! - time: many short rounds of `get`s, reporting the *fastest* round (load only ever adds
//!   time) and the median, both in wall-clock time and in the CPU time of the thread that runs
//!   them (user and kernel, from `/proc/thread-self/schedstat`: time spent waiting for a core
//!   or for memcached is left out); alternate the two binaries several times;
//! - instructions, which a loaded machine cannot fake: with `GET_COST_GETS=N` set the binary
//!   runs one round of N `get`s inside `get_cost::measured` (after a warm-up), for callgrind:
//!
//! ```sh
//! cargo bench -p reel-herd --features memcache --bench get_cost
//! cargo bench -p reel-herd --features memcache,metrics --bench get_cost
//! GET_COST_GETS=2000 valgrind --tool=callgrind --toggle-collect='get_cost::measured' <binary>
//! ```
//!
//! `cargo xtask bench --metrics-cost` does the instruction count for herd, ratelimit and geoip.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use reel_herd::{ClusterBuilder, MemcacheCluster, StaticDiscovery};
use reel_testkit::Memcached;

const ROUNDS: usize = 60;
const GETS_PER_ROUND: u32 = 2_000;

/// Nanoseconds this thread has run on a CPU (user and kernel), if Linux tells.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// `gets` reads of one key, on the current thread.
#[inline(never)]
fn measured(rt: &tokio::runtime::Runtime, cache: &MemcacheCluster, gets: u32) {
    rt.block_on(async {
        for _ in 0..gets {
            std::hint::black_box(cache.get("bench:get").await.expect("get"));
        }
    });
}

fn main() {
    #[cfg(feature = "metrics")]
    let handle = {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("prometheus recorder");
        reel_herd::describe_metrics();
        handle
    };
    let count_only: Option<u32> = std::env::var("GET_COST_GETS")
        .ok()
        .map(|n| n.parse().expect("GET_COST_GETS must be a number"));
    let server = Memcached::start().expect("memcached (install it or run cargo xtask setup)");
    // One thread: every instruction of a `get` runs inside `measured`.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cache = rt
        .block_on(
            ClusterBuilder::new(StaticDiscovery::parse(&server.host_port()).expect("node"))
                .pool_size(4)
                .build_memcache(),
        )
        .expect("cluster");
    rt.block_on(cache.set("bench:get", b"value-of-sixteen", Duration::ZERO))
        .expect("seed");
    // Warm-up: connections open, handles registered.
    measured(&rt, &cache, 200);
    if let Some(gets) = count_only {
        measured(&rt, &cache, gets);
        return;
    }
    let mut rounds: Vec<f64> = Vec::with_capacity(ROUNDS);
    let mut cpu_rounds: Vec<f64> = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let cpu = thread_cpu_ns();
        let started = Instant::now();
        measured(&rt, &cache, GETS_PER_ROUND);
        rounds.push(started.elapsed().as_secs_f64() * 1e6 / f64::from(GETS_PER_ROUND));
        if let (Some(before), Some(after)) = (cpu, thread_cpu_ns()) {
            #[allow(clippy::cast_precision_loss)] // Nanoseconds of one round: far below 2^52.
            cpu_rounds.push((after - before) as f64 / 1e3 / f64::from(GETS_PER_ROUND));
        }
        #[cfg(feature = "metrics")]
        handle.run_upkeep();
    }
    rounds.sort_by(f64::total_cmp);
    cpu_rounds.sort_by(f64::total_cmp);
    let feature = if cfg!(feature = "metrics") {
        "metrics on "
    } else {
        "metrics off"
    };
    println!(
        "herd get_cost ({feature}): fastest round {:.2} µs/get, median {:.2} µs/get ({ROUNDS} rounds of {GETS_PER_ROUND})",
        rounds[0],
        rounds[ROUNDS / 2]
    );
    if cpu_rounds.len() == ROUNDS {
        println!(
            "herd get_cost ({feature}): CPU time fastest round {:.2} µs/get, median {:.2} µs/get",
            cpu_rounds[0],
            cpu_rounds[ROUNDS / 2]
        );
    }
}
