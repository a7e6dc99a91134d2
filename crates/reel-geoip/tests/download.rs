//! The download source against the loopback stand-in for MaxMind's download service
//! (`support/maxmind_standin.rs`: Basic auth, 302 to a storage host, `suffix=tar.gz` /
//! `suffix=tar.gz.sha256` with `date=`, ETag and Last-Modified, 304, 429, 5xx) or a plain
//! mirror. Every failure leaves the old database serving.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use reel_core::{Backoff, Jitter, SecretSource};
use reel_geoip::testdata::{AsnDatabase, CityDatabase};
use reel_geoip::{DownloadSource, Error, GeoIp, ReloadOutcome, Slot};
use support::served_version;

use support::maxmind_standin::{
    ACCOUNT, ETAG, KEY, LAST_MODIFIED, Shared, download_requests, maxmind_archive, publish, server,
    sha256, tar_gz,
};

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
        let paths: Vec<(&str, &str)> = s
            .requests
            .iter()
            .map(|r| (r.host, r.path.as_str()))
            .collect();
        assert_eq!(
            paths,
            [
                (
                    "api",
                    "/geoip/databases/GeoLite2-City/download?suffix=tar.gz"
                ),
                (
                    "storage",
                    "/storage/20261120/GeoLite2-City_20261120.tar.gz?X-Amz-Signature=storage-signature-secret"
                ),
                (
                    "api",
                    "/geoip/databases/GeoLite2-City/download?date=20261120&suffix=tar.gz.sha256"
                ),
            ]
        );
        assert!(
            s.requests.iter().all(|r| (r.host == "api") == r.authorized),
            "Basic auth on every API request, never to the storage host: {:?}",
            s.requests
        );
        assert_eq!(
            s.requests[0].if_none_match, None,
            "first download is unconditional"
        );
    }
    let cached = std::fs::read(cache.path().join("GeoLite2-City.mmdb")).unwrap();
    assert_eq!(cached, city(1));

    // Unchanged: a conditional request answered 304.
    let outcome = source.check_now(&geoip).await.unwrap();
    assert!(matches!(outcome, ReloadOutcome::Unchanged), "{outcome:?}");
    {
        let s = served.lock().unwrap();
        let last = s.requests.last().unwrap();
        assert_eq!(last.if_none_match.as_deref(), Some(ETAG));
        assert_eq!(last.if_modified_since.as_deref(), Some(LAST_MODIFIED));
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
    assert!(matches!(
        again.check_now(&restarted).await.unwrap(),
        ReloadOutcome::Unchanged
    ));
    assert_eq!(
        served
            .lock()
            .unwrap()
            .requests
            .last()
            .unwrap()
            .if_none_match
            .as_deref(),
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
    assert!(matches!(
        source.check_now(&geoip).await.unwrap(),
        ReloadOutcome::Unchanged
    ));
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
            s.lock().unwrap().releases.last_mut().unwrap().sha256 =
                format!("{}  GeoLite2-City.tar.gz\n", "0".repeat(64));
        },
        |e| matches!(e, Error::Checksum { expected, .. } if *expected == "0".repeat(64)),
    )
    .await;
    // The download is pinned to its release date, so the same request gives the same bytes:
    // retrying only spends MaxMind's daily download quota.
    assert_eq!(attempts, 1, "a checksum mismatch is not retried");
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
    let (_, attempts) = old_database_survives(
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
    assert_eq!(
        attempts, 1,
        "the same archive would fail again: not retried"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_started_during_an_outage_serves_within_seconds_of_the_return() {
    let (base, served) = server().await;
    publish(&served, maxmind_archive(&city(1)), ETAG);
    served.lock().unwrap().status = Some(503);
    let geoip = GeoIp::new();
    let mut events = geoip.events();
    // The production interval: a retry after it would come tomorrow.
    let task = DownloadSource::maxmind(ACCOUNT, SecretSource::literal(KEY), "GeoLite2-City")
        .base_url(&base)
        .backoff(quick_backoff())
        .interval(Duration::from_secs(12 * 3600))
        .spawn(geoip.clone());
    support::wait_for(&mut events, "the first failed check", support::is_failed).await;
    support::wait_for(
        &mut events,
        "a second check while empty",
        support::is_failed,
    )
    .await;
    assert!(!geoip.is_loaded(&Slot::Location));

    served.lock().unwrap().status = None;
    let back = tokio::time::Instant::now();
    support::wait_for(
        &mut events,
        "the download after the outage",
        support::is_loaded,
    )
    .await;
    // The empty-slot backoff starts at 1 s and doubles; after two failures the next check
    // comes within a few seconds (wait_for gives up after 20 s).
    assert_eq!(served_version(&geoip), Some(1));
    println!("served {:?} after the service came back", back.elapsed());
    task.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_release_published_between_archive_and_checksum_still_verifies() {
    let (base, served) = server().await;
    publish(&served, maxmind_archive(&city(1)), ETAG);
    // MaxMind publishes version 2 right after our archive left the storage host: the
    // checksum must be the one of the release that arrived (date-pinned), not the newest.
    served.lock().unwrap().release_after_download =
        Some((maxmind_archive(&city(2)), "\"v-2\"".to_owned()));
    let cache = tempfile::tempdir().unwrap();
    let geoip = GeoIp::new();
    let source = maxmind_source(&base, cache.path());
    source.check_now(&geoip).await.unwrap();
    assert_eq!(served_version(&geoip), Some(1));
    // The next check finds version 2.
    source.check_now(&geoip).await.unwrap();
    assert_eq!(served_version(&geoip), Some(2));
}

#[tokio::test]
async fn validators_are_tied_to_the_url_they_came_from() {
    let (old_base, old_served) = server().await;
    let (new_base, new_served) = server().await;
    let cache = tempfile::tempdir().unwrap();
    publish(&old_served, maxmind_archive(&city(1)), ETAG);
    maxmind_source(&old_base, cache.path())
        .check_now(&GeoIp::new())
        .await
        .unwrap();
    // The new mirror happens to use the same ETag for a newer database.
    publish(&new_served, maxmind_archive(&city(2)), ETAG);

    let geoip = GeoIp::new();
    let moved = maxmind_source(&new_base, cache.path());
    assert!(moved.load_cached(&geoip).unwrap().is_some());
    assert_eq!(served_version(&geoip), Some(1));
    let outcome = moved.check_now(&geoip).await.unwrap();
    let first = new_served.lock().unwrap().requests[0].clone();
    assert_eq!(
        (first.if_none_match, first.if_modified_since),
        (None, None),
        "validators of another URL must not be sent"
    );
    assert!(matches!(outcome, ReloadOutcome::Loaded(_)), "{outcome:?}");
    assert_eq!(served_version(&geoip), Some(2));
}

#[tokio::test]
async fn a_corrupt_cache_is_moved_aside_and_start_up_succeeds() {
    let (base, served) = server().await;
    publish(&served, maxmind_archive(&city(1)), ETAG);
    let cache = tempfile::tempdir().unwrap();
    let cached = cache.path().join("GeoLite2-City.mmdb");
    let mut truncated = city(1);
    truncated.truncate(truncated.len() / 2);
    std::fs::write(&cached, &truncated).unwrap();

    let geoip = GeoIp::new();
    let source = maxmind_source(&base, cache.path());
    // The documented start-up `load_cached(..)?` must not crash-loop on a bad cache.
    assert_eq!(source.load_cached(&geoip).unwrap(), None);
    assert!(!cached.exists(), "the corrupt file is moved aside");
    assert_eq!(
        std::fs::read(cache.path().join("GeoLite2-City.mmdb.corrupt")).unwrap(),
        truncated
    );
    assert!(geoip.status(&Slot::Location).unwrap().last_error.is_some());
    source.check_now(&geoip).await.unwrap();
    assert_eq!(served_version(&geoip), Some(1));
    assert_eq!(std::fs::read(&cached).unwrap(), city(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_updaters_on_one_directory_never_corrupt_it() {
    let (base, served) = server().await;
    let cache = tempfile::tempdir().unwrap();
    let big = |version| {
        CityDatabase::new()
            .version(version)
            .filler_networks(20_000)
            .build()
            .unwrap()
    };
    for round in 1..=6u32 {
        publish(
            &served,
            maxmind_archive(&big(round)),
            &format!("\"v-{round}\""),
        );
        // Two pods (same PID 1 in their containers) updating one shared volume at once.
        let (a, b) = (GeoIp::new(), GeoIp::new());
        let (sa, sb) = (
            maxmind_source(&base, cache.path()),
            maxmind_source(&base, cache.path()),
        );
        let (ra, rb) = tokio::join!(sa.check_now(&a), sb.check_now(&b));
        ra.unwrap();
        rb.unwrap();
        // A pod starting now reads a whole, current database from the cache.
        let restarted = GeoIp::new();
        let info = maxmind_source(&base, cache.path())
            .load_cached(&restarted)
            .unwrap();
        assert!(
            info.is_some(),
            "round {round}: the cache was set aside as corrupt"
        );
        assert_eq!(
            served_version(&restarted),
            Some(round as u16),
            "round {round}"
        );
        let names: Vec<String> = std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains("tmp") || n.contains("corrupt"))
            .collect();
        assert!(names.is_empty(), "round {round}: {names:?}");
    }
}

#[tokio::test]
async fn another_writers_temp_file_is_never_touched() {
    // Every container is PID 1: a temp file named after the PID may be another pod's write
    // in progress on the shared volume. It must be neither truncated nor renamed into place.
    let (base, served) = server().await;
    publish(&served, maxmind_archive(&city(1)), ETAG);
    let cache = tempfile::tempdir().unwrap();
    let theirs = cache
        .path()
        .join(format!("GeoLite2-City.mmdb.tmp-{}", std::process::id()));
    std::fs::write(&theirs, b"another pod's half-written download").unwrap();
    let geoip = GeoIp::new();
    maxmind_source(&base, cache.path())
        .check_now(&geoip)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(&theirs).unwrap(),
        b"another pod's half-written download"
    );
    assert_eq!(
        std::fs::read(cache.path().join("GeoLite2-City.mmdb")).unwrap(),
        city(1)
    );
}

#[tokio::test]
async fn the_daily_quota_429_is_not_retried_within_a_check() {
    let (_, attempts) = old_database_survives(
        |s| s.lock().unwrap().status = Some(429),
        |e| matches!(e, Error::HttpStatus { status: 429, .. }) && e.to_string().contains("quota"),
    )
    .await;
    assert_eq!(attempts, 1, "retrying a spent quota only spends more");
}
