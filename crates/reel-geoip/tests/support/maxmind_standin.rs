//! A **loopback stand-in for MaxMind's download service** (not the real service): an axum
//! server that behaves like `download.maxmind.com` for the requests reel-geoip makes.
//!
//! - `GET /geoip/databases/{edition}/download?suffix=tar.gz` with Basic auth: `304` when
//!   `If-None-Match` matches the current release, otherwise a `302` redirect to a separate
//!   "storage host" (another loopback port, so the client must drop the `Authorization`
//!   header; the storage URL carries a signature in its query as R2/S3 presigned URLs do).
//! - The storage host answers the archive with `ETag`, `Last-Modified` and
//!   `Content-Disposition: attachment; filename=<edition>_<YYYYMMDD>.tar.gz`.
//! - `...?suffix=tar.gz.sha256`, optionally `&date=YYYYMMDD` (pinned to a release).
//! - Outages (`status`: 5xx, or 429 for the daily quota) and a release published between
//!   the archive and its checksum (`release_after_download`).
//! - `/files/{name}`: plain files for mirror tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

pub(crate) const ACCOUNT: &str = "424242";
pub(crate) const KEY: &str = "test-license-key";
pub(crate) const ETAG: &str = "\"v-1\"";
pub(crate) const LAST_MODIFIED: &str = "Fri, 20 Nov 2026 10:00:00 GMT";
/// The signature in the storage host's presigned URLs: must never be shown.
pub(crate) const STORAGE_SIGNATURE: &str = "storage-signature-secret";

/// One published release.
#[derive(Clone)]
pub(crate) struct Release {
    pub(crate) date: String,
    pub(crate) archive: Vec<u8>,
    pub sha256: String,
    pub(crate) etag: String,
}

/// A request the stand-in received.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    /// `api` or `storage`.
    pub(crate) host: &'static str,
    /// Path and query.
    pub(crate) path: String,
    pub(crate) if_none_match: Option<String>,
    pub(crate) if_modified_since: Option<String>,
    /// Whether the right Basic credentials came with it.
    pub(crate) authorized: bool,
    /// Whether any `Authorization` header came with it.
    pub(crate) has_authorization: bool,
}

#[derive(Default)]
pub(crate) struct Served {
    /// Releases, oldest first; the last is current.
    pub(crate) releases: Vec<Release>,
    /// When set, every API request answers with this status (an outage, 429 quota).
    pub(crate) status: Option<u16>,
    /// Published right after the storage host served an archive.
    pub(crate) release_after_download: Option<(Vec<u8>, String)>,
    pub(crate) files: Vec<(String, Vec<u8>)>,
    /// Editions served with their own archive (one release, dated 20261120) instead of
    /// `releases`.
    pub(crate) editions: Vec<(String, Vec<u8>)>,
    pub(crate) requests: Vec<Request>,
    storage: String,
}

pub(crate) type Shared = Arc<Mutex<Served>>;

pub(crate) fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *data).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

