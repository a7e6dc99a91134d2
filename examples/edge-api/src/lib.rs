//! edge-api: a small asset API built from every reel crate, working with zero configuration.
//!
//! - assets and owners in SQLite (embedded, seeded with demo data) or PostgreSQL
//!   (`REEL_DATABASE_URL`), with sqlx migrations for both;
//! - `GET /v2/assets`, `GET /v2/assets/{id}`, `POST /v2/assets`, `PATCH /v2/assets/{id}` as
//!   JSON:API documents through reel-jsonapi (`include=owner`, `fields[...]`, `sort`,
//!   `page[number]`/`page[size]`, spec errors);
//! - rate limits per client IP through reel-ratelimit's tower layer (memory, redis with
//!   `REEL_REDIS_URL`, or memcached with `REEL_RATE_LIMIT_STORE=memcache`), with
//!   `X-RateLimit-*` and IETF `RateLimit` headers;
//! - response caching of asset reads in memcached through reel-herd
//!   (`REEL_MEMCACHE_SERVERS`), invalidated on writes;
//! - `GET /v2/search?q=` through reel-search (`REEL_ES_URL`), the index created or migrated
//!   at start-up and kept in sync on writes; a JSON:API 503 error without it;
//! - each asset's `links.download` is a CloudFront signed URL through reel-cloudfront (a
//!   development key pair generated on first run; `REEL_CLOUDFRONT_KEY_PAIR_ID` and
//!   `REEL_CLOUDFRONT_PRIVATE_KEY` for a real one);
//! - the client's country in each document's `meta` through reel-geoip (a generated demo
//!   database; `REEL_GEOIP_DB` for a real `.mmdb`, reloaded when it changes);
//! - an asset's `uploader` contact shown only to its owner (`Authorization: Bearer`, tokens
//!   from `REEL_API_TOKENS`): never in linkage, `included`, sort or a cached answer for anyone
//!   else;
//! - `GET /metrics` in Prometheus' text format on its own address (`REEL_METRICS_ADDR`,
//!   [`telemetry`]): request durations by matched route and the response cache's outcomes,
//!   next to whatever the reel crates record;
//! - `/healthz` with each backend's state (503 `degraded` while one is down or a memcached
//!   node is ejected), `tracing` logs, graceful shutdown on Ctrl-C and SIGTERM (`main.rs`);
//! - every route by JSON:API 1.1: each query parameter it does not act on is a 400 naming it,
//!   a missing related owner is a 404, client input is never a 5xx, and an unsupported method
//!   is a 405 error document with `Allow`.
//!
//! Build the service with [`app`] and run it with [`serve`]; `main.rs` does both. Every
//! setting is in [`Config`].

// JSON:API error documents are large by design and only travel on the error path of a
// request, as in reel-jsonapi itself.
#![allow(clippy::result_large_err)]

mod cache;
mod config;
mod db;
pub mod downloads;
mod geo;
mod handlers;
pub mod model;
mod params;
mod respond;
mod search;
pub mod telemetry;
mod viewer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use reel_geoip::tower::GeoIpLayer;
use reel_jsonapi::query::QueryRules;
use reel_jsonapi::{Context, ErrorDocument, ErrorObject, MEDIA_TYPE};
use reel_ratelimit::tower::{KeyExtractor, RateLimitLayer};
use reel_ratelimit::{FailurePolicy, MemcacheStore, MemoryStore, RateLimiter, RedisStore};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use config::{Config, ConfigError, MaxMind};
use handlers::{
    asset_owner, asset_owner_linkage, create_asset, health, list_assets, search_assets, show_asset,
    show_owner, update_asset,
};
use model::{Asset, AssetAssigns};
use respond::{Geo, country_on_errors, log_request, not_found, respond};
pub use telemetry::describe_metrics;
use viewer::Viewer;

/// Why the service could not start; each message names the setting to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The database is unreachable or its migrations failed.
    #[error("database (REEL_DATABASE_URL): {0}")]
    Database(String),
    /// The redis rate-limit store is unreachable.
    #[error("rate-limit store (REEL_REDIS_URL): {0}")]
    RateLimit(String),
    /// The memcached servers are invalid or unreachable.
    #[error("cache (REEL_MEMCACHE_SERVERS): {0}")]
    Cache(String),
    /// The search server is unreachable or the index could not be built.
    #[error("search (REEL_ES_URL): {0}")]
    Search(String),
    /// The CloudFront key cannot be read, generated or parsed.
    #[error("CloudFront signing (REEL_CLOUDFRONT_KEY_PAIR_ID / REEL_CLOUDFRONT_PRIVATE_KEY): {0}")]
    CloudFront(String),
    /// The geolocation database cannot be loaded.
    #[error("geolocation (REEL_GEOIP_DB): {0}")]
    GeoIp(String),
}

/// The default and largest `page[size]`.
const DEFAULT_PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 100;

#[derive(Debug)]
enum LimitStore {
    Memory,
    /// Shares the response cache's cluster, whose health `/healthz` reports as `cache`.
    Memcache,
    Redis(redis::aio::ConnectionManager),
}

