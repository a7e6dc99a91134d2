//! An axum service limited per client IP with reel-ratelimit.
//!
//! The memory store is used unless a redis URL is given (`--redis URL` or `REEL_REDIS_URL`)
//! or memcached servers are (`--memcache host:port,...` or `REEL_MEMCACHE_SERVERS`: a
//! reel-herd cluster, keys spread over the servers by consistent hashing).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use reel_core::client_ip::{ClientIpResolver, TrustedProxies};
use reel_herd::{ClusterBuilder, StaticDiscovery};
use reel_ratelimit::tower::{KeyExtractor, RateLimitLayer};
use reel_ratelimit::{FailurePolicy, MemcacheStore, MemoryStore, Quota, RateLimiter, RedisStore};

/// How the example runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The redis URL; `None` for the memory store.
    pub redis: Option<String>,
    /// memcached servers (`host:port,...`); `None` for the memory store.
    pub memcache: Option<String>,
    /// The per-client quota.
    pub quota: Quota,
    /// Proxies whose `X-Forwarded-For` header is believed (walked from the right).
    pub trusted: TrustedProxies,
    /// Fail closed instead of open when the store is down.
    pub fail_closed: bool,
}

/// The one-line usage, also shown by `--help`.
pub const USAGE: &str = "usage: example-ratelimit-axum [--listen ADDR] [--redis URL | --memcache HOST:PORT,...] [--quota '100/min burst 20'] [--trust CIDRS] [--fail-closed]";

impl Options {
    /// Reads the command line (without the program name) and `REEL_REDIS_URL`.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        redis_env: Option<String>,
    ) -> Result<Self, String> {
        Self::parse_with_env(args, redis_env, None)
    }

    /// Reads the command line (without the program name), `REEL_REDIS_URL` and
    /// `REEL_MEMCACHE_SERVERS`. Arguments override the environment; redis and memcache
    /// cannot both be chosen.
    pub fn parse_with_env(
        args: impl IntoIterator<Item = String>,
        redis_env: Option<String>,
        memcache_env: Option<String>,
    ) -> Result<Self, String> {
        let mut options = Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            redis: redis_env.filter(|url| !url.is_empty()),
            memcache: memcache_env.filter(|servers| !servers.is_empty()),
            quota: Quota::per_minute(100)
                .and_then(|q| q.with_burst(20))
                .map_err(|e| e.to_string())?,
            trusted: TrustedProxies::loopback(),
            fail_closed: false,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
            };
            match arg.as_str() {
                "--listen" => {
                    options.listen = value("--listen")?
                        .parse()
                        .map_err(|e| format!("--listen: {e}"))?
                }
                "--redis" => {
                    options.redis = Some(value("--redis")?);
                    options.memcache = None;
                }
                "--memcache" => {
                    options.memcache = Some(value("--memcache")?);
                    options.redis = None;
                }
                "--quota" => {
                    options.quota = value("--quota")?
                        .parse()
                        .map_err(|e| format!("--quota: {e}"))?
                }
                "--trust" => {
                    options.trusted = value("--trust")?
                        .parse()
                        .map_err(|e| format!("--trust: {e}"))?
                }
                "--fail-closed" => options.fail_closed = true,
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
            }
        }
        if options.redis.is_some() && options.memcache.is_some() {
            return Err(format!(
                "choose redis or memcache, not both (check REEL_REDIS_URL and REEL_MEMCACHE_SERVERS)\n{USAGE}"
            ));
        }
        Ok(options)
    }
}

/// The limiter the options ask for: redis when a URL is given, memcache when servers are,
/// memory otherwise.
pub async fn limiter(
    options: &Options,
) -> Result<RateLimiter, Box<dyn std::error::Error + Send + Sync>> {
    let policy = if options.fail_closed {
        FailurePolicy::FailClosed
    } else {
        FailurePolicy::FailOpen
    };
    let limiter = match (&options.redis, &options.memcache) {
        (None, Some(servers)) => {
            let cluster = ClusterBuilder::new(StaticDiscovery::parse(servers)?)
                .connect_timeout(Duration::from_millis(500))
                .command_timeout(Duration::from_millis(100))
                .build_memcache()
                .await?;
            tracing::info!(servers, "rate limits kept in memcached");
            RateLimiter::new(MemcacheStore::new(cluster).prefix("example:rl:"))
        }
        (Some(url), _) => {
            let client = redis::Client::open(url.as_str())
                .map_err(|e| format!("redis URL `{url}` is not valid: {e}"))?;
            // One quick probe first: the connection manager retries a dead server with
            // backoff for seconds before giving up, which is right later but not at start-up.
            let probe = tokio::time::timeout(
                Duration::from_secs(2),
                client.get_multiplexed_async_connection(),
            )
            .await;
            match probe {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    return Err(format!("cannot reach redis at {url}: {error}").into());
                }
                Err(_) => return Err(format!("redis at {url} did not answer within 2 s").into()),
            }
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_millis(500)))
                .set_response_timeout(Some(Duration::from_millis(500)));
            let connection = redis::aio::ConnectionManager::new_with_config(client, config)
                .await
                .map_err(|e| format!("cannot reach redis at {url}: {e}"))?;
            tracing::info!(url, "rate limits kept in redis");
            RateLimiter::new(RedisStore::new(connection).prefix("example:rl:"))
        }
        (None, None) => {
            tracing::info!("rate limits kept in memory");
            RateLimiter::new(MemoryStore::new())
        }
    };
    Ok(limiter
        .with_failure_policy(policy)
        .with_timeout(Duration::from_millis(100)))
}

/// The service: `/` and `/hello/{name}`, limited per client IP.
pub fn app(limiter: RateLimiter, options: &Options) -> Router {
    let layer = RateLimitLayer::new(limiter, options.quota)
        .key(KeyExtractor::client_ip(ClientIpResolver::new(
            options.trusted.clone(),
        )))
        .ietf_headers(true);
    Router::new()
        .route("/", get(|| async { "hello from a rate-limited service\n" }))
        .route(
            "/hello/{name}",
            get(
                |axum::extract::Path(name): axum::extract::Path<String>| async move {
                    format!("hello, {name}\n")
                },
            ),
        )
        .layer(layer)
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
