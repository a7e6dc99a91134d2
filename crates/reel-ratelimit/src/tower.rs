//! A tower [`Layer`] that rate-limits HTTP requests and reports the limit in headers.
//!
//! ```
//! use std::time::Duration;
//! use reel_core::client_ip::{ClientIpResolver, TrustedProxies};
//! use reel_ratelimit::tower::{KeyExtractor, RateLimitLayer};
//! use reel_ratelimit::{Limit, MemoryStore, Quota, RateLimiter};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let limiter = RateLimiter::new(MemoryStore::new());
//! let layer = RateLimitLayer::new(limiter, "100/min burst 20".parse()?)
//!     // The client IP, believing X-Forwarded-For from the load balancers only.
//!     .key(KeyExtractor::client_ip(ClientIpResolver::new("10.0.0.0/8".parse()?)))
//!     // And at most 10,000 a day; the tightest limit decides.
//!     .limit(Limit::new("day", "10000/day".parse()?))
//!     // Logins get their own, stricter bucket (`/login/` and `//login` too).
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

// Who a request is limited as (`key.rs`) and what the response says about it
// (`headers.rs`); the layer and its service are here.
mod headers;
mod key;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use reel_core::client_ip::ClientIpResolver;
use reel_core::{Clock, SharedClock, SystemClock};
use tower_layer::Layer;
use tower_service::Service;

use crate::limiter::{Limit, RateLimiter, Verdict};
use crate::quota::{Decision, Quota};
use crate::store::BoxFuture;
use headers::{default_rejection, keyless_rejection, too_costly};
use key::{Policy, RouteQuota, path_segments, route_name};

pub use headers::{
    RATELIMIT, RATELIMIT_POLICY, ResetFormat, X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING,
    X_RATELIMIT_RESET,
};
pub use key::{KeyExtractor, KeylessPolicy};

/// The parts of a request that extractors, cost functions and hooks see.
pub type RequestHead = Request<()>;

type KeyFn = dyn Fn(&RequestHead) -> Option<String> + Send + Sync;
type CostFn = dyn Fn(&RequestHead) -> u32 + Send + Sync;
type RejectFn = dyn Fn(&Decision) -> Response<String> + Send + Sync;
type HookFn = dyn Fn(&DecisionEvent<'_>) + Send + Sync;

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
    /// The decision reported in `X-RateLimit-*`: the tightest enforced limit's (see
    /// [`Verdict::deciding`]). When every limit is in shadow mode, the first limit's.
    pub decision: &'a Decision,
    /// Every limit's outcome, shadow limits included.
    pub verdict: &'a Verdict,
    /// Whether the request had no key and the [`KeylessPolicy`] supplied one (`key` is then
    /// `peer <ip>` or `keyless`, in buckets apart from every extracted key).
    pub keyless: bool,
}

#[derive(Clone)]
struct Config {
    limiter: RateLimiter,
    default_policy: Option<Policy>,
    routes: Vec<RouteQuota>,
    key: KeyExtractor,
    keyless: KeylessPolicy,
    keyless_warned: Arc<AtomicBool>,
    cost: Option<Arc<CostFn>>,
    ietf: bool,
    legacy: bool,
    reset_format: ResetFormat,
    clock: SharedClock,
    shadow: bool,
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
/// With several limits on a request ([`limit`](Self::limit), [`route_limits`](Self::route_limits))
/// the tightest decides: `X-RateLimit-*` and `Retry-After` describe it (see
/// [`Verdict::deciding`]) and the IETF fields list every enforced limit. Shadow limits
/// ([`Limit::shadow`], [`shadow`](Self::shadow)) never reject and are not sent to clients;
/// the decision hook, `tracing` and [`LimiterStats::shadow_denied`](crate::LimiterStats)
/// report them.
///
/// When the store failed and the [`FailurePolicy`](crate::FailurePolicy) decided, the limit
/// headers are left out (the bucket's state is unknown); a fail-closed 429 still carries
/// `Retry-After` (one emission interval).
///
/// A request whose cost exceeds an enforced limit's burst can never be admitted: it is
/// answered `413 Content Too Large` with a body that says so, and no `Retry-After`.
#[derive(Clone)]
pub struct RateLimitLayer {
    config: Arc<Config>,
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.config.limiter)
            .field("default_policy", &self.config.default_policy)
            .field("routes", &self.config.routes)
            .field("keyless", &self.config.keyless)
            .field("ietf_headers", &self.config.ietf)
            .field("reset_format", &self.config.reset_format)
            .field("shadow", &self.config.shadow)
            .finish_non_exhaustive()
    }
}

