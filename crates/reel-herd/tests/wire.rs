//! The memcached wire: TTL encoding, error replies, desyncs, old servers. Against real
//! memcached where it can show the problem, against the FAKE memcached 1.6.9 of
//! `common/fake_memcached.rs` where it cannot.
#![cfg(feature = "memcache")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

mod common;

use std::time::Duration;

use common::fake_memcached::FakeMemcached;
use common::{raw, stat};
use reel_herd::{ClusterBuilder, Error, MemcacheCluster, MetaWrite, StaticDiscovery, StoreOutcome};
use reel_testkit::{Memcached, eventually};

async fn cluster_at(list: &[String], pool_size: usize) -> MemcacheCluster {
    ClusterBuilder::new(StaticDiscovery::parse(&list.join(",")).unwrap())
        .pool_size(pool_size)
        .build_memcache()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_second_ttl_expires_instead_of_living_forever() {
    let server = Memcached::start().unwrap();
    let cache = cluster_at(&[server.host_port()], 2).await;
    cache
        .set("short", b"v", Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(
        cache
            .add("lock", b"1", Duration::from_millis(300))
            .await
            .unwrap(),
        StoreOutcome::Stored
    );
    assert!(matches!(
        cache
            .meta_add("meta-lock", b"1", Duration::from_millis(300))
            .await
            .unwrap(),
        MetaWrite::Stored(_)
    ));
    // memcached's clock ticks once a second: a 1 s TTL is gone within about 2 s.
    let expired = eventually(Duration::from_secs(5), async || {
        cache.get("short").await.unwrap().is_none()
            && cache.get("lock").await.unwrap().is_none()
            && cache.get("meta-lock").await.unwrap().is_none()
    })
    .await;
    assert!(expired, "sub-second TTLs were stored as 'never expires'");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_past_memcacheds_range_is_refused_not_stored_expired() {
    let server = Memcached::start().unwrap();
    let cache = cluster_at(&[server.host_port()], 2).await;
    let twenty_years = Duration::from_secs(20 * 365 * 24 * 3600);
    let outcome = cache.set("far", b"v", twenty_years).await;
    let error = outcome.expect_err("a TTL past 2038 must be refused, not wrapped negative");
    assert!(
        error.to_string().contains("out of memcached's range"),
        "{error}"
    );
    assert!(!error.is_node_failure());
    // Just inside the range is still an absolute time memcached keeps.
    cache
        .set("month", b"v", Duration::from_secs(40 * 24 * 3600))
        .await
        .unwrap();
    assert_eq!(
        cache.get("month").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_reply_closes_the_connection_and_is_not_a_node_failure() {
    let server = Memcached::start().unwrap();
    let address = server.host_port();
    let cache = ClusterBuilder::new(StaticDiscovery::parse(&address).unwrap())
        .pool_size(1)
        .failure_limit(1)
        .build_memcache()
        .await
        .unwrap();
    cache.set("a", b"a", Duration::ZERO).await.unwrap();
    let before = stat(&address, "total_connections");
    // Larger than memcached's 1 MB item limit: SERVER_ERROR object too large for cache.
    let error = cache
        .set("big", &vec![b'x'; 2 << 20], Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Server { .. }), "{error:?}");
    assert!(error.to_string().contains("SERVER_ERROR"), "{error}");
    assert!(!error.is_node_failure());
    assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"a"[..]));
    // The `get` could not reuse the connection that saw the error: a new one was opened.
    // (`stat` itself opens one connection.)
    assert_eq!(stat(&address, "total_connections") - before, 2);
    let stats = cache.stats();
    assert_eq!(stats.nodes[0].errors, 0, "{stats:?}");
    assert!(!stats.nodes[0].ejected);
}

/// The scenario: on memcached 1.6.9 an `ms` with a positional data length gets
/// `CLIENT_ERROR invalid flag` and its data line is read as a second command (`ERROR`). A
/// client that returns the connection to the pool then reads every later reply one command
/// late, and `meta_get(B)` returns key A's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_server_never_makes_a_reply_land_on_the_wrong_command() {
    let fake = FakeMemcached::start("1.6.9");
    let cache = cluster_at(&[fake.host_port()], 1).await;
    cache.set("A", b"value-of-A", Duration::ZERO).await.unwrap();
    let added = cache.meta_add("L", b"1", Duration::from_secs(60)).await;
    let a = cache.meta_get("A").await;
    let b = cache.meta_get("B").await;
    assert!(
        matches!(b, Ok(None)),
        "meta_get(B) must miss, got {b:?} (after meta_add {added:?}, meta_get(A) {a:?})"
    );
    assert!(matches!(added, Ok(MetaWrite::Stored(_))), "{added:?}");
    let (value, token) = a.unwrap().unwrap();
    assert_eq!(value, b"value-of-A");
    // The classic path gives the same results as the meta commands.
    let Ok(MetaWrite::Stored(token_l)) = added else {
        unreachable!()
    };
    assert!(matches!(
        cache
            .meta_cas("A", b"new", Duration::from_secs(60), token)
            .await,
        Ok(MetaWrite::Stored(_))
    ));
    assert_eq!(
        cache
            .meta_cas("A", b"newer", Duration::from_secs(60), token)
            .await
            .unwrap(),
        MetaWrite::Exists
    );
    assert!(matches!(
        cache
            .meta_cas("L", b"2", Duration::from_secs(60), token_l)
            .await,
        Ok(MetaWrite::Stored(_))
    ));
    assert_eq!(
        cache
            .meta_add("L", b"3", Duration::from_secs(60))
            .await
            .unwrap(),
        MetaWrite::NotStored
    );
    assert_eq!(
        cache
            .meta_cas("gone", b"x", Duration::from_secs(60), token)
            .await
            .unwrap(),
        MetaWrite::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_in_a_multi_get_is_not_a_node_failure() {
    let fakes = [FakeMemcached::start("1.6.9"), FakeMemcached::start("1.6.9")];
    let list: Vec<String> = fakes.iter().map(FakeMemcached::host_port).collect();
    let cache = ClusterBuilder::new(StaticDiscovery::parse(&list.join(",")).unwrap())
        .failure_limit(1)
        .build_memcache()
        .await
        .unwrap();
    let keys: Vec<String> = (0..20).map(|i| format!("oom:{i}")).collect();
    for _ in 0..3 {
        let result = cache.get_multi(&keys).await.unwrap();
        assert!(!result.failed.is_empty());
        for failure in &result.failed {
            assert!(
                failure.error.to_string().contains("SERVER_ERROR"),
                "{:?}",
                failure.error
            );
            assert!(!failure.error.is_node_failure(), "{:?}", failure.error);
        }
    }
    let stats = cache.stats();
    assert!(
        stats.nodes.iter().all(|n| !n.ejected && n.errors == 0),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slow_command_keeps_the_nodes_idle_connections() {
    let fake = FakeMemcached::with_slow_reply("1.6.18", Duration::from_millis(600));
    let cache = ClusterBuilder::new(StaticDiscovery::parse(&fake.host_port()).unwrap())
        .pool_size(4)
        .command_timeout(Duration::from_millis(300))
        .read_retries(0)
        .build_memcache()
        .await
        .unwrap();
    // Concurrent reads open a few connections, which then go idle in the pool.
    let warm = futures_util::future::join_all((0..4).map(|i| {
        let cache = cache.clone();
        async move { cache.get(&format!("k{i}")).await }
    }))
    .await;
    assert!(warm.iter().all(Result::is_ok));
    let opened = fake.connections();
    assert!(opened >= 2, "{opened}");
    let error = cache.get("slow").await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    for i in 0..4 {
        cache.get(&format!("k{i}")).await.unwrap();
    }
    // Only the connection of the timed-out command was closed; the idle ones serve.
    assert_eq!(fake.connections(), opened);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_memcached_1_6_18_gets_the_meta_commands() {
    let server = Memcached::start().unwrap();
    let address = server.host_port();
    let cache = cluster_at(std::slice::from_ref(&address), 1).await;
    let before = stat(&address, "cmd_get");
    assert!(matches!(
        cache
            .meta_add("m", b"1", Duration::from_secs(60))
            .await
            .unwrap(),
        MetaWrite::Stored(_)
    ));
    // One `ms`, no `add`+`gets` fallback: no get was counted.
    assert_eq!(stat(&address, "cmd_get"), before);
    assert!(raw(&address, "mg m v\r\n").starts_with("VA 1"));
}
