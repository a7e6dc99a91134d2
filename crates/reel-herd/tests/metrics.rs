//! The `metrics` feature against real memcached processes: a debugging recorder is
//! installed for the whole test binary (one test, so nothing else records into it) and its
//! counters are checked against the commands the test ran.
#![cfg(all(feature = "memcache", feature = "metrics"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

use std::collections::HashMap;
use std::time::Duration;

use reel_herd::{ClusterBuilder, MemcacheCluster, StaticDiscovery};
use reel_testkit::metrics::{DebuggingRecorder, Snapshot, Totals, series_key};
use reel_testkit::{Memcached, eventually};

const COMMANDS: &str = "reel_herd_commands_total";

/// The counter `name{pairs}`, which must equal `expected`; a counter expected to be 0 may
/// never have been recorded, any other must have been.
fn assert_counter(values: &Snapshot, name: &str, pairs: &[(&str, &str)], expected: u64) {
    let key = series_key(name, pairs);
    let value = if expected == 0 {
        values.counter_or_zero(&key)
    } else {
        values.counter(&key)
    };
    assert_eq!(value.unwrap(), expected, "{key}");
}

fn gauge(values: &Snapshot, name: &str, pairs: &[(&str, &str)]) -> f64 {
    values.gauge(&series_key(name, pairs)).unwrap()
}

fn samples(values: &Snapshot, name: &str, pairs: &[(&str, &str)]) -> u64 {
    values.histogram(&series_key(name, pairs)).unwrap().len() as u64
}

/// What the test ran on each node (by address), worked out from the ring.
#[derive(Default)]
struct Ran {
    sets: HashMap<String, u64>,
    hits: HashMap<String, u64>,
    misses: HashMap<String, u64>,
    /// Keys of the multi-get that live on the node, and how many of them were found.
    multi: HashMap<String, (u64, u64)>,
}

impl Ran {
    fn on(map: &HashMap<String, u64>, address: &str) -> u64 {
        map.get(address).copied().unwrap_or(0)
    }
}

/// 20 sets, 30 gets (20 hits, 10 misses) and a multi-get of 10 keys (5 found).
async fn run_commands(cache: &MemcacheCluster) -> Ran {
    let ttl = Duration::from_secs(60);
    let owner = |key: &str| cache.node_for(key).unwrap().address();
    let mut ran = Ran::default();
    for i in 0..20 {
        let key = format!("stored:{i}");
        cache.set(&key, b"value", ttl).await.unwrap();
        *ran.sets.entry(owner(&key)).or_default() += 1;
    }
    for i in 0..30 {
        // Keys 0..20 exist, 20..30 do not.
        let key = format!("stored:{i}");
        let found = cache.get(&key).await.unwrap().is_some();
        assert_eq!(found, i < 20);
        let tally = if found {
            &mut ran.hits
        } else {
            &mut ran.misses
        };
        *tally.entry(owner(&key)).or_default() += 1;
    }
    // A multi-get: one command per node, its keys counted apart.
    let multi: Vec<String> = (15..25).map(|i| format!("stored:{i}")).collect();
    let found = cache.get_multi(&multi).await.unwrap();
    assert_eq!(found.found.len(), 5);
    for key in &multi {
        let entry = ran.multi.entry(owner(key)).or_default();
        entry.0 += 1;
        entry.1 += u64::from(found.found.contains_key(key.as_str()));
    }
    ran
}

/// Every series of one healthy node against what ran on it.
fn check_node(values: &Snapshot, address: &str, ran: &Ran) {
    let node = ("node", address);
    let (sets, hits, misses) = (
        Ran::on(&ran.sets, address),
        Ran::on(&ran.hits, address),
        Ran::on(&ran.misses, address),
    );
    let (multi_keys, multi_hits) = ran.multi.get(address).copied().unwrap_or((0, 0));
    let command = |name, outcome| [node, ("command", name), ("outcome", outcome)];
    assert_counter(values, COMMANDS, &command("set", "ok"), sets);
    assert_counter(values, COMMANDS, &command("get", "hit"), hits);
    assert_counter(values, COMMANDS, &command("get", "miss"), misses);
    let multi_gets = u64::from(multi_keys > 0);
    assert_counter(values, COMMANDS, &command("get_multi", "ok"), multi_gets);
    let keys = "reel_herd_multi_get_keys_total";
    assert_counter(values, keys, &[node, ("outcome", "hit")], multi_hits);
    assert_counter(
        values,
        keys,
        &[node, ("outcome", "miss")],
        multi_keys - multi_hits,
    );
    // One duration sample per command. The commands ran one after another, so every one but
    // the node's first found the pool's connection idle: at most one pool wait (opening it).
    let durations = "reel_herd_command_duration_seconds";
    assert_eq!(
        samples(values, durations, &[node, ("command", "get")]),
        hits + misses
    );
    let waits = values
        .histogram_or_empty(&series_key("reel_herd_pool_wait_seconds", &[node]))
        .unwrap()
        .len();
    assert!(
        waits <= 1,
        "{waits} pool waits observed for {} commands run one at a time",
        sets + hits + misses + multi_gets
    );
    assert_counter(
        values,
        "reel_herd_errors_total",
        &[node, ("error_type", "io")],
        0,
    );
}