pub(crate) fn maxmind_archive(mmdb: &[u8]) -> Vec<u8> {
    tar_gz(&[
        ("GeoLite2-City_20261120/COPYRIGHT.txt", b"made up for tests"),
        ("GeoLite2-City_20261120/GeoLite2-City.mmdb", mmdb),
    ])
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Publishes a new release (dated one day after the previous one).
pub(crate) fn publish(served: &Shared, archive: Vec<u8>, etag: &str) {
    let mut s = served.lock().unwrap();
    publish_locked(&mut s, archive, etag);
}

fn publish_locked(s: &mut Served, archive: Vec<u8>, etag: &str) {
    let date = format!("{}", 20261120 + s.releases.len());
    s.releases.push(Release {
        sha256: format!("{}  GeoLite2-City_{date}.tar.gz\n", sha256(&archive)),
        date,
        archive,
        etag: etag.to_owned(),
    });
}

fn edition_release(s: &Served, edition: &str) -> Option<Release> {
    let (_, archive) = s.editions.iter().find(|(e, _)| e == edition)?;
    Some(Release {
        date: "20261120".to_owned(),
        sha256: format!("{}  {edition}_20261120.tar.gz\n", sha256(archive)),
        archive: archive.clone(),
        etag: format!("\"{edition}\""),
    })
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn record(s: &mut Served, host: &'static str, uri: &Uri, headers: &HeaderMap) -> bool {
    let authorization = text(headers, header::AUTHORIZATION);
    let authorized = authorization == Some(basic(ACCOUNT, KEY));
    s.requests.push(Request {
        host,
        path: uri.to_string(),
        if_none_match: text(headers, header::IF_NONE_MATCH),
        if_modified_since: text(headers, header::IF_MODIFIED_SINCE),
        authorized,
        has_authorization: authorization.is_some(),
    });
    authorized
}

async fn download(
    State(served): State<Shared>,
    Path(edition): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut s = served.lock().unwrap();
    let authorized = record(&mut s, "api", &uri, &headers);
    if !authorized {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if let Some(status) = s.status {
        return StatusCode::from_u16(status).unwrap().into_response();
    }
    let query: Vec<(String, String)> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let release = match (edition_release(&s, &edition), get("date")) {
        (Some(release), _) => Some(release),
        (None, Some(date)) => s.releases.iter().find(|r| r.date == date).cloned(),
        (None, None) => s.releases.last().cloned(),
    };
    let Some(release) = release else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match get("suffix") {
        Some("tar.gz.sha256") => release.sha256.into_response(),
        Some("tar.gz") => {
            if text(&headers, header::IF_NONE_MATCH).as_deref() == Some(release.etag.as_str()) {
                return StatusCode::NOT_MODIFIED.into_response();
            }
            let location = format!(
                "{}/storage/{}/{edition}_{}.tar.gz?X-Amz-Signature={STORAGE_SIGNATURE}",
                s.storage, release.date, release.date
            );
            Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, location)
                .body(Body::empty())
                .unwrap()
        }
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn storage(
    State(served): State<Shared>,
    Path((date, file)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut s = served.lock().unwrap();
    record(&mut s, "storage", &uri, &headers);
    if headers.contains_key(header::AUTHORIZATION) {
        // Real storage hosts refuse a request carrying both a signature and credentials.
        return StatusCode::BAD_REQUEST.into_response();
    }
    let edition = file.split('_').next().unwrap_or("");
    let release = edition_release(&s, edition)
        .or_else(|| s.releases.iter().find(|r| r.date == date).cloned());
    let Some(release) = release else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some((archive, etag)) = s.release_after_download.take() {
        publish_locked(&mut s, archive, &etag);
    }
    Response::builder()
        .header(header::ETAG, release.etag.clone())
        .header(header::LAST_MODIFIED, LAST_MODIFIED)
        .header(header::CONTENT_TYPE, "application/gzip")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename={file}"),
        )
        .body(Body::from(release.archive))
        .unwrap()
}

async fn files(
    State(served): State<Shared>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut s = served.lock().unwrap();
    record(&mut s, "files", &uri, &headers);
    match s.files.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => body.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A tiny Basic-auth encoder so the test checks the header byte for byte without another crate.
pub(crate) fn basic(user: &str, password: &str) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// Starts the stand-in (API host and storage host) on loopback; returns the API base URL.
pub(crate) async fn server() -> (String, Shared) {
    let served: Shared = Arc::default();
    let storage_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let storage_addr = storage_listener.local_addr().unwrap();
    served.lock().unwrap().storage = format!("http://{storage_addr}");
    let storage_app = Router::new()
        .route("/storage/{date}/{file}", get(storage))
        .with_state(served.clone());
    tokio::spawn(async move { axum::serve(storage_listener, storage_app).await.unwrap() });
    let app = Router::new()
        .route("/geoip/databases/{edition}/download", get(download))
        .route("/files/{name}", get(files))
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), served)
}

/// Requests for the archive (not its checksum) the API host received.
pub(crate) fn download_requests(served: &Shared) -> usize {
    served
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.host == "api" && r.path.ends_with("suffix=tar.gz"))
        .count()
}
