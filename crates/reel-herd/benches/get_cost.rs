//! The cost of the `metrics` feature on `get`, measured in a way a loaded machine cannot
//! fake: many short rounds of `get`s against a real memcached, reporting the *fastest* round
//! (load only ever adds time) and the median. Build and run it once without and once with
//! `--features metrics` (which installs a real Prometheus recorder), alternately, and compare
//! the minima:
//!
//! ```sh
//! cargo bench -p reel-herd --features memcache --bench get_cost
//! cargo bench -p reel-herd --features memcache,metrics --bench get_cost
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use reel_herd::{ClusterBuilder, StaticDiscovery};
use reel_testkit::Memcached;

const ROUNDS: usize = 60;
const GETS_PER_ROUND: u32 = 2_000;

fn main() {
    #[cfg(feature = "metrics")]
    let handle = {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("prometheus recorder");
        reel_herd::describe_metrics();
        handle
    };
    let server = Memcached::start().expect("memcached (install it or run cargo xtask setup)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
    let mut rounds: Vec<f64> = Vec::with_capacity(ROUNDS);
    rt.block_on(async {
        for round in 0..=ROUNDS {
            let started = Instant::now();
            for _ in 0..GETS_PER_ROUND {
                std::hint::black_box(cache.get("bench:get").await.expect("get"));
            }
            // Round 0 warms up.
            if round > 0 {
                rounds.push(started.elapsed().as_secs_f64() * 1e6 / f64::from(GETS_PER_ROUND));
            }
            #[cfg(feature = "metrics")]
            handle.run_upkeep();
        }
    });
    rounds.sort_by(f64::total_cmp);
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
}
