//! A tower [`Layer`] that rate-limits HTTP requests and reports the limit in headers.
//!
//! ```
//! use std::time::Duration;
//! use reel_core::client_ip::{ClientIpResolver, TrustedProxies};
//! use reel_ratelimit::tower::{KeyExtractor, RateLimitLayer};
//! use reel_ratelimit::{MemoryStore, Quota, RateLimiter};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let limiter = RateLimiter::new(MemoryStore::new());
//! let layer = RateLimitLayer::new(limiter, "100/min burst 20".parse()?)
//!     // The client IP, believing X-Forwarded-For from the load balancers only.
//!     .key(KeyExtractor::client_ip(ClientIpResolver::new("10.0.0.0/8".parse()?)))
//!     // Logins get their own, stricter bucket.
//!     .route(Some(http::Method::POST), "/login", "5/min".parse()?)
//!     // Exports cost ten requests.
//!     .cost(|request| if request.uri().path().starts_with("/export") { 10 } else { 1 })
//!     .ietf_headers(true);
//! // axum: Router::new().route(..).layer(layer)
//! # let _ = layer; Ok(()) }
//! ```
//!
//! The peer address comes from [`reel_core::client_ip::peer_addr`], the function every reel
//! crate uses: axum's `ConnectInfo<SocketAddr>` (with feature `axum`), else a
//! `std::net::SocketAddr` request extension (insert it in a hyper service).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use reel_core::client_ip::ClientIpResolver;
use tower_layer::Layer;
use tower_service::Service;

use crate::limiter::RateLimiter;
use crate::quota::{Decision, Quota};
use crate::store::BoxFuture;

/// `X-RateLimit-Limit`: the bucket size.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`: requests left now.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`: seconds until the bucket is empty again.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
/// `RateLimit-Policy` (IETF draft).
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (IETF draft).
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The parts of a request that extractors, cost functions and hooks see.
pub type RequestHead = Request<()>;

type KeyFn = dyn Fn(&RequestHead) -> Option<String> + Send + Sync;
type CostFn = dyn Fn(&RequestHead) -> u32 + Send + Sync;
type RejectFn = dyn Fn(&Decision) -> Response<String> + Send + Sync;
type HookFn = dyn Fn(&DecisionEvent<'_>) + Send + Sync;

/// Where a request's bucket key comes from.
#[derive(Clone)]
pub struct KeyExtractor(Arc<KeyFn>);

impl fmt::Debug for KeyExtractor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyExtractor(..)")
    }
}

impl KeyExtractor {
    /// The client IP: the TCP peer, or the address that trusted proxies forwarded in the one
    /// header `resolver` reads (see [`reel_core::client_ip`] for the presets). IPv6 clients
    /// are keyed by their /64, since one host usually owns a whole /64.
    pub fn client_ip(resolver: ClientIpResolver) -> Self {
        Self(Arc::new(move |request: &RequestHead| {
            resolver.resolve_request(request).map(ip_key)
        }))
    }

    /// The method and path, for one global bucket per endpoint.
    pub fn route_and_method() -> Self {
        Self(Arc::new(|request: &RequestHead| {
            Some(format!("{} {}", request.method(), request.uri().path()))
        }))
    }

    /// A header's value, such as an API key; requests without it are not limited by this
    /// layer (put the key check first). The value is used as is: keep keys short.
    pub fn header(name: HeaderName) -> Self {
        Self(Arc::new(move |request: &RequestHead| {
            let value = request.headers().get(&name)?;
            Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
        }))
    }

    /// Any function of the request; `None` leaves the request unlimited.
    pub fn from_fn(f: impl Fn(&RequestHead) -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    fn extract(&self, request: &RequestHead) -> Option<String> {
        (self.0)(request)
    }
}

fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// What the decision hook sees.
#[derive(Debug)]
#[non_exhaustive]
pub struct DecisionEvent<'a> {
    /// The request (head only).
    pub request: &'a RequestHead,
    /// The policy name (`default` or the route's).
    pub policy: &'a str,
    /// The bucket key, before the policy prefix.
    pub key: &'a str,
    /// The request's cost.
    pub cost: u32,
    /// The decision.
    pub decision: &'a Decision,
}

#[derive(Debug, Clone)]
struct RouteQuota {
    name: String,
    method: Option<Method>,
    path: String,
    prefix: bool,
    quota: Quota,
}

impl RouteQuota {
    fn matches(&self, request: &RequestHead) -> bool {
        self.method.as_ref().is_none_or(|m| m == request.method())
            && if self.prefix {
                request.uri().path().starts_with(&self.path)
            } else {
                request.uri().path() == self.path
            }
    }
}

