//! The tower layer over real HTTP on loopback: an axum server and a raw HTTP/1.1 client (raw
//! so that malformed headers reach the server unchanged).

// Helpers outside #[test] functions unwrap too: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "axum")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use http::{HeaderName, Method};
use reel_core::ManualClock;
use reel_core::client_ip::{ClientIpResolver, TrustedProxies};
use reel_ratelimit::tower::{KeyExtractor, RateLimitLayer};
use reel_ratelimit::{MemoryStore, Quota, RateLimiter};
mod http_support;

use http_support::{Reply, send_raw};

async fn serve(layer: RateLimitLayer) -> SocketAddr {
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/login", post(|| async { "welcome" }))
        .route("/export", get(|| async { "exported" }))
        .layer(layer);
    http_support::serve_app(app).await
}

async fn get_with(addr: SocketAddr, path: &str, extra: &str) -> Reply {
    send_raw(addr, format!("GET {path} HTTP/1.1\r\n{extra}").as_bytes()).await
}

fn manual_limiter() -> (ManualClock, RateLimiter) {
    let clock = ManualClock::at_unix(Duration::from_secs(1_700_000_000));
    let store = MemoryStore::builder().clock(clock.clone()).build();
    (clock, RateLimiter::new(store))
}

#[tokio::test]
async fn headers_are_exact_on_200_and_429() {
    let (clock, limiter) = manual_limiter();
    let layer = RateLimitLayer::new(limiter, "60/min burst 3".parse().unwrap()).ietf_headers(true);
    let addr = serve(layer).await;
    for (remaining, reset) in [(2, 1), (1, 2), (0, 3)] {
        let reply = get_with(addr, "/", "").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, "ok");
        assert_eq!(reply.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(
            reply.header("x-ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
        assert_eq!(
            reply.header("x-ratelimit-reset"),
            Some(reset.to_string().as_str())
        );
        assert_eq!(reply.header("retry-after"), None);
        assert_eq!(
            reply.header("ratelimit-policy"),
            Some(r#""default";q=3;w=3"#)
        );
        assert_eq!(
            reply.header("ratelimit"),
            Some(format!(r#""default";r={remaining};t={reset}"#).as_str())
        );
    }
    let denied = get_with(addr, "/", "").await;
    assert_eq!(denied.status, 429);
    assert_eq!(denied.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(denied.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(denied.header("x-ratelimit-reset"), Some("3"));
    assert_eq!(denied.header("retry-after"), Some("1"));
    assert_eq!(denied.header("ratelimit"), Some(r#""default";r=0;t=3"#));
    assert!(denied.body.starts_with("Too Many Requests"));

    // The client waits Retry-After and is admitted.
    clock.advance(Duration::from_secs(1));
    let again = get_with(addr, "/", "").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("x-ratelimit-remaining"), Some("0"));
}

#[tokio::test]
async fn a_client_that_waits_retry_after_is_admitted() {
    let limiter = RateLimiter::new(MemoryStore::new());
    let addr = serve(RateLimitLayer::new(limiter, "2/s burst 1".parse().unwrap())).await;
    assert_eq!(get_with(addr, "/", "").await.status, 200);
    let denied = get_with(addr, "/", "").await;
    assert_eq!(denied.status, 429);
    let wait: u64 = denied.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(wait, 1, "500 ms rounds up to 1 s");
    // Not a wait: the client waits out the Retry-After it was given; that is the test.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(get_with(addr, "/", "").await.status, 200);
}

#[tokio::test]
async fn proxy_headers_are_believed_only_from_trusted_peers() {
    let quota: Quota = "1/min".parse().unwrap();
    let (_, limiter) = manual_limiter();
    let trusting = RateLimitLayer::new(limiter, quota).key(KeyExtractor::client_ip(
        ClientIpResolver::new(TrustedProxies::loopback()),
    ));
    let addr = serve(trusting).await;
    let xff = |ip: &str| format!("X-Forwarded-For: 6.6.6.6, {ip}\r\n");
    assert_eq!(get_with(addr, "/", &xff("198.51.100.1")).await.status, 200);
    assert_eq!(get_with(addr, "/", &xff("198.51.100.2")).await.status, 200);
    assert_eq!(get_with(addr, "/", &xff("198.51.100.1")).await.status, 429);
    // The layer reads X-Forwarded-For only: a client-sent `Forwarded` that the proxy passed
    // through untouched (as AWS ALB and a default nginx do) cannot pick the bucket.
    let spoofed = |claimed: &str, real: &str| {
        format!("Forwarded: for=\"[{claimed}]:443\";proto=https\r\nX-Forwarded-For: {real}\r\n")
    };
    assert_eq!(
        get_with(addr, "/", &spoofed("2001:db8:9::1", "198.51.100.1"))
            .await
            .status,
        429,
        "198.51.100.1 already used its request; a fresh Forwarded address must not help"
    );
    // IPv6 clients share their /64.
    let v6 = |ip: &str| format!("X-Forwarded-For: [{ip}]:443\r\n");
    assert_eq!(get_with(addr, "/", &v6("2001:db8::1")).await.status, 200);
    assert_eq!(get_with(addr, "/", &v6("2001:db8::2")).await.status, 429);
    assert_eq!(
        get_with(addr, "/", &v6("2001:db8:0:1::1")).await.status,
        200
    );

    // A layer that trusts no proxy keys by the peer, whatever the headers say.
    let (_, limiter) = manual_limiter();
    let addr = serve(RateLimitLayer::new(limiter, quota)).await;
    assert_eq!(get_with(addr, "/", &xff("198.51.100.1")).await.status, 200);
    assert_eq!(get_with(addr, "/", &xff("198.51.100.2")).await.status, 429);
    assert_eq!(get_with(addr, "/", &v6("2001:db8::9")).await.status, 429);
}

#[tokio::test]
async fn malformed_headers_never_panic() {
    let (_, limiter) = manual_limiter();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let layer = RateLimitLayer::new(limiter, "1000/s".parse().unwrap())
        .key(KeyExtractor::client_ip(ClientIpResolver::new(
            TrustedProxies::loopback(),
        )))
        .on_decision(move |_| _ = counted.fetch_add(1, Ordering::Relaxed));
    let addr = serve(layer).await;
    let long = format!("X-Forwarded-For: {}\r\n", "1.2.3.4,".repeat(2000));
    let cases: Vec<Vec<u8>> = vec![
        b"X-Forwarded-For: not-an-ip\r\n".to_vec(),
        b"X-Forwarded-For: ,,, ,\r\n".to_vec(),
        b"X-Forwarded-For: 999.1.1.1\r\n".to_vec(),
        b"X-Forwarded-For: [::1\r\n".to_vec(),
        b"X-Forwarded-For: \xff\xfe\xfd\r\n".to_vec(),
        b"Forwarded: for=\"unterminated\r\n".to_vec(),
        b"Forwarded: for=;;;==,,\r\n".to_vec(),
        b"Forwarded: for=unknown\r\n".to_vec(),
        b"Forwarded: for=\"[2001:db8::1\"\r\n".to_vec(),
        b"Forwarded: for=\xc3\x28\r\n".to_vec(),
        b"Forwarded: \r\nX-Forwarded-For: \r\n".to_vec(),
        long.into_bytes(),
    ];
    let total = cases.len();
    for extra in cases {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        head.extend_from_slice(&extra);
        let reply = send_raw(addr, &head).await;
        assert!(
            matches!(reply.status, 200 | 400 | 431),
            "status {} for {:?}",
            reply.status,
            String::from_utf8_lossy(&extra)
        );
    }
    // The server is alive and every request that reached the layer was decided.
    assert_eq!(get_with(addr, "/", "").await.status, 200);
    assert!(
        hits.load(Ordering::Relaxed) >= total - 1,
        "{} decisions",
        hits.load(Ordering::Relaxed)
    );

    // A header key with bytes that are not UTF-8.
    let (_, limiter) = manual_limiter();
    let layer = RateLimitLayer::new(limiter, "1/min".parse().unwrap())
        .key(KeyExtractor::header(HeaderName::from_static("x-api-key")));
    let addr = serve(layer).await;
    let reply = send_raw(addr, b"GET / HTTP/1.1\r\nX-Api-Key: \xff\xfe\r\n").await;
    assert_eq!(reply.status, 200);
    let reply = send_raw(addr, b"GET / HTTP/1.1\r\nX-Api-Key: \xff\xfe\r\n").await;
    assert_eq!(reply.status, 429);
}

#[tokio::test]
async fn routes_costs_keys_hooks_and_custom_rejections() {
    let (_, limiter) = manual_limiter();
    let decisions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = decisions.clone();
    let layer = RateLimitLayer::new(limiter.clone(), "10/min".parse().unwrap())
        .key(KeyExtractor::header(HeaderName::from_static("x-api-key")))
        .route(Some(Method::POST), "/login", "1/min".parse().unwrap())
        .cost(|request| {
            if request.uri().path() == "/export" {
                4
            } else {
                1
            }
        })
        .ietf_headers(true)
        .on_decision(move |event| {
            seen.lock().unwrap().push((
                event.policy.to_owned(),
                event.key.to_owned(),
                event.cost,
                event.decision.is_allowed(),
            ));
        })
        .on_reject(|decision| {
            let mut response = http::Response::new(format!(
                "{{\"error\":\"rate_limited\",\"limit\":{}}}",
                decision.limit()
            ));
            *response.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
            response
                .headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            response
        });
    let addr = serve(layer).await;
    let key = "X-Api-Key: k1\r\n";
    let login = |extra: &'static str| async move {
        send_raw(addr, format!("POST /login HTTP/1.1\r\n{extra}").as_bytes()).await
    };
    assert_eq!(login(key).await.status, 200);
    let denied = login(key).await;
    assert_eq!(denied.status, 429);
    assert_eq!(denied.body, "{\"error\":\"rate_limited\",\"limit\":1}");
    assert_eq!(denied.header("content-type"), Some("application/json"));
    assert_eq!(denied.header("retry-after"), Some("60"));
    assert_eq!(
        denied.header("ratelimit-policy"),
        Some(r#""POST /login";q=1;w=60"#)
    );
    // The login bucket is separate from the default one, and per key.
    assert_eq!(login("X-Api-Key: k2\r\n").await.status, 200);
    let export = get_with(addr, "/export", key).await;
    assert_eq!(export.status, 200);
    assert_eq!(export.header("x-ratelimit-remaining"), Some("6"));
    let export = get_with(addr, "/export", key).await;
    assert_eq!(export.header("x-ratelimit-remaining"), Some("2"));
    let export = get_with(addr, "/export", key).await;
    assert_eq!(export.status, 429, "a cost of 4 does not fit in 2");
    assert_eq!(export.header("x-ratelimit-remaining"), Some("2"));
    let plain = get_with(addr, "/", key).await;
    assert_eq!(plain.status, 200, "but a cost of 1 does");
    // Requests without the key are limited by the peer address (the default keyless policy).
    assert_eq!(get_with(addr, "/", "").await.status, 200);

    let decisions = decisions.lock().unwrap();
    let summary: Vec<(&str, &str, u32, bool)> = decisions
        .iter()
        .map(|(p, k, c, a)| (p.as_str(), k.as_str(), *c, *a))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("POST /login", "k1", 1, true),
            ("POST /login", "k1", 1, false),
            ("POST /login", "k2", 1, true),
            ("default", "k1", 4, true),
            ("default", "k1", 4, true),
            ("default", "k1", 4, false),
            ("default", "k1", 1, true),
            ("default", "peer 127.0.0.1", 1, true),
        ]
    );
    assert_eq!(limiter.stats().denied, 2);
}

/// The layer under plain tower/hyper types: the peer address as a `SocketAddr` extension.
#[tokio::test]
async fn works_as_a_plain_tower_service() {
    use tower::{Layer, ServiceExt};
    let (_, limiter) = manual_limiter();
    let layer = RateLimitLayer::new(limiter, "1/min".parse().unwrap());
    let service = layer.layer(tower::service_fn(|_: http::Request<String>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::from("inner")))
    }));
    let request = || {
        let mut request = http::Request::new(String::new());
        request
            .extensions_mut()
            .insert(SocketAddr::from(([192, 0, 2, 1], 4000)));
        request
    };
    let ok = service.clone().oneshot(request()).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-ratelimit-remaining"], "0");
    let denied = service.clone().oneshot(request()).await.unwrap();
    assert_eq!(denied.status(), 429);
    assert_eq!(denied.headers()["retry-after"], "60");
    // Without a peer address there is no key and no address to fall back on: the limit
    // cannot hold, so the request is refused and the body says how to fix the service.
    let anonymous = service
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 500);
    assert!(
        anonymous.body().contains("connect_info"),
        "{}",
        anonymous.body()
    );
}

/// A dead redis behind the layer: fail open admits without claiming figures, fail closed
/// rejects with `Retry-After`; both are counted.
#[cfg(feature = "redis")]
#[tokio::test]
async fn dead_store_follows_the_failure_policy() {
    use reel_ratelimit::{FailurePolicy, RedisStore};
    let mut server = reel_testkit::Redis::start().unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(200)))
        .set_response_timeout(Some(Duration::from_millis(200)))
        .set_number_of_retries(0);
    let connection = redis::aio::ConnectionManager::new_with_config(client, config)
        .await
        .unwrap();
    let store = Arc::new(RedisStore::new(connection));
    let open = RateLimiter::from_arc(store.clone())
        .with_timeout(Duration::from_millis(300))
        .with_failure_policy(FailurePolicy::FailOpen);
    let closed = RateLimiter::from_arc(store)
        .with_timeout(Duration::from_millis(300))
        .with_failure_policy(FailurePolicy::FailClosed);
    let quota: Quota = "10/s".parse().unwrap();
    let open_addr = serve(RateLimitLayer::new(open.clone(), quota)).await;
    let closed_addr = serve(RateLimitLayer::new(closed.clone(), quota)).await;
    let healthy = get_with(open_addr, "/", "").await;
    assert_eq!(healthy.header("x-ratelimit-remaining"), Some("9"));

    server.kill();
    let reply = get_with(open_addr, "/", "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-ratelimit-remaining"), None);
    let reply = get_with(closed_addr, "/", "").await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.header("x-ratelimit-remaining"), None);
    assert_eq!(open.stats().failed_open, 1);
    assert_eq!(closed.stats().failed_closed, 1);
}
