//! Metrics in Prometheus' text format on their own listen address (`REEL_METRICS_ADDR`,
//! default `127.0.0.1:9464`), by the workspace's conventions (issue 21):
//!
//! - `http_server_request_duration_seconds{http_request_method,http_route,http_response_status_code}`:
//!   OpenTelemetry's HTTP server metric in Prometheus form, a histogram in seconds. The route
//!   is the matched route template (`/v2/assets/{id}`), never the raw path, so its cardinality
//!   is bounded; a request that matches no route has no `http_route` label.
//! - `reel_edge_cache_total{outcome}`: what the response cache did for each cacheable read
//!   (`hit`, `miss`, `bypass` when the cache could not be read, `off` without a cache).
//!
//! The reel crates' own metrics (`reel_herd_*`, `reel_ratelimit_*`, ...) go through the same
//! global recorder, so one scrape shows them all.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The request duration histogram's name.
pub const HTTP_SERVER_REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// The response cache counter's name.
pub const EDGE_CACHE_TOTAL: &str = "reel_edge_cache_total";

/// Histogram buckets (seconds) of every `*_seconds` metric: 0.5 ms to 10 s, fine enough for
/// `histogram_quantile` to tell a 3 ms p50 from a 100 ms one.
const SECONDS_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Why the metrics recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct MetricsError(String);

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle)
/// and describes the edge API's metrics, so that every scrape has HELP and TYPE lines.
///
/// Call it before [`app`](crate::app), so that what happens at start-up is counted too.
pub fn install_recorder() -> Result<PrometheusHandle, MetricsError> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &SECONDS_BUCKETS)
        .map_err(|e| MetricsError(e.to_string()))?
        .install_recorder()
        .map_err(|e| MetricsError(e.to_string()))?;
    describe_metrics();
    // A concurrent first call loses the race to install and got an error above; the winner's
    // handle is the one kept.
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Describes every metric the edge API itself records (unit and help text). The reel crates
/// describe theirs with their own `describe_metrics()` when built with their `metrics`
/// feature.
pub fn describe_metrics() {
    metrics::describe_histogram!(
        HTTP_SERVER_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Duration of HTTP server requests, by method, matched route template and status code."
    );
    metrics::describe_counter!(
        EDGE_CACHE_TOTAL,
        metrics::Unit::Count,
        "Cacheable reads by what the response cache did: hit, miss, bypass (cache unreadable) or off (no cache)."
    );
}

/// A router answering `GET /metrics` with the recorder's current state in Prometheus' text
/// format (and `/` with a pointer to it).
pub fn metrics_router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(async move || {
                let mut response = handle.render().into_response();
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                response
            }),
        )
        .fallback(async || {
            (
                axum::http::StatusCode::NOT_FOUND,
                "the metrics are at /metrics\n",
            )
        })
}

/// Serves [`metrics_router`] on `listener` until `shutdown` completes, and runs the
/// recorder's upkeep (draining histogram samples) every five seconds meanwhile.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = handle.clone();
    let upkeep = tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(5));
        loop {
            interval.tick().await;
            upkeep.run_upkeep();
        }
    });
    let served = axum::serve(listener, metrics_router(handle))
        .with_graceful_shutdown(shutdown)
        .await;
    upkeep.abort();
    served
}

/// The metrics listen address from `REEL_METRICS_ADDR`'s value: `off` disables the endpoint.
pub(crate) fn parse_metrics_addr(value: &str) -> Result<Option<SocketAddr>, String> {
    match value.trim() {
        "off" | "none" | "0" => Ok(None),
        other => other.parse().map(Some).map_err(|e| {
            format!("`{other}` is not an address like 127.0.0.1:9464, or `off` ({e})")
        }),
    }
}

/// The OpenTelemetry name of a request method: the standard ones, `_OTHER` for the rest
/// (a bounded label set whatever clients send).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

/// Middleware recording `http_server_request_duration_seconds` for every request.
pub(crate) async fn record_request(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status().as_str().to_owned();
    match route {
        Some(route) => metrics::histogram!(
            HTTP_SERVER_REQUEST_DURATION,
            "http_request_method" => method,
            "http_route" => route,
            "http_response_status_code" => status,
        )
        .record(elapsed),
        None => metrics::histogram!(
            HTTP_SERVER_REQUEST_DURATION,
            "http_request_method" => method,
            "http_response_status_code" => status,
        )
        .record(elapsed),
    }
    response
}

/// Counts one cacheable read's cache outcome (`hit`, `miss`, `bypass` or `off`).
pub(crate) fn cache_outcome(outcome: &'static str) {
    metrics::counter!(EDGE_CACHE_TOTAL, "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_address_is_an_address_or_off() {
        assert_eq!(parse_metrics_addr("off").unwrap(), None);
        assert_eq!(
            parse_metrics_addr("0.0.0.0:9464").unwrap(),
            Some(SocketAddr::from(([0, 0, 0, 0], 9464)))
        );
        assert!(parse_metrics_addr("localhost").is_err());
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(
            method_label(&Method::from_bytes(b"BREW").unwrap()),
            "_OTHER"
        );
    }
}
