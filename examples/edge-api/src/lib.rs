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
pub mod model;
mod search;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::header::{ALLOW, CONTENT_TYPE, HOST, LOCATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use reel_geoip::tower::{ClientGeo, GeoIpLayer};
use reel_jsonapi::axum::{JsonApiBody, JsonApiRequest, Negotiated, render};
use reel_jsonapi::de::{Create, Update};
use reel_jsonapi::query::{Query, QueryRules, percent_decode};
use reel_jsonapi::ser::Page;
use reel_jsonapi::{
    Context, ErrorDocument, ErrorObject, MEDIA_TYPE, ResourceType, collection, document,
};
use reel_ratelimit::tower::{KeyExtractor, RateLimitLayer};
use reel_ratelimit::{FailurePolicy, MemcacheStore, MemoryStore, RateLimiter, RedisStore};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use config::{Config, ConfigError, MaxMind};
use db::db_error;
use model::{Asset, AssetAssigns, AssetChanges, AssetInput, Owner};
pub use telemetry::describe_metrics;

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

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// Adds `meta.country` to JSON:API error documents too (documents get it in [`respond`]),
/// whichever extractor, handler, layer or fallback wrote them; and turns axum's empty 405
/// into an error document (keeping its `Allow` header).
async fn country_on_errors(request: Request, next: Next) -> Response {
    let geo: Geo = request
        .extensions()
        .get::<ClientGeo>()
        .cloned()
        .map(Extension);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && response.headers().get(CONTENT_TYPE).is_none()
    {
        let allow = response.headers().get(ALLOW).cloned();
        let allowed = allow
            .as_ref()
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut replaced = ErrorDocument::from(
            ErrorObject::new(405, "Method Not Allowed").with_detail(format!(
                "`{path}` does not support {method}; it supports {allowed}"
            )),
        )
        .into_response();
        if let Some(allow) = allow {
            replaced.headers_mut().insert(ALLOW, allow);
        }
        response = replaced;
    }
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(RETRY_AFTER)
    {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    let is_json_api = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == MEDIA_TYPE.as_bytes());
    if response.status().as_u16() < 400 || !is_json_api {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Error documents are small and written in one piece; anything else passes untouched.
    const LIMIT: u64 = 64 * 1024;
    if axum::body::HttpBody::size_hint(&body)
        .exact()
        .is_none_or(|length| length > LIMIT)
    {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, LIMIT as usize).await else {
        return internal("an error document could not be read").into_response();
    };
    let Ok(mut document) = serde_json::from_slice::<ErrorDocument>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    document.meta.get_or_insert_with(Default::default).insert(
        "country".into(),
        country(&geo).map_or(Value::Null, Value::String),
    );
    match serde_json::to_vec(&document) {
        Ok(body) => {
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(body))
        }
        Err(_) => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
}

fn country(geo: &Geo) -> Option<String> {
    geo.as_ref()
        .and_then(|Extension(geo)| geo.location.as_ref()?.country.as_ref()?.iso_code.clone())
}

fn internal(error: impl std::fmt::Display) -> ErrorDocument {
    tracing::error!(%error, "request failed");
    ErrorObject::new(500, "Internal Server Error")
        .with_detail("the database could not answer; try again")
        .into()
}

/// How many seconds a 503 asks clients to wait (`Retry-After`).
const RETRY_AFTER_SECONDS: &str = "5";

fn not_found_asset(id: &str) -> ErrorDocument {
    ErrorObject::new(404, "Not Found")
        .with_detail(format!("there is no asset `{id}`"))
        .into()
}

async fn not_found(uri: Uri) -> ErrorDocument {
    ErrorObject::new(404, "Not Found")
        .with_detail(format!(
            "no route for `{}`; try /v2/assets, /v2/search?q= or /healthz",
            uri.path()
        ))
        .into()
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

/// Who is asking: the owner a valid `Authorization: Bearer` token names (`REEL_API_TOKENS`),
/// or nobody. A token that matches no one is a 401, not an anonymous request, so that a
/// mistyped token is noticed.
#[derive(Debug, Clone, Copy, Default)]
struct Viewer(Option<i64>);

impl Viewer {
    /// A cache-key part: responses differ by who asks.
    fn key(self) -> String {
        self.0
            .map_or_else(|| "anonymous".to_owned(), |id| format!("owner:{id}"))
    }
}

impl axum::extract::FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let unauthorized = |detail: &str| {
            let mut response = ErrorDocument::from(
                ErrorObject::new(401, "Unauthorized").with_detail(detail.to_owned()),
            )
            .into_response();
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"edge-api\""),
            );
            response
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                unauthorized(
                    "send `Authorization: Bearer <token>`, or no Authorization header at all",
                )
            })?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        state
            .0
            .tokens
            .iter()
            .find(|(known, _)| *known == digest)
            .map(|(_, owner)| Self(Some(*owner)))
            .ok_or_else(|| unauthorized("the bearer token is not valid"))
    }
}

