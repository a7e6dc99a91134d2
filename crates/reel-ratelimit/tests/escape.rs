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

/// A missing API-key header is no way around the login quota: by default the request is
/// limited by its peer address, in buckets apart from every API key.
#[tokio::test]
async fn a_request_without_its_key_is_limited_by_its_address() {
    let clock = clock();
    let stores = Stores::start(&clock).await;
    for (name, store) in stores.each() {
        let layer = RateLimitLayer::new(limiter(store), "2/hour".parse().unwrap())
            .key(KeyExtractor::header(HeaderName::from_static("x-api-key")));
        let addr = serve(layer).await;
        assert_eq!(admitted(addr, "/", "", 5).await, 2, "{name} store, no key");
        // A client that sends the peer's address as its key has a bucket of its own.
        let spoof = "X-Api-Key: 127.0.0.1\r\n";
        assert_eq!(admitted(addr, "/", spoof, 3).await, 2, "{name} store");
        let spoof = "X-Api-Key: peer 127.0.0.1\r\n";
        assert_eq!(admitted(addr, "/", spoof, 3).await, 2, "{name} store");
    }
}

/// Route quotas match path segments: a trailing slash, a doubled slash or a dot segment
/// cannot skip the login quota, and `/api*` covers `/api/...` but not `/apiary`.
#[tokio::test]
async fn a_route_quota_cannot_be_skipped_by_another_spelling_of_the_path() {
    let clock = clock();
    let stores = Stores::start(&clock).await;
    for (name, store) in stores.each() {
        let layer = RateLimitLayer::new(limiter(store), "100/hour".parse().unwrap())
            .route(
                Some(http::Method::POST),
                "/login",
                "2/hour".parse().unwrap(),
            )
            .route(None, "/api*", "1/hour".parse().unwrap());
        let addr = serve(layer).await;
        let mut login_admitted = 0;
        for path in [
            "/login",
            "/login/",
            "//login",
            "/login//",
            "/./login",
            "/x/../login",
        ] {
            let reply = http_support::request(addr, "POST", path, "").await;
            assert!(
                matches!(reply.status, 200 | 429),
                "{name}: {path}: {}",
                reply.status
            );
            if reply.status == 200 {
                login_admitted += 1;
            }
            if login_admitted == 2 {
                // Every later spelling is denied: they all share the login bucket.
                assert_eq!(
                    reply.header("x-ratelimit-limit"),
                    Some("2"),
                    "{name}: {path}"
                );
            }
        }
        assert_eq!(login_admitted, 2, "{name} store");

        assert_eq!(admitted(addr, "/api/v1/users", "", 1).await, 1, "{name}");
        assert_eq!(
            admitted(addr, "/api/other", "", 1).await,
            0,
            "{name}: /api*"
        );
        assert_eq!(
            admitted(addr, "/api", "", 1).await,
            0,
            "{name}: /api itself"
        );
        // `/apiary` is not under `/api`: it gets the default quota.
        let reply = request(addr, "GET", "/apiary", "").await;
        assert_eq!(reply.status, 200, "{name}");
        assert_eq!(
            reply.header("x-ratelimit-limit"),
            Some("100"),
            "{name}: /apiary"
        );
    }
}

/// `route_and_method` keys by the route axum matched: `/users/1` and `/users/2` share the
/// `/users/{id}` bucket; without a matched route, path spellings share one bucket too.
#[tokio::test]
async fn route_and_method_keys_by_the_matched_route() {
    let clock = clock();
    let stores = Stores::start(&clock).await;
    for (name, store) in stores.each() {
        let layer = RateLimitLayer::new(limiter(store), "3/hour".parse().unwrap())
            .key(KeyExtractor::route_and_method());
        let addr = serve(layer).await;
        let mut total = 0;
        for id in 1..=6 {
            total += admitted(addr, &format!("/users/{id}"), "", 1).await;
        }
        assert_eq!(total, 3, "{name} store: one bucket for /users/{{id}}");
        let mut total = 0;
        for path in ["/elsewhere", "/elsewhere/", "//elsewhere", "/elsewhere//"] {
            total += admitted(addr, path, "", 1).await;
        }
        assert_eq!(total, 3, "{name} store: one bucket for /elsewhere");
    }
}

/// A request costing more than the burst can never be admitted: 413 with a body that says
/// so and no `Retry-After`, not a 429 that invites a retry.
#[tokio::test]
async fn a_cost_above_the_burst_is_refused_as_too_large() {
    let clock = clock();
    let stores = Stores::start(&clock).await;
    for (name, store) in stores.each() {
        let limiter = limiter(store);
        let layer = RateLimitLayer::new(limiter.clone(), "10/min burst 5".parse().unwrap()).cost(
            |request| {
                if request.uri().path() == "/export" {
                    6
                } else {
                    1
                }
            },
        );
        let addr = serve(layer).await;
        let reply = request(addr, "GET", "/export", "").await;
        assert_eq!(reply.status, 413, "{name} store: {}", reply.body);
        assert_eq!(reply.header("retry-after"), None, "{name} store");
        assert!(
            reply.body.contains("can never be admitted"),
            "{}",
            reply.body
        );
        // Nothing was charged.
        let reply = request(addr, "GET", "/", "").await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("x-ratelimit-remaining"),
            Some("4"),
            "{name} store"
        );
    }
}
