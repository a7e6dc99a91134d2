//! The memcache store against real memcached processes through a reel-herd cluster: exact
//! figures on a manual clock, round trips per decision, two OS processes on one key, corrupt
//! state, and a server killed and restarted under load.

// Helpers outside #[test] functions unwrap too: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "memcache")]

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reel_core::ManualClock;
use reel_herd::{ClusterBuilder, MemcacheCluster, StaticDiscovery};
use reel_ratelimit::{FailurePolicy, MemcacheStore, Quota, RateLimiter, Store, StoreError};
use reel_testkit::Memcached;

mod support;
use support::{QUOTA, Tally, check_bounds, drive_through_outage, unix_nanos};

const CHILD_ENV: &str = "REEL_RATELIMIT_MEMCACHE_HAMMER";

async fn cluster(addresses: &str) -> MemcacheCluster {
    ClusterBuilder::new(StaticDiscovery::parse(addresses).unwrap())
        .command_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(200))
        .failure_limit(2)
        .ejection_cooldown(Duration::from_millis(200))
        .probe_interval(Duration::from_millis(100))
        .pool_size(16)
        .build_memcache()
        .await
        .unwrap()
}

fn addresses(servers: &[Memcached]) -> String {
    servers
        .iter()
        .map(Memcached::host_port)
        .collect::<Vec<_>>()
        .join(",")
}