impl RateLimitLayer {
    /// Limits every request by client IP (the TCP peer; no proxy trusted) to `quota` (a
    /// limit named `default`).
    pub fn new(limiter: RateLimiter, quota: Quota) -> Self {
        Self::base(limiter, Some(Policy::new("default", quota)))
    }

    /// Limits only the routes added with [`route`](Self::route); other requests pass.
    pub fn routes_only(limiter: RateLimiter) -> Self {
        Self::base(limiter, None)
    }

    fn base(limiter: RateLimiter, default_policy: Option<Policy>) -> Self {
        Self::with_config(Config {
            limiter,
            default_policy,
            routes: Vec::new(),
            key: KeyExtractor::client_ip(ClientIpResolver::default()),
            keyless: KeylessPolicy::default(),
            keyless_warned: Arc::new(AtomicBool::new(false)),
            cost: None,
            ietf: false,
            legacy: true,
            reset_format: ResetFormat::default(),
            clock: Arc::new(SystemClock),
            shadow: false,
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
        f(Arc::make_mut(&mut self.config));
    }

    /// Where the bucket key comes from (default: the TCP peer's IP).
    pub fn key(mut self, key: KeyExtractor) -> Self {
        self.update(|c| c.key = key);
        self
    }

    /// What to do with a request that has no key (default
    /// [`KeylessPolicy::PeerAddress`]).
    pub fn keyless(mut self, policy: KeylessPolicy) -> Self {
        self.update(|c| c.keyless = policy);
        self
    }

    /// Adds a limit to the default policy (the one [`new`](Self::new) set up, or a new one
    /// for requests no route matches): every request is then decided under all of them and
    /// the tightest decides — `10/s` and `1000/day`, say. See
    /// [`RateLimiter::check_limits`] for the order and what is charged.
    pub fn limit(mut self, limit: Limit) -> Self {
        self.update(|c| {
            let limit = if c.shadow { limit.shadow() } else { limit };
            match &mut c.default_policy {
                Some(policy) => policy.limits.push(limit),
                None => {
                    c.default_policy = Some(Policy {
                        name: Arc::from("default"),
                        limits: vec![limit],
                    })
                }
            }
        });
        self
    }

    /// A quota for requests to `path`, optionally only for one method. `path` matches by
    /// segments, as a router does: `/login` matches `/login`, `/login/` and `//login` but not
    /// `/login/x` or `/loginx`; ending it in `*` (`/api*` or `/api/*`) also matches every
    /// path below (`/api/v1/users`, but never `/apiary`). A route axum matched
    /// (`MatchedPath`, such as `/users/{id}`) is matched the same way, so a route quota may
    /// name a route template. Routes are tried in the order added; each has its own
    /// buckets, named after the path in headers and keys.
    pub fn route(self, method: Option<Method>, path: &str, quota: Quota) -> Self {
        let name = route_name(method.as_ref(), path);
        self.route_limits(method, path, vec![Limit::new(name, quota)])
    }

    /// Several limits for requests to `path` (matched as in [`route`](Self::route)),
    /// decided together; the tightest decides. Buckets are named after the path and each
    /// limit's name.
    pub fn route_limits(mut self, method: Option<Method>, path: &str, limits: Vec<Limit>) -> Self {
        let name: Arc<str> = Arc::from(route_name(method.as_ref(), path));
        let (path, prefix) = match path.strip_suffix('*') {
            Some(stripped) => (stripped, true),
            None => (path, false),
        };
        let segments = path_segments(path)
            .into_iter()
            .map(Cow::into_owned)
            .collect();
        self.update(|c| {
            let limits = if c.shadow {
                limits.into_iter().map(Limit::shadow).collect()
            } else {
                limits
            };
            c.routes.push(RouteQuota {
                method,
                segments,
                prefix,
                policy: Policy { name, limits },
            })
        });
        self
    }

    /// Shadow mode for the whole layer: every limit, including those added afterwards,
    /// becomes a shadow limit ([`Limit::shadow`]) — decided and reported (decision hook,
    /// `tracing`, [`LimiterStats::shadow_denied`](crate::LimiterStats)) but never rejecting,
    /// and no rate-limit header is sent. Roll a new limit out this way and watch what it
    /// would refuse before enforcing it.
    pub fn shadow(mut self) -> Self {
        self.update(|c| {
            c.shadow = true;
            let policies = c
                .default_policy
                .iter_mut()
                .chain(c.routes.iter_mut().map(|route| &mut route.policy));
            for policy in policies {
                for limit in &mut policy.limits {
                    *limit = limit.clone().shadow();
                }
            }
        });
        self
    }

    /// How `X-RateLimit-Reset` is written (default: seconds from now).
    pub fn reset_format(mut self, format: ResetFormat) -> Self {
        self.update(|c| c.reset_format = format);
        self
    }

    /// The clock for [`ResetFormat::EpochSeconds`] (default: the system clock; give the
    /// store's clock when it is not the system's).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.update(|c| c.clock = Arc::new(clock));
        self
    }

    /// What a request costs (default 1). A cost above an enforced limit's burst is refused
    /// with `413 Content Too Large` and no `Retry-After` (it would never be admitted).
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
            let Some(policy) = config.policy_for(&head) else {
                let (parts, ()) = head.into_parts();
                return inner.call(Request::from_parts(parts, body)).await;
            };
            let (key, keyless) = match config.key.extract(&head) {
                Some(key) => (key, false),
                None => match config.keyless_key(&head) {
                    Ok(Some(key)) => (key, true),
                    Ok(None) => {
                        let (parts, ()) = head.into_parts();
                        return inner.call(Request::from_parts(parts, body)).await;
                    }
                    Err((status, message)) => {
                        let (parts, body) = keyless_rejection(status, message).into_parts();
                        return Ok(Response::from_parts(parts, ResBody::from(body)));
                    }
                },
            };
            let cost = config.cost.as_ref().map_or(1, |cost| cost(&head));
            let buckets = if keyless {
                // A control character cannot occur in a header value, so these buckets are
                // apart from every key a header extractor can produce.
                policy.buckets(&format!("\u{1}{key}"))
            } else {
                policy.buckets(&key)
            };
            let checks: Vec<(&str, &Limit)> = buckets
                .iter()
                .map(String::as_str)
                .zip(policy.limits.iter())
                .collect();
            let verdict = match config.limiter.check_limits(&checks, cost).await {
                Ok(verdict) => verdict,
                Err(error) => {
                    tracing::debug!(%error, policy = %policy.name, "request can never be admitted");
                    let response = too_costly(policy, cost);
                    let (parts, body) = response.into_parts();
                    return Ok(Response::from_parts(parts, ResBody::from(body)));
                }
            };
            if let Some(hook) = &config.hook
                && let Some(decision) = verdict
                    .decision()
                    .or_else(|| verdict.outcomes().first().map(|o| &o.decision))
            {
                hook(&DecisionEvent {
                    request: &head,
                    policy: &policy.name,
                    key: &key,
                    cost,
                    decision,
                    verdict: &verdict,
                    keyless,
                });
            }
            if verdict.is_allowed() {
                let (parts, ()) = head.into_parts();
                let mut response = inner.call(Request::from_parts(parts, body)).await?;
                config.set_headers(response.headers_mut(), &verdict, false);
                Ok(response)
            } else if let Some(decision) = verdict.decision() {
                let response = (config.reject)(decision);
                let (mut parts, body) = response.into_parts();
                config.set_headers(&mut parts.headers, &verdict, true);
                Ok(Response::from_parts(parts, ResBody::from(body)))
            } else {
                // Unreachable: a refusal always has a deciding limit.
                let (parts, ()) = head.into_parts();
                inner.call(Request::from_parts(parts, body)).await
            }
        })
    }
}
