//! What the edge API's integration tests share: a scratch directory, the app served on a
//! loopback port, replies read whole, polling with a deadline, and a loopback stand-in for
//! MaxMind's download service.
//!
//! Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use example_edge_api::{Config, app, serve};
use serde_json::Value;

/// The JSON:API media type.
pub(crate) const JSON_API: &str = "application/vnd.api+json";

/// A fresh directory name under the system's temporary directory (not created), unique per
/// process and call; `tag` says which test binary made it.
pub(crate) fn scratch_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "edge-api-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Builds the app and serves it on an ephemeral loopback port; returns its base URL.
pub(crate) async fn start(config: Config) -> String {
    let router = app(config).await.expect("the app starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router, std::future::pending()));
    format!("http://{address}")
}

/// A response read whole: status, headers and the body as JSON (`Null` when it is not).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    /// A header's value, when present and text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `request` and reads the whole reply.
pub(crate) async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Polls `check` until it holds, failing after `limit`.
pub(crate) async fn eventually(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the loopback MaxMind download service answers.
#[derive(Clone)]
pub(crate) struct Downloads {
    pub(crate) archive: Vec<u8>,
    pub(crate) sha256: String,
    pub(crate) failing: Arc<AtomicBool>,
    pub(crate) requests: Arc<AtomicU32>,
}

impl Downloads {
    /// Serves `mmdb` packed as MaxMind packs `GeoLite2-City`, with its checksum.
    pub(crate) fn of(mmdb: &[u8]) -> Self {
        use sha2::Digest;
        let archive = maxmind_archive(mmdb);
        Self {
            sha256: format!(
                "{}  GeoLite2-City_20261120.tar.gz\n",
                hex::encode(sha2::Sha256::digest(&archive))
            ),
            archive,
            failing: Arc::default(),
            requests: Arc::default(),
        }
    }
}

/// The edge API's MaxMind settings for [`maxmind_service`] at `base_url`.
pub(crate) fn maxmind_config(base_url: &str) -> example_edge_api::MaxMind {
    example_edge_api::MaxMind {
        account_id: "123456".to_owned(),
        license_key: reel_core::SecretSource::literal("test-license-key"),
        edition: "GeoLite2-City".to_owned(),
        base_url: Some(base_url.to_owned()),
    }
}

/// A loopback stand-in for `download.maxmind.com` (mock: the real service needs an account):
/// Basic auth, `suffix=tar.gz` and `suffix=tar.gz.sha256`, or 500 while `failing`.
pub(crate) async fn maxmind_service(downloads: Downloads) -> String {
    use axum::extract::{RawQuery, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};

    async fn download(
        State(d): State<Downloads>,
        headers: HeaderMap,
        RawQuery(query): RawQuery,
    ) -> Response {
        d.requests.fetch_add(1, Ordering::SeqCst);
        // base64("123456:test-license-key")
        let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some("Basic MTIzNDU2OnRlc3QtbGljZW5zZS1rZXk=");
        if !authorized {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        if d.failing.load(Ordering::SeqCst) {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        match query.as_deref() {
            Some("suffix=tar.gz") => d.archive.clone().into_response(),
            Some("suffix=tar.gz.sha256") => d.sha256.clone().into_response(),
            _ => StatusCode::BAD_REQUEST.into_response(),
        }
    }
    let router = axum::Router::new()
        .route(
            "/geoip/databases/GeoLite2-City/download",
            axum::routing::get(download),
        )
        .with_state(downloads);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// A `GeoLite2-City_<date>.tar.gz` as MaxMind packs it, holding `mmdb`.
pub(crate) fn maxmind_archive(mmdb: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in [
        ("GeoLite2-City_20261120/COPYRIGHT.txt", &b"test data"[..]),
        ("GeoLite2-City_20261120/GeoLite2-City.mmdb", mmdb),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, bytes).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}