struct Config {
    limiter: RateLimiter,
    default_quota: Option<Quota>,
    routes: Vec<RouteQuota>,
    key: KeyExtractor,
    cost: Option<Arc<CostFn>>,
    ietf: bool,
    legacy: bool,
    reject: Arc<RejectFn>,
    hook: Option<Arc<HookFn>>,
}

/// Rate-limits an HTTP service; see the [module docs](self).
///
/// Every limited response carries `X-RateLimit-Limit` (the burst), `X-RateLimit-Remaining`
/// and `X-RateLimit-Reset` (seconds until the bucket is empty, rounded up); a 429 also
/// carries `Retry-After` (seconds, rounded up, so a client that waits that long is
/// admitted). With [`ietf_headers`](Self::ietf_headers) it adds the fields of
/// draft-ietf-httpapi-ratelimit-headers-09/-10 in their structured-field form:
/// `RateLimit-Policy: "default";q=20;w=12` (quota = burst, window = seconds to refill a
/// full bucket) and `RateLimit: "default";r=19;t=1` (remaining, seconds until reset).
///
/// When the store failed and the [`FailurePolicy`](crate::FailurePolicy) decided, the limit
/// headers are left out (the bucket's state is unknown); a fail-closed 429 still carries
/// `Retry-After` (one emission interval).
#[derive(Clone)]
pub struct RateLimitLayer {
    config: Arc<Config>,
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.config.limiter)
            .field("default_quota", &self.config.default_quota)
            .field("routes", &self.config.routes)
            .field("ietf_headers", &self.config.ietf)
            .finish_non_exhaustive()
    }
}

impl RateLimitLayer {
    /// Limits every request by client IP (the TCP peer; no proxy trusted) to `quota`.
    pub fn new(limiter: RateLimiter, quota: Quota) -> Self {
        Self::base(limiter, Some(quota))
    }

    /// Limits only the routes added with [`route`](Self::route); other requests pass.
    pub fn routes_only(limiter: RateLimiter) -> Self {
        Self::base(limiter, None)
    }

    fn base(limiter: RateLimiter, default_quota: Option<Quota>) -> Self {
        Self::with_config(Config {
            limiter,
            default_quota,
            routes: Vec::new(),
            key: KeyExtractor::client_ip(ClientIpResolver::default()),
            cost: None,
            ietf: false,
            legacy: true,
            reject: Arc::new(default_rejection),
            hook: None,
        })
    }

    fn with_config(config: Config) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    fn update(&mut self, f: impl FnOnce(&mut Config)) {
        match Arc::get_mut(&mut self.config) {
            Some(config) => f(config),
            None => {
                let c = &self.config;
                let mut copy = Config {
                    limiter: c.limiter.clone(),
                    default_quota: c.default_quota,
                    routes: c.routes.clone(),
                    key: c.key.clone(),
                    cost: c.cost.clone(),
                    ietf: c.ietf,
                    legacy: c.legacy,
                    reject: c.reject.clone(),
                    hook: c.hook.clone(),
                };
                f(&mut copy);
                self.config = Arc::new(copy);
            }
        }
    }

    /// Where the bucket key comes from (default: the TCP peer's IP).
    pub fn key(mut self, key: KeyExtractor) -> Self {
        self.update(|c| c.key = key);
        self
    }

    /// A quota for requests to `path` (exact, or a prefix when it ends in `*`), optionally
    /// only for one method. Routes are tried in the order added; each has its own buckets,
    /// named after the path in headers and keys.
    pub fn route(mut self, method: Option<Method>, path: &str, quota: Quota) -> Self {
        let (path, prefix) = match path.strip_suffix('*') {
            Some(stripped) => (stripped.to_owned(), true),
            None => (path.to_owned(), false),
        };
        let name = match &method {
            Some(method) => format!("{method} {path}{}", if prefix { "*" } else { "" }),
            None => format!("{path}{}", if prefix { "*" } else { "" }),
        };
        self.update(|c| {
            c.routes.push(RouteQuota {
                name,
                method,
                path,
                prefix,
                quota,
            })
        });
        self
    }

    /// What a request costs (default 1). A cost above the quota's burst is rejected with 429
    /// and no `Retry-After` (it would never be admitted).
    pub fn cost(mut self, cost: impl Fn(&RequestHead) -> u32 + Send + Sync + 'static) -> Self {
        self.update(|c| c.cost = Some(Arc::new(cost)));
        self
    }

    /// Adds the IETF `RateLimit-Policy` and `RateLimit` fields (default off).
    pub fn ietf_headers(mut self, enabled: bool) -> Self {
        self.update(|c| c.ietf = enabled);
        self
    }

    /// Whether to send the `X-RateLimit-*` headers (default on).
    pub fn x_ratelimit_headers(mut self, enabled: bool) -> Self {
        self.update(|c| c.legacy = enabled);
        self
    }