#[derive(Debug)]
struct Inner {
    db: db::Db,
    cache: Option<cache::ResponseCache>,
    search: Option<search::AssetSearch>,
    limit_store: LimitStore,
    public_url: Option<String>,
    downloads: Arc<downloads::DownloadSigner>,
    geo: geo::Geo,
    /// SHA-256 of each configured bearer token, with the owner it authenticates.
    tokens: Vec<([u8; 32], i64)>,
}

#[derive(Debug, Clone)]
struct AppState(Arc<Inner>);

/// Builds the service from `config`: connects the configured backends (failing with a clear
/// [`StartError`] when one is unreachable), migrates and seeds the database, and prepares the
/// search index. Serve the router with [`serve`] (it needs the peer address for rate limits).
pub async fn app(config: Config) -> Result<Router, StartError> {
    let db = db::Db::connect(config.database_url.as_deref()).await?;
    tracing::info!(database = db.kind().name(), "database ready");
    let cache = match &config.memcache_servers {
        Some(servers) => Some(cache::ResponseCache::connect(servers, config.start_degraded).await?),
        None => None,
    };
    let (limiter, limit_store) = limiter(&config, cache.as_ref()).await?;
    let search = match &config.search_url {
        Some(url) => {
            let assets = db
                .all_assets()
                .await
                .map_err(|e| StartError::Database(e.to_string()))?;
            Some(
                search::AssetSearch::start(
                    url,
                    &config.search_index,
                    assets,
                    config.start_degraded,
                )
                .await?,
            )
        }
        None => None,
    };
    let downloads = Arc::new(downloads::DownloadSigner::from_config(&config)?);
    let geo = geo::Geo::from_config(&config)?;
    let geo_layer = GeoIpLayer::new(geo.geoip.clone(), config.client_ip_resolver());
    let state = AppState(Arc::new(Inner {
        db,
        cache,
        search,
        limit_store,
        public_url: config.public_url.clone(),
        downloads,
        geo,
        tokens: config
            .api_tokens
            .iter()
            .map(|(owner, token)| (Sha256::digest(token.as_bytes()).into(), *owner))
            .collect(),
    }));
    if state.0.search.is_some() {
        tokio::spawn(keep_search_in_step(Arc::downgrade(&state.0)));
    }
    let rate_limit = RateLimitLayer::new(limiter, config.quota)
        .key(KeyExtractor::client_ip(config.client_ip_resolver()))
        .ietf_headers(true)
        .on_reject(|decision| {
            let detail = match decision.retry_after() {
                Some(wait) => format!(
                    "too many requests from your address; retry in {} s",
                    wait.as_secs().max(1)
                ),
                None => "too many requests from your address".to_owned(),
            };
            let body = serde_json::to_string(&ErrorDocument::from(
                ErrorObject::new(429, "Too Many Requests").with_detail(detail),
            ))
            .unwrap_or_default();
            let mut response = axum::http::Response::new(body);
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
            response
        });
    let rules = QueryRules::for_resource::<Asset>().max_page_size(MAX_PAGE_SIZE);
    let api = Router::new()
        .route("/v2/assets", get(list_assets).post(create_asset))
        .route("/v2/assets/{id}", get(show_asset).patch(update_asset))
        .route("/v2/assets/{id}/owner", get(asset_owner))
        .route(
            "/v2/assets/{id}/relationships/owner",
            get(asset_owner_linkage),
        )
        .route("/v2/owners/{id}", get(show_owner))
        .route("/v2/search", get(search_assets))
        .fallback(not_found)
        .layer(Extension(rules))
        // Inside `country_on_errors`, so that 429 documents get the same `meta` as the rest.
        .layer(rate_limit)
        .layer(axum::middleware::from_fn(country_on_errors))
        .layer(geo_layer);
    Ok(Router::new()
        .route("/healthz", get(health))
        .merge(api)
        .layer(axum::middleware::from_fn(log_request))
        .layer(axum::middleware::from_fn(telemetry::record_request))
        .with_state(state))
}

