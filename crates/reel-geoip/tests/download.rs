//! The download source against a real HTTP server on loopback that behaves like MaxMind's
//! download service (Basic auth, `suffix=tar.gz` / `suffix=tar.gz.sha256`, ETag and
//! Last-Modified, 304) or a plain mirror. Every failure leaves the old database serving.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use reel_core::{Backoff, Jitter, SecretSource};
use reel_geoip::testdata::{AsnDatabase, CityDatabase};
use reel_geoip::{DownloadSource, Error, GeoIp, ReloadOutcome, Slot};
use sha2::{Digest, Sha256};
use support::served_version;

const ACCOUNT: &str = "424242";
const KEY: &str = "test-license-key";
const ETAG: &str = "\"v-1\"";
const LAST_MODIFIED: &str = "Fri, 20 Nov 2026 10:00:00 GMT";

#[derive(Default)]
struct Served {
    archive: Vec<u8>,
    sha256: String,
    /// When set, the download answers with this status.
    status: Option<u16>,
    etag: String,
    files: Vec<(String, Vec<u8>)>,
    /// (path and query, If-None-Match, If-Modified-Since, authorized)
    requests: Vec<(String, Option<String>, Option<String>, bool)>,
}

type Shared = Arc<Mutex<Served>>;

fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
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

fn maxmind_archive(mmdb: &[u8]) -> Vec<u8> {
    tar_gz(&[
        ("GeoLite2-City_20261120/COPYRIGHT.txt", b"made up for tests"),
        ("GeoLite2-City_20261120/GeoLite2-City.mmdb", mmdb),
    ])
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn publish(served: &Shared, archive: Vec<u8>, etag: &str) {
    let mut s = served.lock().unwrap();
    s.sha256 = format!("{}  GeoLite2-City_20261120.tar.gz\n", sha256(&archive));
    s.archive = archive;
    s.etag = etag.to_owned();
}

async fn download(State(served): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    use base64_free::basic;
    let authorized = text(header::AUTHORIZATION) == Some(basic(ACCOUNT, KEY));
    let if_none_match = text(header::IF_NONE_MATCH);
    let mut s = served.lock().unwrap();
    s.requests.push((
        uri.to_string(),
        if_none_match.clone(),
        text(header::IF_MODIFIED_SINCE),
        authorized,
    ));
    if !authorized {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match uri.query() {
        Some("suffix=tar.gz.sha256") => s.sha256.clone().into_response(),
        Some("suffix=tar.gz") => {
            if let Some(status) = s.status {
                return StatusCode::from_u16(status).unwrap().into_response();
            }
            if if_none_match.as_deref() == Some(s.etag.as_str()) {
                return StatusCode::NOT_MODIFIED.into_response();
            }
            Response::builder()
                .header(header::ETAG, s.etag.clone())
                .header(header::LAST_MODIFIED, LAST_MODIFIED)
                .header(header::CONTENT_TYPE, "application/gzip")
                .body(Body::from(s.archive.clone()))
                .unwrap()
        }
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn files(State(served): State<Shared>, Path(name): Path<String>) -> Response {
    let s = served.lock().unwrap();
    match s.files.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => body.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A tiny Basic-auth encoder so the test checks the header byte for byte without another crate.
mod base64_free {
    pub(crate) fn basic(user: &str, password: &str) -> String {
        const TABLE: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
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
}

async fn server() -> (String, Shared) {
    let served: Shared = Arc::default();
    let app = Router::new()
        .route("/geoip/databases/{edition}/download", get(download))
        .route("/files/{name}", get(files))
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), served)
}

fn quick_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(1), Duration::from_millis(5))
        .with_jitter(Jitter::None)
        .with_max_retries(2)
}

fn maxmind_source(base: &str, cache: &std::path::Path) -> DownloadSource {
    DownloadSource::maxmind(ACCOUNT, SecretSource::literal(KEY), "GeoLite2-City")
        .base_url(base)
        .cache_dir(cache)
        .backoff(quick_backoff())
}

fn city(version: u32) -> Vec<u8> {
    CityDatabase::new().version(version).build().unwrap()
}

fn download_requests(served: &Shared) -> usize {
    served
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.0.ends_with("suffix=tar.gz"))
        .count()
}

#[tokio::test]
async fn downloads_verifies_caches_and_answers_304() {
    let (base, served) = server().await;
    let cache = tempfile::tempdir().unwrap();
    publish(&served, maxmind_archive(&city(1)), ETAG);

    let geoip = GeoIp::new();
    let source = maxmind_source(&base, cache.path());
    assert_eq!(source.load_cached(&geoip).unwrap(), None);
    let outcome = source.check_now(&geoip).await.unwrap();
    assert!(
        matches!(outcome, ReloadOutcome::Loaded(ref info) if info.database_type == "GeoLite2-City")
    );
    assert_eq!(served_version(&geoip), Some(1));
    {
        let s = served.lock().unwrap();
        let paths: Vec<&str> = s.requests.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/geoip/databases/GeoLite2-City/download?suffix=tar.gz",
                "/geoip/databases/GeoLite2-City/download?suffix=tar.gz.sha256",
            ]
        );
        assert!(
            s.requests.iter().all(|r| r.3),
            "Basic auth on every request"
        );
        assert_eq!(s.requests[0].1, None, "first download is unconditional");
    }
    let cached = std::fs::read(cache.path().join("GeoLite2-City.mmdb")).unwrap();
    assert_eq!(cached, city(1));

    // Unchanged: a conditional request answered 304.
    let outcome = source.check_now(&geoip).await.unwrap();
    assert_eq!(outcome, ReloadOutcome::Unchanged);
    {
        let s = served.lock().unwrap();
        let last = s.requests.last().unwrap();
        assert_eq!(last.1.as_deref(), Some(ETAG));
        assert_eq!(last.2.as_deref(), Some(LAST_MODIFIED));
    }
    let status = geoip.status(&Slot::Location).unwrap();
    assert_eq!(
        (
            status.reloads,
            status.unchanged_checks,
            status.failed_reloads
        ),
        (1, 1, 0)
    );

    // A restart serves the cached copy before any request, then checks conditionally.
    let before = served.lock().unwrap().requests.len();
    let restarted = GeoIp::new();
    let again = maxmind_source(&base, cache.path());
    assert!(again.load_cached(&restarted).unwrap().is_some());
    assert_eq!(served_version(&restarted), Some(1));
    assert_eq!(served.lock().unwrap().requests.len(), before);
    assert_eq!(
        again.check_now(&restarted).await.unwrap(),
        ReloadOutcome::Unchanged
    );
    assert_eq!(
        served.lock().unwrap().requests.last().unwrap().1.as_deref(),
        Some(ETAG)
    );

    // A new edition replaces it and the cache.
    publish(&served, maxmind_archive(&city(2)), "\"v-2\"");
    assert!(matches!(
        again.check_now(&restarted).await.unwrap(),
        ReloadOutcome::Loaded(_)
    ));
    assert_eq!(served_version(&restarted), Some(2));
    assert_eq!(
        std::fs::read(cache.path().join("GeoLite2-City.mmdb")).unwrap(),
        city(2)
    );
    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Loads version 1, then applies `break_it` and checks that `check_now` fails with an error