    /// Builds the 429 response (default: `429 Too Many Requests`, a plain-text body). The
    /// rate-limit headers and `Retry-After` are added afterwards unless already set.
    pub fn on_reject(
        mut self,
        reject: impl Fn(&Decision) -> Response<String> + Send + Sync + 'static,
    ) -> Self {
        self.update(|c| c.reject = Arc::new(reject));
        self
    }

    /// Calls `hook` with every decision (admitted, denied, or made by the failure policy).
    pub fn on_decision(
        mut self,
        hook: impl Fn(&DecisionEvent<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.update(|c| c.hook = Some(Arc::new(hook)));
        self
    }
}

fn default_rejection(decision: &Decision) -> Response<String> {
    let body = match decision.retry_after() {
        Some(wait) => format!("Too Many Requests: retry in {} s\n", ceil_secs(wait)),
        None => "Too Many Requests\n".to_owned(),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service [`RateLimitLayer`] wraps around another.
#[derive(Clone)]
pub struct RateLimitService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for RateLimitService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for RateLimitService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone is not ready; keep the ready one for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let head = Request::from_parts(parts, ());
            let Some((policy, quota)) = config.policy_for(&head) else {
                let (parts, ()) = head.into_parts();
                return inner.call(Request::from_parts(parts, body)).await;
            };
            let Some(key) = config.key.extract(&head) else {
                tracing::debug!(
                    path = head.uri().path(),
                    "no rate-limit key for request; not limited"
                );
                let (parts, ()) = head.into_parts();
                return inner.call(Request::from_parts(parts, body)).await;
            };
            let cost = config.cost.as_ref().map_or(1, |cost| cost(&head));
            let bucket = format!("{policy}|{key}");
            let decision = match config.limiter.check_n(&bucket, &quota, cost).await {
                Ok(decision) => decision,
                Err(error) => {
                    tracing::warn!(%error, policy, "request can never be admitted");
                    Decision::never(&quota)
                }
            };
            if let Some(hook) = &config.hook {
                hook(&DecisionEvent {
                    request: &head,
                    policy,
                    key: &key,
                    cost,
                    decision: &decision,
                });
            }
            if decision.is_allowed() {
                let (parts, ()) = head.into_parts();
                let mut response = inner.call(Request::from_parts(parts, body)).await?;
                config.set_headers(response.headers_mut(), policy, &quota, &decision, false);
                Ok(response)
            } else {
                let response = (config.reject)(&decision);
                let (mut parts, body) = response.into_parts();
                config.set_headers(&mut parts.headers, policy, &quota, &decision, true);
                Ok(Response::from_parts(parts, ResBody::from(body)))
            }
        })
    }
}

impl Config {
    fn policy_for(&self, request: &RequestHead) -> Option<(&str, Quota)> {
        self.routes
            .iter()
            .find(|route| route.matches(request))
            .map(|route| (route.name.as_str(), route.quota))
            .or_else(|| self.default_quota.map(|quota| ("default", quota)))
    }

    fn set_headers(
        &self,
        headers: &mut http::HeaderMap,
        policy: &str,
        quota: &Quota,
        decision: &Decision,
        rejected: bool,
    ) {
        if decision.is_fallback() {
            // The store did not answer: the bucket's state is unknown, so no figures are
            // claimed; a fail-closed rejection still says when to come back.
            if rejected && let Some(wait) = decision.retry_after() {
                set_default(headers, RETRY_AFTER, ceil_secs(wait).to_string());
            }
            return;
        }
        let reset = ceil_secs(decision.reset());
        if self.legacy {
            set_default(headers, X_RATELIMIT_LIMIT, decision.limit().to_string());
            set_default(
                headers,
                X_RATELIMIT_REMAINING,
                decision.remaining().to_string(),
            );
            set_default(headers, X_RATELIMIT_RESET, reset.to_string());
        }
        if self.ietf {
            let name = sf_string(policy);
            set_default(
                headers,
                RATELIMIT_POLICY,
                format!(
                    "{name};q={};w={}",
                    quota.burst(),
                    ceil_secs(quota.capacity())
                ),
            );
            set_default(
                headers,
                RATELIMIT,
                format!("{name};r={};t={reset}", decision.remaining()),
            );
        }
        if rejected && let Some(wait) = decision.retry_after() {
            set_default(headers, RETRY_AFTER, ceil_secs(wait).to_string());
        }
    }
}

fn set_default(headers: &mut http::HeaderMap, name: HeaderName, value: String) {
    if headers.contains_key(&name) {
        return;
    }
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(name, value);
    }
}

/// A structured-field string: quoted, with `"` and `\` escaped and non-ASCII dropped.
fn sf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars().filter(|c| (' '..='~').contains(c)) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}
