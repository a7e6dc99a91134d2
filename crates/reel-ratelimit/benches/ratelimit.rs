//! reel-ratelimit side by side with its peers, in one run:
//! - `ratelimit/memory_1thread`, `ratelimit/memory_2threads`: the memory store vs governor's
//!   keyed limiter, over 10k keys;
//! - `ratelimit/redis`: the redis store vs `redis-benchmark` running EVALSHA of the same
//!   script at the same concurrency, against one reel-testkit redis-server.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use reel_ratelimit::{MemoryStore, Quota, RedisStore, Store};

const KEYS: usize = 10_000;
const REDIS_CONCURRENCY: usize = 16;

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("client-{i}")).collect()
}

fn reel_quota() -> Quota {
    Quota::per_second(1000).unwrap().with_burst(50).unwrap()
}

fn governor_limiter() -> governor::DefaultKeyedRateLimiter<String> {
    let quota = governor::Quota::per_second(NonZeroU32::new(1000).unwrap())
        .allow_burst(NonZeroU32::new(50).unwrap());
    governor::RateLimiter::keyed(quota)
}

fn memory_1thread(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("ratelimit/memory_1thread");
    let store = MemoryStore::new();
    let quota = reel_quota();
    let mut i = 0usize;
    group.bench_function("reel", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(store.decide_now(&keys[i], &quota, 1).unwrap().is_allowed())
        })
    });
    let governor = governor_limiter();
    let mut i = 0usize;
    group.bench_function("governor", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(governor.check_key(&keys[i]).is_ok())
        })
    });
    group.finish();
}

/// Runs `iters` decisions split over two threads; the figure is time per decision.
fn two_threads(iters: u64, decide: impl Fn(usize) + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..2usize {
            let decide = &decide;
            scope.spawn(move || {
                for n in 0..iters / 2 {
                    decide((n as usize * 2 + t * 5_003) % KEYS);
                }
            });
        }
    });
    start.elapsed()
}

fn memory_2threads(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("ratelimit/memory_2threads");
    let store = MemoryStore::new();
    let quota = reel_quota();
    group.bench_function("reel", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |i| {
                black_box(store.decide_now(&keys[i], &quota, 1).unwrap().is_allowed());
            })
        })
    });
    let governor = governor_limiter();
    group.bench_function("governor", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |i| {
                black_box(governor.check_key(&keys[i]).is_ok());
            })
        })
    });
    group.finish();
}

fn redis(c: &mut Criterion) {
    let server = match reel_testkit::Redis::start() {
        Ok(server) => server,
        Err(error) => panic!("the redis benchmark needs redis-server (cargo xtask setup): {error}"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let quota = reel_quota();
    let store = runtime.block_on(async {
        let client = redis::Client::open(server.url()).unwrap();
        let connection = redis::aio::ConnectionManager::new(client).await.unwrap();
        Arc::new(RedisStore::new(connection).prefix("rl:"))
    });
    let sha = store.script_hash().to_owned();
    // Load the script so that redis-benchmark's EVALSHA finds it.
    runtime.block_on(async {
        let client = redis::Client::open(server.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let loaded: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(reel_ratelimit::GCRA_SCRIPT)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert_eq!(loaded, sha);
    });
    let keys = Arc::new(keys());

    let mut group = c.benchmark_group("ratelimit/redis");
    group.bench_function("reel", |b| {
        b.iter_custom(|iters| {
            let store = store.clone();
            let keys = keys.clone();
            runtime.block_on(async move {
                let start = Instant::now();
                let per_task = iters.div_ceil(REDIS_CONCURRENCY as u64);
                let tasks: Vec<_> = (0..REDIS_CONCURRENCY)
                    .map(|t| {
                        let (store, keys) = (store.clone(), keys.clone());
                        tokio::spawn(async move {
                            for n in 0..per_task {
                                let key = &keys[(n as usize * 31 + t * 613) % KEYS];
                                black_box(store.decide(key, &quota, 1).await.unwrap());
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    let emission = quota.emission_nanos().to_string();
    let capacity = quota.capacity_nanos().to_string();
    let port = server.port().to_string();
    let concurrency = REDIS_CONCURRENCY.to_string();
    group.bench_function("redis_benchmark_evalsha", |b| {
        b.iter_custom(|iters| {
            // redis-benchmark times itself; a run too short for it is stretched and scaled.
            let requests = iters.max(20_000);
            let output = std::process::Command::new("redis-benchmark")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-c",
                    &concurrency,
                    "-q",
                    "-r",
                    "10000",
                ])
                .args(["-n", &requests.to_string()])
                .args([
                    "EVALSHA",
                    &sha,
                    "1",
                    "rl:{client-__rand_int__}",
                    &emission,
                    &capacity,
                    "1",
                    "",
                ])
                .output()
                .expect("redis-benchmark (Debian package redis-tools) must be installed");
            let text = String::from_utf8_lossy(&output.stdout);
            let rps = parse_rps(&text).unwrap_or_else(|| {
                panic!("no requests per second in redis-benchmark output: {text}")
            });
            Duration::from_secs_f64(iters as f64 / rps)
        })
    });
    group.finish();
}

/// The last "N requests per second" figure in redis-benchmark's `-q` output.
fn parse_rps(text: &str) -> Option<f64> {
    let at = text.rfind(" requests per second")?;
    text[..at]
        .split(|c: char| c.is_whitespace() || c == ':')
        .rfind(|word| !word.is_empty())?
        .parse()
        .ok()
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = memory_1thread, memory_2threads, redis
}
criterion_main!(benches);