/// `expect` accepts, that version 1 still serves and that the cache still holds version 1.
async fn old_database_survives(
    break_it: impl FnOnce(&Shared),
    expect: impl Fn(&Error) -> bool,
) -> (Shared, usize) {
    let (base, served) = server().await;
    let cache = tempfile::tempdir().unwrap();
    publish(&served, maxmind_archive(&city(1)), ETAG);
    let geoip = GeoIp::new();
    let source = maxmind_source(&base, cache.path());
    source.check_now(&geoip).await.unwrap();
    break_it(&served);
    served.lock().unwrap().requests.clear();
    let err = source.check_now(&geoip).await.unwrap_err();
    assert!(expect(&err), "unexpected error: {err}");
    assert_eq!(
        served_version(&geoip),
        Some(1),
        "the old database keeps serving"
    );
    let status = geoip.status(&Slot::Location).unwrap();
    assert_eq!(status.failed_reloads, 1);
    assert_eq!(status.last_error, Some(err.to_string()));
    assert_eq!(
        std::fs::read(cache.path().join("GeoLite2-City.mmdb")).unwrap(),
        city(1)
    );
    let attempts = download_requests(&served);
    (served, attempts)
}

#[tokio::test]
async fn not_found_is_reported_without_retrying() {
    let (_, attempts) = old_database_survives(
        |s| s.lock().unwrap().status = Some(404),
        |e| {
            matches!(e, Error::HttpStatus { status: 404, .. })
                && e.to_string().contains("edition id")
        },
    )
    .await;
    assert_eq!(attempts, 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let (_, attempts) = old_database_survives(
        |s| s.lock().unwrap().status = Some(500),
        |e| matches!(e, Error::HttpStatus { status: 500, .. }),
    )
    .await;
    assert_eq!(attempts, 3, "one try and two retries");
}

#[tokio::test]
async fn a_304_after_an_outage_clears_the_last_error() {
    let (base, served) = server().await;
    let cache = tempfile::tempdir().unwrap();
    publish(&served, maxmind_archive(&city(1)), ETAG);
    let geoip = GeoIp::new();
    let source = maxmind_source(&base, cache.path());
    source.check_now(&geoip).await.unwrap();

    served.lock().unwrap().status = Some(503);
    let err = source.check_now(&geoip).await.unwrap_err();
    let status = geoip.status(&Slot::Location).unwrap();
    assert_eq!(status.last_error, Some(err.to_string()));
    assert!(status.last_error_at.is_some());

    // The service is back and the serving database is still the newest: nothing to alert on.
    served.lock().unwrap().status = None;
    assert_eq!(
        source.check_now(&geoip).await.unwrap(),
        ReloadOutcome::Unchanged
    );
    let status = geoip.status(&Slot::Location).unwrap();
    assert_eq!((status.last_error, status.last_error_at), (None, None));
    assert_eq!((status.failed_reloads, status.unchanged_checks), (1, 1));
    assert_eq!(served_version(&geoip), Some(1));
}

#[tokio::test]
async fn wrong_checksum_is_refused() {
    let (_, attempts) = old_database_survives(
        |s| {
            publish(s, maxmind_archive(&city(2)), "\"v-2\"");
            s.lock().unwrap().sha256 = format!("{}  GeoLite2-City.tar.gz\n", "0".repeat(64));
        },
        |e| matches!(e, Error::Checksum { expected, .. } if *expected == "0".repeat(64)),
    )
    .await;
    assert_eq!(attempts, 3, "a corrupted transfer is worth retrying");
}

#[tokio::test]
async fn corrupt_database_inside_a_valid_archive_is_refused() {
    let (_, attempts) = old_database_survives(
        |s| {
            let mut broken = city(2);
            let len = broken.len();
            broken.truncate(len - 40); // metadata cut off
            publish(s, maxmind_archive(&broken), "\"v-2\"");
        },
        |e| matches!(e, Error::InvalidDatabase(_)),
    )
    .await;
    assert_eq!(attempts, 1, "the same bytes would fail again");
}

#[tokio::test]
async fn archive_without_a_database_is_refused() {
    old_database_survives(
        |s| {
            publish(
                s,
                tar_gz(&[("GeoLite2-City_20261120/README.txt", b"nothing here")]),
                "\"v-2\"",
            )
        },
        |e| matches!(e, Error::Archive { message, .. } if message.contains("no .mmdb")),
    )
    .await;
}

#[tokio::test]
async fn a_wrong_license_key_says_what_to_fix() {
    let (base, served) = server().await;
    publish(&served, maxmind_archive(&city(1)), ETAG);
    let geoip = GeoIp::new();
    let source = DownloadSource::maxmind(ACCOUNT, SecretSource::literal("wrong"), "GeoLite2-City")
        .base_url(&base)
        .backoff(quick_backoff());
    let err = source.check_now(&geoip).await.unwrap_err();
    assert!(
        matches!(err, Error::HttpStatus { status: 401, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("license key"), "{err}");
    assert!(
        !err.to_string().contains("wrong"),
        "the key must not leak: {err}"
    );
    assert!(!geoip.is_loaded(&Slot::Location));

    let missing = DownloadSource::maxmind(
        ACCOUNT,
        SecretSource::env("REEL_GEOIP_TEST_UNSET_KEY"),
        "GeoLite2-City",
    )
    .base_url(&base)
    .backoff(quick_backoff());
    assert!(matches!(
        missing.check_now(&geoip).await,
        Err(Error::Secret(_))
    ));
}

/// A server that promises the whole body and closes the connection halfway.
fn cut_short_server(body: Vec<u8>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body[..body.len() / 2]);
            let _ = stream.flush();
            drop(stream);
        }
    });
    addr
}