/// The request's client as reel-geoip saw it.
type Geo = Option<Extension<ClientGeo>>;

/// A JSON:API response of `body` with `meta.cache` and `x-cache` set to `cache`, and the
/// client's country (ISO code, `null` when unknown) in `meta.country`.
fn respond(status: u16, mut body: Value, cache: &str, geo: &Geo) -> Response {
    let country = country(geo);
    if let Some(object) = body.as_object_mut() {
        let meta = object
            .entry("meta")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("cache".into(), cache.into());
            meta.insert("country".into(), country.map_or(Value::Null, Value::String));
        }
    }
    let mut response = render(status, &body);
    if let Ok(value) = HeaderValue::from_str(cache) {
        response.headers_mut().insert("x-cache", value);
    }
    response
}

fn to_value(document: Result<Vec<u8>, serde_json::Error>) -> Result<Value, ErrorDocument> {
    document
        .and_then(|bytes| serde_json::from_slice(&bytes))
        .map_err(internal)
}

/// The query string without its `page[...]` parameters, for pagination links.
fn without_page(raw: &str) -> String {
    let kept: Vec<&str> = raw
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            !pair.is_empty() && !percent_decode(name).starts_with("page[")
        })
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

/// What a route does with the query string besides `include` and `fields[TYPE]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A collection: `sort` and `page[number]`/`page[size]` apply too.
    Collection,
    /// One resource (or a write answering with one): `sort` and `page[...]` are refused.
    Single,
    /// A relationship's linkage: no query parameter applies.
    Linkage,
}

/// Parses and checks the query string of a route returning `R` by JSON:API 1.1's rules:
/// every parameter this API does not act on is a 400 naming it in `source.parameter`, so that
/// none is silently ignored (including implementation-specific names such as `fooBar`).
fn checked_query<R: ResourceType>(
    uri: &Uri,
    rules: Option<&QueryRules>,
    shape: Shape,
) -> Result<Query, ErrorDocument> {
    let raw = uri.query().unwrap_or_default();
    let mut errors = Vec::new();
    let mut kept = Vec::new();
    for pair in raw.split('&').filter(|pair| !pair.is_empty()) {
        let name = percent_decode(pair.split('=').next().unwrap_or_default());
        let base = name.split('[').next().unwrap_or_default();
        let refused = match (shape, base) {
            (Shape::Linkage, _) => Some("a relationship's linkage takes no query parameters"),
            (Shape::Single, "sort") => {
                Some("`sort` applies to collections; this endpoint returns one resource")
            }
            (Shape::Single, "page") => {
                Some("`page[...]` applies to collections; this endpoint returns one resource")
            }
            (_, "filter") => Some("this API has no filters; use /v2/search?q= to find assets"),
            _ => None,
        };
        match refused {
            Some(detail) => errors.push(
                ErrorObject::new(400, "Unsupported query parameter")
                    .with_detail(detail)
                    .with_parameter(name),
            ),
            None => kept.push(pair),
        }
    }
    let default_rules;
    let rules = match rules.filter(|rules| rules.resource_type() == R::TYPE) {
        Some(rules) => rules,
        None => {
            default_rules = QueryRules::for_resource::<R>();
            &default_rules
        }
    };
    let query = match Query::parse(&kept.join("&"), rules) {
        Ok(query) => Some(query),
        Err(document) => {
            errors.extend(document.errors);
            None
        }
    };
    if let Some(query) = &query {
        for (name, _) in &query.other {
            errors.push(
                ErrorObject::new(400, "Unsupported query parameter")
                    .with_detail(format!("this API does not support `{name}`"))
                    .with_parameter(name.clone()),
            );
        }
        if let Some(number) = query.page.get("number")
            && number.parse::<u64>().is_ok_and(|n| n == 0)
        {
            errors.push(
                ErrorObject::new(400, "Invalid page number")
                    .with_detail("pages are numbered from 1")
                    .with_parameter("page[number]"),
            );
        }
        for key in ["number", "size"] {
            if let Err(error) = query.page_number(key) {
                errors.push(error);
            }
        }
    }
    match query {
        Some(query) if errors.is_empty() => Ok(query),
        _ => Err(ErrorDocument::new(errors)),
    }
}