/// After two failed sets on a killed node: two io errors, one ejection, one node ejected.
fn check_dead_node(values: &Snapshot, dead: &str) {
    let node = ("node", dead);
    let failed_set = [node, ("command", "set"), ("outcome", "error")];
    assert_counter(values, COMMANDS, &failed_set, 2);
    assert_counter(
        values,
        "reel_herd_errors_total",
        &[node, ("error_type", "io")],
        2,
    );
    assert_counter(values, "reel_herd_ejections_total", &[node], 1);
    assert_eq!(
        gauge(values, "reel_herd_nodes", &[("state", "healthy")]),
        1.0
    );
    assert_eq!(
        gauge(values, "reel_herd_nodes", &[("state", "ejected")]),
        1.0
    );
}

/// A dropped cluster leaves the node gauges (once its background tasks have stopped).
async fn wait_until_no_node_is_counted(totals: &mut Totals) {
    let mut left = 0.0;
    let gone = eventually(Duration::from_secs(10), async || {
        let values = totals.update();
        left = gauge(values, "reel_herd_nodes", &[("state", "healthy")])
            + gauge(values, "reel_herd_nodes", &[("state", "ejected")]);
        left == 0.0
    })
    .await;
    assert!(gone, "{left} nodes still counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_match_the_commands_run_on_real_memcached() {
    let recorder = DebuggingRecorder::new();
    let mut totals = Totals::new(recorder.snapshotter());
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

    let ran = run_commands(&cache).await;
    let values = totals.update();
    for address in &list {
        check_node(values, address, &ran);
    }
    assert_eq!(
        gauge(values, "reel_herd_nodes", &[("state", "healthy")]),
        2.0
    );
    assert_eq!(
        gauge(values, "reel_herd_nodes", &[("state", "ejected")]),
        0.0
    );
    assert_eq!(gauge(values, "reel_herd_topology_version", &[]), 1.0);

    // A burst of concurrent gets on one node, more than the pool holds (8): the pool has one
    // idle connection, so the first get is served at once (no observation); the others open
    // a connection (a loopback connect may finish at once too: not a wait) or queue for one
    // of the 8, and at least the 8 beyond the pool's size must queue.
    let busy = list[1].clone();
    let busy_key = (0..1000)
        .map(|i| format!("stored:{i}"))
        .find(|key| cache.node_for(key).unwrap().address() == busy)
        .unwrap();
    let pool_wait = |values: &Snapshot| {
        values
            .histogram_or_empty(&series_key(
                "reel_herd_pool_wait_seconds",
                &[("node", &busy)],
            ))
            .unwrap()
    };
    let before = pool_wait(totals.update()).len();
    let burst = 16;
    let gets = (0..burst).map(|_| cache.get(&busy_key));
    for got in futures_util::future::join_all(gets).await {
        got.unwrap();
    }
    let after = pool_wait(totals.update());
    let waited = after.len() - before;
    assert!(
        (burst - 8..burst).contains(&waited),
        "{waited} of {burst} concurrent gets observed a pool wait; expected the {} that \
         queued beyond the pool's 8 connections at least, and never the get served at once",
        burst - 8
    );
    assert!(after[before..].iter().all(|seconds| *seconds > 0.0));

    // Kill one node: its commands fail as io errors until it is ejected.
    let dead = servers[0].host_port();
    servers[0].kill();
    let owner = |key: &str| cache.node_for(key).unwrap().address();
    let dead_key = (0..1000)
        .map(|i| format!("dead:{i}"))
        .find(|key| owner(key) == dead)
        .unwrap();
    for _ in 0..2 {
        assert!(
            cache
                .set(&dead_key, b"x", Duration::from_secs(60))
                .await
                .is_err()
        );
    }
    assert_ne!(owner(&dead_key), dead, "the dead node is ejected");
    check_dead_node(totals.update(), &dead);

    drop(cache);
    wait_until_no_node_is_counted(&mut totals).await;
}