#[tokio::test]
async fn a_body_cut_short_is_retried_then_reported() {
    let geoip = GeoIp::new();
    geoip.replace(&Slot::Location, city(1), "initial").unwrap();
    let addr = cut_short_server(city(2));
    let source =
        DownloadSource::url(format!("http://{addr}/GeoLite2-City.mmdb")).backoff(quick_backoff());
    let err = source.check_now(&geoip).await.unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err}");
    assert_eq!(served_version(&geoip), Some(1));
    assert_eq!(geoip.status(&Slot::Location).unwrap().failed_reloads, 1);
}

#[tokio::test]
async fn mirrors_serve_plain_gzipped_and_tarred_databases() {
    let (base, served) = server().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&city(3)).unwrap();
    let gzipped = gz.finish().unwrap();
    let asn = AsnDatabase::new().version(5).build().unwrap();
    {
        let mut s = served.lock().unwrap();
        s.files.push(("plain.mmdb".into(), city(2)));
        s.files.push(("city.mmdb.gz".into(), gzipped.clone()));
        s.files.push((
            "city.mmdb.gz.sha256".into(),
            format!("{}  city.mmdb.gz\n", sha256(&gzipped)).into_bytes(),
        ));
        s.files
            .push(("city.tar.gz".into(), maxmind_archive(&city(4))));
        s.files.push(("asn.mmdb".into(), asn));
        s.files
            .push(("bad.sha256".into(), b"abc123  city.mmdb.gz\n".to_vec()));
    }
    let geoip = GeoIp::new();
    let cache = tempfile::tempdir().unwrap();
    DownloadSource::url(format!("{base}/files/plain.mmdb"))
        .check_now(&geoip)
        .await
        .unwrap();
    assert_eq!(served_version(&geoip), Some(2));
    DownloadSource::url(format!("{base}/files/city.mmdb.gz"))
        .sha256_url(format!("{base}/files/city.mmdb.gz.sha256"))
        .cache_dir(cache.path())
        .check_now(&geoip)
        .await
        .unwrap();
    assert_eq!(served_version(&geoip), Some(3));
    assert_eq!(
        std::fs::read(cache.path().join("location.mmdb")).unwrap(),
        city(3)
    );
    DownloadSource::url(format!("{base}/files/city.tar.gz"))
        .check_now(&geoip)
        .await
        .unwrap();
    assert_eq!(served_version(&geoip), Some(4));
    DownloadSource::url(format!("{base}/files/asn.mmdb"))
        .slot(Slot::Asn)
        .check_now(&geoip)
        .await
        .unwrap();
    let asn = geoip
        .asn(reel_geoip::testdata::SAMPLE_V4.parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        asn.organization,
        Some(reel_geoip::testdata::asn_organization(0, 5))
    );

    // A mirror with a wrong checksum file, and a missing file.
    let err = DownloadSource::url(format!("{base}/files/city.mmdb.gz"))
        .sha256_url(format!("{base}/files/bad.sha256"))
        .backoff(quick_backoff())
        .check_now(&geoip)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    let err = DownloadSource::url(format!("{base}/files/missing.mmdb"))
        .backoff(quick_backoff())
        .check_now(&geoip)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::HttpStatus { status: 404, .. }),
        "{err}"
    );
    // An ASN database offered for the location slot.
    let err = DownloadSource::url(format!("{base}/files/asn.mmdb"))
        .check_now(&geoip)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongDatabaseType { .. }), "{err}");
    assert_eq!(served_version(&geoip), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_source_serves_the_cache_then_polls() {
    let (base, served) = server().await;
    let cache = tempfile::tempdir().unwrap();
    publish(&served, maxmind_archive(&city(1)), ETAG);
    // Populate the cache once.
    maxmind_source(&base, cache.path())
        .check_now(&GeoIp::new())
        .await
        .unwrap();
    publish(&served, maxmind_archive(&city(2)), "\"v-2\"");

    let geoip = GeoIp::new();
    let mut events = geoip.events();
    let task = maxmind_source(&base, cache.path())
        .interval(Duration::from_millis(50))
        .spawn(geoip.clone());
    let first = support::wait_for(&mut events, "the cached copy", support::is_loaded).await;
    assert!(
        first.source.ends_with("GeoLite2-City.mmdb"),
        "{}",
        first.source
    );
    let second = support::wait_for(&mut events, "the new download", support::is_loaded).await;
    assert!(second.source.contains("/download"), "{}", second.source);
    assert_eq!(served_version(&geoip), Some(2));
    support::wait_for(&mut events, "a 304 on the next poll", support::is_unchanged).await;
    task.shutdown().await.unwrap();
}
