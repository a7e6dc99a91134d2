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
//! Every request also runs in an `info` span named like OpenTelemetry's HTTP server spans
//! (`GET /v2/assets/{id}`, with `http.request.method`, `http.route`, `url.path` and
//! `http.response.status_code`); with the `otlp` feature and `OTEL_EXPORTER_OTLP_ENDPOINT`
//! set, [`otlp`] exports the spans over OTLP/HTTP.
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

/// The database circuit breaker's state gauge (0 closed, 1 open, 2 half-open).
pub const EDGE_DB_BREAKER_STATE: &str = "reel_edge_db_breaker_state";

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
    // The reel crates' own metrics (each crate's `metrics` feature is on in Cargo.toml).
    reel_herd::describe_metrics();
    reel_ratelimit::describe_metrics();
    reel_search::describe_metrics();
    reel_geoip::describe_metrics();
    reel_cloudfront::describe_metrics();
    reel_jsonapi::describe_metrics();
    // A concurrent first call loses the race to install and got an error above; the winner's
    // handle is the one kept.
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Describes every metric the edge API itself records (unit and help text). The reel crates'
/// metrics are described by their own `describe_metrics()`, called by [`install_recorder`].
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
    metrics::describe_gauge!(
        EDGE_DB_BREAKER_STATE,
        metrics::Unit::Count,
        "The circuit breaker in front of the database: 0 closed, 1 open (requests that need it get a 503 at once), 2 half-open (one probe in flight)."
    );
}

/// Sets [`EDGE_DB_BREAKER_STATE`].
pub(crate) fn db_breaker_state(state: reel_core::breaker::BreakerState) {
    metrics::gauge!(EDGE_DB_BREAKER_STATE).set(f64::from(state.as_gauge()));
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

/// Middleware running every request in a server span and recording
/// `http_server_request_duration_seconds`.
pub(crate) async fn record_request(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    // OpenTelemetry's span name for an HTTP server: `{method} {route}`, or the method alone
    // when no route matched (the raw path would be unbounded).
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        "request",
        otel.name = name,
        otel.kind = "server",
        http.request.method = method,
        http.route = route.as_deref(),
        url.path = request.uri().path(),
        http.response.status_code = tracing::field::Empty,
        error.r#type = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    let elapsed = started.elapsed().as_secs_f64();
    span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("error.type", response.status().as_str());
    }
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

/// Span export over OTLP/HTTP (protobuf), with the `otlp` feature.
#[cfg(feature = "otlp")]
pub mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
    use tracing_subscriber::registry::LookupSpan;

    /// The variable naming the collector (`http://collector:4318`), as every OpenTelemetry
    /// SDK reads it; spans go to its `/v1/traces`.
    pub const ENDPOINT_VARIABLE: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// Why span export could not be set up.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot export traces over OTLP: {0}")]
    pub struct OtlpError(String);

    /// An OTLP span exporter running on the Tokio runtime; [`layer`](Self::layer) feeds it
    /// from `tracing`, [`shutdown`](Self::shutdown) sends what is left.
    #[derive(Debug)]
    pub struct Otlp {
        provider: SdkTracerProvider,
    }

    impl Otlp {
        /// From `OTEL_EXPORTER_OTLP_ENDPOINT`; `None` when it is unset or empty.
        pub fn from_env() -> Result<Option<Self>, OtlpError> {
            match std::env::var(ENDPOINT_VARIABLE) {
                Ok(endpoint) if !endpoint.trim().is_empty() => Self::new(endpoint.trim()).map(Some),
                _ => Ok(None),
            }
        }

        /// Exports to the collector at `endpoint` (its base URL; spans go to
        /// `{endpoint}/v1/traces`) in batches, as service `edge-api`. Must be called inside a
        /// Tokio runtime.
        pub fn new(endpoint: &str) -> Result<Self, OtlpError> {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
                .build()
                .map_err(|e| OtlpError(format!("{endpoint}: {e}")))?;
            let processor =
                BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
            let provider = SdkTracerProvider::builder()
                .with_span_processor(processor)
                .with_resource(Resource::builder().with_service_name("edge-api").build())
                .build();
            Ok(Self { provider })
        }

        /// A `tracing` layer turning spans into OpenTelemetry spans for this exporter.
        pub fn layer<S>(
            &self,
        ) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>
        where
            S: tracing::Subscriber + for<'span> LookupSpan<'span>,
        {
            tracing_opentelemetry::layer().with_tracer(self.provider.tracer("edge-api"))
        }

        /// Sends the spans still buffered, without stopping the exporter. Blocks: call it
        /// from a blocking thread (`tokio::task::spawn_blocking`).
        pub fn flush(&self) -> Result<(), OtlpError> {
            self.provider
                .force_flush()
                .map_err(|e| OtlpError(e.to_string()))
        }

        /// Sends the spans still buffered and stops. Blocks, like [`flush`](Self::flush).
        pub fn shutdown(self) -> Result<(), OtlpError> {
            self.provider
                .shutdown()
                .map_err(|e| OtlpError(e.to_string()))
        }
    }
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
