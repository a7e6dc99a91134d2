//! Span export over OTLP/HTTP (feature `otlp`): requests to the edge API arrive at a collector
//! as protobuf spans named and attributed by OpenTelemetry's HTTP server conventions.
//!
//! The collector is a STAND-IN: a loopback HTTP server in this file that accepts
//! `POST /v1/traces` and keeps the bodies (no OpenTelemetry Collector can be downloaded
//! here). Protobuf stores strings as plain UTF-8, so the checks look for the span's name and
//! attribute keys and values in the bytes. Its own test binary: the exporter is installed as
//! the process's global subscriber.

#![cfg(feature = "otlp")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use example_edge_api::telemetry::otlp::Otlp;
use example_edge_api::{Config, app, serve};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// The stand-in collector: keeps each export's content type and body.
async fn stand_in_collector() -> (String, Received) {
    let received: Received = Arc::default();
    let keep = Arc::clone(&received);
    let router = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(async move |headers: HeaderMap, body: Bytes| {
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            keep.lock().unwrap().push((content_type, body.to_vec()));
            // An empty ExportTraceServiceResponse.
            (
                [("content-type", "application/x-protobuf")],
                Vec::<u8>::new(),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{address}"), received)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_arrive_at_the_collector() {
    let (endpoint, received) = stand_in_collector().await;
    let otlp = Arc::new(Otlp::new(&endpoint).unwrap());
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(otlp.layer())
        .init();

    let router = app(Config {
        data_dir: std::env::temp_dir().join(format!("edge-api-otlp-{}", std::process::id())),
        ..Config::default()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, router, std::future::pending()));
    let status = reqwest::get(format!("{base}/v2/assets/3"))
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let flusher = Arc::clone(&otlp);
        tokio::task::spawn_blocking(move || flusher.flush())
            .await
            .unwrap()
            .unwrap();
        let exports = received.lock().unwrap().clone();
        if let Some((content_type, body)) = exports
            .iter()
            .find(|(_, body)| contains(body, "GET /v2/assets/{id}"))
        {
            assert_eq!(content_type, "application/x-protobuf");
            for expected in [
                "http.request.method",
                "GET",
                "http.route",
                "/v2/assets/{id}",
                "url.path",
                "/v2/assets/3",
                "http.response.status_code",
                "service.name",
                "edge-api",
            ] {
                assert!(contains(body, expected), "the span lacks {expected:?}");
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no span for GET /v2/assets/{{id}} reached the collector ({} exports)",
            exports.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
