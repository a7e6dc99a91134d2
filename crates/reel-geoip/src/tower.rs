//! HTTP integration: the client's location for every request.
//!
//! [`GeoIpLayer`] (feature `tower`) resolves each request's client address from the TCP peer
//! and, only when the peer is a trusted proxy, the one proxy header the resolver reads —
//! through [`reel_core::client_ip::ClientIpResolver`], the same logic reel-ratelimit uses —
//! looks it up and stores a [`ClientGeo`] in the request extensions. With the `axum` feature
//! [`ClientGeo`] is also an extractor.
//!
//! The peer address is read by [`reel_core::client_ip::peer_addr`], as in every reel crate:
//! axum's `ConnectInfo<SocketAddr>` (serve with
//! `into_make_service_with_connect_info::<SocketAddr>()`), else a plain `SocketAddr` inserted
//! by the server. Without either, no [`ClientGeo`] is stored.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use std::net::SocketAddr;
//! use axum::{Router, routing::get};
//! use reel_core::client_ip::{ClientIpResolver, TrustedProxies};
//! use reel_geoip::GeoIp;
//! use reel_geoip::tower::{ClientGeo, GeoIpLayer};
//!
//! async fn hello(geo: ClientGeo) -> String {
//!     let country = geo.location.as_ref().and_then(|l| l.country.as_ref()?.iso_code.clone());
//!     format!("hello {} from {}", geo.ip, country.as_deref().unwrap_or("somewhere"))
//! }
//!
//! let geoip = GeoIp::new();
//! let resolver = ClientIpResolver::new(TrustedProxies::private_networks());
//! let app: Router = Router::new()
//!     .route("/", get(hello))
//!     .layer(GeoIpLayer::new(geoip, resolver));
//! let _service = app.into_make_service_with_connect_info::<SocketAddr>();
//! # }
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use reel_core::client_ip::{ClientIpResolver, peer_addr};

use crate::{Asn, GeoIp, Location};

/// The client of a request and where it is, stored by [`GeoIpLayer`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientGeo {
    /// The client address (the peer, or what trusted proxies reported).
    pub ip: IpAddr,
    /// Its location, if the location slot has a record for it.
    pub location: Option<Arc<Location>>,
    /// Its autonomous system, if the ASN slot has a record for it.
    pub asn: Option<Arc<Asn>>,
}

/// A tower layer that stores a [`ClientGeo`] in each request's extensions.
#[derive(Debug, Clone)]
pub struct GeoIpLayer {
    geoip: GeoIp,
    resolver: Arc<ClientIpResolver>,
}

impl GeoIpLayer {
    /// Looks clients up in `geoip`, believing proxy headers as `resolver` allows.
    pub fn new(geoip: GeoIp, resolver: ClientIpResolver) -> Self {
        Self {
            geoip,
            resolver: Arc::new(resolver),
        }
    }
}

impl<S> tower_layer::Layer<S> for GeoIpLayer {
    type Service = GeoIpService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GeoIpService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`GeoIpLayer`].
#[derive(Debug, Clone)]
pub struct GeoIpService<S> {
    inner: S,
    layer: GeoIpLayer,
}

impl GeoIpLayer {
    /// Resolves and looks up the client of a request with this peer and headers.
    pub fn client_geo(&self, peer: IpAddr, headers: &http::HeaderMap) -> ClientGeo {
        let ip = self.resolver.resolve_headers(peer, headers).to_canonical();
        let location = self.geoip.location(ip).unwrap_or_else(|error| {
            tracing::warn!(%ip, %error, "geoip location lookup failed");
            None
        });
        let asn = self.geoip.asn(ip).unwrap_or_else(|error| {
            tracing::warn!(%ip, %error, "geoip asn lookup failed");
            None
        });
        ClientGeo {
            ip,
            location: location.map(Arc::new),
            asn: asn.map(Arc::new),
        }
    }
}

impl<S, B> tower_service::Service<http::Request<B>> for GeoIpService<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match peer_addr(request.extensions()) {
            Some(peer) => {
                let peer = peer.ip();
                let geo = self.layer.client_geo(peer, request.headers());
                request.extensions_mut().insert(geo);
            }
            None => tracing::debug!("no peer address in the request extensions; no ClientGeo"),
        }
        self.inner.call(request)
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum::extract::FromRequestParts;
    use axum::http::StatusCode;
    use axum::http::request::Parts;

    use super::ClientGeo;

    impl<S: Send + Sync> FromRequestParts<S> for ClientGeo {
        type Rejection = (StatusCode, &'static str);

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            parts.extensions.get::<ClientGeo>().cloned().ok_or((
                StatusCode::INTERNAL_SERVER_ERROR,
                "ClientGeo needs reel_geoip::tower::GeoIpLayer and a server that records the peer \
                 address (into_make_service_with_connect_info::<SocketAddr>())",
            ))
        }
    }
}
