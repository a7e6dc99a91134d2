//! Exact metric values after known decisions, read from metrics-util's debugging recorder.
//!
//! One test function: the recorder is process-global.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "metrics")]

use std::time::Duration;

use reel_core::ManualClock;
use reel_core::breaker::CircuitBreaker;
use reel_ratelimit::{
    BoxFuture, Decision, FailurePolicy, Limit, MemoryStore, Quota, RateLimiter, Store, StoreError,
};
use reel_testkit::metrics::{DebuggingRecorder, Snapshot};

/// A store whose backend always fails (what a dead redis looks like to the limiter).
#[derive(Debug)]
struct Broken;

impl Store for Broken {
    fn kind(&self) -> &'static str {
        "broken"
    }
    fn decide<'a>(
        &'a self,
        _key: &'a str,
        _quota: &'a Quota,
        _cost: u32,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        Box::pin(async {
            Err(StoreError::backend(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            )))
        })
    }
}

/// The counter `key` (strict: it must have been recorded).
fn counter(map: &Snapshot, key: &str) -> u64 {
    map.counter(key).unwrap()
}

fn gauge(map: &Snapshot, key: &str) -> f64 {
    map.gauge(key).unwrap()
}

#[tokio::test]
async fn decisions_store_errors_and_breaker_are_counted_exactly() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    reel_ratelimit::describe_metrics();

    // Memory store: 3 allowed then 2 denied under the limiter's own name.
    let clock = ManualClock::at_unix(Duration::from_secs(1_700_000_000));
    let memory =
        RateLimiter::new(MemoryStore::builder().clock(clock.clone()).build()).with_name("api");
    let quota: Quota = "60/min burst 3".parse().unwrap();
    for _ in 0..5 {
        memory.check("alice", &quota).await.unwrap();
    }
    // Several limits: the enforced one admits twice then denies; the shadow one (burst 1)
    // would deny the second and third.
    let second = Limit::new("per_second", "2/s".parse().unwrap());
    let shadow = Limit::new("new_limit", "1/min".parse().unwrap()).shadow();
    for _ in 0..3 {
        memory
            .check_limits(&[("s|bob", &second), ("n|bob", &shadow)], 1)
            .await
            .unwrap();
    }

    // A failing store: 4 failures open the breaker, 6 more are short-circuited.
    let broken_clock = ManualClock::new();
    let broken = RateLimiter::new(Broken)
        .with_failure_policy(FailurePolicy::FailClosed)
        .with_name("login")
        .with_circuit_breaker(
            CircuitBreaker::builder()
                .failure_threshold(4)
                .cool_down(Duration::from_secs(1))
                .clock(broken_clock.clone()),
        );
    for _ in 0..10 {
        assert!(!broken.check("carol", &quota).await.unwrap().is_allowed());
    }
    assert_eq!(
        broken.stats().breaker,
        Some(reel_core::breaker::BreakerState::Open)
    );
    // After the cool-down the probe fails too: half-open, then open again.
    broken_clock.advance(Duration::from_secs(1));
    broken.check("carol", &quota).await.unwrap();

    let map = Snapshot::take(&snapshotter);
    let decisions = "reel_ratelimit_decisions_total";
    assert_eq!(
        counter(&map, &format!("{decisions}{{limit=api,outcome=allowed}}")),
        3
    );
    assert_eq!(
        counter(&map, &format!("{decisions}{{limit=api,outcome=denied}}")),
        2
    );
    assert_eq!(
        counter(
            &map,
            &format!("{decisions}{{limit=per_second,outcome=allowed}}")
        ),
        2
    );
    assert_eq!(
        counter(
            &map,
            &format!("{decisions}{{limit=per_second,outcome=denied}}")
        ),
        1
    );
    // The shadow limit is charged on the two admitted requests only (the third is refused by
    // per_second first): allowed once, then it would deny.
    assert_eq!(
        counter(
            &map,
            &format!("{decisions}{{limit=new_limit,outcome=allowed}}")
        ),
        1
    );
    assert_eq!(
        counter(
            &map,
            &format!("{decisions}{{limit=new_limit,outcome=shadow_denied}}")
        ),
        1
    );
    assert_eq!(
        counter(
            &map,
            &format!("{decisions}{{limit=login,outcome=failed_closed}}")
        ),
        11
    );
    assert_eq!(
        counter(
            &map,
            &format!("{decisions}{{limit=login,outcome=failed_open}}")
        ),
        0
    );
    // Errors only for calls that reached the store: 4, then the failed probe.
    assert_eq!(
        counter(
            &map,
            "reel_ratelimit_store_errors_total{error_type=backend,store=broken}"
        ),
        5
    );
    let durations = map.histogram("reel_ratelimit_store_duration_seconds{store=broken}");
    assert_eq!(durations.unwrap().len(), 5);
    // The memory store's decision is the call itself: no latency histogram.
    assert!(!map.contains("reel_ratelimit_store_duration_seconds{store=memory}"));
    assert_eq!(
        gauge(&map, "reel_ratelimit_breaker_state{store=broken}"),
        1.0
    );
    assert_eq!(
        gauge(&map, "reel_ratelimit_breaker_state{store=memory}"),
        0.0
    );
    let transitions = "reel_ratelimit_breaker_transitions_total{store=broken";
    assert_eq!(counter(&map, &format!("{transitions},to=open}}")), 2);
    assert_eq!(counter(&map, &format!("{transitions},to=half_open}}")), 1);
    assert_eq!(broken.stats().short_circuited, 6);
}