async fn limiter(
    config: &Config,
    cache: Option<&cache::ResponseCache>,
) -> Result<(RateLimiter, LimitStore), StartError> {
    let fail = |e: redis::RedisError| StartError::RateLimit(e.to_string());
    let (limiter, store) = match (&config.redis_url, cache) {
        (_, Some(cache)) if config.rate_limit_in_memcache => {
            tracing::info!("rate limits kept in memcached");
            (
                RateLimiter::new(MemcacheStore::new(cache.cluster().clone()).prefix("edge:rl:")),
                LimitStore::Memcache,
            )
        }
        (Some(url), _) => {
            let client = redis::Client::open(url.as_str()).map_err(fail)?;
            // One quick probe first: the connection manager retries a dead server with backoff
            // for seconds before giving up, which suits a running service, not its start.
            let problem = match tokio::time::timeout(
                Duration::from_secs(2),
                client.get_multiplexed_async_connection(),
            )
            .await
            {
                Ok(Ok(_)) => None,
                Ok(Err(error)) => Some(format!("cannot reach redis at {url}: {error}")),
                Err(_) => Some(format!("redis at {url} did not answer within 2 s")),
            };
            if let Some(problem) = &problem {
                if !config.start_degraded {
                    return Err(StartError::RateLimit(format!(
                        "{problem}; start it, fix REEL_REDIS_URL, or set REEL_START_DEGRADED=1 to start without it"
                    )));
                }
                tracing::warn!(
                    problem,
                    "redis unreachable; starting degraded (REEL_START_DEGRADED): rate limits fail open until it answers"
                );
            }
            // The response timeout stays inside the limiter's 100 ms (below), so that redis-rs
            // sees a silent server as an error and reconnects instead of the limiter cancelling
            // each call first.
            let options = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_millis(500)))
                .set_response_timeout(Some(Duration::from_millis(80)))
                // One connection attempt per failed command, no backoff loop inside it: a
                // refused connection fails the call at once (the limiter's policy applies in
                // about a millisecond instead of at its 100 ms timeout), and the next command
                // tries again, so a returning redis is used at once.
                .set_number_of_retries(0);
            // Lazy: the first command connects, and every failed one reconnects, so a redis that
            // starts after the service is used as soon as it answers.
            let connection = redis::aio::ConnectionManager::new_lazy_with_config(client, options)
                .map_err(fail)?;
            tracing::info!("rate limits kept in redis");
            (
                RateLimiter::new(RedisStore::new(connection.clone()).prefix("edge:rl:")),
                LimitStore::Redis(connection),
            )
        }
        (None, _) => {
            tracing::info!("rate limits kept in memory");
            (RateLimiter::new(MemoryStore::new()), LimitStore::Memory)
        }
    };
    Ok((
        limiter
            .with_failure_policy(FailurePolicy::FailOpen)
            .with_timeout(Duration::from_millis(100)),
        store,
    ))
}

/// While the search index is behind (the server was down at start-up, or a write did not
/// reach it), builds it and writes every asset again, once a second, until it has caught up.
/// Ends when the service is dropped.
async fn keep_search_in_step(inner: std::sync::Weak<Inner>) {
    loop {
        tokio::time::sleep(search::RETRY_EVERY).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let Some(search) = &inner.search else {
            return;
        };
        if !search.is_behind() {
            continue;
        }
        match inner.db.all_assets().await {
            Ok(assets) => {
                if let Err(problem) = search.catch_up(assets).await {
                    tracing::debug!(problem, "search index still behind; retrying");
                }
            }
            Err(error) => {
                tracing::debug!(%error, "cannot read assets to catch the search index up");
            }
        }
    }
}

/// Serves `app` on `listener` (with the peer address the rate limiter needs) until
/// `shutdown` completes, then lets requests in flight finish.
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

impl AppState {
    fn db(&self) -> &db::Db {
        &self.0.db
    }

    /// The public base URL: configured, or `http://` + a well-formed `Host` header.
    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.0.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                    })
            })
            .unwrap_or("localhost");
        format!("http://{host}")
    }

    /// The serialization context of asset documents: links below `{base}/v2` and the signer
    /// that writes each asset's `links.download`.
    fn asset_context(&self, base: &str, viewer: &Viewer) -> Context<AssetAssigns> {
        Context::new(AssetAssigns {
            signer: Arc::clone(&self.0.downloads),
            viewer: viewer.0,
        })
        .with_base_url(format!("{base}/v2"))
    }

    /// Serves a read from the cache when it holds the body, otherwise builds, stores and
    /// serves it. `x-cache` and `meta.cache` say which (`hit`, `miss`, or `off`).
    async fn cached_read(
        &self,
        key_parts: &[&str],
        geo: &Geo,
        build: impl AsyncFnOnce() -> Result<Value, ErrorDocument>,
    ) -> Result<Response, ErrorDocument> {
        let key = match &self.0.cache {
            Some(cache) => cache.key(key_parts).await,
            None => None,
        };
        if let (Some(cache), Some(key)) = (&self.0.cache, &key)
            && let Some(bytes) = cache.get(key).await
            && let Ok(body) = serde_json::from_slice::<Value>(&bytes)
        {
            telemetry::cache_outcome("hit");
            return Ok(respond(200, body, "hit", geo));
        }
        let body = build().await?;
        let status = match (&self.0.cache, &key) {
            (Some(cache), Some(key)) => {
                if let Ok(bytes) = serde_json::to_vec(&body) {
                    cache.put(key, &bytes).await;
                }
                "miss"
            }
            (Some(_), None) => "bypass",
            (None, _) => "off",
        };
        telemetry::cache_outcome(status);
        Ok(respond(200, body, status, geo))
    }

    /// Keeps search and the cache in step with a write.
    async fn after_write(&self, asset: &Asset) {
        if let Some(search) = &self.0.search
            && let Err(error) = search.sync(asset).await
        {
            tracing::error!(%error, asset = asset.id, "search index not updated");
        }
        if let Some(cache) = &self.0.cache {
            cache.invalidate().await;
        }
    }
}
