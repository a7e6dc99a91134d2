//! The limiter's circuit breaker against a real redis-server that dies (SIGKILL) or freezes
//! (SIGSTOP): once the breaker opens, decisions come from the failure policy without touching
//! the store, and it closes by itself when redis answers again.

// Helpers outside #[test] functions unwrap too: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use reel_core::breaker::BreakerState;
use reel_ratelimit::{
    BoxFuture, Decision, FailurePolicy, Quota, RateLimiter, RedisStore, Store, StoreError,
};
use reel_testkit::{Redis, eventually};

/// Counts the calls that reach the wrapped store.
#[derive(Debug)]
struct Counting<S> {
    inner: S,
    calls: Arc<AtomicU64>,
}

impl<S: Store> Store for Counting<S> {
    fn decide<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
        cost: u32,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.decide(key, quota, cost)
    }
}

async fn connect(url: &str) -> ConnectionManager {
    let client = redis::Client::open(url).unwrap();
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(300)))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(100));
    ConnectionManager::new_with_config(client, config)
        .await
        .unwrap()
}

fn signal(server: &Redis, signal: &str) {
    let pid = server.pid().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

async fn counted_limiter(server: &Redis, policy: FailurePolicy) -> (RateLimiter, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let store = Counting {
        inner: RedisStore::new(connect(&server.url()).await),
        calls: calls.clone(),
    };
    let limiter = RateLimiter::new(store)
        .with_timeout(Duration::from_millis(100))
        .with_failure_policy(policy);
    (limiter, calls)
}

/// Decides `count` requests one after the other; returns (allowed, fallback) counts.
async fn decide_many(limiter: &RateLimiter, count: u32) -> (u32, u32) {
    let quota: Quota = "1000/s".parse().unwrap();
    let (mut allowed, mut fallback) = (0, 0);
    for _ in 0..count {
        let d = limiter.check("client", &quota).await.unwrap();
        allowed += u32::from(d.is_allowed());
        fallback += u32::from(d.is_fallback());
    }
    (allowed, fallback)
}

/// Polls (with a deadline) until the limiter decides from the store again.
async fn until_store_decides(limiter: &RateLimiter, deadline: Duration) {
    let quota: Quota = "1000/s".parse().unwrap();
    let recovered = eventually(deadline, async || {
        !limiter.check("client", &quota).await.unwrap().is_fallback()
    })
    .await;
    assert!(recovered, "the limiter did not recover within {deadline:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_is_skipped_after_the_breaker_opens() {
    let server = Redis::start().unwrap();
    let (limiter, calls) = counted_limiter(&server, FailurePolicy::FailOpen).await;
    assert_eq!(decide_many(&limiter, 5).await, (5, 0));
    let before = calls.load(Ordering::SeqCst);

    signal(&server, "-STOP");
    let (allowed, fallback) = decide_many(&limiter, 40).await;
    let reached = calls.load(Ordering::SeqCst) - before;
    signal(&server, "-CONT");
    assert_eq!((allowed, fallback), (40, 40), "failed open every time");
    // Without a breaker every one of the 40 decisions waits for the store's timeout.
    assert!(
        reached <= 6,
        "{reached} of 40 decisions still went to the frozen store"
    );
    let stats = limiter.stats();
    assert_eq!(stats.breaker, Some(BreakerState::Open));
    assert_eq!(stats.breaker_opened, 1);
    assert_eq!(stats.timeouts, 5, "the threshold's worth of timeouts");
    assert_eq!(stats.short_circuited, 35);
    assert_eq!(stats.failed_open, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_is_skipped_and_the_breaker_closes_after_restart() {
    let mut server = Redis::start().unwrap();
    let (limiter, calls) = counted_limiter(&server, FailurePolicy::FailClosed).await;
    assert_eq!(decide_many(&limiter, 5).await, (5, 0));

    server.kill();
    let before = calls.load(Ordering::SeqCst);
    let (allowed, fallback) = decide_many(&limiter, 200).await;
    let reached = calls.load(Ordering::SeqCst) - before;
    assert_eq!((allowed, fallback), (0, 200), "failed closed every time");
    assert!(
        reached <= 6,
        "{reached} of 200 decisions still went to the dead store"
    );
    let stats = limiter.stats();
    assert_eq!(stats.breaker, Some(BreakerState::Open));
    assert_eq!(
        stats.short_circuited + stats.store_errors + stats.timeouts,
        200
    );
    assert!(stats.short_circuited >= 194, "{stats:?}");
    // While open, peek and reset do not reach the store either.
    let quota: Quota = "1000/s".parse().unwrap();
    assert!(matches!(
        limiter.peek("client", &quota).await,
        Err(StoreError::CircuitOpen { .. })
    ));

    server.restart().unwrap();
    until_store_decides(&limiter, Duration::from_secs(20)).await;
    let before = calls.load(Ordering::SeqCst);
    assert_eq!(decide_many(&limiter, 10).await, (10, 0));
    assert_eq!(calls.load(Ordering::SeqCst) - before, 10);
    let stats = limiter.stats();
    assert_eq!(stats.breaker, Some(BreakerState::Closed));
    assert!(stats.breaker_opened >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_breaker_every_decision_reaches_the_dead_store() {
    let mut server = Redis::start().unwrap();
    let (limiter, calls) = counted_limiter(&server, FailurePolicy::FailOpen).await;
    let limiter = limiter.without_circuit_breaker();
    server.kill();
    let before = calls.load(Ordering::SeqCst);
    assert_eq!(decide_many(&limiter, 20).await, (20, 20));
    assert_eq!(calls.load(Ordering::SeqCst) - before, 20);
    assert_eq!(limiter.stats().breaker, None);
    assert_eq!(limiter.stats().short_circuited, 0);
}
