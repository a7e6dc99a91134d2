//! The redis store on a real Redis Cluster (reel-testkit: six redis-server processes, three
//! masters and three replicas) through reel-herd's `RedisClusterClient`: two OS processes
//! (this test binary runs itself as the second) share one hash-tagged bucket, and the
//! bucket's master is killed mid-run.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "redis-cluster")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reel_core::breaker::CircuitBreaker;
use reel_herd::{Node, RedisClusterBuilder, RedisClusterClient};
use reel_ratelimit::{FailurePolicy, Quota, RateLimiter, RedisStore, Store};
use reel_testkit::RedisCluster;

// Only the two-process bounds are used here.
#[allow(dead_code)]
mod support;
use support::{QUOTA, check_bounds, unix_nanos};

const CHILD_ENV: &str = "REEL_RATELIMIT_CLUSTER_CHILD";

async fn client(seeds: &str) -> RedisClusterClient {
    let seeds: Vec<Node> = seeds.split(',').map(|s| Node::parse(s).unwrap()).collect();
    RedisClusterBuilder::new(seeds)
        .connect_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(300))
        .retries(2)
        .connect()
        .await
        .unwrap()
}

/// What one process saw.
#[derive(Debug, Default)]
struct Counts {
    /// Admitted by the store.
    admitted: AtomicU64,
    /// Decided by the failure policy (fail closed: denied).
    fallback: AtomicU64,
    /// Unix nanos of the last fallback decision.
    last_fallback_at: AtomicU64,
    /// Decisions from the store after the last fallback so far (reset by each fallback).
    store_since_fallback: AtomicU64,
}

