//! `set_multi` / `delete_multi` against real memcached processes: one pipeline per node, a
//! dead node fails only its keys, a refused key fails alone.
#![cfg(feature = "memcache")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::raw;
use reel_herd::{ClusterBuilder, Error, MemcacheCluster, StaticDiscovery};
use reel_testkit::Memcached;

async fn cluster_over(servers: &[Memcached]) -> MemcacheCluster {
    let list: Vec<String> = servers.iter().map(Memcached::host_port).collect();
    ClusterBuilder::new(StaticDiscovery::parse(&list.join(",")).unwrap())
        .failure_limit(100)
        .build_memcache()
        .await
        .unwrap()
}

fn requests(cache: &MemcacheCluster) -> HashMap<String, u64> {
    cache
        .stats()
        .nodes
        .iter()
        .map(|n| (n.node.address(), n.requests))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pipeline_per_node_and_a_dead_node_fails_only_its_keys() {
    let mut servers = Memcached::cluster(2).unwrap();
    let cache = cluster_over(&servers).await;
    let ttl = Duration::from_secs(60);
    let items: Vec<(String, String)> = (0..40)
        .map(|i| (format!("batch:{i}"), format!("value-{i}")))
        .collect();
    let owner: HashMap<String, String> = items
        .iter()
        .map(|(k, _)| (k.clone(), cache.node_for(k).unwrap().address()))
        .collect();

    // Both nodes up: every key stored on its node, one command (pipeline) per node.
    let before = requests(&cache);
    let result = cache.set_multi(&items, ttl).await.unwrap();
    assert!(result.failed.is_empty(), "{:?}", result.failed);
    assert_eq!(result.stored.len(), 40);
    let after = requests(&cache);
    for server in &servers {
        let address = server.host_port();
        assert_eq!(after[&address] - before[&address], 1, "{address}");
    }
    for (key, value) in &items {
        assert!(raw(&owner[key], &format!("get {key}\r\n")).contains(value));
    }
    let mut keys: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
    keys.push("batch:never-set");
    let deleted = cache.delete_multi(&keys[20..]).await.unwrap();
    assert!(deleted.failed.is_empty());
    assert_eq!(deleted.deleted.len(), 20);
    assert_eq!(deleted.not_found, vec!["batch:never-set".to_owned()]);

    // One node killed: its keys fail together with its error, the others are stored.
    let dead = servers[0].host_port();
    servers[0].kill();
    let result = cache.set_multi(&items, ttl).await.unwrap();
    let expected_dead: BTreeSet<&String> = items
        .iter()
        .map(|(k, _)| k)
        .filter(|k| owner[*k] == dead)
        .collect();
    assert!(!expected_dead.is_empty());
    assert_eq!(result.failed.len(), 1, "{:?}", result.failed);
    let failure = &result.failed[0];
    assert_eq!(failure.node.address(), dead);
    assert!(
        matches!(failure.error, Error::Io { .. }),
        "{}",
        failure.error
    );
    assert_eq!(failure.keys.iter().collect::<BTreeSet<_>>(), expected_dead);
    let stored: BTreeSet<&String> = result.stored.iter().collect();
    let expected_live: BTreeSet<&String> = items
        .iter()
        .map(|(k, _)| k)
        .filter(|k| owner[*k] != dead)
        .collect();
    assert_eq!(stored, expected_live);
    for key in &expected_live {
        assert!(raw(&owner[*key], &format!("get {key}\r\n")).starts_with("VALUE"));
    }

    let deleted = cache.delete_multi(&keys[..40]).await.unwrap();
    assert_eq!(deleted.failed.len(), 1);
    assert_eq!(
        deleted.failed[0].keys.iter().collect::<BTreeSet<_>>(),
        expected_dead
    );
    assert_eq!(
        deleted.deleted.iter().collect::<BTreeSet<_>>(),
        expected_live
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_fails_alone_and_large_batches_go_in_rounds() {
    let servers = Memcached::cluster(1).unwrap();
    let cache = cluster_over(&servers).await;
    let address = servers[0].host_port();
    let ttl = Duration::from_secs(60);

    // The third value is over memcached's 1 MB item limit: SERVER_ERROR for it, the keys
    // after it are not confirmed, the keys before it are stored.
    let big = vec![b'x'; 2 * 1024 * 1024];
    let items: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| {
            let value = if i == 2 {
                big.clone()
            } else {
                b"small".to_vec()
            };
            (format!("refuse:{i}"), value)
        })
        .collect();
    let result = cache.set_multi(&items, ttl).await.unwrap();
    assert_eq!(
        result.stored,
        vec!["refuse:0".to_owned(), "refuse:1".to_owned()]
    );
    assert_eq!(result.failed.len(), 3);
    assert_eq!(result.failed[0].keys, vec!["refuse:2".to_owned()]);
    assert!(
        matches!(&result.failed[0].error, Error::Server { message, .. } if message.starts_with("SERVER_ERROR")),
        "{}",
        result.failed[0].error
    );
    for failure in &result.failed[1..] {
        assert!(
            failure.error.to_string().contains("not confirmed"),
            "{}",
            failure.error
        );
    }
    // The refused command never counts against the node, and the next command works.
    assert!(!cache.stats().nodes[0].ejected);
    assert_eq!(cache.stats().nodes[0].errors, 0);
    assert_eq!(
        cache.get("refuse:1").await.unwrap().as_deref(),
        Some(&b"small"[..])
    );

    // More commands than one pipeline round holds: all stored, in several rounds.
    let many: Vec<(String, String)> = (0..1300)
        .map(|i| (format!("many:{i}"), i.to_string()))
        .collect();
    let result = cache.set_multi(&many, ttl).await.unwrap();
    assert!(result.failed.is_empty());
    assert_eq!(result.stored.len(), 1300);
    assert!(raw(&address, "get many:1299\r\n").contains("1299"));
    let keys: Vec<&str> = many.iter().map(|(k, _)| k.as_str()).collect();
    let deleted = cache.delete_multi(&keys).await.unwrap();
    assert_eq!(deleted.deleted.len(), 1300);
    assert_eq!(raw(&address, "get many:0\r\n"), "END\r\n");
}
