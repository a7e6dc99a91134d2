//! The memcache store's cost per decision, against one reel-testkit memcached:
//! `ratelimit/memcache_roundtrips` times an uncontended decision on an existing key with the
//! token cache (`reel`, one meta compare-and-swap) and without it (`gets_cas`, a read and a
//! compare-and-swap — what a plain `gets`/`cas` store costs). Round trips per decision are
//! counted by the store and printed.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use reel_herd::{ClusterBuilder, StaticDiscovery};
use reel_ratelimit::{MemcacheStore, Quota, Store};
use reel_testkit::Memcached;

const KEYS: usize = 100;

fn roundtrips(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = Memcached::start().unwrap();
    // A quota no benchmark can exhaust: every decision is an admitted write.
    let quota = Quota::per_second(1_000_000_000).unwrap();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("client-{i}")).collect();
    let mut group = c.benchmark_group("ratelimit/memcache_roundtrips");
    for (name, cache) in [("reel", 10_000), ("gets_cas", 0)] {
        let store = runtime.block_on(async {
            let cluster = ClusterBuilder::new(StaticDiscovery::parse(&server.host_port()).unwrap())
                .build_memcache()
                .await
                .unwrap();
            let store = MemcacheStore::new(cluster).token_cache(cache);
            for key in &keys {
                store.decide(key, &quota, 1).await.unwrap();
            }
            store
        });
        let mut i = 0usize;
        let (start_trips, start) = (store.round_trips(), Instant::now());
        let mut decisions = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                decisions += 1;
                runtime.block_on(store.decide(&keys[i], &quota, 1)).unwrap()
            })
        });
        let trips = store.round_trips() - start_trips;
        println!(
            "{name}: {:.2} round trips per decision, {:.0} decisions/s over the run",
            trips as f64 / decisions as f64,
            decisions as f64 / start.elapsed().as_secs_f64()
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = roundtrips
}
criterion_main!(benches);
