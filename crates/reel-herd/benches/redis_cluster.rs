//! Redis Cluster `GET` through reel-herd's `RedisClusterClient` vs the `redis` crate's own
//! async cluster client, same run, same real six-process cluster (three masters, three
//! replicas, started by reel-testkit), same timeouts: the overhead figure (`reel` /
//! `redis_cluster_async`; target ≤ 1.05).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.
#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use redis::AsyncCommands;
use redis::cluster::ClusterClientBuilder;
use reel_herd::{Node, RedisClusterBuilder};
use reel_testkit::RedisCluster;

fn cluster_get(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cluster = RedisCluster::start()
        .expect("redis cluster (install redis-server or run cargo xtask setup)");
    let seeds: Vec<Node> = cluster
        .host_ports()
        .iter()
        .map(|s| Node::parse(s).expect("seed"))
        .collect();
    let timeout = Duration::from_secs(1);
    let herd = rt
        .block_on(
            RedisClusterBuilder::new(seeds)
                .connect_timeout(timeout)
                .response_timeout(timeout)
                .connect(),
        )
        .expect("herd cluster client");
    let urls: Vec<String> = cluster
        .host_ports()
        .iter()
        .map(|s| format!("redis://{s}/"))
        .collect();
    let own = rt
        .block_on(async {
            ClusterClientBuilder::new(urls)
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(16)
                .build()?
                .get_async_connection()
                .await
        })
        .expect("redis crate cluster client");
    let key = "bench:cluster:get";
    let () = rt
        .block_on(herd.query(redis::cmd("SET").arg(key).arg("value-of-sixteen")))
        .expect("seed");
    let get = {
        let mut get = redis::cmd("GET");
        get.arg(key);
        get
    };

    let mut group = c.benchmark_group("herd/redis_cluster_get");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("reel", |b| {
        b.iter(|| {
            rt.block_on(async {
                let value: Option<Vec<u8>> = herd.query(&get).await.expect("get");
                black_box(value)
            })
        })
    });
    group.bench_function("redis_cluster_async", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut connection = own.clone();
                let value: Option<Vec<u8>> = connection.get(key).await.expect("get");
                black_box(value)
            })
        })
    });
    group.finish();
}

criterion_group!(benches, cluster_get);
criterion_main!(benches);
