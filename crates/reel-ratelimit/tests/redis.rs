//! The redis store against real redis-server processes: exact figures on a manual clock,
//! two OS processes on one key, and a server killed and restarted under load.

// Helpers outside #[test] functions unwrap too: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use reel_core::ManualClock;
use reel_ratelimit::{
    FailurePolicy, Quota, RateLimiter, RedisRouter, RedisStore, RedisTime, Store,
};
use reel_testkit::Redis;

mod support;
use support::{QUOTA, Tally, check_bounds, drive_through_outage, unix_nanos};

const CHILD_ENV: &str = "REEL_RATELIMIT_HAMMER";

async fn connect(url: &str) -> ConnectionManager {
    let client = redis::Client::open(url).unwrap();
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(300)))
        .set_response_timeout(Some(Duration::from_millis(300)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    ConnectionManager::new_with_config(client, config)
        .await
        .unwrap()
}

#[tokio::test]
async fn client_time_gives_exact_figures_and_state_is_readable() {
    let server = Redis::start().unwrap();
    let connection = connect(&server.url()).await;
    let clock = ManualClock::at_unix(Duration::from_secs(1_700_000_000));
    let store = RedisStore::new(connection.clone())
        .prefix("t:")
        .time(RedisTime::Client(Arc::new(clock.clone())));
    let quota: Quota = "60/min burst 3".parse().unwrap();
    for remaining in [2, 1, 0] {
        let d = store.decide("alice", &quota, 1).await.unwrap();
        assert!(d.is_allowed());
        assert_eq!(d.remaining(), remaining);
        assert_eq!(d.reset(), Duration::from_secs(3 - u64::from(remaining)));
    }
    let denied = store.decide("alice", &quota, 1).await.unwrap();
    assert!(!denied.is_allowed());
    assert_eq!(denied.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(denied.reset(), Duration::from_secs(3));

    // One key, hash-tagged, holding the TAT in decimal nanoseconds, expiring with the bucket.
    assert_eq!(store.redis_key("alice"), "t:{alice}");
    let mut raw = connection.clone();
    let value: String = raw.get("t:{alice}").await.unwrap();
    assert_eq!(value, "1700000003000000000");
    let ttl: i64 = raw.pttl("t:{alice}").await.unwrap();
    assert!((1..=3001).contains(&ttl), "pttl {ttl}");

    clock.advance(Duration::from_millis(999));
    assert!(!store.decide("alice", &quota, 1).await.unwrap().is_allowed());
    clock.advance(Duration::from_millis(1));
    assert!(store.decide("alice", &quota, 1).await.unwrap().is_allowed());

    // Cost: a request costing 2 with one slot free is denied and writes nothing.
    let d = store.decide("alice", &quota, 2).await.unwrap();
    assert!(!d.is_allowed());
    assert_eq!(d.retry_after(), Some(Duration::from_secs(2)));
    let after: String = raw.get("t:{alice}").await.unwrap();
    assert_eq!(after, "1700000004000000000");

    // A cost above the burst is an error, not a round trip.
    assert!(store.decide("alice", &quota, 4).await.is_err());

    // The script is reloaded after the server forgets it.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut raw)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        store.decide("alice", &quota, 1).await.unwrap().remaining(),
        2
    );

    // A value this crate did not write counts as an empty bucket and is replaced.
    let _: () = raw.set("t:{bob}", "not a number").await.unwrap();
    let d = store.decide("bob", &quota, 1).await.unwrap();
    assert_eq!(
        d.remaining(),
        2,
        "an unreadable value counts as an empty bucket"
    );
}

#[tokio::test]
async fn server_time_decides_without_a_client_clock() {
    let server = Redis::start().unwrap();
    let store = RedisStore::new(connect(&server.url()).await);
    let quota: Quota = "1/min burst 2".parse().unwrap();
    assert_eq!(store.decide("k", &quota, 1).await.unwrap().remaining(), 1);
    assert_eq!(store.decide("k", &quota, 1).await.unwrap().remaining(), 0);
    let denied = store.decide("k", &quota, 1).await.unwrap();
    assert!(!denied.is_allowed());
    let retry = denied.retry_after().unwrap();
    assert!(
        retry > Duration::from_secs(55) && retry <= Duration::from_secs(60),
        "{retry:?}"
    );
}

/// Routes keys over several nodes, as a reel-herd ring would.
#[derive(Debug, Clone)]
struct TwoNodes(Vec<ConnectionManager>);

impl RedisRouter for TwoNodes {
    type Connection = ConnectionManager;
    fn connection_for(&self, key: &str) -> Result<ConnectionManager, reel_ratelimit::StoreError> {
        let index = key.bytes().map(usize::from).sum::<usize>() % self.0.len();
        Ok(self.0[index].clone())
    }
}

#[tokio::test]
async fn a_router_spreads_keys_over_nodes() {
    let servers = Redis::cluster(2).unwrap();
    let mut nodes = Vec::new();
    for server in &servers {
        nodes.push(connect(&server.url()).await);
    }
    let store = RedisStore::new(TwoNodes(nodes.clone()));
    let quota: Quota = "10/s".parse().unwrap();
    for i in 0..20 {
        assert!(
            store
                .decide(&format!("user{i}"), &quota, 1)
                .await
                .unwrap()
                .is_allowed()
        );
    }
    let mut counts = Vec::new();
    for node in &mut nodes {
        let size: u64 = redis::cmd("DBSIZE").query_async(node).await.unwrap();
        counts.push(size);
    }
    assert_eq!(counts.iter().sum::<u64>(), 20);
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
}

/// Hammers `key` from `tasks` tasks between two Unix times; returns the admitted count.
async fn hammer(url: &str, key: &str, start_at: u64, end_at: u64, tasks: usize) -> u64 {
    let store = Arc::new(RedisStore::new(connect(url).await));
    let quota: Quota = QUOTA.parse().unwrap();
    let admitted = Arc::new(AtomicU64::new(0));
    let wait = Duration::from_nanos(start_at.saturating_sub(unix_nanos()));
    // Not a wait: both processes start hammering at the same agreed wall-clock time.
    tokio::time::sleep(wait).await;
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (store, admitted, key) = (store.clone(), admitted.clone(), key.to_owned());
            tokio::spawn(async move {
                while unix_nanos() < end_at {
                    if store.decide(&key, &quota, 1).await.unwrap().is_allowed() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    admitted.load(Ordering::Relaxed)
}

/// Two OS processes (this test binary runs itself as the second) hammer one key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_over_admit() {
    let server = Redis::start().unwrap();
    let url = server.url();
    let start_at = unix_nanos() + 700_000_000; // room for the child to start
    let end_at = start_at + 1_500_000_000;
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "redis_hammer_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, format!("{url}|shared|{start_at}|{end_at}"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ours = hammer(&url, "shared", start_at, end_at, 8).await;
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
async fn redis_hammer_child() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let parts: Vec<&str> = spec.split('|').collect();
        let (start_at, end_at) = (parts[2].parse().unwrap(), parts[3].parse().unwrap());
        let admitted = hammer(parts[0], parts[1], start_at, end_at, 8).await;
        println!("\nADMITTED={admitted}");
        return;
    }
    let server = Redis::start().unwrap();
    let start_at = unix_nanos() + 50_000_000;
    let end_at = start_at + 700_000_000;
    let admitted = hammer(&server.url(), "alone", start_at, end_at, 8).await;
    check_bounds(admitted, start_at, end_at, unix_nanos());
}

async fn kill_and_restart(policy: FailurePolicy) -> (Arc<Tally>, RateLimiter) {
    let mut server = Redis::start().unwrap();
    let store = RedisStore::new(connect(&server.url()).await);
    let limiter = RateLimiter::new(store)
        .with_timeout(Duration::from_millis(250))
        .with_failure_policy(policy);
    let tally =
        drive_through_outage(&limiter, &mut server, Redis::kill, |s| s.restart().unwrap()).await;
    (tally, limiter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_redis_fails_closed_then_recovers() {
    let (tally, limiter) = kill_and_restart(FailurePolicy::FailClosed).await;
    let stats = limiter.stats();
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
async fn dead_redis_fails_open_then_recovers() {
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

/// reel-herd's `RedisCluster` as the router: the script runs on each key's node.
#[cfg(feature = "redis-herd")]
#[tokio::test]
async fn herd_cluster_spreads_keys_and_decides_exactly() {
    use reel_herd::{ClusterBuilder, StaticDiscovery};

    let servers = Redis::cluster(2).unwrap();
    let list: Vec<String> = servers.iter().map(Redis::host_port).collect();
    let herd = ClusterBuilder::new(StaticDiscovery::parse(&list.join(",")).unwrap())
        .build_redis()
        .await
        .unwrap();
    let clock = ManualClock::at_unix(Duration::from_secs(1_700_000_000));
    let store = RedisStore::new(herd.clone())
        .prefix("h:")
        .time(RedisTime::Client(Arc::new(clock.clone())));
    let quota: Quota = "60/min burst 3".parse().unwrap();
    for i in 0..20 {
        let key = format!("user{i}");
        for remaining in [2, 1, 0] {
            let d = store.decide(&key, &quota, 1).await.unwrap();
            assert!(d.is_allowed());
            assert_eq!(d.remaining(), remaining);
        }
        let denied = store.decide(&key, &quota, 1).await.unwrap();
        assert!(!denied.is_allowed());
        assert_eq!(denied.retry_after(), Some(Duration::from_secs(1)));
        // The key lives on the node herd's ring picks for it, and only there.
        let redis_key = store.redis_key(&key);
        let owner = herd.node_for(&redis_key).unwrap().address();
        for server in &servers {
            let mut connection = connect(&server.url()).await;
            let value: Option<String> = connection.get(&redis_key).await.unwrap();
            if server.host_port() == owner {
                assert_eq!(value.as_deref(), Some("1700000003000000000"));
            } else {
                assert_eq!(value, None);
            }
        }
    }
    let mut counts = Vec::new();
    for server in &servers {
        let mut connection = connect(&server.url()).await;
        let size: u64 = redis::cmd("DBSIZE")
            .query_async(&mut connection)
            .await
            .unwrap();
        counts.push(size);
    }
    assert_eq!(counts.iter().sum::<u64>(), 20);
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    clock.advance(Duration::from_secs(1));
    assert!(store.decide("user0", &quota, 1).await.unwrap().is_allowed());
}
