//! Who a request is limited as, and under which policy: the [`KeyExtractor`]s, the
//! [`KeylessPolicy`] for requests without a key, the named policies with their bucket keys,
//! and the route quotas with the path normalisation that keeps `/login/`, `//login` and
//! `/%6Cogin` in the `/login` bucket.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::header::HeaderName;
use http::{Method, StatusCode};
use reel_core::client_ip::ClientIpResolver;

use super::{Config, KeyFn, RequestHead};
use crate::limiter::Limit;
use crate::quota::Quota;

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

    /// The method and route, for one global bucket per endpoint: the route axum matched
    /// (`MatchedPath`, such as `/users/{id}`, with feature `axum`) when there is one, so that
    /// `/users/1` and `/users/2` share a bucket; otherwise the path with empty and `.`
    /// segments removed and `..` applied, so that `/login/` and `//login` are `/login`.
    pub fn route_and_method() -> Self {
        Self(Arc::new(|request: &RequestHead| {
            if let Some(route) = matched_path(request) {
                return Some(format!("{} {route}", request.method()));
            }
            let mut key = format!("{} ", request.method());
            for segment in path_segments(request.uri().path()) {
                key.push('/');
                key.push_str(&segment);
            }
            if key.ends_with(' ') {
                key.push('/');
            }
            Some(key)
        }))
    }

    /// A header's value, such as an API key. A request without it gets the layer's
    /// [`KeylessPolicy`]. Long values are fine: stores digest keys longer than
    /// [`MAX_KEY_BYTES`](crate::MAX_KEY_BYTES).
    pub fn header(name: HeaderName) -> Self {
        Self(Arc::new(move |request: &RequestHead| {
            let value = request.headers().get(&name)?;
            Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
        }))
    }

    /// Any function of the request; `None` means the request has no key, and the layer's
    /// [`KeylessPolicy`] applies.
    pub fn from_fn(f: impl Fn(&RequestHead) -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    pub(super) fn extract(&self, request: &RequestHead) -> Option<String> {
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

/// The route axum matched for the request, if any.
fn matched_path(request: &RequestHead) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(path) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Some(path.as_str());
    }
    let _ = request;
    None
}

/// A path's segments as a router sees them: empty and `.` segments dropped, `..` applied,
/// percent-escapes decoded (so `/login/`, `//login`, `/./login` and `/%6Cogin` are all
/// `["login"]`).
pub(super) fn path_segments(path: &str) -> Vec<Cow<'_, str>> {
    let mut segments: Vec<Cow<'_, str>> = Vec::new();
    for raw in path.split('/') {
        let segment = percent_decode(raw);
        match &*segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    segments
}

fn percent_decode(segment: &str) -> Cow<'_, str> {
    if !segment.contains('%') {
        return Cow::Borrowed(segment);
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// What the layer does with a request whose [`KeyExtractor`] found no key (a missing API-key
/// header, a service served without the peer address).
///
/// A keyless request is never silently unlimited unless [`Unlimited`](Self::Unlimited) is
/// chosen; the first keyless request is logged as a warning (later ones at debug level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeylessPolicy {
    /// Limit it by the TCP peer's IP instead (IPv6 by /64), in buckets of their own (the
    /// default). Without a peer address either — a service not served with `ConnectInfo`
    /// or a `SocketAddr` extension — the request is refused with `500 Internal Server
    /// Error`, since the limit cannot hold.
    #[default]
    PeerAddress,
    /// Refuse it with this status (for example `400 Bad Request` or `401 Unauthorized` for
    /// a missing API key) and a plain-text body saying why.
    Reject(StatusCode),
    /// Limit every keyless request together, in one shared bucket.
    Shared,
    /// Let it through unlimited. Opt-in only: it removes the limit for any client that
    /// leaves the key out.
    Unlimited,
}