fn parse_id(id: &str) -> Result<i64, ErrorDocument> {
    id.parse().map_err(|_| not_found_asset(id))
}

async fn list_assets(
    State(state): State<AppState>,
    viewer: Viewer,
    _: Negotiated,
    rules: Option<Extension<QueryRules>>,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
) -> Result<Response, ErrorDocument> {
    let query = checked_query::<Asset>(&uri, rules.as_deref(), Shape::Collection)?;
    let base = state.base_url(&headers);
    let raw = uri.query().unwrap_or_default();
    state
        .cached_read(&["list", &base, raw, &viewer.key()], &geo, async || {
            let total = state.db().count_assets().await.map_err(db_error)?;
            let page = query.number_page(DEFAULT_PAGE_SIZE, Some(total.max(0) as u64))?;
            let Page::Number { number, size, .. } = page else {
                return Err(internal("number_page returned another kind of page"));
            };
            let size = size.clamp(1, MAX_PAGE_SIZE);
            let offset = (number - 1).saturating_mul(size).min(i64::MAX as u64) as i64;
            let assets = state
                .db()
                .list_assets(&query.sort, size as i64, offset)
                .await
                .map_err(db_error)?;
            let context = state.asset_context(&base, &viewer);
            let self_link = format!("{base}{uri}");
            let collection_url = format!("{base}/v2/assets{}", without_page(raw));
            let mut body = to_value(
                collection(&assets, &context)
                    .query(&query)
                    .paginate(&page, &collection_url)
                    .link("self", self_link.as_str())
                    .to_vec(),
            )?;
            // Past the last page, `prev` leads back to the last page (not to the requested
            // page minus one, which may be past the end too).
            let last = (total.max(0) as u64).div_ceil(size).max(1);
            if number > last
                && let Some(links) = body.get_mut("links").and_then(Value::as_object_mut)
                && let Some(Value::String(last_link)) = links.get("last").cloned()
            {
                links.insert("prev".into(), Value::String(last_link));
            }
            Ok(body)
        })
        .await
}

// One argument per axum extractor.
#[allow(clippy::too_many_arguments)]
async fn show_asset(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    _: Negotiated,
    rules: Option<Extension<QueryRules>>,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
) -> Result<Response, ErrorDocument> {
    let query = checked_query::<Asset>(&uri, rules.as_deref(), Shape::Single)?;
    let asset_id = parse_id(&id)?;
    let base = state.base_url(&headers);
    let raw = uri.query().unwrap_or_default();
    state
        .cached_read(
            &["show", &base, &id, raw, &viewer.key()],
            &geo,
            async || {
                let asset = state
                    .db()
                    .asset(asset_id)
                    .await
                    .map_err(db_error)?
                    .ok_or_else(|| not_found_asset(&id))?;
                let context = state.asset_context(&base, &viewer);
                let self_link = format!("{base}{uri}");
                to_value(
                    document(&asset, &context)
                        .query(&query)
                        .link("self", self_link.as_str())
                        .to_vec(),
                )
            },
        )
        .await
}

