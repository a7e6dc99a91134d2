//! The `metrics` feature against real memcached processes: a debugging recorder is
//! installed for the whole test binary (one test, so nothing else records into it) and its
//! counters are checked against the commands the test ran.
#![cfg(all(feature = "memcache", feature = "metrics"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use reel_herd::{ClusterBuilder, StaticDiscovery};
use reel_testkit::Memcached;

/// One metric series: kind, name and sorted labels.
type Series = (MetricKind, String, Vec<(String, String)>);

/// The debugging recorder resets what it reports; this adds each snapshot to the totals so
/// far (counters and the increment-only node gauges add up, histogram samples accumulate).
struct Totals {
    snapshotter: Snapshotter,
    values: HashMap<Series, DebugValue>,
}

impl Totals {
    fn take(&mut self) -> &HashMap<Series, DebugValue> {
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key: CompositeKey = key;
            let (kind, key) = key.into_parts();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            let series = (kind, key.name().to_owned(), labels);
            match (self.values.get_mut(&series), value) {
                (Some(DebugValue::Counter(total)), DebugValue::Counter(more)) => *total += more,
                (Some(DebugValue::Gauge(total)), DebugValue::Gauge(more)) => *total += more,
                (Some(DebugValue::Histogram(total)), DebugValue::Histogram(more)) => {
                    total.extend(more);
                }
                (_, value) => {
                    self.values.insert(series, value);
                }
            }
        }
        &self.values
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    labels
}

fn counter(values: &HashMap<Series, DebugValue>, name: &str, pairs: &[(&str, &str)]) -> u64 {
    match values.get(&(MetricKind::Counter, name.to_owned(), labels(pairs))) {
        Some(DebugValue::Counter(value)) => *value,
        None => 0,
        Some(other) => panic!("{name} {pairs:?} is {other:?}"),
    }
}

fn gauge(values: &HashMap<Series, DebugValue>, name: &str, pairs: &[(&str, &str)]) -> f64 {
    match values.get(&(MetricKind::Gauge, name.to_owned(), labels(pairs))) {
        Some(DebugValue::Gauge(value)) => value.into_inner(),
        other => panic!("{name} {pairs:?} is {other:?}"),
    }
}

