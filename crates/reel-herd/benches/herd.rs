//! reel-herd side by side with what a user would otherwise pick:
//! - `herd/ring_lookup`: ketama placement of 1,000 keys over 10 weighted nodes, reel's ring vs
//!   libmemcached's own `memcached_generate_hash`;
//! - `herd/get`: one `get` through the cluster vs a direct memcache-async connection to the
//!   same memcached (identical wire traffic: the overhead figure);
//! - `herd/get_set`: one `set` + one `get`; reel waits for `STORED`, memcache-async's `set`
//!   uses `noreply` and does not, so the like-for-like baseline is `raw_direct_waits_for_stored`:
//!   the same two commands written by hand on one connection, reading `STORED` and the value;
//! - `herd/get_multi_100x4`: 100 keys over 4 nodes, reel's concurrent per-node get vs 4
//!   sequential single-node multi-gets over direct connections.
//!
//! With `--features metrics` a real Prometheus recorder (metrics-exporter-prometheus) is
//! installed first, so `herd/get/reel` measures the instrumented path; compare it with a run
//! without the feature through criterion baselines (see the crate README).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.
#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use memcache_async::ascii::Protocol;
use reel_bench_ffi::libmemcached::KetamaHandle;
use reel_herd::{ClusterBuilder, Ketama, MemcacheCluster, Node, Router, StaticDiscovery};
use reel_testkit::Memcached;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn keys(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("bench:key:{i}")).collect()
}

fn ring_lookup(c: &mut Criterion) {
    let nodes: Vec<Node> = (0..10)
        .map(|i| Node::new(format!("10.0.0.{}", i + 1), 11211).with_weight(1 + i % 3))
        .collect();
    let ring = Ketama.build(&nodes);
    let mut reference = KetamaHandle::new(true).expect("libmemcached handle");
    for node in &nodes {
        reference
            .add_server(node.host(), node.port(), node.weight())
            .expect("add server");
    }
    let keys = keys(1000);
    let mut group = c.benchmark_group("herd/ring_lookup");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    group.bench_function("reel", |b| {
        b.iter(|| {
            for key in &keys {
                black_box(ring.locate(black_box(key.as_bytes())));
            }
        })
    });
    group.bench_function("libmemcached", |b| {
        b.iter(|| {
            for key in &keys {
                black_box(reference.server_index(black_box(key.as_bytes())));
            }
        })
    });
    group.finish();
}

async fn cluster(servers: &[Memcached]) -> MemcacheCluster {
    let list: Vec<String> = servers.iter().map(Memcached::host_port).collect();
    ClusterBuilder::new(StaticDiscovery::parse(&list.join(",")).expect("server list"))
        .pool_size(4)
        .build_memcache()
        .await
        .expect("cluster")
}

async fn direct(server: &Memcached) -> Protocol<TcpStream> {
    let stream = TcpStream::connect(server.addr()).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    Protocol::new(stream)
}

/// `set` waiting for `STORED`, then `get` read to `END`, by hand on one connection: the least
/// a client that knows whether its write happened can do.
async fn raw_set_get(stream: &mut BufReader<TcpStream>, line: &mut Vec<u8>) -> Vec<u8> {
    stream
        .get_mut()
        .write_all(b"set bench:gs 0 0 16\r\nvalue-of-sixteen\r\n")
        .await
        .expect("write set");
    line.clear();
    stream.read_until(b'\n', line).await.expect("read STORED");
    assert_eq!(line.as_slice(), b"STORED\r\n");
    stream
        .get_mut()
        .write_all(b"get bench:gs\r\n")
        .await
        .expect("write get");
    line.clear();
    stream.read_until(b'\n', line).await.expect("read VALUE");
    let mut value = vec![0; 16 + 2];
    stream.read_exact(&mut value).await.expect("read value");
    line.clear();
    stream.read_until(b'\n', line).await.expect("read END");
    value.truncate(16);
    value
}

/// Installs a Prometheus recorder (feature `metrics`), with a thread draining its histograms
/// as a scraper's upkeep would.
#[cfg(feature = "metrics")]
fn install_recorder() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("prometheus recorder");
        reel_herd::describe_metrics();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                handle.run_upkeep();
            }
        });
    });
}

#[cfg(not(feature = "metrics"))]
fn install_recorder() {}

fn get_and_set(c: &mut Criterion) {
    install_recorder();
    let rt = runtime();
    let server = Memcached::start().expect("memcached (install it or run cargo xtask setup)");
    let cache = rt.block_on(cluster(std::slice::from_ref(&server)));
    let mut plain = rt.block_on(direct(&server));
    rt.block_on(cache.set("bench:get", b"value-of-sixteen", Duration::ZERO))
        .expect("seed");

    let mut group = c.benchmark_group("herd/get");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("reel", |b| {
        b.iter(|| rt.block_on(async { black_box(cache.get("bench:get").await.expect("get")) }))
    });
    group.bench_function("memcache_async_direct", |b| {
        b.iter(|| rt.block_on(async { black_box(plain.get("bench:get").await.expect("get")) }))
    });
    group.finish();

    let mut group = c.benchmark_group("herd/get_set");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("reel", |b| {
        b.iter(|| {
            rt.block_on(async {
                cache
                    .set("bench:gs", b"value-of-sixteen", Duration::ZERO)
                    .await
                    .expect("set");
                black_box(cache.get("bench:gs").await.expect("get"))
            })
        })
    });
    let mut raw = rt.block_on(async {
        let stream = TcpStream::connect(server.addr()).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        BufReader::new(stream)
    });
    let mut line = Vec::new();
    group.bench_function("raw_direct_waits_for_stored", |b| {
        b.iter(|| rt.block_on(async { black_box(raw_set_get(&mut raw, &mut line).await) }))
    });
    group.bench_function("memcache_async_direct", |b| {
        b.iter(|| {
            rt.block_on(async {
                plain
                    .set("bench:gs", b"value-of-sixteen", 0)
                    .await
                    .expect("set");
                black_box(plain.get("bench:gs").await.expect("get"))
            })
        })
    });
    group.finish();
}

fn get_multi(c: &mut Criterion) {
    let rt = runtime();
    let servers = Memcached::cluster(4).expect("memcached (install it or run cargo xtask setup)");
    let cache = rt.block_on(cluster(&servers));
    let keys = keys(100);
    rt.block_on(async {
        for key in &keys {
            cache
                .set(key, b"0123456789abcdef0123456789abcdef", Duration::ZERO)
                .await
                .expect("seed");
        }
    });
    // The baseline knows the placement and asks each node for its keys, one node after another.
    let mut per_node: Vec<(Protocol<TcpStream>, Vec<String>)> = Vec::new();
    for server in &servers {
        let mine: Vec<String> = keys
            .iter()
            .filter(|k| cache.node_for(k.as_str()).map(|n| n.address()) == Some(server.host_port()))
            .cloned()
            .collect();
        per_node.push((rt.block_on(direct(server)), mine));
    }
    let mut group = c.benchmark_group("herd/get_multi_100x4");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("reel", |b| {
        b.iter(|| {
            rt.block_on(async {
                let result = cache.get_multi(&keys).await.expect("get_multi");
                assert_eq!(result.found.len(), 100);
                black_box(result)
            })
        })
    });
    group.bench_function("sequential_single_node", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut found = 0;
                for (connection, mine) in per_node.iter_mut() {
                    found += connection.get_multi(mine).await.expect("get_multi").len();
                }
                assert_eq!(found, 100);
                black_box(found)
            })
        })
    });
    group.finish();
}

criterion_group!(benches, ring_lookup, get_and_set, get_multi);
criterion_main!(benches);