/// The related-resource link of an asset's owner (`relationships.owner.links.related`).
async fn asset_owner(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: Negotiated,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
) -> Result<Response, ErrorDocument> {
    let query = checked_query::<Owner>(&uri, None, Shape::Single)?;
    let asset = state
        .db()
        .asset(parse_id(&id)?)
        .await
        .map_err(db_error)?
        .ok_or_else(|| not_found_asset(&id))?;
    let base = state.base_url(&headers);
    let context = Context::empty().with_base_url(format!("{base}/v2"));
    let self_link = format!("{base}{uri}");
    let body = to_value(
        document(&asset.owner, &context)
            .query(&query)
            .link("self", self_link.as_str())
            .to_vec(),
    )?;
    Ok(respond(200, body, "off", &geo))
}

/// The relationship link of an asset's owner: its linkage.
async fn asset_owner_linkage(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: Negotiated,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
) -> Result<Response, ErrorDocument> {
    checked_query::<Owner>(&uri, None, Shape::Linkage)?;
    let asset = state
        .db()
        .asset(parse_id(&id)?)
        .await
        .map_err(db_error)?
        .ok_or_else(|| not_found_asset(&id))?;
    let base = state.base_url(&headers);
    let body = json!({
        "links": {
            "self": format!("{base}/v2/assets/{id}/relationships/owner"),
            "related": format!("{base}/v2/assets/{id}/owner"),
        },
        "data": {"type": "owners", "id": asset.owner.id.to_string()},
    });
    Ok(respond(200, body, "off", &geo))
}

async fn show_owner(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: Negotiated,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
) -> Result<Response, ErrorDocument> {
    let missing = || {
        ErrorDocument::from(
            ErrorObject::new(404, "Not Found").with_detail(format!("there is no owner `{id}`")),
        )
    };
    let query = checked_query::<Owner>(&uri, None, Shape::Single)?;
    let owner_id: i64 = id.parse().map_err(|_| missing())?;
    let owner = state
        .db()
        .owner(owner_id)
        .await
        .map_err(db_error)?
        .ok_or_else(missing)?;
    let base = state.base_url(&headers);
    let context = Context::empty().with_base_url(format!("{base}/v2"));
    let self_link = format!("{base}{uri}");
    let body = to_value(
        document(&owner, &context)
            .query(&query)
            .link("self", self_link.as_str())
            .to_vec(),
    )?;
    Ok(respond(200, body, "off", &geo))
}

/// 404 when the owner a request names does not exist (JSON:API: a reference to a related
/// resource that does not exist).
async fn check_owner(state: &AppState, changes: &AssetChanges) -> Result<(), ErrorDocument> {
    if let Some(owner) = changes.owner_id
        && !state.db().owner_exists(owner).await.map_err(db_error)?
    {
        return Err(ErrorObject::new(404, "Owner not found")
            .with_detail(format!("there is no owner `{owner}`"))
            .with_pointer("/data/relationships/owner/data")
            .into());
    }
    Ok(())
}

