//! Beyond one limit per request, against the memory store, a real redis-server and a real
//! memcached: several limits (the tightest decides), shadow mode, `peek` without a write,
//! `reset`, `X-RateLimit-Reset` as epoch seconds, and the keyless-request policies.

// Helpers outside #[test] functions unwrap too: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(all(feature = "axum", feature = "redis", feature = "memcache"))]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderName, StatusCode};
use reel_ratelimit::tower::{KeyExtractor, KeylessPolicy, RateLimitLayer, ResetFormat};
use reel_ratelimit::{Limit, MemoryStore, Quota, RateLimiter};

mod http_support;
use http_support::{Stores, clock, limiter, request, serve};

/// What the store holds for `key`, read behind its back: the redis value, the memcached
/// value, or for the memory store whether the key exists (`"present"`).
async fn stored(stores: &Stores, name: &str, key: &str) -> Option<String> {
    match name {
        "redis" => {
            let client = redis::Client::open(stores.redis_url.as_str()).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            redis::cmd("GET")
                .arg(format!("rl:{{{key}}}"))
                .query_async::<Option<String>>(&mut connection)
                .await
                .unwrap()
        }
        "memcache" => {
            let mut stream = std::net::TcpStream::connect(&stores.memcached_addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            stream
                .write_all(format!("mg rl:{key} v\r\n").as_bytes())
                .unwrap();
            let mut reply = Vec::new();
            let mut buf = [0; 512];
            while !(reply.ends_with(b"\r\n")
                && (reply.starts_with(b"EN") || reply.split(|&b| b == b'\n').count() > 2))
            {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "memcached closed the connection");
                reply.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8(reply).unwrap();
            text.starts_with("VA")
                .then(|| text.lines().nth(1).unwrap().to_owned())
        }
        _ => stores
            .memory_handle
            .contains(key)
            .then(|| "present".to_owned()),
    }
}

#[tokio::test]
async fn peek_reports_without_charging_or_writing_and_reset_refills_in_every_store() {
    let clock = clock();
    let stores = Stores::start(&clock).await;
    let quota: Quota = "60/min burst 3".parse().unwrap();
    for (name, store) in stores.each() {
        let limiter = limiter(store);

        // An unknown key: a full bucket, and still nothing stored after the peek.
        let fresh = limiter.peek("fresh", &quota).await.unwrap();
        assert!(fresh.is_allowed(), "{name}");
        assert_eq!(
            (fresh.remaining(), fresh.reset()),
            (3, Duration::ZERO),
            "{name}"
        );
        assert_eq!(
            stored(&stores, name, "fresh").await,
            None,
            "{name}: peek wrote"
        );

        // A used key: the same figures every time, and the stored state unchanged.
        limiter.check("used", &quota).await.unwrap();
        limiter.check("used", &quota).await.unwrap();
        let before = stored(&stores, name, "used").await;
        assert!(before.is_some(), "{name}");
        for _ in 0..3 {
            let peeked = limiter.peek("used", &quota).await.unwrap();
            assert!(peeked.is_allowed(), "{name}");
            assert_eq!(peeked.remaining(), 1, "{name}");
            assert_eq!(peeked.reset(), Duration::from_secs(2), "{name}");
        }
        assert_eq!(
            stored(&stores, name, "used").await,
            before,
            "{name}: peek wrote"
        );
        let last = limiter.check("used", &quota).await.unwrap();
        assert_eq!(last.remaining(), 0, "{name}: peeks charged nothing");

        // An empty bucket: peek says a request would wait one emission interval.
        let empty = limiter.peek("used", &quota).await.unwrap();
        assert!(!empty.is_allowed(), "{name}");
        assert_eq!(empty.retry_after(), Some(Duration::from_secs(1)), "{name}");
        assert!(!limiter.check("used", &quota).await.unwrap().is_allowed());

        // Reset: the bucket is full again, and the state is gone.
        limiter.reset("used").await.unwrap();
        assert_eq!(
            stored(&stores, name, "used").await,
            None,
            "{name}: reset left state"
        );
        let again = limiter.check("used", &quota).await.unwrap();
        assert!(again.is_allowed(), "{name}");
        assert_eq!(again.remaining(), 2, "{name}");
        // Resetting a key that was never used is not an error.
        limiter.reset("never-used").await.unwrap();
        assert_eq!(limiter.stats().store_errors, 0, "{name}");
    }
}

#[tokio::test]
async fn several_limits_the_tightest_decides_and_all_are_reported_in_every_store() {
    for (index, name) in ["memory", "redis", "memcache"].into_iter().enumerate() {
        // A fresh clock and servers per store: the test advances time.
        let clock = clock();
        let stores = Stores::start(&clock).await;
        let store = stores.each()[index].1.clone();
        let layer = RateLimitLayer::new(limiter(store), "2/s".parse().unwrap())
            .limit(Limit::new("day", "3/day".parse().unwrap()))
            .ietf_headers(true);
        let addr = serve(layer).await;

        let first = request(addr, "GET", "/", "").await;
        assert_eq!(first.status, 200, "{name}");
        assert_eq!(
            first.header("ratelimit-policy"),
            Some(r#""default";q=2;w=1, "day";q=3;w=86400"#),
            "{name}"
        );
        assert_eq!(
            first.header("ratelimit"),
            Some(r#""default";r=1;t=1, "day";r=2;t=28800"#),
            "{name}"
        );
        // The tightest in X-RateLimit-*: one left of the second's two.
        assert_eq!(first.header("x-ratelimit-limit"), Some("2"), "{name}");
        assert_eq!(first.header("x-ratelimit-remaining"), Some("1"), "{name}");

        assert_eq!(request(addr, "GET", "/", "").await.status, 200, "{name}");
        let denied = request(addr, "GET", "/", "").await;
        assert_eq!(denied.status, 429, "{name}: the per-second limit");
        assert_eq!(denied.header("x-ratelimit-limit"), Some("2"), "{name}");
        assert_eq!(denied.header("retry-after"), Some("1"), "{name}");
        // The daily limit was not charged for the refused request.
        assert_eq!(
            denied.header("ratelimit"),
            Some(r#""default";r=0;t=1, "day";r=1;t=57600"#),
            "{name}"
        );

        clock.advance(Duration::from_secs(1));
        let third = request(addr, "GET", "/", "").await;
        assert_eq!(third.status, 200, "{name}");
        assert_eq!(
            third.header("x-ratelimit-limit"),
            Some("3"),
            "{name}: now the day"
        );
        assert_eq!(third.header("x-ratelimit-remaining"), Some("0"), "{name}");

        clock.advance(Duration::from_secs(1));
        let denied = request(addr, "GET", "/", "").await;
        assert_eq!(denied.status, 429, "{name}: the daily limit");
        assert_eq!(denied.header("x-ratelimit-limit"), Some("3"), "{name}");
        // Waiting Retry-After clears every limit: the day's next slot.
        let wait: u64 = denied.header("retry-after").unwrap().parse().unwrap();
        assert_eq!(wait, 28800 - 2, "{name}");
        clock.advance(Duration::from_secs(wait));
        assert_eq!(request(addr, "GET", "/", "").await.status, 200, "{name}");
    }
}

#[tokio::test]
async fn shadow_limits_decide_and_report_but_never_reject_in_every_store() {
    let clock = clock();
    let stores = Stores::start(&clock).await;
    for (name, store) in stores.each() {
        // One shadow limit beside an enforced one.
        let limiter = limiter(store.clone());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let layer = RateLimitLayer::new(limiter.clone(), "100/hour".parse().unwrap())
            .limit(Limit::new("strict", "1/hour".parse().unwrap()).shadow())
            .ietf_headers(true)
            .on_decision(move |event| record.lock().unwrap().push(event.verdict.shadow_denied()));
        let addr = serve(layer).await;
        for _ in 0..3 {
            let reply = request(addr, "GET", "/", "").await;
            assert_eq!(reply.status, 200, "{name}");
            // Clients see only the enforced limit.
            assert_eq!(
                reply.header("ratelimit-policy"),
                Some(r#""default";q=100;w=3600"#),
                "{name}"
            );
        }
        assert_eq!(*seen.lock().unwrap(), [false, true, true], "{name}");
        assert_eq!(limiter.stats().shadow_denied, 2, "{name}");
        assert_eq!(
            limiter.stats().denied,
            2,
            "{name}: decided like an enforced limit"
        );

        // The whole layer in shadow mode: never a rejection, never a header.
        let limiter = self::limiter(store);
        let layer = RateLimitLayer::new(limiter.clone(), "1/hour".parse().unwrap())
            .key(KeyExtractor::header(HeaderName::from_static("x-api-key")))
            .shadow();
        let addr = serve(layer).await;
        for _ in 0..3 {
            let reply = request(addr, "GET", "/", "X-Api-Key: shadowed\r\n").await;
            assert_eq!(reply.status, 200, "{name}");
            assert_eq!(reply.header("x-ratelimit-limit"), None, "{name}");
        }
        assert_eq!(limiter.stats().shadow_denied, 2, "{name}");
    }
}

#[tokio::test]
async fn x_ratelimit_reset_as_epoch_seconds_in_every_store() {
    let clock = clock();
    let stores = Stores::start(&clock).await;
    for (name, store) in stores.each() {
        let layer = RateLimitLayer::new(limiter(store), "60/min burst 3".parse().unwrap())
            .reset_format(ResetFormat::EpochSeconds)
            .clock(clock.clone())
            .ietf_headers(true);
        let addr = serve(layer).await;
        for n in 1..=3u64 {
            let reply = request(addr, "GET", "/", "").await;
            let expected = (1_700_000_000 + n).to_string();
            assert_eq!(
                reply.header("x-ratelimit-reset"),
                Some(expected.as_str()),
                "{name}"
            );
            // The IETF field stays a delta.
            let state = format!(r#""default";r={};t={n}"#, 3 - n);
            assert_eq!(reply.header("ratelimit"), Some(state.as_str()), "{name}");
        }
        let denied = request(addr, "GET", "/", "").await;
        assert_eq!(denied.status, 429);
        assert_eq!(
            denied.header("x-ratelimit-reset"),
            Some("1700000003"),
            "{name}"
        );
        assert_eq!(
            denied.header("retry-after"),
            Some("1"),
            "{name}: still a delta"
        );
    }
}

/// Counts warnings from this crate (a minimal subscriber: the test's runtime is
/// single-threaded, so the server's tasks run under it too).
struct CountWarnings(Arc<AtomicUsize>);

impl tracing::Subscriber for CountWarnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let metadata = event.metadata();
        if *metadata.level() == tracing::Level::WARN
            && metadata.target().starts_with("reel_ratelimit")
        {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn keyless_requests_get_the_configured_policy_and_one_warning() {
    let warnings = Arc::new(AtomicUsize::new(0));
    let _guard = tracing::subscriber::set_default(CountWarnings(warnings.clone()));
    let quota: Quota = "2/hour".parse().unwrap();
    let api_key = || KeyExtractor::header(HeaderName::from_static("x-api-key"));
    let memory = || RateLimiter::new(MemoryStore::builder().clock(clock()).build());

    // Reject: a clear 4xx, every time, and one warning for the lot.
    let layer = RateLimitLayer::new(memory(), quota)
        .key(api_key())
        .keyless(KeylessPolicy::Reject(StatusCode::UNAUTHORIZED));
    let addr = serve(layer).await;
    for _ in 0..5 {
        let reply = request(addr, "GET", "/", "").await;
        assert_eq!(reply.status, 401);
        assert!(reply.body.contains("no rate-limit key"), "{}", reply.body);
    }
    assert_eq!(
        warnings.load(Ordering::Relaxed),
        1,
        "warned once, not per request"
    );
    // With the key, requests are limited as usual.
    assert_eq!(
        request(addr, "GET", "/", "X-Api-Key: a\r\n").await.status,
        200
    );

    // Shared: every keyless request in one bucket.
    let layer = RateLimitLayer::new(memory(), quota)
        .key(KeyExtractor::from_fn(|_| None))
        .keyless(KeylessPolicy::Shared);
    let addr = serve(layer).await;
    let statuses: Vec<u16> = [
        request(addr, "GET", "/", "").await.status,
        request(addr, "GET", "/users/1", "").await.status,
        request(addr, "GET", "/", "").await.status,
    ]
    .to_vec();
    assert_eq!(statuses, [200, 200, 429]);

    // Unlimited: only when asked for.
    let layer = RateLimitLayer::new(memory(), quota)
        .key(api_key())
        .keyless(KeylessPolicy::Unlimited);
    let addr = serve(layer).await;
    for _ in 0..4 {
        let reply = request(addr, "GET", "/", "").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-ratelimit-limit"), None);
    }
    // Each layer warns once.
    assert_eq!(warnings.load(Ordering::Relaxed), 3);
}
