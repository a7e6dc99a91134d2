//! A node's failure counters exist, at zero, from the moment the node joins the cluster.
//!
//! A Prometheus counter created by its first increment is first scraped at 1 (or more): to
//! `rate()` and `increase()` that first value is the starting point, not a rise, so a node
//! that fails and is ejected between two scrapes shows no error and no ejection at all. The
//! outage drill's dashboard showed exactly that (the killed cache node's "Errors" and
//! "Ejections" panels flat at zero). One test: the recorder is global to the test binary.
#![cfg(all(feature = "memcache", feature = "metrics"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

use std::time::Duration;

use reel_herd::{ClusterBuilder, StaticDiscovery};
use reel_testkit::Memcached;
use reel_testkit::metrics::{DebuggingRecorder, Snapshot, series_key};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_counters_start_at_zero_when_a_node_joins() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");
    reel_herd::describe_metrics();

    let mut servers = Memcached::cluster(2).unwrap();
    let list: Vec<String> = servers.iter().map(Memcached::host_port).collect();
    let cache = ClusterBuilder::new(StaticDiscovery::parse(&list.join(",")).unwrap())
        .failure_limit(2)
        .max_ejected_fraction(0.5)
        .ejection_cooldown(Duration::from_secs(600))
        .build_memcache()
        .await
        .unwrap();

    // Before any command: every node's ejection counter and its node-failure error counters
    // (the errors that eject a node) are there, at zero.
    let before = Snapshot::take(&snapshotter);
    for address in &list {
        let key = series_key("reel_herd_ejections_total", &[("node", address)]);
        assert_eq!(before.counter(&key).unwrap(), 0, "{key}");
        for error_type in ["io", "timeout", "protocol"] {
            let key = series_key(
                "reel_herd_errors_total",
                &[("node", address), ("error_type", error_type)],
            );
            assert_eq!(before.counter(&key).unwrap(), 0, "{key}");
        }
    }

    // Then the first failures count from there.
    let dead = servers[0].host_port();
    servers[0].kill();
    let dead_key = (0..1000)
        .map(|i| format!("dead:{i}"))
        .find(|key| cache.node_for(key).unwrap().address() == dead)
        .unwrap();
    for _ in 0..2 {
        assert!(
            cache
                .set(&dead_key, b"x", Duration::from_secs(60))
                .await
                .is_err()
        );
    }
    let after = Snapshot::take(&snapshotter);
    let ejections = series_key("reel_herd_ejections_total", &[("node", &dead)]);
    assert_eq!(after.counter(&ejections).unwrap(), 1, "{ejections}");
}