/// One raw text-protocol exchange with a node.
fn raw(address: &str, command: &str) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    stream.write_all(command.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if reply.ends_with(b"END\r\n") || reply.ends_with(b"STORED\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&reply).into_owned()
}

#[tokio::test]
async fn exact_figures_and_one_round_trip_on_a_known_key() {
    let servers = Memcached::cluster(2).unwrap();
    let clock = ManualClock::at_unix(Duration::from_secs(1_700_000_000));
    let store = MemcacheStore::new(cluster(&addresses(&servers)).await)
        .prefix("t:")
        .clock(clock.clone());
    let quota: Quota = "60/min burst 3".parse().unwrap();

    // Cold key: a read (miss) and an add.
    let d = store.decide("alice", &quota, 1).await.unwrap();
    assert!(d.is_allowed());
    assert_eq!((d.remaining(), d.reset()), (2, Duration::from_secs(1)));
    assert_eq!(store.round_trips(), 2);
    // Known key, uncontended: one compare-and-swap each.
    for remaining in [1, 0] {
        let before = store.round_trips();
        let d = store.decide("alice", &quota, 1).await.unwrap();
        assert!(d.is_allowed());
        assert_eq!(d.remaining(), remaining);
        assert_eq!(d.reset(), Duration::from_secs(3 - u64::from(remaining)));
        assert_eq!(store.round_trips() - before, 1);
    }
    // Denied: confirmed by one read, nothing written.
    let before = store.round_trips();
    let denied = store.decide("alice", &quota, 1).await.unwrap();
    assert!(!denied.is_allowed());
    assert_eq!(denied.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(denied.reset(), Duration::from_secs(3));
    assert_eq!(store.round_trips() - before, 1);

    // One item, on the node the ring picks, holding the TAT in decimal nanoseconds.
    let owner = store.cluster().node_for("t:alice").unwrap().address();
    let reply = raw(&owner, "mg t:alice v t\r\n");
    assert!(reply.contains("1700000003000000000"), "{reply:?}");
    // TTL: ceil(3 s backlog) + 1.
    let ttl: u64 = reply
        .split_whitespace()
        .find_map(|f| f.strip_prefix('t'))
        .unwrap()
        .parse()
        .unwrap();
    assert!((3..=4).contains(&ttl), "{reply:?}");

    clock.advance(Duration::from_millis(999));
    assert!(!store.decide("alice", &quota, 1).await.unwrap().is_allowed());
    clock.advance(Duration::from_millis(1));
    let before = store.round_trips();
    assert!(store.decide("alice", &quota, 1).await.unwrap().is_allowed());
    assert_eq!(store.round_trips() - before, 1);

    // Cost: a request costing 2 with one slot free is denied and writes nothing.
    let d = store.decide("alice", &quota, 2).await.unwrap();
    assert!(!d.is_allowed());
    assert_eq!(d.retry_after(), Some(Duration::from_secs(2)));
    assert!(raw(&owner, "get t:alice\r\n").contains("1700000004000000000"));
    // A cost above the burst is an error, not a round trip.
    let before = store.round_trips();
    assert!(matches!(
        store.decide("bob", &quota, 4).await,
        Err(StoreError::Quota(_))
    ));
    assert_eq!(store.round_trips(), before);

    // Another writer (here: a second store, as another process would be) changes the key:
    // the remembered token is stale, the swap fails, the store reads and decides on the
    // server's state — no lost update.
    let other = MemcacheStore::new(cluster(&addresses(&servers)).await)
        .prefix("t:")
        .clock(clock.clone());
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        other.decide("alice", &quota, 1).await.unwrap().remaining(),
        2
    );
    let conflicts = store.conflicts();
    let before = store.round_trips();
    assert_eq!(
        store.decide("alice", &quota, 1).await.unwrap().remaining(),
        1
    );
    assert_eq!(store.conflicts(), conflicts + 1);
    assert_eq!(store.round_trips() - before, 3, "stale swap, read, swap");

    // Keys memcached cannot hold are escaped.
    assert_eq!(store.memcache_key("a b\n%"), "t:a%20b%0A%25");
    assert!(store.decide("a b", &quota, 1).await.unwrap().is_allowed());
}

#[tokio::test]
async fn without_the_token_cache_every_decision_reads_first() {
    let server = Memcached::start().unwrap();
    let store = MemcacheStore::new(cluster(&server.host_port()).await).token_cache(0);
    let quota: Quota = "10/s".parse().unwrap();
    for _ in 0..5 {
        assert!(store.decide("k", &quota, 1).await.unwrap().is_allowed());
    }
    assert_eq!(store.round_trips(), 10);
}

#[tokio::test]
async fn corrupt_state_is_a_clear_error() {
    let server = Memcached::start().unwrap();
    let store = MemcacheStore::new(cluster(&server.host_port()).await);
    assert!(
        raw(
            &server.host_port(),
            "set rl:bad 0 60 12\r\nnot a number\r\n"
        )
        .contains("STORED")
    );
    let quota: Quota = "10/s".parse().unwrap();
    let error = store.decide("bad", &quota, 1).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::CorruptState(value) if value == "not a number"),
        "{error:?}"
    );
    assert!(error.to_string().contains("not a timestamp"), "{error}");
    // The limiter turns it into its failure policy instead of an error.
    let limiter = RateLimiter::new(store).with_failure_policy(FailurePolicy::FailClosed);
    let decision = limiter.check("bad", &quota).await.unwrap();
    assert!(decision.is_fallback() && !decision.is_allowed());
    assert_eq!(limiter.stats().store_errors, 1);
}