async fn create_asset(
    State(state): State<AppState>,
    viewer: Viewer,
    rules: Option<Extension<QueryRules>>,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
    JsonApiRequest(create): JsonApiRequest<Create<AssetInput>>,
) -> Result<Response, ErrorDocument> {
    let query = checked_query::<Asset>(&uri, rules.as_deref(), Shape::Single)?;
    let changes = create.resource.validate(None)?;
    check_owner(&state, &changes).await?;
    let id = state.db().insert_asset(&changes).await.map_err(db_error)?;
    let asset = state
        .db()
        .asset(id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| internal(format!("asset {id} vanished after its insert")))?;
    state.after_write(&asset).await;
    let base = state.base_url(&headers);
    let context = state.asset_context(&base, &viewer);
    let body = to_value(document(&asset, &context).query(&query).to_vec())?;
    let mut response = respond(201, body, "off", &geo);
    if let Ok(location) = HeaderValue::from_str(&format!("{base}/v2/assets/{id}")) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

// One argument per axum extractor.
#[allow(clippy::too_many_arguments)]
async fn update_asset(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    rules: Option<Extension<QueryRules>>,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
    JsonApiBody(bytes, _): JsonApiBody,
) -> Result<Response, ErrorDocument> {
    let query = checked_query::<Asset>(&uri, rules.as_deref(), Shape::Single)?;
    let update = Update::<AssetInput>::from_slice(&bytes, Some(&id))?;
    let asset_id = parse_id(&id)?;
    let present = |name: &str| update.is_present(name);
    let changes = update
        .apply(AssetInput::default())?
        .validate(Some(&present))?;
    check_owner(&state, &changes).await?;
    if !state
        .db()
        .update_asset(asset_id, &changes)
        .await
        .map_err(db_error)?
    {
        return Err(not_found_asset(&id));
    }
    let asset = state
        .db()
        .asset(asset_id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| not_found_asset(&id))?;
    state.after_write(&asset).await;
    let base = state.base_url(&headers);
    let context = state.asset_context(&base, &viewer);
    let body = to_value(document(&asset, &context).query(&query).to_vec())?;
    Ok(respond(200, body, "off", &geo))
}

async fn search_assets(
    State(state): State<AppState>,
    viewer: Viewer,
    _: Negotiated,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
) -> Result<Response, ErrorDocument> {
    let mut text = None;
    let mut errors = Vec::new();
    for pair in uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name);
        if name == "q" {
            text = Some(percent_decode(value));
        } else {
            errors.push(
                ErrorObject::new(400, "Unsupported query parameter")
                    .with_detail(format!("`{name}` is not supported here; use q"))
                    .with_parameter(name),
            );
        }
    }
    let text = text.map(|t| t.trim().to_owned()).unwrap_or_default();
    if text.is_empty() {
        errors.push(
            ErrorObject::new(400, "Missing search text")
                .with_detail("pass the text to search for as q, e.g. /v2/search?q=beach")
                .with_parameter("q"),
        );
    }
    if !errors.is_empty() {
        return Err(ErrorDocument::new(errors));
    }
    let Some(search) = &state.0.search else {
        return Err(ErrorObject::new(503, "Search is not configured")
            .with_detail("this server runs without a search server; set REEL_ES_URL to an Elasticsearch or OpenSearch URL and restart")
            .into());
    };
    if !search.is_ready() {
        return Err(search_unavailable(
            "the search index is being built; the search server was unreachable",
        ));
    }
    let (ids, total) = match search_once(search, &text).await? {
        Ok(found) => found,
        Err(error) if search::index_missing(&error) => {
            // Someone deleted the index: build it from the database and ask again.
            tracing::warn!(%error, "search index missing; rebuilding it from the database");
            let assets = state.db().all_assets().await.map_err(db_error)?;
            search.catch_up(assets).await.map_err(|problem| {
                search_unavailable(&format!(
                    "the index was missing and could not be rebuilt: {problem}"
                ))
            })?;
            search_once(search, &text).await?.map_err(search_failed)?
        }
        Err(error) => {
            if matches!(error, reel_search::Error::Transport(_)) {
                // The server may have restarted without its index: check and catch up.
                search.fell_behind(error.to_string());
            }
            return Err(search_failed(error));
        }
    };
    let assets = state.db().assets_by_ids(&ids).await.map_err(db_error)?;
    let base = state.base_url(&headers);
    let context = state.asset_context(&base, &viewer);
    let self_link = format!("{base}{uri}");
    let body = to_value(
        collection(&assets, &context)
            .link("self", self_link.as_str())
            .meta("total", total)
            .meta("q", text)
            .to_vec(),
    )?;
    Ok(respond(200, body, "off", &geo))
}

