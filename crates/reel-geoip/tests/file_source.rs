//! The local file source: zero-length, garbage and half-written files are refused while the
//! current database keeps serving; atomic renames and in-place rewrites are picked up, through
//! file-system events and through polling alone.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod support;

use std::time::Duration;

use reel_geoip::testdata::CityDatabase;
use reel_geoip::{Error, FileSource, GeoIp, Slot};
use support::{is_failed, is_loaded, served_version, wait_for};

fn city(version: u32) -> Vec<u8> {
    CityDatabase::new().version(version).build().unwrap()
}

#[test]
fn load_now_refuses_empty_garbage_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GeoLite2-City.mmdb");
    let geoip = GeoIp::new();
    let source = FileSource::new(&path, Slot::Location);

    assert!(matches!(source.load_now(&geoip), Err(Error::Io { .. })));
    std::fs::write(&path, city(1)).unwrap();
    source.load_now(&geoip).unwrap();
    assert_eq!(served_version(&geoip), Some(1));

    std::fs::write(&path, b"").unwrap();
    let err = source.load_now(&geoip).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    std::fs::write(&path, b"definitely not a MaxMind database\n".repeat(100)).unwrap();
    assert!(matches!(
        source.load_now(&geoip),
        Err(Error::InvalidDatabase(_))
    ));
    let full = city(2);
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();
    assert!(matches!(
        source.load_now(&geoip),
        Err(Error::InvalidDatabase(_))
    ));

    assert_eq!(served_version(&geoip), Some(1));
    let status = geoip.status(&Slot::Location).unwrap();
    assert_eq!((status.reloads, status.failed_reloads), (1, 4));
    assert!(status.last_error.is_some());
    assert_eq!(
        status.source.as_deref(),
        Some(path.display().to_string().as_str())
    );
}

async fn watch_scenario(use_events: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GeoLite2-City.mmdb");
    std::fs::write(&path, city(1)).unwrap();
    let geoip = GeoIp::new();
    let mut events = geoip.events();
    let task = FileSource::new(&path, Slot::Location)
        .poll_interval(Duration::from_millis(if use_events { 60_000 } else { 25 }))
        .settle_delay(Duration::from_millis(30))
        .use_events(use_events)
        .spawn(geoip.clone());
    wait_for(&mut events, "the initial load", is_loaded).await;
    assert_eq!(served_version(&geoip), Some(1));

    // Atomic rename of a complete file.
    let tmp = dir.path().join("GeoLite2-City.mmdb.tmp");
    std::fs::write(&tmp, city(2)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    wait_for(&mut events, "version 2 after a rename", is_loaded).await;
    assert_eq!(served_version(&geoip), Some(2));

    // Half-written in place: refused, version 2 keeps serving.
    let three = city(3);
    std::fs::write(&path, &three[..three.len() / 3]).unwrap();
    wait_for(
        &mut events,
        "the half-written file to be refused",
        is_failed,
    )
    .await;
    assert_eq!(served_version(&geoip), Some(2));

    // Then the complete file renamed over it.
    std::fs::write(&tmp, &three).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    wait_for(
        &mut events,
        "version 3 after the half-written file",
        is_loaded,
    )
    .await;
    assert_eq!(served_version(&geoip), Some(3));

    // Zero-length in place, then rewritten in place.
    std::fs::write(&path, b"").unwrap();
    wait_for(&mut events, "the empty file to be refused", is_failed).await;
    assert_eq!(served_version(&geoip), Some(3));
    std::fs::write(&path, city(4)).unwrap();
    wait_for(&mut events, "version 4 written in place", is_loaded).await;
    assert_eq!(served_version(&geoip), Some(4));

    // Garbage renamed over it.
    std::fs::write(&tmp, vec![0xA5; 10_000]).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    wait_for(&mut events, "garbage to be refused", is_failed).await;
    assert_eq!(served_version(&geoip), Some(4));

    task.shutdown().await.unwrap();
    let status = geoip.status(&Slot::Location).unwrap();
    assert_eq!(status.reloads, 4);
    assert!(status.failed_reloads >= 3, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_follows_renames_and_rewrites_with_events() {
    watch_scenario(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_follows_renames_and_rewrites_by_polling() {
    watch_scenario(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_file_is_reported_and_reloaded_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GeoLite2-City.mmdb");
    std::fs::write(&path, city(1)).unwrap();
    let geoip = GeoIp::new();
    let source = FileSource::new(&path, Slot::Location).poll_interval(Duration::from_millis(20));
    source.load_now(&geoip).unwrap();
    let mut events = geoip.events();
    let task = source.spawn(geoip.clone());

    std::fs::remove_file(&path).unwrap();
    let event = wait_for(&mut events, "the deletion to be reported", is_failed).await;
    assert!(
        format!("{:?}", event.outcome).contains("deleted"),
        "{event:?}"
    );
    let status = geoip.status(&Slot::Location).unwrap();
    assert!(status.last_error.unwrap().contains("deleted"));
    assert_eq!(
        served_version(&geoip),
        Some(1),
        "the loaded copy keeps serving"
    );

    std::fs::write(dir.path().join("next"), city(2)).unwrap();
    std::fs::rename(dir.path().join("next"), &path).unwrap();
    wait_for(&mut events, "the file's return", is_loaded).await;
    assert_eq!(served_version(&geoip), Some(2));
    task.shutdown().await.unwrap();
}

/// A `chmod` (the fix for a file the service could not read) changes neither content nor
/// modification time. Running as root, a mode cannot make a file unreadable here, so the test
/// shows the mechanism: new content written in place with the old size and mtime restored is
/// only noticed once the mode changes.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_fixed_by_chmod_is_reloaded() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GeoLite2-City.mmdb");
    let (v1, v2) = (city(1), city(2));
    assert_eq!(v1.len(), v2.len());
    std::fs::write(&path, &v1).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o200)).unwrap();
    let geoip = GeoIp::new();
    let source = FileSource::new(&path, Slot::Location)
        .poll_interval(Duration::from_millis(20))
        .use_events(false);
    source.load_now(&geoip).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let task = source.spawn(geoip.clone());
    let mut events = geoip.events();

    // The operator's fix: correct bytes in place (same size, same mtime), then chmod.
    {
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        std::io::Write::write_all(&mut &file, &v2).unwrap();
        file.set_modified(modified).unwrap();
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    wait_for(&mut events, "the reload after chmod", is_loaded).await;
    assert_eq!(served_version(&geoip), Some(2));
    task.shutdown().await.unwrap();
}
