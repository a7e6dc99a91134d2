//! What feature `metrics` costs on the hot path: `RateLimiter::check` over the memory store
//! (10k keys, one thread). Built with `--features metrics` it installs a real Prometheus
//! recorder first, so the counters are live. Compare in one sitting with criterion baselines:
//!
//! ```text
//! cargo bench -p reel-ratelimit --bench metrics_cost -- check --save-baseline metrics-off
//! cargo bench -p reel-ratelimit --bench metrics_cost --features metrics -- check --baseline metrics-off
//! ```
//!
//! Wall-clock times on a shared machine drift; instructions do not. With `CHECK_COST_CHECKS=N`
//! set, the binary skips criterion and runs N checks (after a warm-up over every key) inside
//! `metrics_cost::measured`, for callgrind:
//!
//! ```text
//! CHECK_COST_CHECKS=100000 valgrind --tool=callgrind --toggle-collect='metrics_cost::measured' <binary>
//! ```

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use reel_ratelimit::{MemoryStore, Quota, RateLimiter};

const KEYS: usize = 10_000;

/// `checks` decisions over the keys in turn.
#[inline(never)]
fn measured(
    runtime: &tokio::runtime::Runtime,
    limiter: &RateLimiter,
    keys: &[String],
    quota: &Quota,
    checks: u64,
) {
    runtime.block_on(async {
        for i in 0..checks {
            let key = &keys[(i as usize) % KEYS];
            black_box(limiter.check(key, quota).await.unwrap().is_allowed());
        }
    });
}

fn install_recorder() {
    #[cfg(feature = "metrics")]
    {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("install the Prometheus recorder");
        reel_ratelimit::describe_metrics();
    }
}

fn count_only() {
    let Ok(checks) = std::env::var("CHECK_COST_CHECKS") else {
        return;
    };
    let checks: u64 = checks.parse().expect("CHECK_COST_CHECKS must be a number");
    let keys: Vec<String> = (0..KEYS).map(|i| format!("client-{i}")).collect();
    let quota = Quota::per_second(1000).unwrap().with_burst(50).unwrap();
    let limiter = RateLimiter::new(MemoryStore::new()).with_name("bench");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    measured(&runtime, &limiter, &keys, &quota, KEYS as u64);
    measured(&runtime, &limiter, &keys, &quota, checks);
    std::process::exit(0);
}

fn check(c: &mut Criterion) {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("client-{i}")).collect();
    let quota = Quota::per_second(1000).unwrap().with_burst(50).unwrap();
    let limiter = RateLimiter::new(MemoryStore::new()).with_name("bench");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("ratelimit/metrics_cost");
    group.bench_function("check", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let key = &keys[(i as usize) % KEYS];
                    black_box(limiter.check(key, &quota).await.unwrap().is_allowed());
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = check
}

fn main() {
    install_recorder();
    count_only();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