fn samples(values: &HashMap<Series, DebugValue>, name: &str, pairs: &[(&str, &str)]) -> usize {
    match values.get(&(MetricKind::Histogram, name.to_owned(), labels(pairs))) {
        Some(DebugValue::Histogram(samples)) => samples.len(),
        None => 0,
        Some(other) => panic!("{name} {pairs:?} is {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_match_the_commands_run_on_real_memcached() {
    let recorder = DebuggingRecorder::new();
    let mut totals = Totals {
        snapshotter: recorder.snapshotter(),
        values: HashMap::new(),
    };
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
    let ttl = Duration::from_secs(60);

    // Expected counts per node address, worked out from the ring.
    let mut sets: HashMap<String, u64> = HashMap::new();
    let mut hits: HashMap<String, u64> = HashMap::new();
    let mut misses: HashMap<String, u64> = HashMap::new();
    let owner = |key: &str| cache.node_for(key).unwrap().address();
    for i in 0..20 {
        let key = format!("stored:{i}");
        cache.set(&key, b"value", ttl).await.unwrap();
        *sets.entry(owner(&key)).or_default() += 1;
    }
    for i in 0..30 {
        // Keys 0..20 exist, 20..30 do not.
        let key = format!("stored:{i}");
        let found = cache.get(&key).await.unwrap().is_some();
        assert_eq!(found, i < 20);
        let tally = if found { &mut hits } else { &mut misses };
        *tally.entry(owner(&key)).or_default() += 1;
    }
    // A multi-get: one command per node, its keys counted apart.
    let multi: Vec<String> = (15..25).map(|i| format!("stored:{i}")).collect();
    let found = cache.get_multi(&multi).await.unwrap();
    assert_eq!(found.found.len(), 5);

    let values = totals.take();
    let name = "reel_herd_commands_total";
    for address in &list {
        assert_eq!(
            counter(
                values,
                name,
                &[
                    ("node", address.as_str()),
                    ("command", "set"),
                    ("outcome", "ok")
                ]
            ),
            sets.get(address).copied().unwrap_or(0),
            "sets on {address}"
        );
        let node_hits = hits.get(address).copied().unwrap_or(0);
        let node_misses = misses.get(address).copied().unwrap_or(0);
        assert_eq!(
            counter(
                values,
                name,
                &[
                    ("node", address.as_str()),
                    ("command", "get"),
                    ("outcome", "hit")
                ]
            ),
            node_hits,
            "hits on {address}"
        );
        assert_eq!(
            counter(
                values,
                name,
                &[
                    ("node", address.as_str()),
                    ("command", "get"),
                    ("outcome", "miss")
                ]
            ),
            node_misses,
            "misses on {address}"
        );
        let multi_keys: Vec<&String> = multi.iter().filter(|k| owner(k) == *address).collect();
        let multi_hits = multi_keys
            .iter()
            .filter(|k| found.found.contains_key(k.as_str()))
            .count() as u64;
        assert_eq!(
            counter(
                values,
                name,
                &[
                    ("node", address.as_str()),
                    ("command", "get_multi"),
                    ("outcome", "ok")
                ]
            ),
            u64::from(!multi_keys.is_empty()),
            "one multi-get per node on {address}"
        );
        assert_eq!(
            counter(
                values,
                "reel_herd_multi_get_keys_total",
                &[("node", address.as_str()), ("outcome", "hit")]
            ),
            multi_hits
        );
        assert_eq!(
            counter(
                values,
                "reel_herd_multi_get_keys_total",
                &[("node", address.as_str()), ("outcome", "miss")]
            ),
            multi_keys.len() as u64 - multi_hits
        );
        // One duration sample per command, one pool wait per command.
        let commands = sets.get(address).copied().unwrap_or(0) + node_hits + node_misses;
        assert_eq!(
            samples(
                values,
                "reel_herd_command_duration_seconds",
                &[("node", address.as_str()), ("command", "get")]
            ) as u64,
            node_hits + node_misses
        );
        assert_eq!(
            samples(
                values,
                "reel_herd_pool_wait_seconds",
                &[("node", address.as_str())]
            ) as u64,
            commands + u64::from(!multi_keys.is_empty())
        );
        assert_eq!(
            counter(
                values,
                "reel_herd_errors_total",
                &[("node", address.as_str()), ("error_type", "io")]
            ),
            0
        );
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

    // Kill one node: its commands fail as io errors until it is ejected.
    let dead = servers[0].host_port();
    servers[0].kill();
    let dead_key = (0..1000)
        .map(|i| format!("dead:{i}"))
        .find(|key| owner(key) == dead)
        .unwrap();
    for _ in 0..2 {
        assert!(cache.set(&dead_key, b"x", ttl).await.is_err());
    }
    assert_ne!(owner(&dead_key), dead, "the dead node is ejected");
    let values = totals.take();
    assert_eq!(
        counter(
            values,
            name,
            &[
                ("node", dead.as_str()),
                ("command", "set"),
                ("outcome", "error")
            ]
        ),
        2
    );
    assert_eq!(
        counter(
            values,
            "reel_herd_errors_total",
            &[("node", dead.as_str()), ("error_type", "io")]
        ),
        2
    );
    assert_eq!(
        counter(
            values,
            "reel_herd_ejections_total",
            &[("node", dead.as_str())]
        ),
        1
    );
    assert_eq!(
        gauge(values, "reel_herd_nodes", &[("state", "healthy")]),
        1.0
    );
    assert_eq!(
        gauge(values, "reel_herd_nodes", &[("state", "ejected")]),
        1.0
    );

    // A dropped cluster leaves the node gauges (once its background tasks have stopped).
    drop(cache);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let values = totals.take();
        let left = gauge(values, "reel_herd_nodes", &[("state", "healthy")])
            + gauge(values, "reel_herd_nodes", &[("state", "ejected")]);
        if left == 0.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} nodes still counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