/// Hammers `key` from `tasks` tasks between two Unix times; returns (admitted, contention).
async fn hammer(
    addresses: &str,
    key: &str,
    start_at: u64,
    end_at: u64,
    tasks: usize,
) -> (u64, u64) {
    let store = Arc::new(MemcacheStore::new(cluster(addresses).await));
    let quota: Quota = QUOTA.parse().unwrap();
    let admitted = Arc::new(AtomicU64::new(0));
    let contention = Arc::new(AtomicU64::new(0));
    let wait = Duration::from_nanos(start_at.saturating_sub(unix_nanos()));
    // Not a wait: both processes start hammering at the same agreed wall-clock time.
    tokio::time::sleep(wait).await;
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (store, admitted, contention, key) = (
                store.clone(),
                admitted.clone(),
                contention.clone(),
                key.to_owned(),
            );
            tokio::spawn(async move {
                while unix_nanos() < end_at {
                    match store.decide(&key, &quota, 1).await {
                        Ok(d) if d.is_allowed() => _ = admitted.fetch_add(1, Ordering::Relaxed),
                        Ok(_) => {}
                        Err(StoreError::Contention { .. }) => {
                            _ = contention.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(error) => panic!("{error}"),
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    (
        admitted.load(Ordering::Relaxed),
        contention.load(Ordering::Relaxed),
    )
}

/// Two OS processes (this test binary runs itself as the second) hammer one key over a
/// two-node herd cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_over_admit() {
    let servers = Memcached::cluster(2).unwrap();
    let list = addresses(&servers);
    let start_at = unix_nanos() + 700_000_000; // room for the child to start
    let end_at = start_at + 1_500_000_000;
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "memcache_hammer_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, format!("{list}|shared|{start_at}|{end_at}"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (ours, _) = hammer(&list, "shared", start_at, end_at, 8).await;
    let output = child.wait_with_output().await.unwrap();
    let finished_at = unix_nanos();
    assert!(output.status.success(), "child failed: {output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let theirs: u64 = stdout
        .lines()
        .find_map(|line| line.split("ADMITTED=").nth(1))
        .unwrap_or_else(|| panic!("no count from the child: {stdout}"))
        .trim()
        .parse()
        .unwrap();
    assert!(
        ours > 0 && theirs > 0,
        "both processes were admitted: {ours} / {theirs}"
    );
    check_bounds(ours + theirs, start_at, end_at, finished_at);
}

/// The second process of [`two_processes_never_over_admit`]; run alone, it checks the same
/// bounds within one process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcache_hammer_child() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let parts: Vec<&str> = spec.split('|').collect();
        let (start_at, end_at) = (parts[2].parse().unwrap(), parts[3].parse().unwrap());
        let (admitted, _) = hammer(parts[0], parts[1], start_at, end_at, 8).await;
        println!("\nADMITTED={admitted}");
        return;
    }
    let servers = Memcached::cluster(2).unwrap();
    let start_at = unix_nanos() + 50_000_000;
    let end_at = start_at + 700_000_000;
    let (admitted, _) = hammer(&addresses(&servers), "alone", start_at, end_at, 8).await;
    check_bounds(admitted, start_at, end_at, unix_nanos());
}

async fn kill_and_restart(policy: FailurePolicy) -> (Arc<Tally>, RateLimiter) {
    let mut server = Memcached::start().unwrap();
    let store = MemcacheStore::new(cluster(&server.host_port()).await);
    let limiter = RateLimiter::new(store)
        .with_timeout(Duration::from_millis(250))
        .with_failure_policy(policy);
    let tally = drive_through_outage(&limiter, &mut server, Memcached::kill, |s| {
        s.restart().unwrap()
    })
    .await;
    (tally, limiter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_memcached_fails_closed_then_recovers() {
    let (tally, limiter) = kill_and_restart(FailurePolicy::FailClosed).await;
    let stats = limiter.stats();
    assert!(tally.store.load(Ordering::Relaxed) > 0, "{tally:?}");
    assert!(
        tally.fallback_denied.load(Ordering::Relaxed) > 0,
        "{tally:?}"
    );
    assert_eq!(tally.fallback_allowed.load(Ordering::Relaxed), 0);
    assert!(
        tally.store_after_restart.load(Ordering::Relaxed) >= 20,
        "no recovery: {tally:?}"
    );
    assert_eq!(
        stats.failed_closed,
        tally.fallback_denied.load(Ordering::Relaxed)
    );
    assert_eq!(stats.failed_open, 0);
    assert_eq!(
        stats.store_errors + stats.timeouts + stats.short_circuited,
        stats.failed_closed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_memcached_fails_open_then_recovers() {
    let (tally, limiter) = kill_and_restart(FailurePolicy::FailOpen).await;
    let stats = limiter.stats();
    assert!(
        tally.fallback_allowed.load(Ordering::Relaxed) > 0,
        "{tally:?}"
    );
    assert_eq!(tally.fallback_denied.load(Ordering::Relaxed), 0);
    assert!(
        tally.store_after_restart.load(Ordering::Relaxed) >= 20,
        "no recovery: {tally:?}"
    );
    assert_eq!(
        stats.failed_open,
        tally.fallback_allowed.load(Ordering::Relaxed)
    );
    assert_eq!(
        stats.store_errors + stats.timeouts + stats.short_circuited,
        stats.failed_open
    );
}
