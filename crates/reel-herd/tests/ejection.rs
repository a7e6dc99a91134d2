//! Failure semantics against real memcached processes: the ejection cap, damping of a
//! flapping node, failures seen through a caller's own timeout, read retries.
#![cfg(feature = "memcache")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::node;
use reel_herd::{ClusterBuilder, ClusterEvent, MemcacheCluster, StaticDiscovery};
use reel_testkit::{Memcached, eventually};
use tokio::sync::broadcast::error::RecvError;

fn signal(server: &Memcached, name: &str) {
    let pid = server.pid().expect("server running");
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Resumes the stopped servers even when the test fails half-way.
struct Frozen<'a>(&'a [Memcached]);

impl<'a> Frozen<'a> {
    fn stop(servers: &'a [Memcached]) -> Self {
        for server in servers {
            signal(server, "STOP");
        }
        Self(servers)
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        for server in self.0 {
            signal(server, "CONT");
        }
    }
}

fn list(servers: &[Memcached]) -> String {
    servers
        .iter()
        .map(Memcached::host_port)
        .collect::<Vec<_>>()
        .join(",")
}

/// A key owned by `address` now.
fn key_on(cache: &MemcacheCluster, address: &str, salt: &str) -> String {
    (0..10_000)
        .map(|i| format!("{salt}:{i}"))
        .find(|key| cache.node_for(key).unwrap().address() == address)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blip_on_every_node_ejects_no_more_than_the_cap() {
    let servers = Memcached::cluster(4).unwrap();
    // Default cap: half the ring.
    let cache = ClusterBuilder::new(StaticDiscovery::parse(&list(&servers)).unwrap())
        .failure_limit(2)
        .command_timeout(Duration::from_millis(150))
        .connect_timeout(Duration::from_millis(150))
        .ejection_cooldown(Duration::from_secs(30))
        .build_memcache()
        .await
        .unwrap();
    let mut events = cache.events();
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|worker| {
            let cache = cache.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut round = 0u32;
                while !stop.load(Ordering::Relaxed) && round < 1_000_000 {
                    let _ = cache.get(&format!("load:{worker}:{}", round % 500)).await;
                    round += 1;
                }
            })
        })
        .collect();
    // The load runs on every node before the blip.
    assert!(
        eventually(Duration::from_secs(10), async || {
            cache.stats().nodes.iter().all(|n| n.requests >= 50)
        })
        .await,
        "the load never reached every node: {:?}",
        cache.stats()
    );
    {
        let _frozen = Frozen::stop(&servers);
        // Not a wait: the blip itself, every node frozen for 1 s.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Not a wait: the load runs on for 300 ms past the blip, so ejections it still causes
    // are counted too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let (mut ejected, mut most) = (0i32, 0i32);
    loop {
        match events.try_recv() {
            Ok(ClusterEvent::NodeDown { .. }) => ejected += 1,
            Ok(ClusterEvent::NodeUp { .. }) => ejected -= 1,
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
            Err(error) => panic!("{error}"),
        }
        most = most.max(ejected);
    }
    assert!(
        most >= 1,
        "the blip ejected nothing: the test did not exercise the cap"
    );
    assert!(
        most <= 2,
        "{most} of 4 nodes ejected at once; the cap is half the ring"
    );
    let stats = cache.stats();
    assert!(
        stats.nodes.iter().filter(|n| n.ejected).count() <= 2,
        "{stats:?}"
    );
    // The cluster serves again once the servers resume.
    cache.set("after", b"1", Duration::ZERO).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_node_is_ejected_for_growing_periods() {
    let mut servers = Memcached::cluster(2).unwrap();
    let cooldown = Duration::from_millis(300);
    let cache = ClusterBuilder::new(StaticDiscovery::parse(&list(&servers)).unwrap())
        .failure_limit(1)
        .read_retries(0)
        .ejection_cooldown(cooldown)
        .probe_interval(Duration::from_millis(20))
        .build_memcache()
        .await
        .unwrap();
    let victim = servers[1].host_port();
    let key = key_on(&cache, &victim, "flap");
    let mut events = cache.events();
    let mut periods = Vec::new();
    for _ in 0..3 {
        servers[1].kill();
        // The next command on the victim fails (connection refused) and ejects it.
        let _ = cache.get(&key).await;
        let down = loop {
            match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
                Ok(Ok(ClusterEvent::NodeDown { node, .. })) if node.address() == victim => {
                    break Instant::now();
                }
                Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
                other => panic!("no NodeDown: {other:?}"),
            }
        };
        servers[1].restart().unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Ok(ClusterEvent::NodeUp { node })) if node.address() == victim => break,
                Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
                other => panic!("no NodeUp: {other:?}"),
            }
        }
        periods.push(down.elapsed());
    }
    // 300 ms, then at least 600 ms, then at least 1.2 s: each re-ejection soon after the
    // node came back doubles its cool-down. (Lower bounds only: the node cannot come back
    // before its cool-down is over.)
    assert!(periods[0] >= cooldown, "{periods:?}");
    assert!(periods[1] >= cooldown * 2, "{periods:?}");
    assert!(periods[2] >= cooldown * 4, "{periods:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_node_is_ejected_even_under_a_shorter_outer_timeout() {
    let servers = Memcached::cluster(2).unwrap();
    let cache = ClusterBuilder::new(StaticDiscovery::parse(&list(&servers)).unwrap())
        .failure_limit(3)
        // herd's own timeouts never get to fire: the caller gives up after 100 ms.
        .command_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(5))
        .ejection_cooldown(Duration::from_secs(30))
        .build_memcache()
        .await
        .unwrap();
    let victim = servers[1].host_port();
    let keys: Vec<String> = (0..3)
        .map(|i| key_on(&cache, &victim, &format!("hole{i}")))
        .collect();
    let _frozen = Frozen::stop(&servers[1..]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut attempts = 0;
    while cache.node_for(&keys[0]).unwrap().address() == victim {
        assert!(
            Instant::now() < deadline,
            "still routed to the black hole after {attempts} abandoned commands"
        );
        let key = &keys[attempts % keys.len()];
        let outcome = tokio::time::timeout(Duration::from_millis(100), cache.get(key)).await;
        assert!(outcome.is_err(), "the black hole answered: {outcome:?}");
        attempts += 1;
    }
    assert!(
        attempts <= 3,
        "{attempts} abandoned commands before the ejection"
    );
    let stats = cache.stats();
    let node_stats = stats
        .nodes
        .iter()
        .find(|n| n.node.address() == victim)
        .unwrap();
    assert!(node_stats.ejected, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_retry_goes_to_the_next_node_not_the_dead_one() {
    let mut servers = Memcached::cluster(3).unwrap();
    let cache = ClusterBuilder::new(StaticDiscovery::parse(&list(&servers)).unwrap())
        .failure_limit(100)
        .read_retries(1)
        .build_memcache()
        .await
        .unwrap();
    let victim = servers[0].host_port();
    let key = key_on(&cache, &victim, "retry");
    servers[0].kill();
    // The dead node is not ejected yet (failure limit 100); the retry must not go back to it.
    let outcome = cache.get(&key).await;
    assert!(matches!(outcome, Ok(None)), "{outcome:?}");
    let stats = cache.stats();
    let dead = stats
        .nodes
        .iter()
        .find(|n| n.node == node(&victim))
        .unwrap();
    assert_eq!((dead.errors, dead.retries), (1, 1), "{stats:?}");
}