/// One search, given up after [`search::SEARCH_TIMEOUT`] with a 503 (the outer `Err`): a
/// server that stops answering costs a request one second, not the client's minute.
async fn search_once(
    search: &search::AssetSearch,
    text: &str,
) -> Result<Result<(Vec<i64>, u64), reel_search::Error>, ErrorDocument> {
    tokio::time::timeout(
        search::SEARCH_TIMEOUT,
        search.search(text, DEFAULT_PAGE_SIZE),
    )
    .await
    .map_err(|_| {
        let problem = format!(
            "the search server did not answer within {} ms",
            search::SEARCH_TIMEOUT.as_millis()
        );
        search.fell_behind(problem.clone());
        search_unavailable(&problem)
    })
}

/// A 503 document for a search that cannot be served now (`Retry-After` is added by
/// [`country_on_errors`] to every 503).
fn search_unavailable(detail: &str) -> ErrorDocument {
    ErrorObject::new(503, "Search unavailable")
        .with_detail(format!("{detail}; try again shortly"))
        .into()
}

/// A document saying what the search server did: a 503 when it did not answer (try again
/// later), a 502 with its error when it answered one.
fn search_failed(error: reel_search::Error) -> ErrorDocument {
    tracing::error!(%error, "search failed");
    match &error {
        reel_search::Error::Transport(_) => {
            search_unavailable("the search server did not answer; check that it runs (REEL_ES_URL)")
        }
        reel_search::Error::CircuitOpen { .. } => search_unavailable(
            "the search server failed repeatedly; searches are paused until a probe succeeds",
        ),
        reel_search::Error::Api {
            status,
            kind,
            reason,
            ..
        } => ErrorObject::new(502, "Search failed")
            .with_detail(format!(
                "the search server answered {status} ({kind}): {reason}"
            ))
            .into(),
        other => ErrorObject::new(502, "Search failed")
            .with_detail(format!("the search failed: {other}"))
            .into(),
    }
}

async fn health(State(state): State<AppState>) -> Response {
    let mut healthy = true;
    let mut database = match state.db().ping().await {
        Ok(()) => json!({"ok": true, "kind": state.db().kind().name()}),
        Err(error) => {
            healthy = false;
            json!({"ok": false, "kind": state.db().kind().name(), "error": error.to_string()})
        }
    };
    database["breaker"] = state.db().breaker_report();
    let rate_limit = match &state.0.limit_store {
        LimitStore::Memory => json!({"ok": true, "store": "memory"}),
        LimitStore::Memcache => json!({"ok": true, "store": "memcache"}),
        LimitStore::Redis(connection) => {
            let mut connection = connection.clone();
            match redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
            {
                // Fail-open: the limiter admits requests while redis is down, so the service
                // is degraded rather than down.
                Ok(_) => json!({"ok": true, "store": "redis"}),
                Err(error) => {
                    healthy = false;
                    json!({"ok": false, "store": "redis", "error": error.to_string()})
                }
            }
        }
    };
    let cache = match &state.0.cache {
        Some(cache) => {
            let (ok, report) = cache.health().await;
            healthy &= ok;
            report
        }
        None => json!({"ok": true, "backend": "none"}),
    };
    let search = match &state.0.search {
        Some(search) => {
            let (ok, report) = search.health().await;
            healthy &= ok;
            report
        }
        None => json!({"ok": true, "configured": false}),
    };
    let (geo_ok, geo) = state.0.geo.health();
    healthy &= geo_ok;
    let down: Vec<&str> = [
        ("database", &database),
        ("rateLimit", &rate_limit),
        ("cache", &cache),
        ("search", &search),
        ("geoip", &geo),
    ]
    .into_iter()
    .filter(|(_, report)| report["ok"] == Value::Bool(false))
    .map(|(name, _)| name)
    .collect();
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "down": down,
        "backends": {
            "database": database,
            "rateLimit": rate_limit,
            "cache": cache,
            "search": search,
            "geoip": geo,
            "cloudfront": {"ok": true, "keyPairId": state.0.downloads.key_pair_id()},
        },
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}
