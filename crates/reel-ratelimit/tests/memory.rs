//! The memory store: exact decisions on a manual clock, eviction, and many threads on one key.

// Helpers outside #[test] functions unwrap too: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reel_core::ManualClock;
use reel_ratelimit::{MemoryStore, Quota, RateLimiter, Store};
use reel_testkit::eventually;

fn clock() -> ManualClock {
    ManualClock::at_unix(Duration::from_secs(1_700_000_000))
}

#[test]
fn decides_like_the_algorithm() {
    let clock = clock();
    let store = MemoryStore::builder().clock(clock.clone()).build();
    let quota: Quota = "60/min burst 3".parse().unwrap();
    for remaining in [2, 1, 0] {
        let d = store.decide_now("k", &quota, 1).unwrap();
        assert!(d.is_allowed());
        assert_eq!(d.remaining(), remaining);
    }
    let denied = store.decide_now("k", &quota, 1).unwrap();
    assert!(!denied.is_allowed());
    assert_eq!(denied.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(denied.reset(), Duration::from_secs(3));
    // Other keys are independent.
    assert_eq!(store.decide_now("other", &quota, 1).unwrap().remaining(), 2);
    clock.advance(Duration::from_millis(999));
    assert!(!store.decide_now("k", &quota, 1).unwrap().is_allowed());
    clock.advance(Duration::from_millis(1));
    assert!(store.decide_now("k", &quota, 1).unwrap().is_allowed());
    // A cost above the burst is refused without creating a key.
    assert!(store.decide_now("fresh", &quota, 4).is_err());
    assert_eq!(store.len(), 2);
}

#[test]
fn sweep_removes_drained_keys_only() {
    let clock = clock();
    let store = MemoryStore::builder().clock(clock.clone()).build();
    let short: Quota = "10/s burst 1".parse().unwrap(); // drains in 100 ms
    let long: Quota = "1/min burst 1".parse().unwrap(); // drains in 60 s
    for i in 0..100 {
        store.decide_now(&format!("short{i}"), &short, 1).unwrap();
    }
    store.decide_now("long", &long, 1).unwrap();
    assert_eq!(store.sweep(), 0);
    clock.advance(Duration::from_millis(100));
    assert_eq!(store.sweep(), 100);
    assert_eq!(store.len(), 1);
    assert_eq!(store.evicted(), 100);
    // The surviving key kept its state.
    assert!(!store.decide_now("long", &long, 1).unwrap().is_allowed());
}

#[test]
fn max_keys_holds_on_every_insert_by_dropping_the_keys_closest_to_draining() {
    let clock = clock();
    let store = MemoryStore::builder()
        .clock(clock.clone())
        .max_keys(10)
        .build();
    let quota: Quota = "1/min burst 100".parse().unwrap();
    for i in 0..30u32 {
        // Key i has a backlog of i + 1 requests, so low keys drain first.
        store.decide_now(&format!("k{i}"), &quota, i + 1).unwrap();
        assert!(store.len() <= 10, "{} keys after k{i}", store.len());
    }
    assert_eq!(store.evicted(), 30 - store.len() as u64);
    // The newest keys kept their state; the oldest were evicted (a fresh, full bucket).
    for i in 27..30u32 {
        let d = store.decide_now(&format!("k{i}"), &quota, 1).unwrap();
        assert_eq!(d.remaining(), 100 - (i + 2), "k{i} kept its state");
    }
    assert_eq!(store.decide_now("k0", &quota, 1).unwrap().remaining(), 99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_sweeper_evicts_when_over_capacity() {
    let store = MemoryStore::builder()
        .max_keys(50)
        .sweep_interval(Duration::from_secs(3600))
        .build();
    let quota: Quota = "1/min".parse().unwrap();
    for i in 0..200 {
        store.decide_now(&format!("k{i}"), &quota, 1).unwrap();
    }
    assert!(
        eventually(Duration::from_secs(10), async || store.len() <= 50).await,
        "{} keys left",
        store.len()
    );
    assert!(store.evicted() >= 150);
}

#[tokio::test]
async fn store_trait_and_limiter_agree() {
    let clock = clock();
    let store = Arc::new(MemoryStore::builder().clock(clock.clone()).build());
    let quota: Quota = "2/s".parse().unwrap();
    assert!(store.decide("a", &quota, 2).await.unwrap().is_allowed());
    let limiter = RateLimiter::from_arc(store.clone());
    let denied = limiter.check("a", &quota).await.unwrap();
    assert!(!denied.is_allowed());
    assert!(!denied.is_fallback());
    assert!(limiter.check_n("a", &quota, 3).await.is_err());
    let stats = limiter.stats();
    assert_eq!((stats.allowed, stats.denied), (0, 1));
}

/// Many threads on one key with the real clock: no lost update, no over-admission.
#[test]
fn threads_never_over_admit() {
    let store = MemoryStore::new();
    let quota: Quota = "2000/s burst 200".parse().unwrap();
    let admitted = Arc::new(AtomicU64::new(0));
    let run = Duration::from_millis(600);
    let start = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let admitted = admitted.clone();
            std::thread::spawn(move || {
                while start.elapsed() < run {
                    if store.decide_now("hot", &quota, 1).unwrap().is_allowed() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let admitted = admitted.load(Ordering::Relaxed) as f64;
    let upper = 200.0 + 2000.0 * elapsed + 1.0;
    let lower = 0.8 * (200.0 + 2000.0 * run.as_secs_f64());
    assert!(admitted <= upper, "admitted {admitted} > bound {upper}");
    assert!(
        admitted >= lower,
        "admitted {admitted} < {lower}: lost updates?"
    );
}

#[test]
fn max_bytes_holds_under_a_flood_of_long_distinct_keys() {
    let clock = clock();
    let bound = 256 << 10;
    let store = MemoryStore::builder()
        .clock(clock.clone())
        .max_bytes(bound)
        .build();
    let quota: Quota = "1/min".parse().unwrap();
    let mut key = "x".repeat(8 * 1024);
    for i in 0..2_000u32 {
        key.replace_range(..8, &format!("{i:08}"));
        assert!(store.decide_now(&key, &quota, 1).unwrap().is_allowed());
        assert!(store.bytes() <= bound, "{} bytes after {i}", store.bytes());
    }
    assert!(store.evicted() > 0);
    // 8 KiB keys are held as digests counted at 256 bytes: 1,024 fit in 256 KiB, and
    // eviction leaves at least 7/8 of them.
    assert!(store.len() >= 896, "{} keys", store.len());
    // The newest key is still limited, and distinct long keys are distinct buckets.
    assert!(!store.decide_now(&key, &quota, 1).unwrap().is_allowed());
    key.replace_range(..8, "fresh-01");
    assert!(store.decide_now(&key, &quota, 1).unwrap().is_allowed());
}

/// The memory store is in-process: the limiter decides through it without a timeout (a timer
/// entry per call around a call that cannot hang) or the breaker, so a check needs no Tokio
/// timer and runs on a runtime built without one. Before, every check armed the limiter's
/// 100 ms timeout and panicked there ("timers are disabled").
#[test]
fn a_memory_check_needs_no_timer() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let quota: Quota = "60/min burst 2".parse().unwrap();
    let limiter = RateLimiter::new(MemoryStore::new());
    let decisions: Vec<bool> = runtime.block_on(async {
        let mut allowed = Vec::new();
        for _ in 0..3 {
            allowed.push(limiter.check("k", &quota).await.unwrap().is_allowed());
        }
        allowed
    });
    assert_eq!(decisions, [true, true, false]);
    let stats = limiter.stats();
    assert_eq!((stats.allowed, stats.denied, stats.timeouts), (2, 1, 0));
}