/// A named set of limits (`default`, or a route's).
#[derive(Debug, Clone)]
pub(super) struct Policy {
    pub(super) name: Arc<str>,
    pub(super) limits: Vec<Limit>,
}

impl Policy {
    pub(super) fn new(name: impl Into<Arc<str>>, quota: Quota) -> Self {
        let name = name.into();
        Self {
            limits: vec![Limit::new(name.clone(), quota)],
            name,
        }
    }

    /// The bucket key of each limit: `<policy>|<key>` for the policy's own limit,
    /// `<policy>/<limit>|<key>` for the others.
    pub(super) fn buckets(&self, key: &str) -> Vec<String> {
        self.limits
            .iter()
            .map(|limit| {
                if limit.name() == &*self.name {
                    format!("{}|{key}", self.name)
                } else {
                    format!("{}/{}|{key}", self.name, limit.name())
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub(super) struct RouteQuota {
    pub(super) method: Option<Method>,
    pub(super) segments: Vec<String>,
    pub(super) prefix: bool,
    pub(super) policy: Policy,
}

impl RouteQuota {
    fn matches(&self, request: &RequestHead, path: &[Cow<'_, str>]) -> bool {
        if self.method.as_ref().is_some_and(|m| m != request.method()) {
            return false;
        }
        // The path as a router sees it, and the route axum matched: either one matching is
        // enough, so neither a path variant nor a route template escapes a quota.
        self.matches_segments(path)
            || matched_path(request)
                .is_some_and(|route| self.matches_segments(&path_segments(route)))
    }

    fn matches_segments(&self, path: &[Cow<'_, str>]) -> bool {
        let head = self.segments.iter().map(String::as_str);
        if self.prefix {
            path.len() >= self.segments.len()
                && head.zip(path.iter()).all(|(want, got)| want == got)
        } else {
            path.len() == self.segments.len()
                && head.zip(path.iter()).all(|(want, got)| want == got)
        }
    }
}

impl Config {
    pub(super) fn policy_for(&self, request: &RequestHead) -> Option<&Policy> {
        if !self.routes.is_empty() {
            let path = path_segments(request.uri().path());
            if let Some(route) = self
                .routes
                .iter()
                .find(|route| route.matches(request, &path))
            {
                return Some(&route.policy);
            }
        }
        self.default_policy.as_ref()
    }

    /// The key for a request the extractor found none for, `Ok(None)` to let it through
    /// unlimited, or the response that refuses it.
    pub(super) fn keyless_key(
        &self,
        request: &RequestHead,
    ) -> Result<Option<String>, (StatusCode, &str)> {
        if self.keyless_warned.swap(true, Ordering::Relaxed) {
            tracing::debug!(path = request.uri().path(), policy = ?self.keyless, "request without a rate-limit key");
        } else {
            tracing::warn!(
                path = request.uri().path(),
                policy = ?self.keyless,
                "request without a rate-limit key (missing header? service not served with ConnectInfo?); applying the keyless policy, logged once"
            );
        }
        match self.keyless {
            KeylessPolicy::PeerAddress => {
                match reel_core::client_ip::peer_addr(request.extensions()) {
                    Some(peer) => Ok(Some(format!("peer {}", ip_key(peer.ip())))),
                    None => Err((
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the rate limiter found neither a key nor the client's address; serve the app with `into_make_service_with_connect_info::<SocketAddr>()` (axum) or insert the peer `SocketAddr` as a request extension",
                    )),
                }
            }
            KeylessPolicy::Reject(status) => Err((
                status,
                "this request carries no rate-limit key (such as the API-key header) and cannot be served without one",
            )),
            KeylessPolicy::Shared => Ok(Some("keyless".to_owned())),
            KeylessPolicy::Unlimited => Ok(None),
        }
    }
}

pub(super) fn route_name(method: Option<&Method>, path: &str) -> String {
    match method {
        Some(method) => format!("{method} {path}"),
        None => path.to_owned(),
    }
}