/// `tasks` tasks decide on `key` between two Unix times through a fail-closed limiter.
async fn hammer(seeds: &str, key: &str, start_at: u64, end_at: u64, tasks: usize) -> Arc<Counts> {
    let store = RedisStore::new(client(seeds).await).prefix("cl:");
    let limiter = RateLimiter::new(store)
        .with_timeout(Duration::from_millis(400))
        .with_failure_policy(FailurePolicy::FailClosed)
        .with_circuit_breaker(
            CircuitBreaker::builder()
                .failure_threshold(3)
                .cool_down(Duration::from_millis(200))
                .max_cool_down(Duration::from_millis(800)),
        );
    let quota: Quota = QUOTA.parse().unwrap();
    let counts = Arc::new(Counts::default());
    // Not a wait: both processes start hammering at the same agreed wall-clock time.
    tokio::time::sleep(Duration::from_nanos(start_at.saturating_sub(unix_nanos()))).await;
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (limiter, counts, key) = (limiter.clone(), counts.clone(), key.to_owned());
            tokio::spawn(async move {
                while unix_nanos() < end_at {
                    let d = limiter.check(&key, &quota).await.unwrap();
                    if d.is_fallback() {
                        counts.fallback.fetch_add(1, Ordering::Relaxed);
                        counts
                            .last_fallback_at
                            .store(unix_nanos(), Ordering::Relaxed);
                        counts.store_since_fallback.store(0, Ordering::Relaxed);
                        // Not a wait: a client refused by the policy backs off a little.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    }
                    counts.store_since_fallback.fetch_add(1, Ordering::Relaxed);
                    if d.is_allowed() {
                        counts.admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    counts
}

fn report(counts: &Counts) -> String {
    format!(
        "RESULT={},{},{},{}",
        counts.admitted.load(Ordering::Relaxed),
        counts.fallback.load(Ordering::Relaxed),
        counts.last_fallback_at.load(Ordering::Relaxed),
        counts.store_since_fallback.load(Ordering::Relaxed)
    )
}

fn parse(stdout: &str) -> [u64; 4] {
    let fields: Vec<u64> = stdout
        .lines()
        .find_map(|line| line.split("RESULT=").nth(1))
        .unwrap_or_else(|| panic!("no result from the child: {stdout}"))
        .trim()
        .split(',')
        .map(|f| f.parse().unwrap())
        .collect();
    [fields[0], fields[1], fields[2], fields[3]]
}

/// Runs the child process with the same key and window; returns its handle.
fn spawn_child(seeds: &str, key: &str, start_at: u64, end_at: u64) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cluster_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, format!("{seeds}|{key}|{start_at}|{end_at}"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The second process of the tests below; without the environment variable it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let (start_at, end_at) = (parts[2].parse().unwrap(), parts[3].parse().unwrap());
    let counts = hammer(parts[0], parts[1], start_at, end_at, 8).await;
    println!("\n{}", report(&counts));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_cluster_limit_through_a_failover() {
    let mut cluster = RedisCluster::start().unwrap();
    let seeds = cluster.host_ports().join(",");
    let key = "tenant:7";
    // The bucket is one hash-tagged key: one slot, one master.
    let probe = client(&seeds).await;
    let store = RedisStore::new(probe.clone()).prefix("cl:");
    let redis_key = store.redis_key(key);
    assert_eq!(redis_key, "cl:{tenant:7}");

    // Phase 1: both processes, healthy cluster; the admitted total is the bound.
    let start_at = unix_nanos() + 1_000_000_000; // room for the child to start
    let end_at = start_at + 1_500_000_000;
    let child = spawn_child(&seeds, key, start_at, end_at);
    let ours = hammer(&seeds, key, start_at, end_at, 8).await;
    let output = child.wait_with_output().await.unwrap();
    let finished_at = unix_nanos();
    assert!(output.status.success(), "child failed: {output:?}");
    let theirs = parse(&String::from_utf8_lossy(&output.stdout));
    let admitted = ours.admitted.load(Ordering::Relaxed) + theirs[0];
    assert_eq!(ours.fallback.load(Ordering::Relaxed) + theirs[1], 0);
    eprintln!("healthy cluster: {admitted} admitted by two processes");
    check_bounds(admitted, start_at, end_at, finished_at);

    // Phase 2: the bucket's master is killed 1.5 s into a 9 s run; its replica takes over.
    let key = "tenant:8";
    let start_at = unix_nanos() + 1_000_000_000;
    let end_at = start_at + 9_000_000_000;
    let kill_at = start_at + 1_500_000_000;
    let redis_key = store.redis_key(key);
    let slot: u16 = probe
        .query(redis::cmd("CLUSTER").arg("KEYSLOT").arg(&redis_key))
        .await
        .unwrap();
    let victim = cluster.master_of_slot(slot).unwrap();
    let child = spawn_child(&seeds, key, start_at, end_at);
    let seeds_for_us = seeds.clone();
    let ours = tokio::spawn(async move { hammer(&seeds_for_us, key, start_at, end_at, 8).await });
    // Not a wait: the master is killed at the agreed time, mid-run for both processes.
    tokio::time::sleep(Duration::from_nanos(kill_at.saturating_sub(unix_nanos()))).await;
    assert!(cluster.kill(&victim), "{victim} was not running");
    let killed_at = unix_nanos();
    let ours = ours.await.unwrap();
    let output = child.wait_with_output().await.unwrap();
    let finished_at = unix_nanos();
    assert!(output.status.success(), "child failed: {output:?}");
    let theirs = parse(&String::from_utf8_lossy(&output.stdout));

    let admitted = ours.admitted.load(Ordering::Relaxed) + theirs[0];
    let fallback = ours.fallback.load(Ordering::Relaxed) + theirs[1];
    let last_fallback = ours.last_fallback_at.load(Ordering::Relaxed).max(theirs[2]);
    let window_ms = last_fallback.saturating_sub(killed_at) / 1_000_000;
    let quota: Quota = QUOTA.parse().unwrap();
    let rate = 1e9 / quota.emission_nanos() as f64;
    let burst = f64::from(quota.burst());
    let bound = burst + rate * (finished_at - start_at) as f64 / 1e9 + 1.0;
    let new_master = cluster.master_of_slot(slot).unwrap_or_default();
    eprintln!(
        "failover: killed {victim}, new master {new_master}; {admitted} admitted (bound {bound:.0}), \
         {fallback} decisions failed closed, last one {window_ms} ms after the kill; \
         store decisions since: {} / {}",
        ours.store_since_fallback.load(Ordering::Relaxed),
        theirs[3]
    );
    assert_ne!(new_master, victim, "the replica took over");
    // Fail closed admits nothing on its own. Asynchronous replication can lose the writes of
    // the last moment before the kill (the replica's state is then slightly older): allow one
    // burst for that.
    assert!(
        admitted as f64 <= bound + burst,
        "over-admission through the failover: {admitted} > {bound:.0} + {burst}"
    );
    // Limiting continued after the failover window, in both processes.
    assert!(fallback > 0, "the kill was not noticed");
    assert!(window_ms < 6_000, "failover window {window_ms} ms");
    assert!(ours.store_since_fallback.load(Ordering::Relaxed) > 100);
    assert!(theirs[3] > 100);
    // And the store admits again after it: at least half the ideal over the healthy time.
    let healthy = (end_at - start_at) as f64 / 1e9 - window_ms as f64 / 1e3;
    let lower = 0.5 * rate * healthy;
    assert!(admitted as f64 >= lower, "{admitted} < {lower}");

    // The store keeps working with the new master: exact figures on a fresh key.
    let fresh: Quota = "1/min burst 2".parse().unwrap();
    assert!(store.decide("fresh", &fresh, 1).await.unwrap().is_allowed());
    assert!(store.decide("fresh", &fresh, 1).await.unwrap().is_allowed());
    assert!(!store.decide("fresh", &fresh, 1).await.unwrap().is_allowed());
    store.reset("fresh").await.unwrap();
    assert!(store.decide("fresh", &fresh, 1).await.unwrap().is_allowed());
}
