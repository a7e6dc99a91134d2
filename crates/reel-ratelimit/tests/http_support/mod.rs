//! What the HTTP-level tests share: an axum server on loopback, a raw HTTP/1.1 client (raw so
//! that odd paths and long headers reach the server unchanged), and the three stores started
//! on real servers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use reel_core::ManualClock;
use reel_herd::{ClusterBuilder, MemcacheCluster, StaticDiscovery};
use reel_ratelimit::tower::RateLimitLayer;
use reel_ratelimit::{MemcacheStore, MemoryStore, RateLimiter, RedisStore, RedisTime, Store};
use reel_testkit::{Memcached, Redis};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `app` with the peer address (`ConnectInfo`) on an ephemeral loopback port.
pub(crate) async fn serve_app(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// Routes `/`, `POST /login`, `/users/{id}` and `/api/{*rest}` behind `layer`; everything
/// else reaches a fallback that answers 200 (as a proxy or a single-page app would), so a
/// path that dodges a route quota is visible as a 200.
pub(crate) async fn serve(layer: RateLimitLayer) -> SocketAddr {
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/login", post(|| async { "welcome" }))
        .route("/users/{id}", get(|| async { "user" }))
        .route("/api/{*rest}", get(|| async { "api" }))
        .fallback(|| async { "fallback" })
        .layer(layer);
    serve_app(app).await
}

/// A reply read off the wire.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `head` (request line and headers, without the blank line) and reads the reply.
pub(crate) async fn send_raw(addr: SocketAddr, head: &[u8]) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head).await.unwrap();
    stream
        .write_all(b"Connection: close\r\nHost: test\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// `METHOD path` with extra header lines (each ending in `\r\n`).
pub(crate) async fn request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Reply {
    send_raw(
        addr,
        format!("{method} {path} HTTP/1.1\r\n{extra}").as_bytes(),
    )
    .await
}

/// The three built-in stores, each on a real server where it has one.
pub(crate) struct Stores {
    pub(crate) memory: Arc<dyn Store>,
    pub(crate) redis: Arc<dyn Store>,
    pub(crate) memcache: Arc<dyn Store>,
    /// The memory store behind `memory`.
    pub(crate) memory_handle: MemoryStore,
    /// The redis server's URL, to look at what the store wrote.
    pub(crate) redis_url: String,
    /// The memcached server's `host:port`, to look at what the store wrote.
    pub(crate) memcached_addr: String,
    /// The servers, kept alive (and stopped on drop).
    _redis: Redis,
    _memcached: Memcached,
}

impl Stores {
    /// Starts redis-server and memcached; every store decides on `clock`.
    pub(crate) async fn start(clock: &ManualClock) -> Self {
        let redis_server = Redis::start().unwrap();
        let memcached = Memcached::start().unwrap();
        let client = redis::Client::open(redis_server.url()).unwrap();
        let connection = redis::aio::ConnectionManager::new(client).await.unwrap();
        let redis = RedisStore::new(connection).time(RedisTime::Client(Arc::new(clock.clone())));
        let memcache =
            MemcacheStore::new(memcache_cluster(&memcached.host_port()).await).clock(clock.clone());
        let memory = MemoryStore::builder().clock(clock.clone()).build();
        Self {
            memory: Arc::new(memory.clone()),
            memory_handle: memory,
            redis: Arc::new(redis),
            memcache: Arc::new(memcache),
            redis_url: redis_server.url(),
            memcached_addr: memcached.host_port(),
            _redis: redis_server,
            _memcached: memcached,
        }
    }

    /// Each store with its name.
    pub(crate) fn each(&self) -> [(&'static str, Arc<dyn Store>); 3] {
        [
            ("memory", self.memory.clone()),
            ("redis", self.redis.clone()),
            ("memcache", self.memcache.clone()),
        ]
    }
}

/// A reel-herd cluster over `addresses` with short timeouts.
pub(crate) async fn memcache_cluster(addresses: &str) -> MemcacheCluster {
    ClusterBuilder::new(StaticDiscovery::parse(addresses).unwrap())
        .command_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .build_memcache()
        .await
        .unwrap()
}

/// A limiter over `store` with a generous timeout (2 shared cores), failing open, so that a
/// store error shows as an admitted request.
pub(crate) fn limiter(store: Arc<dyn Store>) -> RateLimiter {
    RateLimiter::from_arc(store).with_timeout(Duration::from_secs(2))
}

/// The manual clock every HTTP test starts from.
pub(crate) fn clock() -> ManualClock {
    ManualClock::at_unix(Duration::from_secs(1_700_000_000))
}
